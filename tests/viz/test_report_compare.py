"""``selfsup report`` on a ``selfsup compare`` folder; whole numbers as integers; every curve labelled."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import yaml
from report_fixtures import METRIC_COLUMNS, make_run

from selfsup.eval.compare import ACCURACIES, LeaderboardRow, _write
from selfsup.viz.report import LEADERBOARD, PERCENT, write_report
from selfsup.viz.svg_chart import Series, line_chart_svg


def _compare_folder(root: Path) -> Path:
    """What `selfsup compare simclr rotation` leaves: runs/<method>/ without results.json, leaderboard.csv."""
    folder = root / "compare"
    for method in ("simclr", "rotation"):
        run = make_run(folder / "runs", method, encoder=False)
        (run / "results.json").unlink()
        config = yaml.safe_load((run / "config.yaml").read_text())
        config["method"]["name"] = method
        (run / "config.yaml").write_text(yaml.safe_dump(config))
    rows = [
        LeaderboardRow("simclr", "resnet_small", steps=1404, train_minutes=8.0, images_per_second=512.25,
                       peak_memory_mb=12345.0, knn_val=0.7981, linear_val=0.8184, knn=0.79, linear=0.81,
                       linear_1pct=0.61, linear_10pct=0.72, rankme=40.5, uniformity=-3.1, feature_dim=128),
        LeaderboardRow("rotation", "resnet_small", steps=20000, knn_val=0.8123, knn=0.8, feature_dim=128),
        LeaderboardRow("raw pixels", "-", knn_val=0.95, knn=0.75, feature_dim=784),
    ]  # fmt: skip
    _write(rows, folder)
    return folder


def _legend(svg: str) -> list[str]:
    return re.findall(r'<text [^>]*class="tick legend">([^<]*)</text>', svg)


def test_a_compare_folder_reports_its_leaderboard_and_overlays_its_runs(tmp_path: Path, capsys) -> None:
    from selfsup.cli import report_cmd

    folder = _compare_folder(tmp_path)
    parser = argparse.ArgumentParser()
    report_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["report", str(folder), "--no-embeddings"])
    assert args.run(args) == 0 and str(folder / "report.html") in capsys.readouterr().out
    page = (folder / "report.html").read_text()
    board = page.split('id="leaderboard"')[1].split("</section>")[0]
    # ranked by validation kNN, the reference row last; accuracies in %, whole numbers as integers
    assert (
        board.index("<td>rotation</td>") < board.index("<td>simclr</td>") < board.index("<td>raw pixels</td>")
    )
    for cell in ("79.81", "81.84", "61.00", "72.00", "1404", "20000", "12345", "128", "784", "512.2", "-3.1"):
        assert f"<td>{cell}</td>" in board, cell
    assert "e+0" not in board and "kNN top-1 % (validation)" in board
    for col in METRIC_COLUMNS:  # the runs in the order compare ran them, each curve in the legend
        svg = page.split(f'data-metric="{col}"')[1].split("</svg>")[0]
        assert re.findall(r'data-series="([^"]*)"', svg) == _legend(svg) == ["1: simclr", "2: rotation"], col


def test_integers_stay_integers_and_a_lone_curve_is_labelled(fake_run: Path, tmp_path: Path) -> None:
    derived = json.loads((fake_run / "derived.json").read_text())
    (fake_run / "derived.json").write_text(json.dumps({**derived, "total_steps": 12345, "peak_lr": 0.1}))
    page = write_report([fake_run], out=tmp_path / "r.html", embeddings=False).read_text()
    assert "<td>12345</td>" in page and "<td>0.1</td>" in page and "1.234e+04" not in page
    svg = line_chart_svg([Series("simclr", [0, 750, 1500], [1.0, 0.5, 0.25])], "train/loss")
    assert _legend(svg) == ["simclr"]
    ticks = re.findall(r'class="tick">([^<]*)</text>', svg)
    assert "1000" in ticks and "1500" in ticks and not any("e+" in t for t in ticks)


def test_report_shows_as_percentages_exactly_the_accuracies_compare_writes() -> None:
    """The page's percent columns are derived from its labels; they must be compare's accuracy columns."""
    assert set(PERCENT) == set(ACCURACIES)
    assert set(ACCURACIES) <= set(LEADERBOARD)
