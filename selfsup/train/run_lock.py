"""One run per directory: ``RUN/.lock`` held with ``fcntl.flock`` for the run's lifetime.

Two processes that start together with one ``train.run_name`` (or resume one checkpoint twice) would
otherwise both write ``RUN/`` and both exit 0 holding each other's weights. The lock is advisory and
tied to the open file: the kernel drops it when the process exits, however it exits (kill -9 included),
so a crashed run never leaves a stale lock behind. Only the process that owns the run takes it (rank 0,
or the single process); ranks that join rank 0's directory do not.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".lock"
# The owner writes its line just after it takes the lock; a second run may arrive in between.
OWNER_WAIT_SECONDS = 2.0


class RunDirectoryBusy(ValueError):
    """Another live process holds the run directory's lock."""


@contextmanager
def hold_run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir/.lock`` exclusively within the block; refuse at once if another process holds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        owner = _read_owner(path)
        raise RunDirectoryBusy(
            f"run directory {run_dir} is in use by {owner} (it holds {path}); wait for it to finish, "
            "or start this run under another train.run_name"
        ) from err
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()} on {os.uname().nodename}\n".encode())
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_owner(path: Path) -> str:
    """The owner's line ("process PID on HOST"), waiting briefly for an owner that has locked but not yet written."""
    deadline = time.monotonic() + OWNER_WAIT_SECONDS
    while True:
        owner = path.read_text().strip()
        if owner or time.monotonic() >= deadline:
            return owner or "another process"
        time.sleep(0.01)


def is_locked(run_dir: Path) -> bool:
    """True while a live process holds ``run_dir/.lock``."""
    path = run_dir / LOCK_NAME
    if not path.is_file():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a lock this probe may have taken
    return False
