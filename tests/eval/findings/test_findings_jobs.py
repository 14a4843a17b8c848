"""``selfsup findings --jobs N``: pretraining runs N at a time, each process with its share of the cores."""

import threading
import time
from pathlib import Path

import pytest

from selfsup.configs import CONFIG_DIR
from selfsup.eval.findings import pretraining
from selfsup.eval.findings.pretraining import PlannedRun, pretrain_all, threads_per_job

SIMCLR = CONFIG_DIR / "simclr_fashion_mnist.yaml"


def _runs(tmp_path: Path, n: int) -> dict[str, PlannedRun]:
    return {
        f"r{i}": PlannedRun("simclr", SIMCLR, ["train.epochs=1"], tmp_path / f"r{i}", i, "digits")
        for i in range(n)
    }


class FakePretrain:
    """Stands in for ``pretrain_in_subprocess``: records each call's threads and overlap, then sleeps."""

    def __init__(self, fail: str | None = None, raises: str | None = None) -> None:
        self.lock = threading.Lock()
        self.running = self.most_at_once = 0
        self.threads: list[int | None] = []
        self.resumed_from: dict[str, Path | None] = {}
        self.fail, self.raises = fail, raises

    def __call__(self, method, config, run_dir, overrides, log_path, threads=None, resume_from=None):
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.append(threads)
            self.resumed_from[run_dir.name] = resume_from
        if run_dir.name == self.raises:
            raise KeyboardInterrupt  # Ctrl-C as the run starts, while the others are in flight
        time.sleep(0.2)
        with self.lock:
            self.running -= 1
        if run_dir.name == self.fail:
            return False, "boom"
        return True, ""


def test_threads_are_the_cores_shared_out() -> None:
    assert threads_per_job(1) is None  # one job inherits the caller's OMP_NUM_THREADS
    assert threads_per_job(2, cores=2) == 1
    assert threads_per_job(2, cores=8) == 4
    assert threads_per_job(3, cores=2) == 1  # never below one thread
    with pytest.raises(ValueError, match="--jobs must be >= 1, got 0"):
        threads_per_job(0)


@pytest.mark.parametrize("jobs", [1, 2])
def test_runs_train_jobs_at_a_time_with_their_share_of_the_cores(tmp_path, monkeypatch, jobs) -> None:
    fake = FakePretrain()
    monkeypatch.setattr(pretraining, "pretrain_in_subprocess", fake)
    monkeypatch.setattr(pretraining, "threads_per_job", lambda j: threads_per_job(j, cores=2))
    runs = _runs(tmp_path, 4)
    lines: list[str] = []
    pretrain_all(runs, {k: k for k in runs}, retrain=False, jobs=jobs, log=lines.append)
    assert fake.most_at_once == jobs
    assert fake.threads == [None if jobs == 1 else 1] * 4
    assert all(r.status == "ok" for r in runs.values())
    left = [ln for ln in lines if "of pretraining left" in ln]
    assert len(left) == 3  # after every finished run but the last
    assert all(("2 at a time" in ln) == (jobs == 2) for ln in left)


def test_a_failed_run_does_not_stop_the_others(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pretraining, "pretrain_in_subprocess", FakePretrain(fail="r1"))
    runs = _runs(tmp_path, 3)
    pretrain_all(runs, {k: k for k in runs}, retrain=False, jobs=2, log=lambda _: None)
    assert runs["r1"].status.startswith("failed: boom")
    assert runs["r0"].status == runs["r2"].status == "ok"


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_interrupt_starts_no_further_run(tmp_path, monkeypatch, jobs) -> None:
    fake = FakePretrain(raises="r0")
    monkeypatch.setattr(pretraining, "pretrain_in_subprocess", fake)
    monkeypatch.setattr(pretraining, "threads_per_job", lambda j: threads_per_job(j, cores=2))
    runs = _runs(tmp_path, 5)
    with pytest.raises(KeyboardInterrupt):
        pretrain_all(runs, {k: k for k in runs}, retrain=False, jobs=jobs, log=lambda _: None)
    assert 1 <= len(fake.threads) <= jobs  # at most the runs already in flight; the queued ones never start


@pytest.mark.parametrize("retrain", [False, True])
def test_an_interrupted_run_is_resumed_unless_retrained(tmp_path, monkeypatch, retrain) -> None:
    fake = FakePretrain()
    monkeypatch.setattr(pretraining, "pretrain_in_subprocess", fake)
    last = tmp_path / "r0" / "checkpoints" / "last.ckpt"
    found = {"r0": last}  # what resumable_checkpoint finds: r0 was cut short, r1 and r2 never started
    monkeypatch.setattr(pretraining, "resumable_checkpoint", lambda m, c, run_dir, o: found.get(run_dir.name))
    runs = _runs(tmp_path, 3)
    lines: list[str] = []
    pretrain_all(runs, {k: k for k in runs}, retrain=retrain, jobs=1, log=lines.append)
    assert fake.resumed_from == {"r0": None if retrain else last, "r1": None, "r2": None}
    assert any(ln.startswith(f"r0: resuming from {last}") for ln in lines) != retrain
    # a resumed run took part of a run's time, so it does not pace the estimate of the time left
    assert sum("of pretraining left" in ln for ln in lines) == (2 if retrain else 1)
