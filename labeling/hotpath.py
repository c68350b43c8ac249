"""Hand-written SQL for the labeling hot path: serving the next task and recording a choice.

Profiling `bench.labeling` showed the database answering these queries in about 0.1 ms each while
the ORM spent about 1 ms building and compiling each one; a round trip made some 25 of them, so on
two cores query *building* capped throughput. These are the same queries the ORM made (the ORM
versions stay for everything off the hot path), written once, in SQL that SQLite (3.30+) and
PostgreSQL both run. Parameters always go through the driver, never into the SQL text.
"""

import json
from datetime import datetime

from django.db import connection

from labeling.models import Assignment, Choice, ComparisonTask, Completion, Project, Prompt

A = Assignment._meta.db_table
C = Choice._meta.db_table
T = ComparisonTask._meta.db_table
P = Prompt._meta.db_table
X = Completion._meta.db_table

_LIVE = "(b.state = 'done' OR (b.state = 'leased' AND b.expires_at > %s))"


def _dt(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _json(value):
    # SQLite hands JSON columns back as text, PostgreSQL (jsonb) as Python objects.
    return json.loads(value) if isinstance(value, str) else value


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def project_for_labeling(*, slug: str, user_id: int, is_staff: bool) -> Project | None:
    """The project if the user may label it (staff: any), with ``annotator_paused`` and
    ``evaluation_open`` (an evaluation task is open: a partial index answers) set."""
    j = Project._meta
    members = j.get_field("annotators").remote_field.through._meta.db_table
    paused = j.get_field("paused_annotators").remote_field.through._meta.db_table
    rows = list(Project.objects.raw(
        f"""SELECT p.*, EXISTS (SELECT 1 FROM {paused} z WHERE z.project_id = p.id AND z.user_id = %s)
                   AS annotator_paused,
                   EXISTS (SELECT 1 FROM {T} e WHERE e.project_id = p.id AND e.status = 'open'
                           AND e.is_evaluation = %s) AS evaluation_open
            FROM {j.db_table} p
            WHERE p.slug = %s
              AND (%s OR EXISTS (SELECT 1 FROM {members} m WHERE m.project_id = p.id AND m.user_id = %s))""",
        [user_id, True, slug, bool(is_staff), user_id],
    ))
    if not rows:
        return None
    rows[0].annotator_paused = bool(rows[0].annotator_paused)
    rows[0].evaluation_open = bool(rows[0].evaluation_open)
    return rows[0]


def pending(*, project_id: int, annotator_id: int, now: datetime) -> list[tuple]:
    """The annotator's leased, undecided assignments in display order:
    (assignment id, task id, display order, lease still running, prompt text)."""
    return [
        (pk, task_id, _json(order), bool(live), prompt)
        for pk, task_id, order, live, prompt in _rows(
            f"""SELECT a.id, a.task_id, a.display_order,
                       CASE WHEN a.expires_at > %s THEN 1 ELSE 0 END, p.text
                FROM {A} a JOIN {T} t ON t.id = a.task_id JOIN {P} p ON p.id = t.prompt_id
                WHERE a.project_id = %s AND a.annotator_id = %s AND a.state = 'leased'
                ORDER BY a.leased_at, a.id""",
            [_dt(now), project_id, annotator_id],
        )
    ]


def candidates(*, project_id: int, annotator_id: int, now: datetime, limit: int,
               uncertainty_first: bool, evaluation: bool = False) -> list[tuple[int, int]]:
    """Open, non-gold tasks this annotator has not been handed, with a free slot, in queue
    order: (task id, annotations wanted); evaluation tasks only when ``evaluation``, else none.
    On PostgreSQL the rows are locked, skipping rows other transactions hold; on SQLite the
    IMMEDIATE transaction already serializes hand-outs."""
    order = "t.generation DESC, t.priority DESC, t.created_at, t.id"
    if uncertainty_first:
        order = "COALESCE(t.uncertainty, -1.0) DESC, " + order  # unscored last; matches the index
    lock = " FOR UPDATE OF t SKIP LOCKED" if connection.vendor == "postgresql" else ""
    return _rows(
        f"""SELECT t.id, t.annotations_wanted FROM {T} t
            WHERE t.project_id = %s AND t.status = 'open' AND t.is_gold = %s AND t.is_evaluation = %s
              AND NOT EXISTS (SELECT 1 FROM {A} s WHERE s.task_id = t.id AND s.annotator_id = %s)
              AND (SELECT COUNT(*) FROM {A} b WHERE b.task_id = t.id AND {_LIVE}) < t.annotations_wanted
            ORDER BY {order} LIMIT %s{lock}""",
        [project_id, False, bool(evaluation), annotator_id, _dt(now), limit],
    )


def live_counts(*, task_ids: list[int], now: datetime) -> dict[int, int]:
    """Slots taken per task (decided, or leased and unexpired), counted afresh."""
    if not task_ids:
        return {}
    marks = ", ".join(["%s"] * len(task_ids))
    return dict(_rows(
        f"SELECT b.task_id, COUNT(*) FROM {A} b WHERE b.task_id IN ({marks}) AND {_LIVE} GROUP BY b.task_id",
        [*task_ids, _dt(now)],
    ))


def task_texts(*, task_ids: list[int]) -> dict[int, tuple[str, list | None, list | None, dict[int, tuple[str, str]]]]:
    """Prompt and the four completions of each task, in one query: (prompt text, messages and
    their rendered HTML (chat prompts; else None), {canonical position: (text, stored HTML)})."""
    if not task_ids:
        return {}
    marks = ", ".join(["%s"] * len(task_ids))
    out: dict[int, tuple] = {}
    for task_id, prompt, messages, messages_html, position, text, html in _rows(
        f"""SELECT t.id, p.text, p.messages, p.messages_html, x.position, x.text, x.html FROM {X} x
            JOIN {T} t ON t.id = x.task_id JOIN {P} p ON p.id = t.prompt_id
            WHERE x.task_id IN ({marks})""",
        task_ids,
    ):
        if task_id not in out:
            out[task_id] = (prompt, _json(messages), _json(messages_html), {})
        out[task_id][3][position] = (text, html)
    return out


def progress(*, project_id: int, annotator_id: int, start_of_day: datetime, now: datetime) -> tuple:
    """(decided in total, decided today, open tasks, whether the last decision can be undone)."""
    [row] = _rows(
        f"""SELECT
              (SELECT COUNT(*) FROM {C} c WHERE c.project_id = %s AND c.annotator_id = %s AND c.kind <> 'skip'),
              (SELECT COUNT(*) FROM {C} c WHERE c.project_id = %s AND c.annotator_id = %s AND c.kind <> 'skip'
                 AND c.created_at >= %s),
              (SELECT COUNT(*) FROM {T} t WHERE t.project_id = %s AND t.status = 'open'),
              (SELECT CASE WHEN a.expires_at > %s THEN 1 ELSE 0 END
                 FROM {C} c JOIN {A} a ON a.task_id = c.task_id AND a.annotator_id = c.annotator_id
                 WHERE c.project_id = %s AND c.annotator_id = %s
                 ORDER BY c.created_at DESC, c.id DESC LIMIT 1)""",
        [project_id, annotator_id, project_id, annotator_id, _dt(start_of_day), project_id, _dt(now),
         project_id, annotator_id],
    )
    total, today, left, undoable = row
    return total, today, left, bool(undoable)


def assignment_decide(*, assignment_id: int, annotator_id: int, project_id: int, state: str) -> tuple | None:
    """Move the annotator's leased assignment to ``state`` ('done' or 'skipped') in one
    statement that also locks its task; (task id, display order, leased at, gold task), or None
    when no such leased assignment exists (see ``assignment_decided``).

    The task row is locked so that two annotators deciding on one task take turns: the second
    one's count of decisions then sees the first and completes the task (READ COMMITTED would
    otherwise let each see only its own). SQLite's IMMEDIATE transaction serializes them anyway."""
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    rows = _rows(
        f"""UPDATE {A} SET state = %s
            WHERE id = %s AND annotator_id = %s AND project_id = %s AND state = 'leased'
              AND EXISTS (SELECT 1 FROM {T} t WHERE t.id = {A}.task_id{lock})
            RETURNING task_id, display_order, leased_at, (SELECT t.is_gold FROM {T} t WHERE t.id = {A}.task_id)""",
        [state, assignment_id, annotator_id, project_id],
    )
    if not rows:
        return None
    task_id, order, leased_at, gold = rows[0]
    if connection.vendor == "sqlite":  # text or a naive datetime: Django's converter makes it aware
        leased_at = connection.ops.convert_datetimefield_value(leased_at, None, connection)
    return task_id, _json(order), leased_at, bool(gold)


def assignment_decided(*, assignment_id: int, annotator_id: int, project_id: int) -> tuple | None:
    """Off the hot path (a refused or repeated decision): (state, choice id, choice kind,
    canonical position chosen) of the annotator's assignment, or None if it is not theirs."""
    rows = _rows(
        f"""SELECT a.state, c.id, c.kind, x.position FROM {A} a
            LEFT JOIN {C} c ON c.task_id = a.task_id AND c.annotator_id = a.annotator_id
            LEFT JOIN {X} x ON x.id = c.completion_id
            WHERE a.id = %s AND a.annotator_id = %s AND a.project_id = %s""",
        [assignment_id, annotator_id, project_id],
    )
    return rows[0] if rows else None


def choice_insert(*, task_id: int, annotator_id: int, project_id: int, kind: str, position: int | None,
                  display_order: list[int], decision_ms: int, comment: str, created_at: datetime) -> tuple:
    """Insert the choice, looking up the chosen completion in the same statement:
    (choice id, completion id)."""
    [row] = _rows(
        f"""INSERT INTO {C} (task_id, annotator_id, project_id, kind, completion_id, display_order,
                             decision_ms, comment, created_at)
            VALUES (%s, %s, %s, %s, (SELECT id FROM {X} WHERE task_id = %s AND position = %s), %s, %s, %s, %s)
            RETURNING id, completion_id""",
        [task_id, annotator_id, project_id, kind, task_id, position,
         connection.ops.adapt_json_value(display_order, None), decision_ms, comment, _dt(created_at)],
    )
    return row


def task_complete_if_full(*, task_id: int) -> None:
    """Mark a non-gold task complete once it has as many decisions as it wants."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {T} SET status = 'complete'
                WHERE id = %s AND status = 'open' AND is_gold = %s
                  AND (SELECT COUNT(*) FROM {A} b WHERE b.task_id = %s AND b.state = 'done') >= annotations_wanted""",
            [task_id, False, task_id],
        )
