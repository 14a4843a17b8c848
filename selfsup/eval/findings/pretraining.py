"""The pretraining stage of ``selfsup findings``: every planned run trained (or reused) in its own
process, ``jobs`` at a time, each with its share of the cores, with the time left logged as runs finish.

See ``selfsup.eval.findings.runner`` for the whole command (plan, pretrain, evaluate, judge, write).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from selfsup.eval.pretrain_runs import (
    finished_run_matches,
    pretrain_in_subprocess,
    resumable_checkpoint,
    run_identity,
)


@dataclass
class PlannedRun:
    method: str
    config: Path
    overrides: list[str]
    run_dir: Path
    seed: int
    data: str
    evals: list[str] = field(default_factory=list)
    serves: list[tuple[str, str]] = field(default_factory=list)  # (finding, variant)
    status: str = "pending"


def _pretrain(
    run: PlannedRun, label: str, retrain: bool, log: Callable[[str], None], threads: int | None = None
) -> float | None:
    """Train ``run`` (or reuse it, or continue it from its last checkpoint) with ``threads`` OpenMP
    threads (None: inherited); the seconds a whole run took, None when reused or resumed (part of a run
    would bias the estimate of the time left)."""
    if not retrain and finished_run_matches(run.run_dir, run_identity(run.method, run.config, run.overrides)):
        log(f"{label}: reusing {run.run_dir}")
        run.status = "ok"
        return None
    checkpoint = None if retrain else resumable_checkpoint(run.method, run.config, run.run_dir, run.overrides)
    doing = "pretraining" if checkpoint is None else f"resuming from {checkpoint}:"
    log(f"{label}: {doing} {run.method} ({run.config.name}) ...")
    started = time.perf_counter()
    log_path = run.run_dir.parent / f"{run.run_dir.name}.log"
    ok, error = pretrain_in_subprocess(
        run.method, run.config, run.run_dir, run.overrides, log_path, threads, resume_from=checkpoint
    )
    run.status = "ok" if ok else f"failed: {error[:300]} (log: {log_path})"
    seconds = time.perf_counter() - started
    log(f"{label}: {'done' if ok else 'FAILED'} in {seconds / 60:.1f} min")
    return seconds if checkpoint is None else None


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{max(seconds / 60, 1):.0f} min"


def run_kind(run: PlannedRun) -> tuple[str, str, str, str]:
    """What sets a run's cost at equal data: its method, config and epochs (seeds cost the same)."""
    epochs = next((o for o in run.overrides if o.startswith("train.epochs=")), "")
    return run.method, run.config.name, run.data, epochs


def pretraining_left(pending: Sequence[tuple], timed: dict[tuple, list[float]]) -> float | None:
    """Seconds the ``pending`` runs (their ``run_kind``) should take: the mean time of finished runs
    of the same kind, else the mean over every timed run; None before any run is timed."""
    every = [s for seconds in timed.values() for s in seconds]
    if not every:
        return None
    fallback = sum(every) / len(every)
    return sum(sum(timed[k]) / len(timed[k]) if timed.get(k) else fallback for k in pending)


def threads_per_job(jobs: int, cores: int | None = None) -> int | None:
    """OpenMP threads for each of ``jobs`` concurrent pretraining processes: the cores this process may
    use, shared out (at least 1); None for one job, which inherits the caller's setting."""
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    if jobs == 1:
        return None
    cores = cores or (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    return max(1, cores // jobs)


def pretrain_all(
    runs: dict[str, PlannedRun],
    labels: dict[str, str],
    retrain: bool,
    jobs: int,
    log: Callable[[str], None],
) -> None:
    """Pretrain (or reuse) every run, ``jobs`` at a time in the plan's order, each process with its
    share of the cores (``threads_per_job``); logs the pretraining left after each finished run."""
    threads = threads_per_job(jobs)
    to_train = [k for k, r in runs.items() if retrain or not (r.run_dir / "encoder.safetensors").is_file()]
    timed: dict[tuple, list[float]] = {}
    finished: set[str] = set()
    lock, stop = threading.Lock(), threading.Event()

    def one(key: str) -> None:
        if stop.is_set():  # an earlier run raised (or Ctrl-C): start no further run
            return
        run = runs[key]
        try:
            seconds = _pretrain(run, labels[key], retrain, log, threads)
        except BaseException:
            stop.set()
            raise
        with lock:
            finished.add(key)
            if seconds is None or run.status != "ok":
                return
            timed.setdefault(run_kind(run), []).append(seconds)
            pending = [run_kind(runs[k]) for k in to_train if k not in finished]
            if not pending:
                return
            left = (pretraining_left(pending, timed) or 0.0) / jobs
            guessed = sum(k not in timed for k in pending)
            log(
                f"findings: about {_duration(left)} of pretraining left for {len(pending)} run(s) "
                f"at this machine's pace so far"
                + (f", {jobs} at a time" if jobs > 1 else "")
                + (f" ({guessed} of a kind not yet timed, guessed from the mean)" if guessed else "")
            )

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for done in [pool.submit(one, key) for key in runs]:
            done.result()  # re-raises what a worker raised
    except BaseException:  # a worker's error, or Ctrl-C (which Python raises in this thread)
        stop.set()
        raise
    finally:  # wait for the runs in flight only
        pool.shutdown(wait=True, cancel_futures=True)
