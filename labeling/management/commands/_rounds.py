"""Shared shape of train_reward, update_policy, sample_tasks and run_loop: run rounds in this
process (no worker needed) with a progress bar, recording them as TrainingRuns like the worker."""

from django.core.management.base import BaseCommand, CommandError

from labeling.management.commands._project import project_by_slug
from labeling.models import TrainingRun
from labeling.services import runs as run_services
from training.progress import TqdmProgress


class RoundCommand(BaseCommand):
    kinds: tuple[str, ...] = ()  # rounds to run in order

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument(
            "--enqueue", action="store_true",
            help="send the round(s) to the Celery workers instead of running here",
        )

    def handle(self, *args, project, enqueue, **options):
        target = project_by_slug(project)
        if enqueue:
            self._enqueue(target)
            return
        from labeling.services.execution import run_execute  # imports torch: worker side only

        for kind in self.kinds:
            target.refresh_from_db()
            try:
                run = run_services.run_start(
                    project=target, kind=kind, trigger=f"command: {self.__module__.rsplit('.', 1)[-1]}",
                    enqueue=False,
                )
            except (run_services.RunConflict, run_services.RunNotPossible) as exc:
                raise CommandError(str(exc)) from None
            with TqdmProgress(f"{run.get_kind_display()} #{run.pk}", unit="step") as echo:
                status = run_execute(run_id=run.pk, echo=echo)
            run.refresh_from_db()
            if status != TrainingRun.Status.SUCCEEDED:
                raise CommandError(f"{run} {status}: {run.error}")
            self.stdout.write(self.style.SUCCESS(f"{run}: {run.summary}"))

    def _enqueue(self, project):
        try:
            run = run_services.run_start(
                project=project, kind=self.kinds[0], trigger="command (enqueued)",
                continue_loop=len(self.kinds) > 1,
            )
        except (run_services.RunConflict, run_services.RunNotPossible) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{run} queued; follow it on the training dashboard.")
