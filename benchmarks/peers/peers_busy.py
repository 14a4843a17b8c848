"""Is this machine quiet enough for a timing to be evidence?

DESIGN.md §5: with other processes on the 2 cores, torch's OpenMP threads slowed a run 10-40x, so a
ratio measured beside a training run is noise. Two checks, both from ``/proc`` (Linux):

- **before** anything starts: the share of all cores that was busy over ``seconds`` (``/proc/stat``)
  and the 1-minute load average against the core count;
- **during** each trial: the CPU time the machine spent that was *not* ours, i.e. busy time of all
  cores (``/proc/stat``) minus the CPU time of our finished process tree (``RUSAGE_CHILDREN``:
  the trial process and its data-loader workers), over the trial's wall time × cores.

A machine counts as busy when either share exceeds ``threshold`` (default 0.10 of all cores) or
the load average exceeds half the cores before the start.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

DEFAULT_THRESHOLD = 0.10  # share of all cores used by others that still counts as quiet
LOAD_PER_CORE = 0.5  # 1-min load average per core above which the machine is busy at start


def cpu_times() -> tuple[float, float]:
    """``(busy, total)`` CPU seconds of all cores since boot, from the first line of ``/proc/stat``."""
    with open("/proc/stat") as f:
        fields = [float(v) for v in f.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
    return (total - idle) / ticks, total / ticks


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's finished (waited-for) descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def utilization(seconds: float = 2.0) -> float:
    """Share of all cores busy over the next ``seconds`` (0 = idle, 1 = every core saturated)."""
    busy0, total0 = cpu_times()
    time.sleep(seconds)
    busy1, total1 = cpu_times()
    return (busy1 - busy0) / max(total1 - total0, 1e-9)


@dataclass
class BusyReport:
    """What the check saw; ``busy`` is the verdict."""

    utilization: float  # share of all cores busy (others' share during a trial)
    load_average: float | None  # 1-min load average (start check only)
    cores: int
    threshold: float
    where: str  # "start" or the trial's name

    @property
    def busy(self) -> bool:
        loaded = self.load_average is not None and self.load_average > LOAD_PER_CORE * self.cores
        return self.utilization > self.threshold or loaded

    def describe(self) -> str:
        load = "" if self.load_average is None else f", load average {self.load_average:.2f}"
        verdict = "BUSY" if self.busy else "quiet"
        return (
            f"{self.where}: {verdict} -- {100 * self.utilization:.0f} % of {self.cores} cores used by "
            f"others{load} (threshold {100 * self.threshold:.0f} %, load {LOAD_PER_CORE * self.cores:.1f})"
        )


def check_start(seconds: float = 2.0, threshold: float = DEFAULT_THRESHOLD) -> BusyReport:
    """Utilization over ``seconds`` and the load average, before the benchmark starts anything."""
    return BusyReport(utilization(seconds), os.getloadavg()[0], os.cpu_count() or 1, threshold, "start")


class TrialMonitor:
    """Others' share of the cores while one trial (a child process tree) ran.

    Use as ``with TrialMonitor(name, threshold) as m: subprocess.run(...)``; ``m.report`` afterwards.
    """

    def __init__(self, where: str, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.where, self.threshold = where, threshold
        self.report: BusyReport | None = None

    def __enter__(self) -> TrialMonitor:
        self._busy, self._total = cpu_times()
        self._ours = children_cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        busy, total = cpu_times()
        ours = children_cpu_seconds() - self._ours
        others = max(0.0, (busy - self._busy) - ours)
        share = others / max(total - self._total, 1e-9)
        self.report = BusyReport(share, None, os.cpu_count() or 1, self.threshold, self.where)
