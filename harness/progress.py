"""The sweep's progress: one bar per phase (train, layer latency, model latency).

One bar over all jobs divides by a count that mixes minute-long training jobs and
millisecond latency jobs, so its remaining time is wrong by orders of magnitude. Each phase
here has its own bar and rate; a training job counts its epochs (a dense parent trained for
four epochs weighs twice a child fine-tuned for two). Jobs already stored are left out of
the totals (shown as "N stored") so they do not inflate the rate.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.context import Job
from harness.plan import LayerJob, ModelJob, TrainJob


@dataclass(frozen=True)
class Phase:
    name: str
    unit: str


PHASES: dict[type, Phase] = {
    TrainJob: Phase("train", "epoch"),
    LayerJob: Phase("layer latency", "job"),
    ModelJob: Phase("model latency", "job"),
}
LATENCY_PHASES = frozenset({"layer latency", "model latency"})


def weight(job: Job) -> int:
    """A job's share of its phase: epochs for training, one for a latency job."""
    if isinstance(job, TrainJob):
        return job.train.dense_epochs if job.recipe == "dense" else job.train.epochs
    return 1


class Progress:
    """Per-phase bars (tqdm), and when each phase began (for the summary's overheads)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started: dict[str, float] = {}
        self.bars: dict[str, Any] = {}
        self._stored: dict[str, int] = {}

    def add(self, todo: Iterable[Job], stored: Iterable[Job] = ()) -> None:
        """Jobs about to run (and those skipped because they are stored), by phase."""
        from tqdm import tqdm

        totals: dict[str, int] = {}
        for job in todo:
            name = PHASES[type(job)].name
            totals[name] = totals.get(name, 0) + weight(job)
        for job in stored:
            name = PHASES[type(job)].name
            self._stored[name] = self._stored.get(name, 0) + 1
        for phase in PHASES.values():
            if phase.name not in totals and phase.name not in self._stored:
                continue
            stored_count = self._stored.get(phase.name)
            desc = phase.name + (f" ({stored_count} stored)" if stored_count else "")
            bar = self.bars.get(phase.name)
            if bar is None:
                self.bars[phase.name] = tqdm(
                    total=totals.get(phase.name, 0), desc=desc, unit=phase.unit,
                    disable=not self.enabled, dynamic_ncols=True, position=len(self.bars))
            else:  # more jobs of a phase begun (the next kind of cluster node)
                bar.total += totals.get(phase.name, 0)
                bar.set_description_str(desc, refresh=True)

    def start(self, job: Job) -> None:
        """``job`` begins: its phase's clock starts with its first job."""
        name = PHASES[type(job)].name
        bar = self.bars[name]
        if name not in self.started:  # its rate counts from here, not from the sweep's start
            self.started[name] = time.perf_counter()
            bar.reset(total=bar.total)
        bar.set_postfix_str(job.label[:60], refresh=False)

    def finish(self, job: Job) -> None:
        self.bars[PHASES[type(job)].name].update(weight(job))

    def latency_started(self) -> float | None:
        """When the first latency job began; None when none ran."""
        times = [t for name, t in self.started.items() if name in LATENCY_PHASES]
        return min(times) if times else None

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
