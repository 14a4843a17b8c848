"""What ``pretrain --resume CKPT [key=value ...]`` may change, and the run it continues.

A resumed run is the same run: the same data, method, optimizer and batch, so that resume is exact.
Only settings that do not change what the finished steps computed may differ from ``RUN/config.yaml``:
the run's length (``train.max_steps``, ``train.epochs``, ``train.time_budget_minutes``: extend it or
stop it earlier), how often it logs and checkpoints, progress output, loader workers and the evaluation
afterwards. Any other difference is refused with the list of what may change. A length change recomputes
``total_steps`` (warm-up and peak lr stay as the run began), and ``RUN/config.yaml`` and
``RUN/derived.json`` are rewritten so they say what ran.
"""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from pathlib import Path
from typing import Any

from selfsup.train.config import Derived, RunConfig, derive

SAFE_ON_RESUME = (
    "train.max_steps",
    "train.epochs",
    "train.time_budget_minutes",
    "train.log_every",
    "train.checkpoint_every",
    "train.online_knn_every",
    "train.quality_every",
    "train.progress_bar",
    "data.num_workers",
    "eval.*",
)
LENGTH_KEYS = ("train.max_steps", "train.epochs", "train.time_budget_minutes")


def resume_run_dir(checkpoint: str | Path, run_dir: str | Path | None = None) -> Path:
    """The run directory a resumed run writes into: ``run_dir`` if the user named one, else the
    ``RUN`` of ``RUN/checkpoints/x.ckpt``; a checkpoint outside a run directory is refused, never
    resumed into a guessed parent folder."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist; pass RUN/checkpoints/last.ckpt")
    if run_dir is not None:
        run_dir = Path(run_dir)
        if not (run_dir / "config.yaml").is_file():
            raise FileNotFoundError(
                f"--run-dir {run_dir} has no config.yaml; name the directory of the run that wrote {checkpoint}"
            )
        return run_dir
    guess = checkpoint.resolve().parent.parent
    if checkpoint.resolve().parent.name != "checkpoints" or not (guess / "config.yaml").is_file():
        raise ValueError(
            f"checkpoint {checkpoint} is not inside a run directory (RUN/checkpoints/*.ckpt beside "
            "RUN/config.yaml); name the run it continues with --run-dir RUN"
        )
    return checkpoint.parent.parent


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def changed_keys(saved: RunConfig, new: RunConfig) -> list[str]:
    """Dotted config keys whose values differ between two configs."""
    from selfsup.train.config_loader import config_to_dict

    a, b = _flatten(config_to_dict(saved)), _flatten(config_to_dict(new))
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def check_resume_config(run_dir: Path, cfg: RunConfig) -> list[str]:
    """The keys ``cfg`` changes relative to ``run_dir/config.yaml``; an error if any may not change."""
    from selfsup.train.config_loader import load_run_config

    changed = changed_keys(load_run_config(run_dir / "config.yaml"), cfg)
    refused = [k for k in changed if not any(fnmatch.fnmatchcase(k, pat) for pat in SAFE_ON_RESUME)]
    if refused:
        raise ValueError(
            f"resuming {run_dir} with {', '.join(refused)} changed from its config.yaml would make it a "
            f"different run; on resume only {', '.join(SAFE_ON_RESUME)} may change (start a new run for "
            "anything else)"
        )
    return changed


def resumed_derived(
    saved: Derived | None,
    cfg: RunConfig,
    changed: list[str],
    train_items: int,
    world_size: int,
    done_steps: int,
    step_cap: int | None,
    checkpoint: Path,
) -> Derived:
    """The derived values of the continued run: ``saved`` with ``total_steps`` recomputed when a length
    key changed (``step_cap``: steps after ``done_steps`` that a new time budget allows).

    Refuses a resume that would train nothing (the checkpoint already reached the run's end)."""
    fresh = derive(cfg, train_items, world_size, None if step_cap is None else done_steps + step_cap)
    derived = saved or fresh
    if any(k in LENGTH_KEYS for k in changed):
        derived = replace(derived, total_steps=fresh.total_steps)
    if done_steps >= derived.total_steps:
        raise ValueError(
            f"checkpoint {checkpoint} has already trained {done_steps} of the run's {derived.total_steps} "
            f"steps, so resuming would train nothing; to train on, pass a larger train.max_steps "
            f"(e.g. train.max_steps={2 * done_steps}) or train.epochs"
        )
    return derived
