"""Label quality: agreement (Fleiss' κ), gold accuracy, position bias, annotator statistics.

Computed from one pass over the project's choices in memory (a few columns per choice), which
is fine for hundreds of thousands of choices; the maths lives in labeling/stats.py.
"""

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth import get_user_model

from labeling.models import COMPLETIONS_PER_TASK, Choice, Project, RewardModelVersion
from labeling.stats import Agreement, chi_square_uniform, fleiss

# Hints: a median decision under this is faster than reading four completions allows.
TOO_FAST_MS = 1500
# Hints: one displayed position chosen this often (with enough choices) looks like a habit.
SAME_POSITION_SHARE = 0.6
MIN_CHOICES_FOR_HINTS = 20
POSITION_BIAS_P = 0.01


@dataclass(frozen=True)
class _Row:
    annotator_id: int
    task_id: int
    kind: str
    position: int | None  # canonical position chosen (best only)
    slot: int | None  # displayed position 0–3 of the chosen completion
    decision_ms: int
    day: date
    hour: tuple
    gold_position: int | None


def _rows(project: Project) -> list[_Row]:
    rows = []
    for annotator_id, task_id, kind, position, order, ms, created, gold in (
        Choice.objects.filter(project=project)
        .values_list(
            "annotator_id", "task_id", "kind", "completion__position", "display_order",
            "decision_ms", "created_at", "task__gold_position",
        )
        .iterator(chunk_size=5000)
    ):
        slot = order.index(position) if position is not None else None
        rows.append(_Row(annotator_id, task_id, kind, position, slot, ms, created.date(),
                         (created.date(), created.hour), gold))
    return rows


@dataclass(frozen=True)
class GoldAccuracy:
    answers: int
    correct: int

    @property
    def share(self) -> float | None:
        return self.correct / self.answers if self.answers else None


def gold_accuracy(*, project: Project, annotator_ids: list[int] | None = None) -> dict[int, GoldAccuracy]:
    """Per annotator: best-of-four answers on gold tasks and how many matched the known best."""
    choices = Choice.objects.filter(project=project, kind=Choice.Kind.BEST, task__is_gold=True)
    if annotator_ids is not None:
        choices = choices.filter(annotator_id__in=annotator_ids)
    tally: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for annotator_id, chosen, gold in choices.values_list(
        "annotator_id", "completion__position", "task__gold_position"
    ):
        tally[annotator_id][0] += 1
        tally[annotator_id][1] += chosen == gold
    return {a: GoldAccuracy(answers=n, correct=c) for a, (n, c) in tally.items()}


def _votes_by_task(rows: list[_Row]) -> dict[int, dict[int, int]]:
    """Task → {annotator: canonical position} for best-of-four choices on non-gold tasks."""
    votes: dict[int, dict[int, int]] = defaultdict(dict)
    for r in rows:
        if r.kind == Choice.Kind.BEST and r.gold_position is None:
            votes[r.task_id][r.annotator_id] = r.position
    return votes


def _table(votes: dict[int, dict[int, int]], tasks=None) -> list[list[int]]:
    table = []
    for task_id, by_annotator in votes.items():
        if tasks is not None and task_id not in tasks or len(by_annotator) < 2:
            continue
        counts = [0] * COMPLETIONS_PER_TASK
        for position in by_annotator.values():
            counts[position] += 1
        table.append(counts)
    return table


def consensus(votes: dict[int, int]) -> int | None:
    """The export rule for several annotators on one task: the strict majority (more votes
    than any other completion) wins; a tie has no consensus and the task is excluded."""
    ranked = Counter(votes.values()).most_common()
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def agreed_task_positions(*, project: Project) -> dict[int, int]:
    """Tasks with two or more annotators and a consensus, with the agreed canonical position."""
    votes = _votes_by_task(_rows(project))
    agreed = {}
    for task_id, by_annotator in votes.items():
        if len(by_annotator) >= 2 and (winner := consensus(by_annotator)) is not None:
            agreed[task_id] = winner
    return agreed


@dataclass
class AnnotatorQuality:
    annotator_id: int
    username: str
    decisions: int = 0
    best: int = 0
    skips: int = 0
    flags: int = 0
    per_hour: float | None = None
    median_ms: float | None = None
    # Agreement with the others: on shared tasks where the other annotators have a majority
    # (see consensus), the share where this annotator chose the same. Pairwise agreement
    # cannot tell the two best annotators apart (they share their mutual pair); this can.
    agreement: float | None = None
    agreement_tasks: int = 0
    gold: GoldAccuracy | None = None
    slots: list[int] = field(default_factory=lambda: [0] * COMPLETIONS_PER_TASK)
    position_p: float | None = None
    paused: bool = False
    hints: list[str] = field(default_factory=list)

    @property
    def skip_rate(self) -> float | None:
        return self.skips / self.decisions if self.decisions else None

    @property
    def flag_rate(self) -> float | None:
        return self.flags / self.decisions if self.decisions else None

    @property
    def slot_shares(self) -> list[float]:
        total = sum(self.slots)
        return [c / total if total else 0.0 for c in self.slots]


@dataclass(frozen=True)
class QualityReport:
    project: Project
    overall: Agreement
    over_time: list[tuple[date, Agreement]]
    annotators: list[AnnotatorQuality]
    slots: list[int]
    position_chi2: float
    position_p: float | None
    reward_versions: list[tuple[int, float | None]]  # (number, held-out agreement)

    @property
    def charts(self) -> dict:
        """Plain series for the Quality page's charts."""
        total = sum(self.slots)
        return {
            "kappa": {
                "labels": [d.isoformat() for d, _ in self.over_time],
                "kappa": [a.kappa for _, a in self.over_time],
                "observed": [a.observed for _, a in self.over_time],
            },
            "reward_people": {
                "labels": [f"r{n}" for n, _ in self.reward_versions],
                "reward": [agreement for _, agreement in self.reward_versions],
                "people": [self.overall.observed if self.overall.items else None] * len(self.reward_versions),
            },
            "position": [c / total if total else 0 for c in self.slots],
        }


def quality_report(*, project: Project) -> QualityReport:
    rows = _rows(project)
    votes = _votes_by_task(rows)
    overall = fleiss(_table(votes))

    last_day: dict[int, date] = {}
    for r in rows:
        if r.kind == Choice.Kind.BEST:
            last_day[r.task_id] = max(last_day.get(r.task_id, r.day), r.day)
    days = sorted({last_day[t] for t, v in votes.items() if len(v) >= 2})
    over_time = [
        (d, fleiss(_table(votes, {t for t, day in last_day.items() if day == d}))) for d in days
    ]

    against_others: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for by_annotator in votes.values():
        if len(by_annotator) < 2:
            continue
        for who, position in by_annotator.items():
            majority = consensus({a: p for a, p in by_annotator.items() if a != who})
            if majority is not None:
                against_others[who][0] += 1
                against_others[who][1] += position == majority

    names = dict(get_user_model().objects.filter(choices__project=project).distinct().values_list("pk", "username"))
    paused = set(project.paused_annotators.values_list("pk", flat=True))
    gold = gold_accuracy(project=project)
    people: dict[int, AnnotatorQuality] = {}
    times: dict[int, list[int]] = defaultdict(list)
    hours: dict[int, set] = defaultdict(set)
    slots = [0] * COMPLETIONS_PER_TASK
    for r in rows:
        q = people.setdefault(r.annotator_id, AnnotatorQuality(r.annotator_id, names.get(r.annotator_id, "?")))
        q.decisions += 1
        q.skips += r.kind == Choice.Kind.SKIP
        q.flags += r.kind == Choice.Kind.FLAG
        times[r.annotator_id].append(r.decision_ms)
        hours[r.annotator_id].add(r.hour)
        if r.kind == Choice.Kind.BEST:
            q.best += 1
            q.slots[r.slot] += 1
            slots[r.slot] += 1
    for a, q in people.items():
        q.per_hour = q.decisions / len(hours[a])  # decisions per hour in which the person labeled
        q.median_ms = statistics.median(times[a])  # every person here has a decision
        q.agreement_tasks, agreeing = against_others.get(a, (0, 0))
        q.agreement = agreeing / q.agreement_tasks if q.agreement_tasks else None
        q.gold = gold.get(a)
        q.paused = a in paused
        _, q.position_p = chi_square_uniform(q.slots)
        _add_hints(q, project)
    chi2, p = chi_square_uniform(slots)
    rewards = [
        (number, metrics.get("heldout_agreement"))
        for number, metrics in RewardModelVersion.objects.filter(project=project)
        .order_by("number")
        .values_list("number", "metrics")
    ]
    return QualityReport(
        project=project, overall=overall, over_time=over_time,
        annotators=sorted(people.values(), key=lambda q: q.username),
        slots=slots, position_chi2=chi2, position_p=p, reward_versions=rewards,
    )


def _add_hints(q: AnnotatorQuality, project: Project) -> None:
    if q.decisions >= MIN_CHOICES_FOR_HINTS and q.median_ms is not None and q.median_ms < TOO_FAST_MS:
        q.hints.append(f"too fast: median {q.median_ms / 1000:.1f} s per task")
    if q.best >= MIN_CHOICES_FOR_HINTS:
        top_slot = max(range(COMPLETIONS_PER_TASK), key=lambda s: q.slots[s])
        share = q.slot_shares[top_slot]
        if share >= SAME_POSITION_SHARE or (q.position_p is not None and q.position_p < POSITION_BIAS_P):
            q.hints.append(f"position bias: picks displayed position {top_slot + 1} in {share:.0%} of choices")
    if q.gold and q.gold.answers >= project.gold_min_answers and q.gold.share < project.gold_min_accuracy:
        q.hints.append(f"gold accuracy {q.gold.share:.0%} below {project.gold_min_accuracy:.0%}")


def annotator_is_paused(*, project: Project, annotator) -> bool:
    return project.paused_annotators.filter(pk=annotator.pk).exists()
