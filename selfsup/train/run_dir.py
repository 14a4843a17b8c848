"""The run directory: effective config, derived values, logs, checkpoints and the exported encoder.

Layout::

    RUN/config.yaml          the effective config (loadable with --config)
    RUN/derived.json         global batch, steps, scaled lr, ... computed once
    RUN/logs/version_N/      CSV (metrics.csv) and TensorBoard logs, one version per (resumed) segment
    RUN/checkpoints/         Lightning checkpoints (step-NNNNNNN.ckpt, last.ckpt)
    RUN/encoder.safetensors  exported encoder (+ encoder.json)
    RUN/results.json         evaluation results, when evaluated
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from selfsup.train.atomic_io import atomic_write
from selfsup.train.config import Derived, RunConfig
from selfsup.train.config_loader import config_to_dict
from selfsup.train.run_lock import LOCK_NAME


def _joined_group() -> bool:
    """True when the caller already set up a process group of several ranks before ``pretrain``."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def externally_launched() -> bool:
    """True in one process of a multi-process job that torchrun, SLURM or the caller's own process
    group started (not Lightning)."""
    return (
        int(os.environ.get("WORLD_SIZE", "1")) > 1
        or int(os.environ.get("SLURM_NTASKS", "1")) > 1
        or _joined_group()
    )


def launch_id() -> str | None:
    """An id all ranks of an external launch share: torchrun's rendezvous id, else SLURM's job id."""
    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    if run_id and run_id != "none":
        return run_id
    return os.environ.get("SLURM_JOB_ID")


def launch_rank() -> int:
    """This process's rank in a torchrun/SLURM launch or the caller's process group (0 otherwise)."""
    if _joined_group():
        import torch.distributed as dist

        return dist.get_rank()
    for var in ("RANK", "SLURM_PROCID"):
        value = os.environ.get(var)
        if value is not None and value.isdigit():
            return int(value)
    return 0


def new_run_dir(cfg: RunConfig) -> Path:
    """Create and return the directory of a new run: ``out_dir/<run_name>``, or a generated name.

    Generated names are ``<method>-<data>-<time>``, with ``-N`` added when taken; the directory is made
    with ``mkdir`` (which fails if it exists), so two runs started in the same second never share one.
    A ``train.run_name`` directory is created if needed; ``pretrain`` then takes its lock and refuses it
    if it already holds a run (``require_fresh``).

    Ranks started together by torchrun or SLURM each call this: without ``train.run_name`` they name the
    directory after the launch's shared id, never after their own clock, and join rank 0's directory.
    """
    out = Path(cfg.train.out_dir)
    if cfg.train.run_name is None and externally_launched():
        shared = launch_id()
        if shared is None:
            raise ValueError(
                "this process is one of several started by a launcher (WORLD_SIZE or SLURM_NTASKS > 1) "
                "without a shared run id, so the ranks cannot agree on a run directory: set "
                "train.run_name=NAME (or launch with torchrun --rdzv-id=ID)"
            )
        path = out / f"{cfg.method_name}-{cfg.data.name}-{shared}"
        path.mkdir(parents=True, exist_ok=True)
        return path
    if cfg.train.run_name is not None:
        path = out / cfg.train.run_name
        path.mkdir(parents=True, exist_ok=True)
        return path
    out.mkdir(parents=True, exist_ok=True)
    name = f"{cfg.method_name}-{cfg.data.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for suffix in range(10_000):
        path = out / (name if suffix == 0 else f"{name}-{suffix}")
        try:
            path.mkdir()  # atomic: exactly one process creates a given name
            return path
        except FileExistsError:
            continue
    raise ValueError(f"could not create a fresh run directory {out / name}-N; set train.run_name=NAME")


def require_fresh(run_dir: Path) -> None:
    """Refuse a new run in a directory that already holds one (call while holding its lock)."""
    taken = sorted(p.name for p in run_dir.iterdir() if p.name != LOCK_NAME) if run_dir.is_dir() else []
    if taken:
        raise ValueError(
            f"run directory {run_dir} already holds a run ({', '.join(taken[:4])}); choose another "
            f"train.run_name, or continue it with --resume {run_dir / 'checkpoints' / 'last.ckpt'}"
        )


# Lightning starts the other ranks of a multi-process run by re-running the command; they find the
# directory (and derived.json: steps chosen by a time budget) that rank 0 chose here, instead of
# choosing their own from a clock that may have moved on.
RUN_DIR_ENV = "SELFSUP_RUN_DIR"


def inherited_run_dir() -> Path | None:
    """The run directory rank 0 chose, in a rank that Lightning launched; else None."""
    value = os.environ.get(RUN_DIR_ENV)
    return Path(value) if value and (Path(value) / "derived.json").is_file() else None


@contextmanager
def shared_with_launched_ranks(run_dir: Path) -> Iterator[None]:
    """Within the block, ranks started by Lightning inherit ``run_dir`` through the environment."""
    previous = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous


def run_dir_of_checkpoint(checkpoint: str | Path) -> Path:
    """``RUN/checkpoints/x.ckpt`` → ``RUN``."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist; pass RUN/checkpoints/last.ckpt")
    return checkpoint.parent.parent


def save_run_files(run_dir: Path, cfg: RunConfig, derived: Derived) -> None:
    """Write ``config.yaml`` and ``derived.json`` atomically (a resume with a new length rewrites them)."""
    config = yaml.safe_dump(config_to_dict(cfg), sort_keys=False).encode()
    atomic_write(run_dir / "config.yaml", lambda f: f.write(config))
    values = json.dumps(dataclasses.asdict(derived), indent=2).encode()
    atomic_write(run_dir / "derived.json", lambda f: f.write(values))


def latest_checkpoint(run_dir: Path) -> Path | None:
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        return last
    steps = sorted((run_dir / "checkpoints").glob("step-*.ckpt"))
    return steps[-1] if steps else None


def next_log_version(run_dir: Path) -> int:
    """Index of the next ``logs/version_N`` folder (0 for a new run, N+1 after a resume)."""
    taken = [
        int(p.name.split("_")[1])
        for p in (run_dir / "logs").glob("version_*")
        if p.name.split("_")[1].isdigit()
    ]
    return max(taken, default=-1) + 1


def load_derived(run_dir: Path) -> Derived:
    """The ``derived.json`` a run saved when it started."""
    return Derived(**json.loads((run_dir / "derived.json").read_text()))
