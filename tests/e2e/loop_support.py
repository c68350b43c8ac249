"""Helpers for the loop tests: choices made directly through the services (no HTTP)."""

import random

from django.db.models import Count

from labeling.services import assignments_lease, comparison_record
from labeling.services.execution import run_execute
from labeling.services import runs as run_services
from tests.factories import UserFactory


def seed_choices(project, count: int, oracle_name: str = "sentiment") -> None:
    """Sample tasks from the project's current policy in-process and label ``count`` of them
    with a simulated labeler."""
    from training.oracles import get_oracle

    created, made = 0, []
    for _ in range(3):
        # A sampled task that repeats an existing one is dropped as a duplicate (which happens
        # or not with the run's seed, its id): sample again for the ones missing.
        project.loop_sample_prompts = count - created
        project.save(update_fields=["loop_sample_prompts"])
        run = run_services.run_start(project=project, kind="sampling", trigger="seed", enqueue=False)
        assert run_execute(run_id=run.pk) == "succeeded"
        run.refresh_from_db()
        made.append(run.summary)
        created += run.summary["tasks_created"]
        if created >= count:
            break
    project.loop_sample_prompts = count
    project.save(update_fields=["loop_sample_prompts"])
    user = UserFactory()
    project.annotators.add(user)
    oracle, rng = get_oracle(oracle_name), random.Random(0)
    for i in range(count):
        pending = assignments_lease(project=project, annotator=user)
        assert pending, (
            f"no task for choice {i + 1} of {count}: sampling made {made}; tasks by status "
            f"{dict(project.tasks.values_list('status').annotate(n=Count('pk')))}"
        )
        lease = pending[0]
        texts = [c.text for c in lease.task.completions.order_by("position")]
        comparison_record(
            project=project, annotator=user, assignment_id=lease.pk, kind="best",
            position=oracle.choose(lease.task.prompt.text, texts, rng),
        )
