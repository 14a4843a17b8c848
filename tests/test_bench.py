"""`selfsup bench`: FLOPs per image against an independent count, MFU arithmetic, the CLI table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from selfsup.bench import bench
from selfsup.cli.main import main
from selfsup.train.config_loader import load_run_config
from selfsup.train.pretrain import build_method

# No blur: its per-sample convolution is counted too (on the views, not the model).
TINY = [
    "data.name=digits",
    "backbone_kwargs={width: 4, depths: [1, 1, 1, 1]}",
    "train.batch_size=32",
    "method.views.blur_p=0.0",
]


def test_flops_and_mfu_match_an_independent_count() -> None:
    cfg = load_run_config(None, TINY, method="simclr")
    result = bench(cfg, steps=2, warmup=1, device="cpu", peak_tflops=1.0, loader_batches=2)
    method = build_method(cfg, 1, 8)
    x = torch.randn(64, 1, 8, 8)  # two views of 32 images
    with FlopCounterMode(display=False) as counter:
        method.head(method.encoder(x)).sum().backward()
    # The step adds the loss's 64 x 64 similarity matmul over the 128-d projections: 2 * 64 * 64 * 128
    # multiply-adds forward and twice that backward.
    loss_flops = 3 * 2 * 64 * 64 * method.config.proj_out_dim
    expected = (counter.get_total_flops() + loss_flops) / 32 / 1e9
    assert result.gflop_per_image == pytest.approx(expected, rel=1e-3)
    assert result.images_per_second == pytest.approx(32 / result.step_seconds, rel=0.01)
    assert result.mfu == pytest.approx(result.achieved_tflops / 1.0, rel=0.01)
    assert result.loader_images_per_second > 0 and result.peak_memory_mb > 50


def test_cli_prints_table_and_json(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", "simclr", *TINY, "--steps", "1", "--warmup", "0", "--loader-batches", "0",
                 "--peak-tflops", "0.1", "--json", str(out)]) == 0  # fmt: skip
    assert "| simclr | resnet_small |" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["batch_size"] == 32 and data["loader_images_per_second"] is None and data["mfu"] > 0


def test_cli_profile_lists_the_costliest_operators(capsys) -> None:
    assert main(["bench", "simclr", *TINY, "--steps", "1", "--warmup", "0", "--loader-batches", "0",
                 "--profile", "5"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    table = out[: out.index("| method |")]
    assert "Self CPU" in table and "aten::" in table
    operator_rows = [line for line in table.splitlines() if line.strip().startswith(("aten::", "Optimizer"))]
    assert 1 <= len(operator_rows) <= 5
