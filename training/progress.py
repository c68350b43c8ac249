"""Progress reports from a round: the one callback type every round takes, and the terminal's
progress bar for it. Standard library only at import (tqdm is loaded on the first report), so
the web process, the launcher and the command line can all import it."""

from __future__ import annotations

import sys
from typing import Callable

# progress(step, total, metrics): called after each unit of work (an optimizer step, a batch of
# prompts) with the units done, the units in all, and the latest metrics (floats are shown).
# It may raise to stop the round: the worker's reporter does when staff cancel a run.
Progress = Callable[[int, int, dict], None]


class TqdmProgress:
    """A ``Progress`` drawn as a tqdm bar on stderr, created on the first report (when the
    total is known); a context manager that closes the bar."""

    def __init__(self, desc: str, unit: str = "it"):
        self.desc, self.unit, self.bar = desc, unit, None

    def __call__(self, step: int, total: int, metrics: dict) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.desc, unit=self.unit, file=sys.stderr)
        self.bar.total = total
        self.bar.update(step - self.bar.n)
        shown = {k: f"{v:.3g}" for k, v in metrics.items() if isinstance(v, float)}
        if shown:
            self.bar.set_postfix(shown)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
