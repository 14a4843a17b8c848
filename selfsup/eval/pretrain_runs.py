"""Pretraining runs for ``selfsup compare`` and ``selfsup findings``: each in its own process, reused
only when it trained what is asked.

``pretrain_in_subprocess(method, config, run_dir, overrides, log_path)`` runs ``selfsup pretrain`` in a
subprocess (a crash is one failed run, not a lost comparison) and records what the run trained in
``RUN/trained_with.json``: the method, a fingerprint of the config's values, and the overrides. A
half-finished run left by an interrupted command continues from its last checkpoint when
``resumable_checkpoint`` finds that it trains exactly what is asked (its ``RUN/config.yaml`` equals the
config and overrides, key by key), so a crash costs at most one checkpoint interval; any other run in the
way is trained again from step 0. ``finished_run_matches(run_dir, run_identity(...))`` lets a
caller reuse a finished run (``encoder.safetensors`` present) only when that record matches: a run
trained with other config values, budget, data or seed is refused with one line that names the run and
the fix, instead of being scored as if it were the run asked for.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

TRAINED_WITH = "trained_with.json"


class StaleRun(ValueError):
    """A finished run in the way was trained with other settings than the ones asked for."""


def config_fingerprint(config: Path) -> str:
    """The first 12 hex digits of the SHA-1 of the config's parsed values (comments and layout aside)."""
    values = yaml.safe_load(Path(config).read_text())
    return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def run_identity(method: str, config: Path, overrides: Sequence[str]) -> dict:
    """What a run trains: its method, its config values (fingerprint) and its overrides, in order."""
    return {"method": method, "config": config_fingerprint(config), "overrides": list(overrides)}


def finished_run_matches(run_dir: Path, identity: dict) -> bool:
    """True when ``run_dir`` holds a finished run of ``identity``; False when it holds no finished run.

    Raises ``StaleRun`` when it holds a finished run of something else (or one that predates the record).
    """
    if not (run_dir / "encoder.safetensors").is_file():
        return False
    record = run_dir / TRAINED_WITH
    found = json.loads(record.read_text()) if record.is_file() else None
    if found == identity:
        return True
    what = (
        f"has no {TRAINED_WITH} (it predates this record), so what it trained is unknown"
        if found is None
        else "was trained with other settings: " + "; ".join(_differences(found, identity))
    )
    raise StaleRun(f"finished run {run_dir} {what}; pass --retrain to train it again, or use another --out")


def _differences(found: dict, asked: dict) -> list[str]:
    out = []
    if found.get("method") != asked["method"]:
        out.append(f"method {found.get('method')} then, {asked['method']} now")
    if found.get("config") != asked["config"]:
        out.append("the config file's values have changed")
    then, now = list(found.get("overrides", [])), asked["overrides"]
    if then != now:
        gone, new = [o for o in then if o not in now], [o for o in now if o not in then]
        out.append(
            f"overrides {' '.join(gone) or '(none)'} then, {' '.join(new) or '(none)'} now"
            if gone or new
            else "the same overrides in another order"
        )
    return out


def pretrain_overrides(run_dir: Path, overrides: Sequence[str]) -> list[str]:
    """The overrides ``selfsup pretrain`` gets for ``run_dir``: where to write, no progress bar, then
    the caller's."""
    return [
        f"train.out_dir={run_dir.parent}", f"train.run_name={run_dir.name}", "train.progress_bar=false",
        *overrides,
    ]  # fmt: skip


def resumable_checkpoint(method: str, config: Path, run_dir: Path, overrides: Sequence[str]) -> Path | None:
    """``RUN/checkpoints/last.ckpt`` of a half-finished run (no encoder yet) whose ``RUN/config.yaml``
    equals what ``config`` and ``overrides`` make, key by key; None for anything else (no run, no
    checkpoint yet, a finished run, other settings, a config that no longer loads)."""
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    if (run_dir / "encoder.safetensors").exists() or not checkpoint.is_file():
        return None
    from selfsup.train.config_loader import load_run_config
    from selfsup.train.resume import changed_keys

    try:
        saved = load_run_config(str(run_dir / "config.yaml"))
        asked = load_run_config(str(config), pretrain_overrides(run_dir, overrides), method=method)
    except (OSError, ValueError, TypeError, KeyError, yaml.YAMLError):
        return None  # a config that no longer loads: the run is trained again
    return checkpoint if not changed_keys(saved, asked) else None


def pretrain_in_subprocess(
    method: str,
    config: Path,
    run_dir: Path,
    overrides: Sequence[str],
    log_path: Path,
    threads: int | None = None,
    resume_from: Path | None = None,
) -> tuple[bool, str]:
    """Train ``run_dir`` with ``selfsup pretrain`` and record what it trained; (success, last error
    line). ``resume_from``: the checkpoint ``resumable_checkpoint`` found, to continue the run from
    (None: train afresh, removing whatever is in the way); a resume that fails is trained again from
    step 0, with both attempts in ``log_path``. ``threads``: the child's ``OMP_NUM_THREADS`` (None:
    inherited), for runs that share the cores."""
    identity = run_identity(method, config, overrides)  # what is trained, read before training starts
    env = None if threads is None else {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cli = [sys.executable, "-m", "selfsup.cli", "pretrain"]
    with open(log_path, "w") as out:

        def say(line: str) -> None:
            out.write(f"selfsup: {line}\n")
            out.flush()

        def child(args: list[str]) -> bool:
            proc = subprocess.run(cli + args, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
            return proc.returncode == 0

        ok = False
        if resume_from is not None:  # the run's own config.yaml says what to train
            say(f"the command that trained this run was interrupted; resuming from {resume_from}")
            ok = child(["--resume", str(resume_from), "--no-eval"])
            if not ok:
                say("the resume failed (above); training this run again from step 0")
        if not ok:
            if run_dir.exists():
                shutil.rmtree(run_dir)  # a run to retrain, one of other settings, or a failed resume
            ok = child(
                [method, "--config", str(config), "--no-eval", *pretrain_overrides(run_dir, overrides)]
            )
    if ok and (run_dir / "encoder.safetensors").is_file():
        (run_dir / TRAINED_WITH).write_text(json.dumps(identity, indent=1))
        return True, ""
    lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    return False, lines[-1] if lines else "selfsup pretrain failed and printed nothing"
