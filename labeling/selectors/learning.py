"""Reads for the dashboard's learning panel: is the loop learning, and honestly so?

- KL control across policy rounds: β each round started from (carried from its parent) and
  ended with, the KL it held and the target.
- Reward models on the anchor set (see selectors/anchor.py), with intervals, beside the
  labelers' own agreement on the same tasks (the ceiling) and the drifting held-out figure.
- Diversity of each policy version's sampled answers (labeling.diversity, pure Python).
"""

from dataclasses import dataclass

from labeling.models import Completion, PolicyVersion, Project, RewardModelVersion
from labeling.selectors.anchor import anchor_set, labeler_agreement_on_anchor
from labeling.diversity import Diversity, diversity

DIVERSITY_VERSIONS = 8  # newest policy versions shown (ρ is always shown as the baseline)
DIVERSITY_ANSWERS = 800  # newest sampled answers per version that are measured


@dataclass(frozen=True)
class VersionDiversity:
    number: int
    figures: Diversity


@dataclass(frozen=True)
class LearningPanel:
    charts: dict
    anchor_tasks: int
    ceiling: tuple[float, float, float] | None  # labelers' agreement on the anchor set, 95% interval
    latest_anchor: dict | None  # the current reward model's anchor figures
    diversity: list[VersionDiversity]


def _diversity(project: Project) -> list[VersionDiversity]:
    numbers = list(
        PolicyVersion.objects.filter(project=project, tasks__isnull=False)
        .order_by("-number").values_list("number", flat=True).distinct()
    )
    shown = sorted(set(numbers[:DIVERSITY_VERSIONS]) | ({0} if 0 in numbers else set()))
    out = []
    for number in shown:
        texts = list(
            Completion.objects.filter(task__project=project, task__policy_version__number=number)
            .order_by("-pk").values_list("text", flat=True)[:DIVERSITY_ANSWERS]
        )
        out.append(VersionDiversity(number=number, figures=diversity(texts)))
    return out


def learning_panel(*, project: Project) -> LearningPanel:
    rewards = list(RewardModelVersion.objects.filter(project=project).order_by("number").values("number", "metrics"))
    policies = list(
        PolicyVersion.objects.filter(project=project, number__gt=0).order_by("number").values("number", "metrics")
    )
    anchor = anchor_set(project=project)
    ceiling = labeler_agreement_on_anchor(anchor)
    charts = {
        "anchor": {
            "labels": [f"r{r['number']}" for r in rewards],
            "agreement": [r["metrics"].get("anchor_agreement") for r in rewards],
            "low": [r["metrics"].get("anchor_low") for r in rewards],
            "high": [r["metrics"].get("anchor_high") for r in rewards],
            "heldout": [r["metrics"].get("heldout_agreement") for r in rewards],
            "ceiling": [ceiling[0] if ceiling else None] * len(rewards),
        },
        "kl": {
            "labels": [f"v{p['number']}" for p in policies],
            "beta_start": [p["metrics"].get("beta_start") for p in policies],
            "beta_final": [p["metrics"].get("beta_final") for p in policies],
            "kl": [p["metrics"].get("kl_mean_second_half", p["metrics"].get("kl_last")) for p in policies],
            "kl_target": [p["metrics"].get("kl_target") for p in policies],
        },
    }
    latest = rewards[-1]["metrics"] if rewards and "anchor_agreement" in rewards[-1]["metrics"] else None
    return LearningPanel(charts=charts, anchor_tasks=len(anchor.tasks), ceiling=ceiling, latest_anchor=latest,
                         diversity=_diversity(project))
