"""Choose the training precision the hardware runs fastest without changing results.

``precision: auto`` resolves to ``bf16-mixed`` on CUDA GPUs with bf16 support and to ``32-true`` on
CPUs without native bf16 instructions, where bf16 autocast is emulated (~10x *slower* than fp32 on
an AVX2-only CPU, DESIGN.md §5). On a CPU with native bf16 (AVX512-BF16 or AMX) the answer depends on
the model: bf16 autocast ran the main job's ResNet 1.7x faster than fp32, but the small MAE and DINO
ViTs slower (its casts cost more than the matmuls save). There ``auto`` is decided by measurement:
the run's own step is timed at both precisions (:func:`selfsup.train.calibrate.time_precisions`), once
per (CPU, torch, threads, run signature), and the choice is cached in
``$XDG_CACHE_HOME/selfsup/precision.json`` (default ``~/.cache``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import torch

from selfsup.train.atomic_io import atomic_write

MEASURED = ("32-true", "bf16-mixed")  # the candidates ``auto`` times on a native-bf16 CPU


@lru_cache(maxsize=1)
def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def cpu_has_native_bf16() -> bool:
    flags = _cpuinfo()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _uses_gpu(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def resolve_precision(precision: str, accelerator: str = "auto") -> str:
    """``auto`` → ``bf16-mixed`` or ``32-true`` by the hardware's flags; other values pass through.

    On a native-bf16 CPU this is the default before measurement (:func:`measures_precision`)."""
    if precision != "auto":
        return precision
    if _uses_gpu(accelerator):
        return "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_has_native_bf16() else "32-true"


def measures_precision(precision: str, accelerator: str = "auto") -> bool:
    """Whether ``auto`` is decided by timing here: a CPU run on a CPU with native bf16."""
    return precision == "auto" and not _uses_gpu(accelerator) and cpu_has_native_bf16()


def cache_path() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "selfsup" / "precision.json"


def _read_cache(path: Path) -> dict:
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or unreadable: time again
        return {}
    return cache if isinstance(cache, dict) else {}


def measured_precision(signature: dict, time_steps: Callable[[], dict[str, float]]) -> tuple[str, str]:
    """The faster of :data:`MEASURED` for the run described by ``signature`` on this machine.

    ``time_steps()`` returns seconds per step for each candidate; it is called only when the cache has
    no entry for ``signature`` on this CPU, torch version and thread count. Returns the choice and a
    one-line note for the run's log."""
    key = {**signature, "cpu": cpu_model(), "torch": torch.__version__, "threads": torch.get_num_threads()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = cache_path()
    cache = _read_cache(path)
    seconds = cache.get(digest, {}).get("seconds")
    source = f"cached in {path}"
    if not (isinstance(seconds, dict) and set(seconds) == set(MEASURED)):
        seconds = time_steps()
        cache[digest] = {"seconds": seconds, "key": key}
        try:
            text = json.dumps(cache, indent=1, default=str).encode()
            atomic_write(path, lambda f: f.write(text))
            source = f"timed now, cached in {path}"
        except OSError as err:  # a read-only home: the choice still holds for this run
            source = f"timed now; not cached ({err.strerror}: {path})"
    choice = min(MEASURED, key=lambda p: seconds[p])
    times = " vs ".join(f"{seconds[p]:.3g} s at {p}" for p in MEASURED)
    note = (
        f"train.precision=auto chose {choice}: this run's step took {times} on this CPU ({source}); "
        "set train.precision to fix it"
    )
    return choice, note
