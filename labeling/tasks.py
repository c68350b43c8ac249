"""Celery tasks: ids in, one service call, outcome recorded by a service.

The services they call import torch, so they are imported inside the task bodies: the web
process imports this module to enqueue and must stay free of torch.
"""

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, InterfaceError


def _mark_failed(task, exc, task_id, args, kwargs, einfo):
    from labeling.services.execution import run_mark_failed

    if args:
        run_mark_failed(run_id=args[0], error=f"{type(exc).__name__}: {exc}")


_ROUND_OPTIONS = dict(
    acks_late=True,
    # A worker that dies mid-round must not have the round redelivered and restarted from
    # scratch on another worker behind the operator's back: beat marks it failed instead.
    reject_on_worker_lost=False,
    time_limit=settings.QUARTET_ROUND_TIME_LIMIT,
    soft_time_limit=settings.QUARTET_ROUND_TIME_LIMIT - 60,
    # Only a lost database connection before the round starts is worth retrying.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
    on_failure=_mark_failed,
)


@shared_task(**_ROUND_OPTIONS)
def training_round(run_id: int) -> str:
    """Execute a queued reward or policy round. Side effects: a new version on success."""
    from labeling.services.execution import run_execute

    return run_execute(run_id=run_id)


@shared_task(**_ROUND_OPTIONS)
def sampling_round(run_id: int) -> str:
    """Execute a queued sampling round. Side effects: new open tasks on success."""
    from labeling.services.execution import run_execute

    return run_execute(run_id=run_id)


@shared_task(acks_late=True, time_limit=300)
def loop_safety_net() -> dict:
    """Beat's minute job: reap dead runs, resend unsent ones, top up queues, trigger loops."""
    from labeling.services.runs import loop_safety_net as safety_net

    return safety_net()
