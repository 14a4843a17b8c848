"""`selfsup bench`: FLOPs per image against an independent count, MFU arithmetic, the CLI table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from selfsup.bench import bench
from selfsup.cli.main import main
from selfsup.registry import list_methods
from selfsup.train.build import build_method
from selfsup.train.config_loader import load_run_config

REPO = Path(__file__).resolve().parents[1]

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


def test_cli_phases_shows_where_the_step_goes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", "simclr", *TINY, "--steps", "2", "--warmup", "0", "--loader-batches", "0",
                 "--phases", "--json", str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "| method | views | forward | backward | update | sum |" in text
    phases = json.loads(out.read_text())["phase_ms"]
    assert list(phases) == ["views", "forward", "backward", "update"] and all(v > 0 for v in phases.values())
    row = next(line for line in text.splitlines() if line.startswith("| simclr |") and line.count("|") == 7)
    assert float(row.split("|")[-2]) == pytest.approx(sum(phases.values()), abs=0.1)


@pytest.mark.parametrize("name", list_methods())
def test_every_method_benches_through_the_trainers_step(name, tmp_path, monkeypatch, capsys) -> None:
    """`selfsup bench METHOD` with the method's shipped config (tiny batch, fp32): the step is the shared
    driver's, with the loader's labels (CLIP: caption tokens), indices and raw images, and both hooks."""
    from selfsup.train.step import TrainStep

    monkeypatch.chdir(REPO)
    seen: dict[str, list] = {"batches": [], "losses": [], "hooks": [], "before": [], "after": []}
    forward, after_backward, after_step = (
        TrainStep.forward,
        TrainStep.after_backward,
        TrainStep.after_optimizer_step,
    )

    def spy_forward(self, raw, progress, generator):
        if not seen["before"]:
            seen["before"] = [p.detach().clone() for p in self.method.parameters()]
            seen["method"] = self.method
        seen["batches"].append(raw)
        out = forward(self, raw, progress, generator)
        seen["losses"].append(out.loss.detach())
        return out

    monkeypatch.setattr(TrainStep, "forward", spy_forward)
    monkeypatch.setattr(
        TrainStep, "after_backward", lambda s, p: seen["hooks"].append("b") or after_backward(s, p)
    )
    monkeypatch.setattr(
        TrainStep, "after_optimizer_step", lambda s, p: seen["hooks"].append("o") or after_step(s, p)
    )
    out = tmp_path / "bench.json"
    assert main(["bench", name, "train.batch_size=8", "train.precision=32-true", "--steps", "1", "--warmup", "0",
                 "--loader-batches", "0", "--peak-tflops", "1", "--json", str(out)]) == 0  # fmt: skip
    assert f"| {name} |" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["batch_size"] == 8 and result["images_per_second"] > 0 and result["gflop_per_image"] > 0
    assert seen["hooks"] == ["b", "o", "b", "o"]  # the FLOP-counting step and the timed one, hooks in order
    images, labels, indices = seen["batches"][0]
    assert images.dtype == torch.uint8 and images.shape[0] == 8 and indices.shape == (8,)
    assert labels.shape[0] == 8 and all(torch.isfinite(loss) for loss in seen["losses"])
    after = list(seen["method"].parameters())
    assert any(not torch.equal(a, b) for a, b in zip(seen["before"], after, strict=True))  # it trained
