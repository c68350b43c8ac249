"""A chat project's rounds sample whole answers: no cut at the first period, a longer cap."""

import pytest

from labeling.models import Project
from labeling.services.runs import round_config


@pytest.mark.django_db
def test_chat_rounds_default_to_whole_answers_and_project_settings_win():
    chat = Project.objects.create(
        name="Chat", slug="chat", prompt_format=Project.PromptFormat.CHAT,
        sample_config={"temperature": 0.9}, policy_config={"max_new_tokens": 64},
    )
    assert round_config(project=chat, kind="sampling") == {"stop": None, "max_new_tokens": 96, "temperature": 0.9}
    assert round_config(project=chat, kind="policy") == {"stop": None, "max_new_tokens": 64}
    reward = round_config(project=chat, kind="reward")
    assert reward["max_length"] == 256 and reward["sample"] == {"stop": None, "max_new_tokens": 96}
    assert round_config(project=chat, kind="sft") == {}

    text = Project.objects.create(name="Text", slug="text", sample_config={"temperature": 0.9})
    assert round_config(project=text, kind="sampling") == {"temperature": 0.9}
    assert round_config(project=text, kind="policy") == {}
