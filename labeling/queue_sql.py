"""The labeling queue's rules in SQL: serving the next task, recording a choice, undoing it.

This module is the one implementation of those rules on the hot path (which tasks may be handed
out, what counts as a taken slot, when a task is full, which decision may still be undone); the
services call it and never restate a rule in the ORM. Profiling `bench.labeling` showed the
database answering these queries in about 0.1 ms each while the ORM spent about 1 ms building and
compiling each one, so they are written once, in SQL that SQLite (3.30+) and PostgreSQL both run.

Status values are passed in as parameters from the models' enums, never written into the SQL
text; parameters always go through the driver. Boolean flags (gold, evaluation) are written as
predicates (``NOT task.is_gold``), not parameters, and so is a LIMIT: a prepared statement's
generic plan can then use the partial index on evaluation tasks, and PostgreSQL keeps it instead
of planning afresh on every call. Each query is shaped so that the plan stays good when the
planner's statistics are stale (a fresh table, as in a benchmark or a new project): a lookup that
must hit a unique index is a correlated subquery on every column of that index.
"""

import functools
import json
from datetime import datetime

from django.db import connection

from labeling.prepared import columns as _columns, cursor as _cursor, instance as _instance, rows as _rows
from labeling.models import Assignment, Choice, ComparisonTask, Completion, Project, Prompt

ASSIGNMENTS = Assignment._meta.db_table
CHOICES = Choice._meta.db_table
TASKS = ComparisonTask._meta.db_table
PROMPTS = Prompt._meta.db_table
COMPLETIONS = Completion._meta.db_table

LEASED = Assignment.State.LEASED.value
DONE = Assignment.State.DONE.value
OPEN = ComparisonTask.Status.OPEN.value
COMPLETE = ComparisonTask.Status.COMPLETE.value
SKIP = Choice.Kind.SKIP.value

# A slot of a task is taken by a decision (done) or by a lease that still runs. Parameters:
# DONE, LEASED, now.
_SLOT_TAKEN = "(taken.state = %s OR (taken.state = %s AND taken.expires_at > %s))"

# The annotator's latest decision in the project, if the lease it was made on still runs: its
# choice id, else no row. Parameters: annotator, project, now. The latest choice comes first
# (LIMIT 1 on the choice_progress index), then its lease by the unique (task, annotator) index;
# a choice without a lease (imported) is not undoable.
_LAST_CHOICE_UNDOABLE = f"""
    SELECT last_choice.id FROM (
        SELECT latest.id, latest.task_id, latest.annotator_id FROM {CHOICES} latest
        WHERE latest.annotator_id = %s AND latest.project_id = %s
        ORDER BY latest.created_at DESC, latest.id DESC LIMIT 1
    ) last_choice
    WHERE (SELECT lease.expires_at FROM {ASSIGNMENTS} lease
           WHERE lease.task_id = last_choice.task_id AND lease.annotator_id = last_choice.annotator_id) > %s"""


def _dt(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _json(value):
    # SQLite hands JSON columns back as text, PostgreSQL (jsonb) as Python objects.
    return json.loads(value) if isinstance(value, str) else value


@functools.cache
def _project_sql(vendor: str) -> str:
    meta = Project._meta
    members = meta.get_field("annotators").remote_field.through._meta.db_table
    paused = meta.get_field("paused_annotators").remote_field.through._meta.db_table
    return f"""SELECT {_columns(Project, "project")},
                   EXISTS (SELECT 1 FROM {paused} pause
                           WHERE pause.project_id = project.id AND pause.user_id = %s) AS annotator_paused,
                   EXISTS (SELECT 1 FROM {TASKS} evaluation
                           WHERE evaluation.project_id = project.id AND evaluation.status = %s
                             AND evaluation.is_evaluation) AS evaluation_open
            FROM {meta.db_table} project
            WHERE project.slug = %s
              AND (%s OR EXISTS (SELECT 1 FROM {members} member
                                 WHERE member.project_id = project.id AND member.user_id = %s))"""


def project_for_labeling(*, slug: str, user_id: int, is_staff: bool) -> Project | None:
    """The project if the user may label it (staff: any), with ``annotator_paused`` and
    ``evaluation_open`` (an evaluation task is open: a partial index answers) set."""
    found = _instance(
        Project, _project_sql(connection.vendor), [user_id, OPEN, slug, bool(is_staff), user_id], extra=2
    )
    if found is None:
        return None
    project, (annotator_paused, evaluation_open) = found
    project.annotator_paused = bool(annotator_paused)
    project.evaluation_open = bool(evaluation_open)
    return project


def pending(*, project_id: int, annotator_id: int, now: datetime) -> list[tuple]:
    """The annotator's leased, undecided assignments in display order:
    (assignment id, task id, display order, lease still running, prompt text)."""
    return [
        (pk, task_id, _json(order), bool(live), prompt)
        for pk, task_id, order, live, prompt in _rows(
            f"""SELECT assignment.id, assignment.task_id, assignment.display_order,
                       CASE WHEN assignment.expires_at > %s THEN 1 ELSE 0 END, prompt.text
                FROM {ASSIGNMENTS} assignment
                JOIN {TASKS} task ON task.id = assignment.task_id
                JOIN {PROMPTS} prompt ON prompt.id = task.prompt_id
                WHERE assignment.annotator_id = %s AND assignment.project_id = %s AND assignment.state = %s
                ORDER BY assignment.leased_at, assignment.id""",
            [_dt(now), annotator_id, project_id, LEASED],
        )
    ]


def candidates(*, project_id: int, annotator_id: int, now: datetime, limit: int,
               uncertainty_first: bool, evaluation: bool = False) -> list[tuple[int, int]]:
    """Open, non-gold tasks this annotator has not been handed, with a free slot, in queue
    order: (task id, annotations wanted); evaluation tasks only when ``evaluation``, else none.
    On PostgreSQL the rows are locked, skipping rows other transactions hold; on SQLite the
    IMMEDIATE transaction already serializes hand-outs."""
    order = "task.generation DESC, task.priority DESC, task.created_at, task.id"
    if uncertainty_first:
        order = "COALESCE(task.uncertainty, -1.0) DESC, " + order  # unscored last; matches the index
    lock = " FOR UPDATE OF task SKIP LOCKED" if connection.vendor == "postgresql" else ""
    return _rows(
        f"""SELECT task.id, task.annotations_wanted FROM {TASKS} task
            WHERE task.project_id = %s AND task.status = %s AND NOT task.is_gold AND {"" if evaluation else "NOT "}task.is_evaluation
              AND NOT EXISTS (SELECT 1 FROM {ASSIGNMENTS} mine
                              WHERE mine.task_id = task.id AND mine.annotator_id = %s)
              AND (SELECT COUNT(*) FROM {ASSIGNMENTS} taken
                   WHERE taken.task_id = task.id AND {_SLOT_TAKEN}) < task.annotations_wanted
            ORDER BY {order} LIMIT {int(limit)}{lock}""",
        # LIMIT in the text (1 or 2 on the hot path): as a parameter the generic plan's row
        # estimate made PostgreSQL plan this statement afresh on every call (0.5 ms).
        [project_id, OPEN, annotator_id, DONE, LEASED, _dt(now)],
    )


# A new lease's columns, in the order of _lease_params.
_LEASE_INSERT = (f"INSERT INTO {ASSIGNMENTS} "
                 "(task_id, annotator_id, project_id, state, display_order, leased_at, expires_at)")


def _lease_params(a: Assignment) -> list:
    return [a.task_id, a.annotator_id, a.project_id, a.state,
            connection.ops.adapt_json_value(a.display_order, None), _dt(a.leased_at), _dt(a.expires_at)]


def _leased(a: Assignment, pk: int) -> None:
    a.pk = pk
    a._state.adding, a._state.db = False, connection.alias


def assignments_insert(assignments: list[Assignment]) -> None:
    """Insert new leases of tasks that never fill up (gold) and set their ids."""
    for a in assignments:
        [(pk,)] = _rows(
            f"""{_LEASE_INSERT} VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            _lease_params(a),
        )
        _leased(a, pk)


def lease_insert_if_free(a: Assignment, *, now: datetime) -> bool:
    """Insert the lease ``a`` (and set its id) only if its task still has a free slot, counted
    afresh by this statement; whether it was inserted.

    On PostgreSQL the caller holds the task's row lock from ``candidates``, whose own count
    came from a snapshot taken before the lock: a lease committed in between is seen here, as
    this is a new statement under READ COMMITTED. On SQLite the IMMEDIATE transaction already
    serializes hand-outs, and the count is merely redundant."""
    found = _rows(
        f"""{_LEASE_INSERT}
            SELECT %s, %s, %s, %s, %s, %s, %s
            WHERE (SELECT COUNT(*) FROM {ASSIGNMENTS} taken WHERE taken.task_id = %s AND {_SLOT_TAKEN})
                  < (SELECT task.annotations_wanted FROM {TASKS} task WHERE task.id = %s)
            RETURNING id""",
        [*_lease_params(a), a.task_id, DONE, LEASED, _dt(now), a.task_id],
    )
    if found:
        _leased(a, found[0][0])
    return bool(found)


def live_counts(*, task_ids: list[int], now: datetime) -> dict[int, int]:
    """Slots taken per task (decided, or leased and unexpired), counted afresh."""
    if not task_ids:
        return {}
    marks = ", ".join(["%s"] * len(task_ids))
    return dict(_rows(
        f"""SELECT taken.task_id, COUNT(*) FROM {ASSIGNMENTS} taken
            WHERE taken.task_id IN ({marks}) AND {_SLOT_TAKEN} GROUP BY taken.task_id""",
        [*task_ids, DONE, LEASED, _dt(now)],
    ))


def task_texts(*, task_ids: list[int]) -> dict[int, tuple[str, list | None, list | None, dict[int, tuple[str, str]]]]:
    """Prompt and the four completions of each task, in one query: (prompt text, messages and
    their rendered HTML (chat prompts; else None), {canonical position: (text, stored HTML)})."""
    if not task_ids:
        return {}
    marks = ", ".join(["%s"] * len(task_ids))
    out: dict[int, tuple] = {}
    for task_id, prompt, messages, messages_html, position, text, html in _rows(
        f"""SELECT task.id, prompt.text, prompt.messages, prompt.messages_html,
                   completion.position, completion.text, completion.html
            FROM {COMPLETIONS} completion
            JOIN {TASKS} task ON task.id = completion.task_id
            JOIN {PROMPTS} prompt ON prompt.id = task.prompt_id
            WHERE completion.task_id IN ({marks})""",
        task_ids,
    ):
        if task_id not in out:
            out[task_id] = (prompt, _json(messages), _json(messages_html), {})
        out[task_id][3][position] = (text, html)
    return out


# The page counts open tasks up to this many ("100+ tasks left"): an exact count walked every
# open task of the project on every decision (0.8 ms of server time at 2,000 tasks, growing
# with the project), for a figure nobody reads past the first hundred.
TASKS_LEFT_CAP = 100


def progress(*, project_id: int, annotator_id: int, start_of_day: datetime, now: datetime) -> tuple:
    """(decided in total, decided today, open tasks counted up to TASKS_LEFT_CAP + 1, whether
    the last decision can be undone: the rule of ``choice_last_undoable``)."""
    [row] = _rows(
        f"""SELECT decided.total, decided.today,
                   (SELECT COUNT(*) FROM (SELECT 1 FROM {TASKS} task WHERE task.project_id = %s AND task.status = %s
                                          LIMIT {TASKS_LEFT_CAP + 1}) open_tasks),
                   ({_LAST_CHOICE_UNDOABLE})
            FROM (SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE mine.created_at >= %s) AS today
                  FROM {CHOICES} mine
                  WHERE mine.annotator_id = %s AND mine.project_id = %s AND mine.kind <> %s) decided""",
        [project_id, OPEN, annotator_id, project_id, _dt(now),
         _dt(start_of_day), annotator_id, project_id, SKIP],
    )
    total, today, left, undoable_choice = row
    return total, today, left, undoable_choice is not None


def choice_last_undoable(*, project_id: int, annotator_id: int, now: datetime) -> int | None:
    """The id of the annotator's latest choice in the project if its lease still runs (so it may
    be undone), else None. The progress figures' "can undo" is this same rule."""
    rows = _rows(_LAST_CHOICE_UNDOABLE, [annotator_id, project_id, _dt(now)])
    return rows[0][0] if rows else None


def assignment_decide(*, assignment_id: int, annotator_id: int, project_id: int, state: str) -> tuple | None:
    """Move the annotator's leased assignment to ``state`` (an Assignment.State: done or skipped)
    in one statement that also locks its task; (task id, display order, leased at, gold task), or
    None when no such leased assignment exists (see ``assignment_decided``).

    The task row is locked so that two annotators deciding on one task take turns: the second
    one's count of decisions then sees the first and completes the task (READ COMMITTED would
    otherwise let each see only its own). SQLite's IMMEDIATE transaction serializes them anyway."""
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    rows = _rows(
        f"""UPDATE {ASSIGNMENTS} SET state = %s
            WHERE id = %s AND annotator_id = %s AND project_id = %s AND state = %s
              AND EXISTS (SELECT 1 FROM {TASKS} task WHERE task.id = {ASSIGNMENTS}.task_id{lock})
            RETURNING task_id, display_order, leased_at,
                      (SELECT task.is_gold FROM {TASKS} task WHERE task.id = {ASSIGNMENTS}.task_id)""",
        [state, assignment_id, annotator_id, project_id, LEASED],
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
        f"""SELECT assignment.state, choice.id, choice.kind, completion.position FROM {ASSIGNMENTS} assignment
            LEFT JOIN {CHOICES} choice
                   ON choice.task_id = assignment.task_id AND choice.annotator_id = assignment.annotator_id
            LEFT JOIN {COMPLETIONS} completion ON completion.id = choice.completion_id
            WHERE assignment.id = %s AND assignment.annotator_id = %s AND assignment.project_id = %s""",
        [assignment_id, annotator_id, project_id],
    )
    return rows[0] if rows else None


def choice_insert(*, task_id: int, annotator_id: int, project_id: int, kind: str, position: int | None,
                  display_order: list[int], decision_ms: int, comment: str, created_at: datetime) -> tuple:
    """Insert the choice, looking up the chosen completion in the same statement:
    (choice id, completion id)."""
    [row] = _rows(
        f"""INSERT INTO {CHOICES} (task_id, annotator_id, project_id, kind, completion_id, display_order,
                                   decision_ms, comment, created_at)
            VALUES (%s, %s, %s, %s, (SELECT id FROM {COMPLETIONS} WHERE task_id = %s AND position = %s),
                    %s, %s, %s, %s)
            RETURNING id, completion_id""",
        [task_id, annotator_id, project_id, kind, task_id, position,
         connection.ops.adapt_json_value(display_order, None), decision_ms, comment, _dt(created_at)],
    )
    return row


def task_complete_if_full(*, task_id: int) -> None:
    """Mark a non-gold task complete once it has as many decisions as it wants."""
    with _cursor() as cursor:
        cursor.execute(
            f"""UPDATE {TASKS} SET status = %s
                WHERE id = %s AND status = %s AND NOT is_gold
                  AND (SELECT COUNT(*) FROM {ASSIGNMENTS} taken
                       WHERE taken.task_id = %s AND taken.state = %s) >= annotations_wanted""",
            [COMPLETE, task_id, OPEN, task_id, DONE],
        )
