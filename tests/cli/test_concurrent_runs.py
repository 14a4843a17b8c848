"""Two real ``selfsup pretrain`` processes started together with one ``train.run_name``: exactly one
trains, the other exits non-zero with one line naming the run directory (issue 17, point 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import TINY


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_concurrent_cli_runs_with_one_name_train_once(tmp_path: Path) -> None:
    argv = [
        sys.executable,
        "-m",
        "selfsup.cli",
        "pretrain",
        "simclr",
        *TINY,
        "train.max_steps=150",  # long enough that the second process arrives while the first trains
        f"train.out_dir={tmp_path}",
        "train.run_name=same",
        "eval.linear=false",
        "eval.baselines=false",
        "eval.max_train_items=64",
        "eval.max_test_items=64",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes[0] == 0 and codes[1] != 0, [r[0] for r in results]
    loser = next(err for code, _, err in results if code != 0)
    lines = [line for line in loser.splitlines() if line.strip()]
    run_dir = tmp_path / "same"
    assert len(lines) == 1 and "Traceback" not in loser, loser
    assert lines[0].startswith(f"selfsup: error: run directory {run_dir} is in use by process"), loser
    assert (run_dir / "results.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same"]  # no second directory was taken
