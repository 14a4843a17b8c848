"""Checkpoint files: atomic writes (a kill leaves the old or the new file), finite-only, weights_only reads."""

import errno
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest
import torch

from selfsup.train.atomic_io import (
    AtomicCheckpointIO,
    NonFiniteCheckpointError,
    load_checkpoint_file,
    remove_stale_temporaries,
)
from tests.train.test_pretrain import tiny_config


def _ckpt(value: float) -> dict:
    return {"state_dict": {"w": torch.full((64,), value)}, "global_step": int(value)}


def test_a_save_replaces_the_file_and_leaves_no_temporary(tmp_path):
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint(_ckpt(1.0), path)
    io.save_checkpoint(_ckpt(2.0), path)
    assert io.load_checkpoint(path)["global_step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_a_failed_write_keeps_the_old_file_and_names_the_path(tmp_path, monkeypatch):
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint(_ckpt(1.0), path)

    def full_disk(obj, f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match=f"could not write {path}: No space left"):
        io.save_checkpoint(_ckpt(2.0), path)
    monkeypatch.undo()
    assert load_checkpoint_file(path)["global_step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_non_finite_weights_are_never_written(tmp_path):
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint(_ckpt(1.0), path)
    bad = _ckpt(2.0)
    bad["state_dict"]["w"][3] = float("inf")
    with pytest.raises(NonFiniteCheckpointError, match="state_dict.w"):
        io.save_checkpoint(bad, path)
    assert load_checkpoint_file(path)["global_step"] == 1


KILLED_SAVE = textwrap.dedent(
    """
    import os, sys, time
    import torch
    from selfsup.train.atomic_io import AtomicCheckpointIO
    path, ready = sys.argv[1], sys.argv[2]
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(1000)}, "global_step": 1}, path)
    real_save = torch.save
    def slow_save(obj, f):  # write half of the new checkpoint, then hang until killed
        f.write(b"x" * 1000)
        f.flush()
        open(ready, "w").close()
        time.sleep(600)
    torch.save = slow_save
    io.save_checkpoint({"state_dict": {"w": torch.zeros(1000)}, "global_step": 2}, path)
    """
)


def _other_filesystem(path) -> str | None:
    for candidate in ("/dev/shm", tempfile.gettempdir()):
        if os.path.isdir(candidate) and os.stat(candidate).st_dev != os.stat(path).st_dev:
            return candidate
    return None


@pytest.mark.parametrize("tmpdir_on", ["same", "other"])
def test_kill_9_during_a_save_leaves_the_previous_checkpoint(tmp_path, tmpdir_on):
    tmpdir = str(tmp_path) if tmpdir_on == "same" else _other_filesystem(tmp_path)
    if tmpdir is None:
        pytest.skip("no second filesystem here")
    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    path, ready = ckpts / "last.ckpt", tmp_path / "ready"
    env = {**os.environ, "TMPDIR": tmpdir, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(path), str(ready)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the saving process did not start"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    state = load_checkpoint_file(path)  # complete, and the old one
    assert state["global_step"] == 1 and torch.equal(state["state_dict"]["w"], torch.ones(1000))
    assert remove_stale_temporaries(ckpts) and sorted(p.name for p in ckpts.iterdir()) == ["last.ckpt"]


def test_training_never_writes_into_a_checkpoint_file_in_place(tmp_path, monkeypatch):
    """Lightning's default writes into $TMPDIR and, across filesystems, copies into the target: a kill
    during that copy truncated last.ckpt. Here every .ckpt must be written under another name first."""
    from selfsup.train.pretrain import pretrain

    other = _other_filesystem(tmp_path)
    if other is not None:
        monkeypatch.setattr(tempfile, "tempdir", other)
    opened: list[str] = []
    recording = [True]

    def audit(event, args):
        if not recording[0] or event != "open" or args[0] is None:
            return
        path, mode, flags = args
        writes = flags & (os.O_WRONLY | os.O_RDWR) if mode is None else any(c in mode for c in "wax+")
        if writes:
            opened.append(str(path))

    sys.addaudithook(audit)
    try:
        pretrain(tiny_config(tmp_path, "train.max_steps=2", "train.checkpoint_every=1", "train.run_name=a"))
    finally:
        recording[0] = False  # audit hooks cannot be removed
    ckpt_opens = [p for p in opened if ".ckpt" in p]
    assert ckpt_opens, "no checkpoint was written"
    assert all(os.path.basename(p).startswith(".") and p.endswith(".tmp") for p in ckpt_opens), ckpt_opens
    assert all(os.path.dirname(p) == str(tmp_path / "a" / "checkpoints") for p in ckpt_opens)


def test_loading_ignores_the_force_no_weights_only_switch(tmp_path, monkeypatch):
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "x": Evil()}, path)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(ValueError, match="evil.ckpt is damaged or not a checkpoint"):
        AtomicCheckpointIO().load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()
