"""Simulated annotators: real HTTP sessions that label through the same pages a browser uses.

Each annotator logs in, GETs the labeling page (as htmx does), reads the prompt and the four
cards, lets a training/ oracle pick one, and POSTs the choice. Used by `manage.py
simulate_annotators`, the end-to-end tests and the benchmarks. The HTTP client and the page
parser are labeling.annotator_client's, shared with bench.labeling and the tests; their names
stay importable from here.
"""

import random
import threading
import time
from dataclasses import dataclass

from labeling.annotator_client import AnnotatorClient, Page, SimulationError, parse_labeling_page

__all__ = ["AnnotatorSession", "Page", "SimulationError", "SimulationResult", "parse_labeling_page", "simulate"]

# The name the simulation's callers know the shared client by.
AnnotatorSession = AnnotatorClient


@dataclass
class SimulationResult:
    labels: int
    seconds: float
    per_annotator: dict
    errors: list


def simulate(
    *,
    base_url: str,
    slug: str,
    accounts: list[tuple[str, str]],
    oracle,
    labels: int,
    seed: int = 0,
    wait_for_tasks: float = 0.0,
    on_label=None,
) -> SimulationResult:
    """Label ``labels`` tasks in total with the given accounts working at once.

    An annotator that finds the queue empty polls for up to ``wait_for_tasks`` seconds (the
    loop may be sampling new tasks) before it stops.
    """
    lock = threading.Lock()
    state = {"done": 0}
    per_annotator = {name: 0 for name, _ in accounts}
    errors: list[str] = []
    start = time.monotonic()

    def work(index: int, username: str, password: str):
        rng = random.Random(seed * 1000 + index)
        session = None
        try:
            session = AnnotatorSession(base_url, username, password)
            session.login()
            page = session.next_task(slug)
            idle_since = None
            while True:
                with lock:
                    if state["done"] >= labels:
                        return
                    state["done"] += 1  # reserve one label
                if page.assignment is None:
                    with lock:
                        state["done"] -= 1
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > wait_for_tasks:
                        return
                    time.sleep(0.5)
                    page = session.next_task(slug)
                    continue
                idle_since = None
                best = oracle.choose(page.prompt, page.completions, rng)
                page = session.choose(slug, page, best, decision_ms=rng.randint(800, 4000))
                with lock:
                    per_annotator[username] += 1
                if on_label:
                    on_label()
        except Exception as exc:  # reported to the caller, which decides what it means
            with lock:
                errors.append(f"{username}: {type(exc).__name__}: {exc}")
        finally:
            if session is not None:
                session.close()

    threads = [
        threading.Thread(target=work, args=(i, name, pw), daemon=True)
        for i, (name, pw) in enumerate(accounts)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return SimulationResult(
        labels=sum(per_annotator.values()),
        seconds=time.monotonic() - start,
        per_annotator=per_annotator,
        errors=errors,
    )
