"""``selfsup compare``: same budget, same evaluation, failures isolated, finished runs reused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.cli.main import main
from selfsup.configs import CONFIG_DIR
from selfsup.data.splits import stratified_split
from selfsup.eval.compare import (
    LeaderboardRow,
    _reference_rows,
    aggregate_seeds,
    find_config,
    format_leaderboard,
    parse_budget,
    reference_names,
    score_features,
)
from selfsup.eval.protocol import EvalData

TINY = """\
backbone: resnet_small
backbone_kwargs: {width: 4, depths: [1, 1, 1, 1]}
method: {name: simclr, proj_hidden_dim: 16, proj_out_dim: 8}
data: {name: digits}
train: {batch_size: 32, precision: 32-true}
optim: {warmup_epochs: 0.1}
"""


def test_parse_budget() -> None:
    assert parse_budget("10m") == 10 and parse_budget("90s") == 1.5 and parse_budget("1.5h") == 90
    assert parse_budget("7") == 7
    for bad in ("soon", "-3m", "0"):
        with pytest.raises(ValueError, match="budget"):
            parse_budget(bad)


def test_find_config_lists_what_exists(tmp_path: Path) -> None:
    (tmp_path / "simclr_digits.yaml").write_text(TINY)
    assert find_config(tmp_path, "simclr", "digits") == tmp_path / "simclr_digits.yaml"
    with pytest.raises(FileNotFoundError, match=r"\['simclr'\]"):
        find_config(tmp_path, "dino", "digits")


def test_the_shipped_configs_are_found_from_an_empty_directory(tmp_path: Path) -> None:
    code = (
        "from selfsup.eval.compare import find_config; print(find_config(None, 'rotation', 'fashion_mnist'))"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.strip())
    assert path.is_file() and path.parent == CONFIG_DIR and path.name == "rotation_fashion_mnist.yaml"
    assert not any(tmp_path.iterdir())


def test_score_features_on_separable_features() -> None:
    g = torch.Generator().manual_seed(0)
    ytr, yte = torch.arange(200) % 4, torch.arange(80) % 4
    centers = torch.randn(4, 16, generator=g) * 5
    tr = centers[ytr] + torch.randn(200, 16, generator=g)
    te = centers[yte] + torch.randn(80, 16, generator=g)
    data = EvalData(
        torch.zeros(200, 1, 2, 2, dtype=torch.uint8),
        ytr,
        torch.zeros(80, 1, 2, 2, dtype=torch.uint8),
        yte,
        "x",
        stratified_split(ytr, 0.1, seed=0),
    )
    row = LeaderboardRow("m")
    score_features(tr, te, data, row)
    assert row.knn == 1.0 and row.linear == 1.0 and row.linear_10pct > 0.9
    assert row.knn_val == 1.0 and row.linear_val == 1.0  # the validation columns use the carved split
    assert row.feature_dim == 16 and 1.0 < row.rankme <= 16.0 and row.uniformity < 0


def test_reference_names_tell_apart_architectures_that_share_a_name() -> None:
    vit = "timm:vit_tiny_patch16_224"
    dino = {"name": vit, "kwargs": {"patch_size": 4, "embed_dim": 64, "num_heads": 2}}
    mae = {"name": vit, "kwargs": {"patch_size": 4, "embed_dim": 128, "num_heads": 4}}
    resnet = {"name": "resnet_small", "kwargs": {"width": 16}}
    assert reference_names([dino, mae, resnet]) == [
        f"random init ({vit}, embed_dim 64, num_heads 2)",
        f"random init ({vit}, embed_dim 128, num_heads 4)",
        "random init (resnet_small)",  # alone with its name: the name says it
    ]


def test_each_architecture_gets_its_own_random_init_reference() -> None:
    """Two runs whose backbones share a name but not a width are scored against their own random init
    (keyed by name, kwargs and size; before, the second was compared with the first's architecture)."""
    archs = [{"name": "resnet_small", "kwargs": {"width": w, "depths": [1, 1, 1, 1]}} for w in (4, 8)]
    backbones = {
        json.dumps([arch, 8], sort_keys=True): (
            arch,
            8,
            create_backbone("resnet_small", in_chans=1, image_size=8, **arch["kwargs"]),
        )
        for arch in archs
    }
    g = torch.Generator().manual_seed(0)
    ytr, yte = torch.arange(60) % 2, torch.arange(20) % 2
    images = lambda n: torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)  # noqa: E731
    data = EvalData(images(60), ytr, images(20), yte, "x", stratified_split(ytr, 0.1, seed=0))
    raw, small, wide = _reference_rows(backbones, {8: data})
    assert raw.method == "raw pixels"
    assert small.method == "random init (resnet_small, width 4)" and small.feature_dim == 32
    assert wide.method == "random init (resnet_small, width 8)" and wide.feature_dim == 64


@pytest.mark.slow
def test_compare_end_to_end_isolates_failures_and_reuses_runs(tmp_path: Path, capsys) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "simclr_digits.yaml").write_text(TINY)
    (configs / "moco_digits.yaml").write_text(TINY.replace("name: simclr, ", "name: moco, queue_size: 64, "))
    # MAE needs a ViT: this run crashes inside its own process.
    (configs / "mae_digits.yaml").write_text(
        TINY.replace("{name: simclr, proj_hidden_dim: 16, proj_out_dim: 8}", "{name: mae}")
    )
    out = tmp_path / "cmp"
    args = ["compare", "simclr", "mae", "moco", "--data", "digits", "--steps", "3", "--configs-dir", str(configs),
            "--out", str(out), "train.log_every=1"]  # fmt: skip
    assert main(args) == 1  # one method failed
    table = (out / "leaderboard.md").read_text()
    assert (
        "| simclr |" in table
        and "| moco |" in table
        and "| mae | - |" in table
        and "failed: " in table
        and "vit" in table
    )
    assert "| raw pixels |" in table and "random init (resnet_small)" in table
    csv_lines = (out / "leaderboard.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 3 + 2  # header, 3 methods, raw pixels, one random-init backbone
    for method in ("simclr", "moco"):
        assert (out / "runs" / method / "train_stats.json").is_file()
    stamp = (out / "runs" / "simclr" / "encoder.safetensors").stat().st_mtime_ns
    capsys.readouterr()
    main(args)  # a re-run reuses the finished runs: no retraining
    assert (out / "runs" / "simclr" / "encoder.safetensors").stat().st_mtime_ns == stamp
    assert "| simclr |" in capsys.readouterr().out
    # Another step count in the same --out: the finished runs are not scored as if they were the new ones.
    longer = [a if a != "3" else "5" for a in args]
    assert main(longer) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and f"finished run {out / 'runs' / 'simclr'} was trained with other settings: overrides train.max_steps=3 then, train.max_steps=5 now"
        in err[0]
    )
    assert "pass --retrain to train it again, or use another --out" in err[0], err
    assert (out / "runs" / "simclr" / "encoder.safetensors").stat().st_mtime_ns == stamp


def test_leaderboard_ranks_by_validation_never_test() -> None:
    rows = [
        LeaderboardRow("a", knn_val=0.5, knn=0.95),
        LeaderboardRow("b", knn_val=0.9, knn=0.6),
        LeaderboardRow("raw pixels", knn_val=0.99, knn=0.99),
    ]
    lines = format_leaderboard(rows).splitlines()
    assert [ln.split("|")[1].strip() for ln in lines[2:]] == ["b", "a", "raw pixels"]
    assert "kNN val" in lines[0] and "kNN test" in lines[0]


def test_aggregate_seeds_gives_mean_and_sample_std() -> None:
    rows = [
        LeaderboardRow("m", backbone="b", seed=s, knn=k, linear=0.8, steps=st, rankme=r)
        for s, k, st, r in ((0, 0.80, 100, 2.0), (1, 0.84, 101, 4.0), (2, 0.88, 103, 6.0))
    ]
    agg = aggregate_seeds(rows)
    assert agg.seed is None and agg.seeds == 3 and agg.backbone == "b" and agg.status == "ok"
    assert abs(agg.knn - 0.84) < 1e-12 and abs(agg.knn_std - 0.04) < 1e-12  # sample std (n - 1)
    assert agg.linear_std == 0.0 and agg.steps == 101 and isinstance(agg.steps, int) and agg.rankme == 4.0
    assert agg.knn_val is None and agg.knn_val_std is None  # no seed had it
    assert "84.00 ± 4.00" in format_leaderboard([agg])
    single = aggregate_seeds(rows[:1])
    assert single.seeds == 1 and single.seed == 0 and single.knn_std is None
    assert "| 80.00 |" in format_leaderboard([single])
    failed = LeaderboardRow("m", seed=3, status="failed: boom")
    partial = aggregate_seeds([*rows, failed])
    assert partial.seeds == 3 and partial.status == "3/4 seeds ok; seed 3 failed: boom"
    assert abs(partial.knn - 0.84) < 1e-12  # the failed seed does not enter the mean
    alone = aggregate_seeds([failed])
    assert alone.status == "failed: boom" and alone.seeds == 0 and alone.seed == 3  # no seed finished


@pytest.mark.slow
def test_compare_with_seeds_trains_each_seed_and_reports_the_spread(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "simclr_digits.yaml").write_text(TINY)
    out = tmp_path / "cmp"
    args = ["compare", "simclr", "--data", "digits", "--steps", "2", "--seeds", "2", "--configs-dir", str(configs),
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    for run in ("simclr", "simclr-seed1"):
        assert (out / "runs" / run / "encoder.safetensors").is_file()
    first = (out / "runs" / "simclr" / "encoder.safetensors").read_bytes()
    assert first != (out / "runs" / "simclr-seed1" / "encoder.safetensors").read_bytes()  # really two seeds
    per_seed = (out / "leaderboard_seeds.csv").read_text().splitlines()
    assert len(per_seed) == 1 + 2 * 3  # header; simclr, raw pixels, random init, each at 2 seeds
    table = (out / "leaderboard.md").read_text()
    simclr = next(line for line in table.splitlines() if line.startswith("| simclr |"))
    assert simclr.count(" ± ") == 6 and simclr.rstrip(" |").endswith("| 2 | ok")
    random_row = next(line for line in table.splitlines() if line.startswith("| random init"))
    assert " ± " in random_row  # the random-init reference is re-drawn per seed
