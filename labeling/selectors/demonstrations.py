"""Reads about demonstrations: what supervised rounds train on, what the labeling page and the
dashboard show, and the rows of SFT exports. Plain dicts and dataclasses; no torch."""

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, QuerySet

from labeling.models import (
    Assignment,
    Choice,
    Demonstration,
    DemonstrationLease,
    DemonstrationTask,
    PolicyVersion,
    Project,
    Prompt,
    TrainingRun,
)
from labeling.selectors import Turn, task_views


def prompt_for_training(prompt_text: str, messages=None):
    """A prompt as training/ takes it: the conversation (list of messages) for a chat prompt,
    else the text."""
    return messages if messages is not None else prompt_text


def _rows(demos: QuerySet) -> list[tuple]:
    return list(demos.order_by("pk").values_list("pk", "content_hash", "text", "prompt__text", "prompt__messages"))


def _training_row(row: tuple) -> dict:
    return {"prompt": prompt_for_training(row[3], row[4]), "answer": row[2]}


@dataclass
class SFTData:
    train: list[dict] = field(default_factory=list)  # {"prompt": str | messages, "answer": str}
    heldout: list[dict] = field(default_factory=list)
    train_ids: list[int] = field(default_factory=list)
    heldout_ids: list[int] = field(default_factory=list)


def is_heldout(content_hash: str, fraction: float) -> bool:
    """Whether a demonstration is held out of supervised rounds: decided by its content hash, so
    the same demonstrations stay held out in every round and held-out loss is comparable."""
    return int(content_hash[:8], 16) % 1000 < round(fraction * 1000)


def sft_training_data(*, project: Project, heldout_fraction: float) -> SFTData:
    """Every demonstration of the project, split into training and held-out rows by content hash
    (``heldout_fraction`` of them held out), as dicts ``training.sft`` reads."""
    data = SFTData()
    for row in _rows(Demonstration.objects.filter(project=project)):
        if is_heldout(row[1], heldout_fraction):
            data.heldout.append(_training_row(row))
            data.heldout_ids.append(row[0])
        else:
            data.train.append(_training_row(row))
            data.train_ids.append(row[0])
    return data


def sft_export_rows(*, project: Project, style: str):
    """Rows of an SFT data set, one per demonstration, in a form TRL's SFTTrainer reads:
    ``messages`` (the conversation plus the assistant answer) or ``prompt_completion``
    (``prompt`` and ``completion``, conversational for chat prompts). Streams."""
    demos = Demonstration.objects.filter(project=project).order_by("pk").values_list(
        "text", "prompt__text", "prompt__messages"
    )
    for answer, text, messages in demos.iterator(chunk_size=2000):
        if style == "messages":
            turns = list(messages) if messages is not None else [{"role": "user", "content": text}]
            yield {"messages": turns + [{"role": "assistant", "content": answer}]}
        elif messages is not None:
            yield {"prompt": list(messages), "completion": [{"role": "assistant", "content": answer}]}
        else:
            yield {"prompt": text, "completion": answer}


def demonstration_due(*, project: Project, annotator) -> bool:
    """Whether this annotator's next hand-out should be a demonstration task: the project asks
    for ``demonstration_share`` percent of hand-outs as written answers, counted per annotator
    (answers written for tasks against best-of-four decisions), and a task is available or can
    be made. No query when the share is 0 (the labeling hot path)."""
    share = project.demonstration_share
    if not share:
        return False
    if share < 100:
        written = Demonstration.objects.filter(
            project=project, annotator=annotator, demonstration_task__isnull=False
        ).count()
        decided = Choice.objects.filter(project=project, annotator=annotator).count()
        if 100 * written >= share * (written + decided + 1):
            return False
    return demonstration_available(project=project, annotator=annotator)


def demonstration_available(*, project: Project, annotator) -> bool:
    """A demonstration task the annotator holds or could be handed, or a prompt one could be
    made for."""
    if DemonstrationLease.objects.filter(
        project=project, annotator=annotator, state=DemonstrationLease.State.LEASED
    ).exists():
        return True
    mine = DemonstrationLease.objects.filter(task=OuterRef("pk"), annotator=annotator)
    if DemonstrationTask.objects.filter(project=project, status=DemonstrationTask.Status.OPEN).filter(
        ~Exists(mine)
    ).exists():
        return True
    return (
        Prompt.objects.filter(project=project)
        .filter(~Exists(DemonstrationTask.objects.filter(prompt=OuterRef("pk"))))
        .filter(~Exists(Demonstration.objects.filter(prompt=OuterRef("pk"))))
        .exists()
    )


@dataclass(frozen=True)
class DemonstrationPanel:
    """The dashboard's demonstrations block."""

    total: int
    written: int
    imported: int
    open_tasks: int
    sft_versions: list[PolicyVersion]  # newest first, with their run
    reference: PolicyVersion | None  # the chosen ρ, when not the initial policy
    chart: dict  # {"labels", "before", "after"}: held-out loss per SFT version
    last_sft_series: list  # the latest SFT round's loss series


def demonstration_panel(*, project: Project) -> DemonstrationPanel:
    demos = Demonstration.objects.filter(project=project)
    sft = list(
        PolicyVersion.objects.filter(project=project, kind=PolicyVersion.Kind.SFT)
        .select_related("parent", "run")
        .order_by("-number")
    )
    last_run = (
        TrainingRun.objects.filter(project=project, kind=TrainingRun.Kind.SFT)
        .order_by("-created_at", "-id")
        .only("metrics")
        .first()
    )
    ordered = list(reversed(sft))
    return DemonstrationPanel(
        total=demos.count(),
        written=demos.filter(source=Demonstration.Source.WRITTEN).count(),
        imported=demos.filter(source=Demonstration.Source.IMPORTED).count(),
        open_tasks=DemonstrationTask.objects.filter(
            project=project, status=DemonstrationTask.Status.OPEN
        ).count(),
        sft_versions=sft,
        reference=project.reference_policy,
        chart={
            "labels": [f"v{v.number}" for v in ordered],
            "before": [v.metrics.get("heldout_loss_before") for v in ordered],
            "after": [v.metrics.get("heldout_loss_after") for v in ordered],
        },
        last_sft_series=last_run.metrics if last_run else [],
    )


def demonstrations_for_run(*, run: TrainingRun) -> QuerySet[Demonstration]:
    return run.demonstrations.order_by("pk")


def prompt_turns(prompt: Prompt) -> list[Turn] | None:
    """A chat prompt's turns as the labeling page shows them (sanitized HTML stored with the
    prompt); None for a text prompt."""
    if prompt.messages is None:
        return None
    html = prompt.messages_html or [""] * len(prompt.messages)
    return [Turn(role=m["role"], content=m["content"], html=h) for m, h in zip(prompt.messages, html, strict=True)]


def demonstration_editor(*, project: Project, annotator, assignment_id: int):
    """The task of one of the annotator's undecided leases as the labeling page shows it
    (a TaskView), for the plain-form editor; None when it is not theirs or already decided."""
    assignment = Assignment.objects.filter(
        pk=assignment_id, annotator=annotator, project=project, state=Assignment.State.LEASED
    ).first()
    return task_views([assignment])[0] if assignment else None
