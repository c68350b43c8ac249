"""The database itself refuses an open task without exactly four completions (see
labeling/db_triggers.py for the rules and the SQL)."""

from django.db import migrations

from labeling.db_triggers import POSTGRES_BACKWARD, POSTGRES_FORWARD, SQLITE_BACKWARD, SQLITE_FORWARD


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor)
        if statements is None:
            raise NotImplementedError(
                f"Quartet supports SQLite and PostgreSQL, not {schema_editor.connection.vendor}"
            )
        # A raw cursor, not schema_editor.execute: the PL/pgSQL bodies contain '%'.
        with schema_editor.connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("labeling", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        )
    ]
