"""Run a function on several CPU processes joined in a gloo process group, and collect what each returns.

Usage (define the function at module top level, so that spawned processes can import it)::

    from distributed_helpers import run_gloo

    def _work(rank: int, world_size: int, x: torch.Tensor) -> dict:
        ...  # torch.distributed is initialised here (backend gloo)
        return {"loss": loss.detach(), "grad": x.grad}

    results = run_gloo(_work, 2, x)  # [result of rank 0, result of rank 1]

Results travel back through ``torch.save`` files in a private temporary directory and are loaded with
``weights_only=True``: return tensors, numbers, strings, and lists / tuples / dicts of them.
The group rendezvous uses a fresh ``file://`` store (no port can be taken by another test in between);
:func:`free_port` is here for code that needs ``tcp://``.

Processes are forked on Linux (unless CUDA is initialised in the parent, which a fork cannot inherit):
a forked rank starts in ~0.1 s, while a spawned one re-imports torch (~5 s for two ranks on 2 cores).
Keep ``fn`` picklable anyway so ``start_method="spawn"`` works too. Modules that ranks would import
lazily are worth importing once in the parent: ``preimport=("torch._dynamo",)`` saves ~4 s per rank for
functions that build ``DistributedDataParallel`` (its constructor imports dynamo).
"""

from __future__ import annotations

import datetime
import importlib
import os
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(
    rank: int,
    fn: Callable[..., Any],
    world_size: int,
    init_file: str,
    out_dir: str,
    timeout_s: float,
    args: tuple[Any, ...],
) -> None:
    # One thread per process: the suite runs on 2 cores and ranks would otherwise fight for them.
    torch.set_num_threads(1)
    if sys.platform.startswith("linux"):  # loopback: works even where the hostname does not resolve
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    err_path = os.path.join(out_dir, f"rank{rank}.err")

    def record_failure() -> None:
        # Written at once, before the group is torn down: the parent reports every rank's traceback, the
        # first failure first (the other ranks usually just see "connection closed by peer").
        if not os.path.exists(err_path):
            with open(err_path, "w") as f:
                f.write(traceback.format_exc())

    try:
        dist.init_process_group(
            backend="gloo",
            init_method=f"file://{init_file}",
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout_s),
        )
        try:
            result = fn(rank, world_size, *args)
        except BaseException:
            record_failure()
            raise
        finally:
            dist.destroy_process_group()
        torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))
    except BaseException:
        record_failure()
        raise


def _failures(out_dir: str) -> str:
    paths = [os.path.join(out_dir, n) for n in os.listdir(out_dir) if n.endswith(".err")]
    parts = []
    for path in sorted(paths, key=lambda p: os.stat(p).st_mtime_ns):
        with open(path) as f:
            parts.append(f"--- {os.path.basename(path)[:-4]} ---\n{f.read()}")
    return "\n".join(parts)


def run_gloo(
    fn: Callable[..., Any],
    world_size: int = 2,
    *args: Any,
    timeout: float = 60.0,
    start_method: str | None = None,
    preimport: tuple[str, ...] = (),
) -> list[Any]:
    """Call ``fn(rank, world_size, *args)`` in ``world_size`` new processes joined in a gloo group.

    Returns the per-rank return values in rank order. An exception in any rank terminates the others
    and raises ``RuntimeError`` here with every failed rank's traceback, earliest first; ranks that do
    not finish within ``timeout`` seconds are killed and ``TimeoutError`` is raised (collectives time out
    after ``timeout`` too). ``fn`` and ``args`` must be picklable (``fn`` a module-level function). ``start_method``: ``"fork"`` or ``"spawn"``; default fork on Linux
    without initialised CUDA, spawn elsewhere. ``preimport``: modules to import in the parent first, so
    forked ranks inherit them instead of each importing them.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    for name in preimport:
        importlib.import_module(name)
    with tempfile.TemporaryDirectory(prefix="selfsup_gloo_") as tmp:
        init_file = os.path.join(tmp, "rendezvous")  # must not exist yet: FileStore creates it
        if start_method is None:
            fork_ok = sys.platform.startswith("linux") and not torch.cuda.is_initialized()
            start_method = "fork" if fork_ok else "spawn"
        ctx = mp.start_processes(
            _worker,
            args=(fn, world_size, init_file, tmp, timeout, tuple(args)),
            nprocs=world_size,
            join=False,
            start_method=start_method,
        )
        deadline = time.monotonic() + timeout
        name = getattr(fn, "__name__", repr(fn))
        try:
            while not ctx.join(timeout=max(0.0, min(1.0, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"gloo ranks of {name} did not finish in {timeout} s")
        except (mp.ProcessRaisedException, mp.ProcessExitedException) as e:
            details = _failures(tmp) or str(e)
            raise RuntimeError(f"gloo run of {name} failed (earliest failure first):\n{details}") from e
        finally:
            for p in ctx.processes:  # no-op for ranks that exited; kills stragglers on error/timeout
                if p.is_alive():
                    p.kill()
                p.join(timeout=5)
        results = []
        for rank in range(world_size):
            path = os.path.join(tmp, f"rank{rank}.pt")
            if not os.path.exists(path):
                raise RuntimeError(f"rank {rank} exited without writing its result")
            results.append(torch.load(path, weights_only=True))
        return results
