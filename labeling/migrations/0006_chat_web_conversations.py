"""Chat projects: Project.prompt_format, a prompt's conversation and its rendered turns, and a
completion's rendered Markdown. Existing rows keep their values (text prompts, empty HTML)."""

from django.db import migrations, models

from labeling import db_triggers


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0005_queue_indexes_match_order'),
    ]

    # SQLite rebuilds labeling_completion to add a NOT NULL column; its triggers step aside.
    operations = [
        db_triggers.sqlite_drop(),
        migrations.AddField(
            model_name='completion',
            name='html',
            field=models.TextField(blank=True, default=''),
        ),
        migrations.AddField(
            model_name='project',
            name='prompt_format',
            field=models.CharField(choices=[('text', 'Text: a prompt is one string, answers continue it'), ('chat', 'Chat: a prompt is a conversation, answers are assistant messages')], default='text', help_text="Chat projects sample through the policy's chat template and show Markdown.", max_length=4),
        ),
        migrations.AddField(
            model_name='prompt',
            name='messages',
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='prompt',
            name='messages_html',
            field=models.JSONField(blank=True, null=True),
        ),
        db_triggers.sqlite_create(),
    ]
