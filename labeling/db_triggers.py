"""SQL for the triggers by which the database itself refuses an open task without exactly four completions.

A CHECK constraint cannot count rows of another table, so this is done with triggers:
a task may become (or be inserted as) open only with four completions; an opened task's
completions cannot be added to or moved to another task; deleting one retires its task, so it
is never open with fewer than four (and cascading deletes of tasks and projects still work).
Services create a task as a draft, add its four completions, then open it, in one transaction.
"""

from django.db import migrations

SQLITE_FORWARD = [
    """
    CREATE TRIGGER quartet_task_open_insert BEFORE INSERT ON labeling_comparisontask
    WHEN NEW.status = 'open'
    BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: a task needs exactly four completions to open'); END;
    """,
    """
    CREATE TRIGGER quartet_task_open_update BEFORE UPDATE OF status ON labeling_comparisontask
    WHEN NEW.status = 'open'
      AND (SELECT COUNT(*) FROM labeling_completion WHERE task_id = NEW.id) <> 4
    BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: a task needs exactly four completions to open'); END;
    """,
    """
    CREATE TRIGGER quartet_completion_insert BEFORE INSERT ON labeling_completion
    WHEN (SELECT status FROM labeling_comparisontask WHERE id = NEW.task_id) NOT IN ('draft')
    BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: completions of an opened task are fixed'); END;
    """,
    """
    CREATE TRIGGER quartet_completion_delete BEFORE DELETE ON labeling_completion
    BEGIN
      UPDATE labeling_comparisontask SET status = 'retired' WHERE id = OLD.task_id AND status = 'open';
    END;
    """,
    """
    CREATE TRIGGER quartet_completion_move BEFORE UPDATE OF task_id ON labeling_completion
    WHEN NEW.task_id <> OLD.task_id
    BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: completions of an opened task are fixed'); END;
    """,
]
SQLITE_BACKWARD = [
    f"DROP TRIGGER IF EXISTS {name};"
    for name in (
        "quartet_task_open_insert",
        "quartet_task_open_update",
        "quartet_completion_insert",
        "quartet_completion_delete",
        "quartet_completion_move",
    )
]

POSTGRES_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION quartet_task_needs_four() RETURNS trigger AS $$
    BEGIN
      IF NEW.status = 'open' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'open') AND
         (SELECT COUNT(*) FROM labeling_completion WHERE task_id = NEW.id) <> 4 THEN
        RAISE EXCEPTION 'a task needs exactly four completions to open (task %)', NEW.id
          USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql;
    """,
    """
    CREATE TRIGGER quartet_task_needs_four BEFORE INSERT OR UPDATE OF status
    ON labeling_comparisontask FOR EACH ROW EXECUTE FUNCTION quartet_task_needs_four();
    """,
    """
    CREATE OR REPLACE FUNCTION quartet_completions_fixed() RETURNS trigger AS $$
    DECLARE
      t_id bigint;
    BEGIN
      IF TG_OP = 'DELETE' THEN
        UPDATE labeling_comparisontask SET status = 'retired' WHERE id = OLD.task_id AND status = 'open';
        RETURN OLD;
      END IF;
      t_id := NEW.task_id;
      IF (SELECT status FROM labeling_comparisontask WHERE id = t_id) <> 'draft'
         OR (TG_OP = 'UPDATE' AND NEW.task_id <> OLD.task_id) THEN
        RAISE EXCEPTION 'completions of an opened task are fixed (task %)', t_id
          USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql;
    """,
    """
    CREATE TRIGGER quartet_completions_fixed BEFORE INSERT OR DELETE OR UPDATE OF task_id
    ON labeling_completion FOR EACH ROW EXECUTE FUNCTION quartet_completions_fixed();
    """,
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS quartet_completions_fixed ON labeling_completion;",
    "DROP FUNCTION IF EXISTS quartet_completions_fixed();",
    "DROP TRIGGER IF EXISTS quartet_task_needs_four ON labeling_comparisontask;",
    "DROP FUNCTION IF EXISTS quartet_task_needs_four();",
]



def _sqlite_only(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "sqlite":
            return
        with schema_editor.connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)

    return run


def sqlite_drop():
    """For a migration that makes SQLite rebuild the task or completion table: the triggers
    step aside first (PostgreSQL alters in place and keeps them)."""
    return migrations.RunPython(_sqlite_only(SQLITE_BACKWARD), _sqlite_only(SQLITE_FORWARD))


def sqlite_create():
    """…and come back after the rebuild."""
    return migrations.RunPython(_sqlite_only(SQLITE_FORWARD), _sqlite_only(SQLITE_BACKWARD))
