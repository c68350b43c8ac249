"""Reads: querysets and plain dataclasses for pages (and, later, for training)."""

import random
from dataclasses import dataclass
from datetime import datetime, time

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from labeling import queue_sql
from labeling.models import (
    Assignment,
    Choice,
    ComparisonTask,
    Completion,
    PolicyVersion,
    Project,
    Prompt,
    RewardModelVersion,
    TrainingRun,
)
from labeling.selectors.evaluation import EvaluationPanel, evaluation_panel
from training.data import FourWayChoice  # plain dataclasses, torch-free (tests/labeling/test_deploy.py)


@dataclass(frozen=True)
class Card:
    slot: int  # 1–4 as displayed (and as the keyboard shortcut)
    position: int  # canonical position 0–3
    text: str
    html: str = ""  # chat projects: the text as sanitized Markdown, rendered when stored


@dataclass(frozen=True)
class Turn:
    role: str  # system | user | assistant
    content: str
    html: str  # sanitized Markdown, rendered when the prompt was stored


@dataclass(frozen=True)
class TaskView:
    assignment_id: int
    task_id: int
    prompt: str  # a chat prompt's is training.chat.prompt_key(messages); show ``turns`` instead
    cards: list[Card]
    turns: list[Turn] | None = None  # chat prompts: the conversation, in order

    @property
    def system(self) -> Turn | None:
        return self.turns[0] if self.turns and self.turns[0].role == "system" else None

    @property
    def dialogue(self) -> list[Turn]:
        """The turns after the system prompt (the page shows that one collapsed)."""
        return self.turns[1:] if self.system else (self.turns or [])


@dataclass(frozen=True)
class Progress:
    done_today: int
    done_total: int
    tasks_left: int  # open tasks in the project, counted up to queue_sql.TASKS_LEFT_CAP
    tasks_left_more: bool = False  # there are more than tasks_left ("100+ tasks left")


def projects_for_user(user) -> QuerySet[Project]:
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(annotators=user)


def project_for_labeling(*, user, slug: str) -> Project | None:
    """The project if the user may label it, else None. ``annotator_paused`` tells whether
    staff paused this user here (read in the same query, as every labeling request needs it)."""
    return queue_sql.project_for_labeling(slug=slug, user_id=user.pk, is_staff=user.is_staff)


def task_views(assignments: list[Assignment]) -> list[TaskView]:
    if not assignments:
        return []
    texts = queue_sql.task_texts(task_ids=[a.task_id for a in assignments])
    views = []
    for a in assignments:
        prompt, messages, messages_html, completions = texts[a.task_id]
        turns = None
        if messages is not None:
            turns = [Turn(role=m["role"], content=m["content"], html=h)
                     for m, h in zip(messages, messages_html or [""] * len(messages), strict=True)]
        views.append(TaskView(
            assignment_id=a.pk,
            task_id=a.task_id,
            prompt=prompt,
            cards=[
                Card(slot=slot, position=position, text=completions[position][0], html=completions[position][1])
                for slot, position in enumerate(a.display_order, start=1)
            ],
            turns=turns,
        ))
    return views


def progress_for_annotator(*, project: Project, annotator) -> tuple[Progress, bool]:
    """Progress figures, and whether the annotator's last decision can still be undone."""
    start_of_day = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    total, today, left, undoable = queue_sql.progress(
        project_id=project.pk, annotator_id=annotator.pk, start_of_day=start_of_day, now=timezone.now()
    )
    cap = queue_sql.TASKS_LEFT_CAP
    return Progress(done_today=today, done_total=total, tasks_left=min(left, cap), tasks_left_more=left > cap), undoable


def projects_with_open_counts(*, user) -> QuerySet[Project]:
    return projects_for_user(user).annotate(
        open_tasks=Count("tasks", filter=Q(tasks__status=ComparisonTask.Status.OPEN))
    )


# --- inputs for training (plain data; training/ never sees a queryset) ---
# A prompt handed to training/ is its text in a text project and its conversation (a list of
# messages) in a chat project: training/ tells them apart by type (see training/chat.py).


def training_prompt(text: str, messages: list | None):
    return text if messages is None else messages


@dataclass(frozen=True)
class RewardData:
    choice_ids: list[int]
    choices: list  # training.data.FourWayChoice


def reward_training_data(
    *, project: Project, upto_choice_id: int | None, exclude_task_ids: list[int] | None = None
) -> RewardData:
    """Every best-of-four choice of the project (up to ``upto_choice_id``) as FourWayChoice,
    completions in canonical order and ``best`` the canonical position chosen. Choices on
    ``exclude_task_ids`` (the anchor set, which measures every reward model) are left out."""
    # Evaluation tasks and held-out prompts are never training data.
    rows = Choice.objects.filter(
        project=project, kind=Choice.Kind.BEST, task__is_evaluation=False, task__prompt__is_evaluation=False
    )
    if upto_choice_id is not None:
        rows = rows.filter(pk__lte=upto_choice_id)
    if exclude_task_ids:
        rows = rows.exclude(task_id__in=exclude_task_ids)
    rows = [
        (pk, task_id, training_prompt(text, messages), best)
        for pk, task_id, text, messages, best in rows.order_by("pk").values_list(
            "pk", "task_id", "task__prompt__text", "task__prompt__messages", "completion__position"
        )
    ]
    texts: dict[int, dict[int, str]] = {}
    task_ids = {task_id for _, task_id, _, _ in rows}
    for task_id, position, text in Completion.objects.filter(task_id__in=task_ids).values_list(
        "task_id", "position", "text"
    ).iterator(chunk_size=4000):
        texts.setdefault(task_id, {})[position] = text
    choices = [
        FourWayChoice(prompt=prompt, completions=[texts[task_id][p] for p in range(4)], best=best)
        for _, task_id, prompt, best in rows
    ]
    return RewardData(choice_ids=[pk for pk, _, _, _ in rows], choices=choices)


def prompts_for_policy_round(*, project: Project, limit: int = 2000) -> list:
    """Prompts a policy round optimizes on (and a reward round normalizes on): the project's
    prompts (text or conversations) outside the evaluation split, newest first."""
    return [
        training_prompt(text, messages)
        for text, messages in Prompt.objects.filter(project=project, is_evaluation=False)
        .order_by("-pk").values_list("text", "messages")[:limit]
    ]


def prompts_for_sampling(*, project: Project, policy_version_id: int, count: int, seed: int) -> list:
    """``count`` prompts (text or conversations) for a sampling round (never evaluation prompts),
    preferring those the
    policy has sampled least."""
    sampled = set(
        ComparisonTask.objects.filter(project=project, policy_version_id=policy_version_id)
        .values_list("prompt_id", flat=True)
    )
    prompts = list(Prompt.objects.filter(project=project, is_evaluation=False).values_list("pk", "text", "messages"))
    rng = random.Random(seed)
    rng.shuffle(prompts)
    prompts.sort(key=lambda row: row[0] in sampled)  # stable: unsampled ones first
    return [training_prompt(text, messages) for _, text, messages in prompts[:count]]


# --- the staff dashboard ---


@dataclass(frozen=True)
class Dashboard:
    project: Project
    current_policy: PolicyVersion | None
    current_reward_model: RewardModelVersion | None
    active_run: TrainingRun | None
    runs: list[TrainingRun]
    new_choices: int
    open_tasks: int
    charts: dict
    evaluation: EvaluationPanel


def active_run(*, project: Project):
    return TrainingRun.objects.filter(project=project, status__in=TrainingRun.ACTIVE).first()


def dashboard_charts(*, project: Project) -> dict:
    """Series for the dashboard charts: held-out agreement per reward version, and the final
    reward, KL and β per policy version."""
    rewards = list(
        RewardModelVersion.objects.filter(project=project).order_by("number").values("number", "metrics")
    )
    policies = list(
        PolicyVersion.objects.filter(project=project, number__gt=0).exclude(kind=PolicyVersion.Kind.SFT)
        .order_by("number")
        .values("number", "metrics")
    )
    return {
        "reward": {
            "labels": [f"r{r['number']}" for r in rewards],
            "agreement": [r["metrics"].get("heldout_agreement") for r in rewards],
        },
        "policy": {
            "labels": [f"v{p['number']}" for p in policies],
            "reward": [p["metrics"].get("reward_last") for p in policies],
            "kl": [p["metrics"].get("kl_mean_second_half", p["metrics"].get("kl_last")) for p in policies],
            "beta": [p["metrics"].get("beta_final") for p in policies],
        },
    }


def choices_since_last_reward_round(*, project: Project) -> int:
    """Best-of-four choices since the last reward round that did not fail (what the loop counts)."""
    last = (
        TrainingRun.objects.filter(project=project, kind=TrainingRun.Kind.REWARD)
        .exclude(status__in=[TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED])
        .aggregate(upto=Max("choices_upto"))["upto"]
    )
    # Evaluation rounds' choices never train, so they never trigger a reward round either.
    return Choice.objects.filter(
        project=project, kind=Choice.Kind.BEST, pk__gt=int(last or 0), task__is_evaluation=False
    ).count()


def dashboard(*, project: Project) -> Dashboard:
    return Dashboard(
        project=project,
        current_policy=project.current_policy,
        current_reward_model=project.current_reward_model,
        active_run=active_run(project=project),
        runs=list(
            TrainingRun.objects.filter(project=project)
            .select_related("triggered_by")
            .order_by("-created_at", "-id")[:20]
        ),
        new_choices=choices_since_last_reward_round(project=project),
        open_tasks=ComparisonTask.objects.filter(project=project, status=ComparisonTask.Status.OPEN).count(),
        charts=dashboard_charts(project=project),
        evaluation=evaluation_panel(project=project),
    )
