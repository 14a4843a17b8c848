"""Smoke test of the peer benchmark (benchmarks/peers): table structure and the busy-machine refusal.

Runs only where lightly is importable (benchmarks/peers/.venv, made by benchmarks/peers/setup.sh);
lightly is never a dependency of selfsup. Nothing here is timed: speed targets live in the
benchmark's output, never in assertions. Sizes are tiny (batch 8, one step) so it fits the suite.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("lightly")

PEERS = Path(__file__).resolve().parents[2] / "benchmarks" / "peers"
sys.path.insert(0, str(PEERS))

import bench_peers  # noqa: E402
import peers_busy  # noqa: E402
from peers_table import SPEED_HEADER, format_profile, format_speed, summarize_speed  # noqa: E402

TINY = [
    "--repeats",
    "1",
    "--steps",
    "1",
    "--warmup",
    "0",
    "--threads",
    "1",
    "--override",
    "train.batch_size=8",
]


def _fake_cpu_times(monkeypatch: pytest.MonkeyPatch, samples: list[tuple[float, float]]) -> None:
    it = iter(samples)
    monkeypatch.setattr(peers_busy, "cpu_times", lambda: next(it))
    monkeypatch.setattr(peers_busy.time, "sleep", lambda s: None)


class _QuietMonitor:
    """TrialMonitor stand-in: every trial reports that nobody else used the cores."""

    def __init__(self, where: str, threshold: float) -> None:
        self.where, self.threshold, self.report = where, threshold, None

    def __enter__(self) -> _QuietMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.report = peers_busy.BusyReport(0.0, None, 2, self.threshold, self.where)


def test_start_check_reads_utilization_and_load(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2 cores over 1 s: 2 s of CPU in total, of which 1.8 s busy -> 90 % used.
    monkeypatch.setattr(peers_busy.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    monkeypatch.setattr(peers_busy.os, "cpu_count", lambda: 2)
    _fake_cpu_times(monkeypatch, [(100.0, 400.0), (101.8, 402.0)])
    report = peers_busy.check_start(1.0)
    assert report.utilization == pytest.approx(0.9) and report.busy
    _fake_cpu_times(monkeypatch, [(100.0, 400.0), (100.05, 402.0)])  # 2.5 %: quiet
    assert not peers_busy.check_start(1.0).busy
    monkeypatch.setattr(peers_busy.os, "getloadavg", lambda: (4.0, 4.0, 4.0))  # idle now, but loaded
    _fake_cpu_times(monkeypatch, [(100.0, 400.0), (100.05, 402.0)])
    assert peers_busy.check_start(1.0).busy


def test_trial_monitor_subtracts_our_own_cpu_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # The trial ran 10 s on 2 cores (20 s of CPU); 15 s were busy.
    ours = iter([5.0, 5.0 + 14.5])  # we used 14.5 of them: others 0.5 s = 2.5 % -> quiet
    monkeypatch.setattr(peers_busy, "children_cpu_seconds", lambda: next(ours))
    _fake_cpu_times(monkeypatch, [(0.0, 0.0), (15.0, 20.0)])
    with peers_busy.TrialMonitor("t") as m:
        pass
    assert m.report is not None and m.report.utilization == pytest.approx(0.025) and not m.report.busy
    ours = iter([5.0, 5.0 + 8.0])  # we used 8: others 7 s = 35 % -> busy
    monkeypatch.setattr(peers_busy, "children_cpu_seconds", lambda: next(ours))
    _fake_cpu_times(monkeypatch, [(0.0, 0.0), (15.0, 20.0)])
    with peers_busy.TrialMonitor("t") as m:
        pass
    assert m.report is not None and m.report.busy


def test_busy_machine_is_refused_before_any_trial(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    busy = peers_busy.BusyReport(0.8, 3.0, 2, 0.1, "start")
    monkeypatch.setattr(bench_peers, "check_start", lambda *a: busy)

    def no_trials(*a: object) -> None:
        raise AssertionError("a trial ran on a busy machine")

    monkeypatch.setattr(bench_peers, "run_trial", no_trials)
    assert bench_peers.main(["--methods", "simclr", *TINY]) == bench_peers.EXIT_BUSY
    out = capsys.readouterr()
    assert "busy" in out.err.lower() and "ratio" not in out.out


def test_ratio_uses_lightly_best_workers_and_spread() -> None:
    trials = []
    for r, (ours, w0, w2) in enumerate([(300.0, 100.0, 150.0), (330.0, 110.0, 100.0), (270.0, 90.0, 135.0)]):
        for pipeline, workers, ips in (("selfsup", 0, ours), ("lightly", 0, w0), ("lightly", 2, w2)):
            trials.append(
                {
                    "method": "simclr",
                    "precision": "fp32",
                    "pipeline": pipeline,
                    "workers": workers,
                    "repeat": r,
                    "images_per_second": ips,
                    "step_ms": 1.0,
                    "peak_rss_mb": 900.0,
                    "worker_peak_rss_mb": 0.0,
                    "resolved_precision": "32-true",
                }  # fmt: skip
            )
    (row,) = summarize_speed(trials)
    assert [rep["ratio"] for rep in row["repeats"]] == pytest.approx([2.0, 3.0, 2.0])
    assert [rep["lightly_best"]["workers"] for rep in row["repeats"]] == [2, 0, 2]
    line = format_speed([row], ratios=True).splitlines()[2]
    assert line.endswith("| 2.00 (2.00-3.00)x |") and "| 300 (270-330) |" in line
    assert format_speed([row], ratios=False).splitlines()[2].endswith("| refused (busy) |")


def _trial(pipeline: str, workers: int, step_ms: float, phases: dict, compile: bool = False) -> dict:
    return {
        "method": "mae", "precision": "fp32", "pipeline": pipeline, "workers": workers, "repeat": 0,
        "images_per_second": 1000.0 / step_ms, "step_ms": step_ms, "peak_rss_mb": 1.0,
        "worker_peak_rss_mb": 0.0, "resolved_precision": "32-true", "phase_ms": phases, "compile": compile,
    }  # fmt: skip


def test_profile_splits_the_step_and_gives_the_ceiling() -> None:
    """The ceiling is lightly's step over selfsup's compute (forward + backward + update): with lightly at
    130 ms and selfsup computing for 100 ms, no input path makes selfsup more than 1.3x faster."""
    eager = {"loader": 1.0, "views": 4.0, "forward": 30.0, "backward": 60.0, "update": 10.0}
    compiled = {"loader": 1.0, "views": 4.0, "forward": 20.0, "backward": 35.0, "update": 10.0}
    lightly = {"loader": 20.0, "forward": 35.0, "backward": 65.0, "update": 10.0}
    trials = [
        _trial("selfsup", 0, 105.0, eager),
        _trial("selfsup", 0, 70.0, compiled, compile=True),
        _trial("lightly", 2, 130.0, lightly),
    ]
    rows = summarize_speed(trials)
    assert [r["compiled"] for r in rows] == [False, True]
    assert [r["repeats"][0]["ratio"] for r in rows] == pytest.approx([130 / 105, 130 / 70])
    assert format_speed(rows, ratios=True).splitlines()[3].startswith("| mae (train.compile) | fp32 |")
    lines = format_profile(rows).splitlines()
    assert lines[0].startswith(
        "| method | precision | pipeline | loader | views | forward | backward | update |"
    )
    assert len(lines) == 5  # lightly's line once, though both selfsup rows are compared with it
    ours, peer, ours_compiled = lines[2], lines[3], lines[4]
    assert ours == "| mae | fp32 | selfsup | 1.0 | 4.0 | 30.0 | 60.0 | 10.0 | 100.0 | 105.0 | 1.30x |"
    assert peer == "| mae | fp32 | lightly (best) | 20.0 | - | 35.0 | 65.0 | 10.0 | 110.0 | 130.0 |  |"
    assert ours_compiled.startswith("| mae | fp32 | selfsup (train.compile) |") and ours_compiled.endswith(
        "| 2.00x |"
    )


def test_tiny_speed_run_table_and_json(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setattr(
        bench_peers, "check_start", lambda *a: peers_busy.BusyReport(0.0, 0.0, 2, 0.1, "start")
    )
    monkeypatch.setattr(bench_peers, "TrialMonitor", _QuietMonitor)
    out_json = tmp_path / "peers.json"
    argv = [
        "--methods",
        "simclr",
        "--precisions",
        "fp32",
        "--lightly-workers",
        "0",
        *TINY,
        "--json",
        str(out_json),
    ]
    assert bench_peers.main(argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    table, profile = lines[:3], lines[3:]
    assert table[0] == SPEED_HEADER
    assert table[2].startswith("| simclr | fp32 |")
    assert [row.split("|")[3].strip() for row in profile[2:]] == ["selfsup", "lightly (best)"]
    assert len(table[2].split("|")) == len(table[0].split("|"))
    assert re.search(r"\| \d+\.\d\dx \|$", table[2])
    record = json.loads(out_json.read_text())
    assert not record["busy"] and {t["pipeline"] for t in record["trials"]} == {"selfsup", "lightly"}
    for t in record["trials"]:
        assert t["batch_size"] == 8 and t["images_per_second"] > 0 and math.isfinite(t["final_loss"])
        expected = ["loader", "views", "forward", "backward", "update"] if t["pipeline"] == "selfsup" else [
            "loader", "forward", "backward", "update"]  # fmt: skip
        assert list(t["phase_ms"]) == expected and all(v >= 0 for v in t["phase_ms"].values())


def test_tiny_quality_run(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(
        bench_peers, "check_start", lambda *a: peers_busy.BusyReport(0.0, 0.0, 2, 0.1, "start")
    )
    monkeypatch.setattr(bench_peers, "TrialMonitor", _QuietMonitor)
    argv = ["--quality", "--methods", "simclr", "--budget-seconds", "2", "--quality-lightly-workers", "0",
            "--eval-max-train", "400", "--eval-max-test", "200", *TINY]  # fmt: skip
    assert bench_peers.main(argv) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| simclr")]
    assert [r.split("|")[2].strip() for r in rows] == ["selfsup", "lightly (w=0)"]
    for r in rows:
        cells = [c.strip() for c in r.split("|")[1:-1]]
        assert int(cells[4]) >= 1  # steps trained within the budget
        assert all(0.0 <= float(c) <= 100.0 for c in cells[5:9])  # kNN / linear, val and test (%)
