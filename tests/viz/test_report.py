"""The HTML report: self-contained, every metric curve, the results table, decodable images."""

from __future__ import annotations

import argparse
import base64
import io
import re
from pathlib import Path

import pytest
import torch
from PIL import Image
from report_fixtures import LABEL_EFFICIENCY, METRIC_COLUMNS, RESULTS, make_run

from selfsup.viz.report import write_report
from selfsup.viz.run_artifacts import group_metrics, load_run, metric_group, read_metrics
from selfsup.viz.svg_chart import Series, line_chart_svg, nice_ticks

DATA_URI = re.compile(r'src="data:(image/[a-z]+);base64,([A-Za-z0-9+/=]+)"')


def _decoded_images(page: str) -> list[Image.Image]:
    out = []
    for _mime, b64 in DATA_URI.findall(page):
        im = Image.open(io.BytesIO(base64.b64decode(b64)))
        im.load()  # decodes the pixels, not just the header
        out.append(im)
    return out


def _polylines(page: str, metric: str) -> list[str]:
    svg = re.search(rf'<svg class="chart"[^>]*data-metric="{re.escape(metric)}".*?</svg>', page, re.S)
    assert svg, f"no chart for {metric}"
    return re.findall(r'<polyline class="series" data-series="([^"]*)"', svg.group(0))


def test_metric_groups() -> None:
    assert metric_group("train/loss") == "loss"
    assert metric_group("train/pretext_acc") == metric_group("online/knn") == "accuracy"
    assert metric_group("train/lr") == metric_group("train/momentum") == "schedule"
    for col in ("train/teacher_entropy", "train/kl_teacher_student", "train/z_std", "train/collapse"):
        assert metric_group(col) == "monitors", col
    assert metric_group("train/something") == "other"
    assert list(group_metrics(["b/x", "train/loss", "a/x"])) == ["loss", "other"]


def test_metrics_merge_resumed_segments_and_skip_empty_cells(fake_run: Path) -> None:
    metrics = read_metrics(fake_run)
    assert sorted(metrics) == sorted(METRIC_COLUMNS)
    steps, values = metrics["train/loss"]
    assert steps == [float(s) for s in range(9, 120, 10)]
    # version_0 logged step 89 with +100; the resumed version_1 re-logged it and wins.
    assert values[steps.index(89.0)] < 10 and values[steps.index(79.0)] > 100
    knn_steps, _ = metrics["online/knn"]
    assert knn_steps == [39.0, 79.0, 119.0]  # only the rows where the sparse column had a value


def test_report_is_self_contained_with_every_curve_table_and_image(fake_run: Path, tmp_path: Path) -> None:
    out = write_report([fake_run], out=tmp_path / "r.html", embeddings=False)
    page = out.read_text()
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and '<link rel="stylesheet"' not in page
    for col in METRIC_COLUMNS:
        assert _polylines(page, col) == ["dino"], col
    for row in RESULTS:
        for key in ("knn", "linear"):
            if row[key] is not None:
                assert f"<td>{100 * row[key]:.2f}</td>" in page
    for row in LABEL_EFFICIENCY:
        assert f"<td>{100 * row['accuracy']:.2f}</td>" in page
    assert "<td>12.5</td>" in page and "<td>0.42</td>" in page  # quality.json
    images = _decoded_images(page)
    assert sorted(im.size for im in images) == sorted([(40, 24), (16, 16)])  # the two RUN/viz PNGs
    assert "MAE reconstructions at 75 % masking" in page  # caption from the sibling .txt
    assert "no embedding plot" in page and "--no-embeddings" in page
    assert "<td>ok</td>" in page  # collapse monitor code 0 shown by name


def test_report_with_embeddings_matches_independent_signals(fake_run: Path, tmp_path: Path) -> None:
    from selfsup.data import create_dataset, dataset_to_tensors
    from selfsup.eval.features import extract_features
    from selfsup.export import load_encoder
    from selfsup.monitors.quality import rankme

    out = write_report([fake_run], out=tmp_path / "r.html", max_items=200)
    page = out.read_text()
    images = _decoded_images(page)
    assert len(images) == 4  # 2 RUN/viz pictures + embedding plot + retrieval grid
    assert all(im.size[0] > 100 for im in images[:2])  # the two figures come first
    x, _ = dataset_to_tensors(create_dataset("digits", "test"), max_items=200)
    feats = extract_features(load_encoder(fake_run / "encoder"), x, 8, [0.5], [0.5])
    assert f"<td>{rankme(feats):.4g}</td>" in page
    assert "neighbour label precision" in page


def test_comparison_overlays_curves_and_lists_config_differences(tmp_path: Path) -> None:
    a = make_run(tmp_path, "run-a", lr=0.1, encoder=False)
    b = make_run(tmp_path, "run-b", lr=0.3, encoder=False)
    (b / "logs/version_1/metrics.csv").unlink()
    out = write_report([a, b], out=tmp_path / "cmp.html", embeddings=False)
    page = out.read_text()
    assert "http://" not in page and "https://" not in page
    for col in METRIC_COLUMNS:
        assert _polylines(page, col) == ["1: dino", "2: dino"], col
    assert "optim.lr" in page and "<td>0.3</td>" in page
    assert "train.batch_size" not in page.split("Config differences")[1].split("<details>")[0]
    assert page.count(f"<td>{100 * RESULTS[2]['knn']:.2f}</td>") == 2
    assert len(_decoded_images(page)) == 4


def test_cli_writes_run_report_by_default(fake_run: Path, capsys) -> None:
    from selfsup.cli import report_cmd

    parser = argparse.ArgumentParser()
    report_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["report", str(fake_run), "--no-embeddings"])
    assert args.run(args) == 0
    assert (fake_run / "report.html").is_file()
    assert "wrote" in capsys.readouterr().out


def test_bad_run_directories_fail_clearly(tmp_path: Path, fake_run: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        load_run(tmp_path / "nope")
    (fake_run / "results.json").write_text("{broken")
    with pytest.raises(ValueError, match="results.json"):
        load_run(fake_run)
    with pytest.raises(ValueError, match="at least one"):
        write_report([])


def test_nice_ticks_cover_the_range_with_round_steps() -> None:
    for lo, hi in [(0.0, 648.0), (4.63, 5.66), (-0.3, 0.07), (2.0, 2.0), (1e-5, 3e-4)]:
        t = nice_ticks(lo, hi)
        assert t[0] <= lo and t[-1] >= hi and 3 <= len(t) <= 12
        step = t[1] - t[0]
        mantissa = step / 10 ** torch.tensor(step).log10().floor().item()
        assert any(abs(mantissa - m) < 1e-6 for m in (1, 2, 5, 10))


def test_chart_points_map_data_to_the_plot_box() -> None:
    svg = line_chart_svg([Series("s", [0, 50, 100], [0.0, 1.0, 0.5])], "m", width=300, height=200)
    pts = [tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]*)"', svg).group(1).split()]
    (x0, y0), (x1, y1), (x2, y2) = pts
    assert x0 < x1 < x2 and y1 < y2 < y0  # SVG y grows downwards: the max is highest
    assert x1 - x0 == pytest.approx(x2 - x1)
    assert "xmlns" not in svg and "<title>s: last 0.5 at step 100</title>" in svg
    long = line_chart_svg(
        [Series("s", list(range(5000)), [float(i) for i in range(5000)])], "m", max_points=100
    )
    assert len(re.search(r'points="([^"]*)"', long).group(1).split()) == 100
    with pytest.raises(ValueError, match="x values"):
        line_chart_svg([Series("s", [1, 2], [1.0])], "m")
