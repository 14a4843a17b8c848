"""Atomic, checked checkpoint files: a kill at any moment leaves the old file or the new one, never half.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction whose temporary file lives in
``$TMPDIR``; when the run directory is on another filesystem the final "move" is a copy into the target,
so a kill -9 during it truncates ``last.ckpt``, and a full ``$TMPDIR`` fails with an error naming no path.
``AtomicCheckpointIO`` instead

1. serializes the checkpoint into a temporary file *in the target's directory* (``.NAME.XXXX.tmp``),
2. flushes and ``fsync``s it, so its bytes are on disk before it gets the real name,
3. ``os.replace``s it over the target (atomic on POSIX within one filesystem),
4. ``fsync``s the directory, so the rename itself survives a power loss.

Before writing it checks that every floating tensor of the checkpoint is finite (``NonFiniteCheckpointError``
otherwise), so a diverged run never replaces a good checkpoint with NaN weights. Loading always passes
``weights_only=True``: tensors and plain containers, never pickled code, whatever
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says; a damaged file is a ``ValueError`` naming it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

TMP_SUFFIX = ".tmp"


class NonFiniteCheckpointError(RuntimeError):
    """A checkpoint about to be written holds NaN or Inf values; it was not written."""

    def __init__(self, path: Path, key: str, step: int | None) -> None:
        self.path, self.key, self.step = path, key, step
        super().__init__(f"not writing {path}: {key} holds NaN or Inf values (step {step})")


def _floating_tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if torch.is_tensor(obj):
        if obj.is_floating_point() or obj.is_complex():
            yield prefix, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _floating_tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _floating_tensors(value, f"{prefix}[{i}]")


def first_non_finite(checkpoint: dict[str, Any]) -> str | None:
    """The key of the first model weight or optimizer state that is NaN/Inf, else None."""
    for section in ("state_dict", "optimizer_states"):
        for key, tensor in _floating_tensors(checkpoint.get(section, {}), section):
            if hasattr(tensor, "full_tensor"):  # fsdp DTensor: check the local shard (all ranks do)
                tensor = tensor.to_local()
            if not torch.isfinite(tensor).all():
                return key
    return None


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable (some filesystems refuse to fsync a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Any], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, rename it to ``path``.

    Errors (a full disk, a kill) leave ``path`` as it was; an error names ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError) and not isinstance(err, FileNotFoundError):
            raise OSError(err.errno, f"could not write {path}: {err.strerror or err}") from err
        raise
    fsync_dir(path.parent)
    return path


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete ``.NAME.XXXX.tmp`` files a killed save left behind (call while holding the run's lock)."""
    stale = sorted(directory.glob(f".*{TMP_SUFFIX}")) if directory.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def load_checkpoint_file(path: str | Path, map_location: Any = "cpu", mmap: bool = False) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)``; a damaged or foreign file is a ``ValueError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; pass RUN/checkpoints/last.ckpt")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as err:  # EOFError, zip errors, UnpicklingError: all mean "not a usable checkpoint"
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(
            f"checkpoint {path} is damaged or not a checkpoint ({reason}){_earlier(path)}"
        ) from err
    if not isinstance(state, dict) or "state_dict" not in state:
        raise ValueError(f"checkpoint {path} is not a selfsup/Lightning training checkpoint (no state_dict)")
    return state


def _earlier(path: Path) -> str:
    """'; resume from X instead' naming the newest other ``step-*.ckpt`` beside ``path``, if any."""
    others = [p for p in sorted(path.parent.glob("step-*.ckpt"), reverse=True) if p != path]
    if others:
        return f"; resume from an earlier checkpoint instead: --resume {others[0]}"
    return "; no earlier step-*.ckpt is beside it, so the run must start again"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning ``CheckpointIO`` with atomic, finite-only writes and ``weights_only`` reads."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO.save_checkpoint takes no storage_options")
        bad = first_non_finite(checkpoint)
        if bad is not None:
            raise NonFiniteCheckpointError(Path(path), bad, checkpoint.get("global_step"))
        atomic_write(path, lambda f: torch.save(checkpoint, f))

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict:
        del weights_only  # always True: a checkpoint is data, never code
        return load_checkpoint_file(path, map_location=map_location or "cpu")
