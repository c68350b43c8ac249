"""Human evaluation: a blind head-to-head of a candidate policy version against a baseline on
held-out evaluation prompts."""

from django.db import models
from django.db.models import Q

from labeling.models.projects import PolicyVersion, Project
from labeling.models.queue import ComparisonTask
from labeling.models.training import RewardModelVersion, TrainingRun


class Evaluation(models.Model):
    """One evaluation round: the candidate's and the baseline's answers (two each) on
    ``num_prompts`` evaluation prompts, mixed into four-way tasks. The human win rate is computed
    from the choices on its tasks when read (labeling.selectors.evaluation); the reward model's
    predicted win rate on the same samples is stored by the worker that sampled them."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="evaluations")
    run = models.OneToOneField(TrainingRun, on_delete=models.CASCADE, related_name="evaluation")
    candidate = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="+")
    baseline = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="+")
    num_prompts = models.PositiveIntegerField()
    # The reward model that scored the samples, and its mean probability (softmax over the four
    # raw scores) that the chosen answer is one of the candidate's. Null when none existed.
    reward_model = models.ForeignKey(
        RewardModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    predicted_win_rate = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(candidate=models.F("baseline")), name="evaluation_two_versions"),
        ]

    def __str__(self):
        return f"evaluation #{self.pk}: v{self.candidate.number} vs v{self.baseline.number}"


class EvaluationItem(models.Model):
    """Which canonical positions of an evaluation task hold the candidate's answers (the other
    two are the baseline's). Never shown to annotators."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="items")
    task = models.OneToOneField(ComparisonTask, on_delete=models.CASCADE, related_name="evaluation_item")
    candidate_positions = models.JSONField(help_text="Two canonical positions 0–3, e.g. [0, 3].")

    def __str__(self):
        return f"{self.evaluation_id}: task {self.task_id} candidate at {self.candidate_positions}"
