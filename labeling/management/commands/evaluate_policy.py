"""Start a human evaluation round: the candidate policy version against a baseline on held-out
evaluation prompts. Runs the sampling here with a progress bar (or sends it to the workers with
--enqueue), then prints every evaluation round's figures so far."""

from django.core.management.base import BaseCommand, CommandError

from labeling.management.commands._project import project_by_slug
from labeling.models import TrainingRun
from labeling.selectors.evaluation import evaluation_results
from labeling.services import evaluation as evaluation_services
from labeling.services.runs import RunConflict, RunNotPossible
from training.progress import TqdmProgress


def _pct(value) -> str:
    return "—" if value is None else f"{value:.3f}"


class Command(BaseCommand):
    help = (
        "Sample two answers each from a candidate policy version and a baseline (default ρ) on "
        "evaluation prompts into blind four-way tasks; print the human win rates with 95% intervals."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--candidate", type=int, default=None, help="policy version (default: current)")
        parser.add_argument("--baseline", type=int, default=0, help="an earlier policy version (default 0: ρ)")
        parser.add_argument("--prompts", type=int, default=None,
                            help="evaluation prompts to sample (default: the project's setting)")
        parser.add_argument("--split", type=int, default=None,
                            help="first grow the evaluation split to this many prompts (unused ones)")
        parser.add_argument("--enqueue", action="store_true", help="send the round to the sampling workers")
        parser.add_argument("--results-only", action="store_true", help="start nothing; print the results")

    def handle(self, *args, project, candidate, baseline, prompts, split, enqueue, results_only, **options):
        target = project_by_slug(project)
        if prompts is not None and prompts < 1:
            raise CommandError("--prompts must be at least 1.")
        if not results_only:
            if split is not None:
                size = evaluation_services.evaluation_split_size_set(project=target, size=split)
                self.stdout.write(f"{size} prompts held out for evaluation.")
            self._round(target, candidate, baseline, prompts, enqueue)
        self._print(target)

    def _round(self, project, candidate, baseline, prompts, enqueue):
        try:
            evaluation = evaluation_services.evaluation_start(
                project=project, candidate_number=candidate, baseline_number=baseline, prompts=prompts,
                trigger="command: evaluate_policy", enqueue=enqueue,
            )
        except (RunConflict, RunNotPossible) as exc:
            raise CommandError(str(exc)) from None
        if enqueue:
            self.stdout.write(f"{evaluation.run} queued; follow it on the training dashboard.")
            return
        from labeling.services.execution import run_execute  # imports torch: worker side only

        desc = f"Evaluation #{evaluation.run_id}: v{evaluation.candidate.number} vs v{evaluation.baseline.number}"
        with TqdmProgress(desc, unit="prompt") as echo:
            status = run_execute(run_id=evaluation.run_id, echo=echo)
        run = TrainingRun.objects.get(pk=evaluation.run_id)
        if status != TrainingRun.Status.SUCCEEDED:
            raise CommandError(f"{run} {status}: {run.error}")
        self.stdout.write(self.style.SUCCESS(f"{run}: {run.summary}"))

    def _print(self, project):
        self.stdout.write("#     candidate baseline labeled  win rate [95% CI]        reward predicts")
        for r in evaluation_results(project=project):
            flag = "  <- above the human interval: likely reward hacking" if r.reward_above_humans else ""
            self.stdout.write(
                f"{r.id:<5} v{r.candidate:<8} v{r.baseline:<7} {r.labeled_prompts:>4}/{r.tasks:<4} "
                f"{_pct(r.win_rate)} [{_pct(r.ci_low)}, {_pct(r.ci_high)}] {r.method:<9} "
                f"{_pct(r.predicted_win_rate)}{flag}"
            )
