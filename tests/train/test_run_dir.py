"""Run directories: one run per directory; ranks that torchrun or SLURM start together share one."""

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from selfsup.train.config_loader import load_run_config
from selfsup.train.pretrain import pretrain
from selfsup.train.run_dir import new_run_dir
from selfsup.train.run_lock import RunDirectoryBusy, hold_run_lock, is_locked
from tests.train.test_pretrain import tiny_config

LAUNCHER_VARS = ("WORLD_SIZE", "SLURM_NTASKS", "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID")


@pytest.fixture
def no_launcher(monkeypatch):
    for var in LAUNCHER_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _cfg(tmp_path, *extra):
    return load_run_config(None, ["data.name=digits", f"train.out_dir={tmp_path}", *extra], method="simclr")


def test_single_process_runs_get_a_fresh_directory_each(tmp_path, no_launcher):
    """Runs started in the same second used to get one name and share one folder."""
    cfg = _cfg(tmp_path)
    dirs = [new_run_dir(cfg) for _ in range(5)]  # well within one second
    assert len(set(dirs)) == 5 and all(d.is_dir() for d in dirs)
    assert dirs[1] == dirs[0].with_name(dirs[0].name + "-1")


@pytest.mark.parametrize(("var", "value"), [("TORCHELASTIC_RUN_ID", "job7"), ("SLURM_JOB_ID", "4242")])
def test_launched_ranks_share_the_launch_id_directory(tmp_path, no_launcher, var, value):
    no_launcher.setenv("WORLD_SIZE" if var.startswith("TORCH") else "SLURM_NTASKS", "2")
    no_launcher.setenv(var, value)
    cfg = _cfg(tmp_path)
    rank0 = new_run_dir(cfg)
    assert rank0 == tmp_path / f"simclr-digits-{value}" and rank0.is_dir()
    (rank0 / "config.yaml").write_text("written by rank 0")
    no_launcher.setenv("RANK" if var.startswith("TORCH") else "SLURM_PROCID", "1")
    assert new_run_dir(cfg) == rank0  # a later rank joins it instead of taking a "-1" suffix


def test_launched_ranks_without_a_shared_id_must_name_the_run(tmp_path, no_launcher):
    no_launcher.setenv("WORLD_SIZE", "2")
    no_launcher.setenv("TORCHELASTIC_RUN_ID", "none")  # torchrun's default without --rdzv-id
    with pytest.raises(ValueError, match="train.run_name"):
        new_run_dir(_cfg(tmp_path))
    assert new_run_dir(_cfg(tmp_path, "train.run_name=mine")) == tmp_path / "mine"


def test_launched_ranks_refuse_a_time_budget(tmp_path, no_launcher):
    no_launcher.setenv("WORLD_SIZE", "2")
    cfg = _cfg(tmp_path, "train.run_name=r", "train.time_budget_minutes=1")
    with pytest.raises(ValueError, match="train.max_steps"):
        pretrain(cfg)


def test_a_named_run_directory_that_holds_a_run_is_refused(tmp_path, no_launcher):
    cfg = tiny_config(tmp_path, "train.max_steps=1", "train.run_name=same")
    pretrain(cfg)
    with pytest.raises(ValueError, match=f"run directory {tmp_path / 'same'} already holds a run"):
        pretrain(cfg)


def test_a_second_concurrent_run_with_the_same_name_is_refused(tmp_path, no_launcher):
    cfg = tiny_config(tmp_path, "train.max_steps=1", "train.run_name=same")
    with hold_run_lock(tmp_path / "same"):  # the first run, still running
        with pytest.raises(RunDirectoryBusy, match=f"run directory {tmp_path / 'same'} is in use by process"):
            pretrain(cfg)
    assert sorted(p.name for p in (tmp_path / "same").iterdir()) == [".lock"]  # nothing written


def test_a_killed_run_leaves_no_stale_lock(tmp_path):
    ready = tmp_path / "ready"
    code = textwrap.dedent(
        f"""
        import pathlib, time
        from selfsup.train.run_lock import hold_run_lock
        with hold_run_lock(pathlib.Path({str(tmp_path / "run")!r})):
            pathlib.Path({str(ready)!r}).touch()
            time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        assert is_locked(tmp_path / "run")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not is_locked(tmp_path / "run")
    with hold_run_lock(tmp_path / "run"):
        pass


def test_a_run_arriving_between_the_owners_lock_and_its_line_names_the_owner(tmp_path):
    """The owner truncates ``.lock`` and writes its line just after taking the lock: a second run that arrives
    in between once read an empty file and said "another process" (a CI failure of the concurrent-run test)."""
    run_dir = tmp_path / "same"
    run_dir.mkdir()
    path = run_dir / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # locked, line not yet written
        late_line = threading.Timer(0.2, lambda: path.write_text("process 4242 on host\n"))
        late_line.start()
        with pytest.raises(
            RunDirectoryBusy, match=f"run directory {run_dir} is in use by process 4242 on host"
        ):
            with hold_run_lock(run_dir):
                pass
        late_line.join()
    finally:
        os.close(fd)
