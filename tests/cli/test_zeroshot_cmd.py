"""`selfsup eval zeroshot|retrieval` on a clip run's checkpoint gives what the library functions give."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from selfsup.cli.main import main
from selfsup.cli.zeroshot_cmd import load_clip_checkpoint, parse_list
from selfsup.data.captions import fashion_mnist_captions
from selfsup.eval.zeroshot import zeroshot_classify
from selfsup.train.config import derive
from selfsup.train.config_loader import load_run_config
from selfsup.train.pretrain import build_method
from selfsup.train.run_dir import save_run_files

TINY = [
    "data.name=fashion_mnist_captions",
    "data.image_size=16",
    "backbone_kwargs={width: 4, depths: [1, 1, 1, 1]}",
    "method.embed_dim=8",
    "method.text_width=16",
    "method.text_layers=1",
    "method.text_heads=2",
    "method.context_length=24",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    """A run folder as `selfsup pretrain clip` leaves it: config.yaml and a Lightning-style checkpoint."""
    run_dir = tmp_path_factory.mktemp("clip-run")
    cfg = load_run_config(None, TINY, method="clip")
    torch.manual_seed(0)
    method = build_method(cfg, 1, 16)
    with torch.no_grad():
        method.loss_fn.log_scale.fill_(3.0)
    save_run_files(run_dir, cfg, derive(cfg, 1000))
    (run_dir / "checkpoints").mkdir()
    state = {f"method.{k}": v for k, v in method.state_dict().items()}
    torch.save({"state_dict": state, "global_step": 0}, run_dir / "checkpoints" / "last.ckpt")
    return run_dir / "checkpoints" / "last.ckpt", method.eval()


def test_checkpoint_round_trip(run) -> None:
    ckpt, method = run
    loaded, cfg = load_clip_checkpoint(ckpt)
    assert cfg.method_name == "clip" and float(loaded.loss_fn.log_scale.detach()) == 3.0
    for (k, a), (_, b) in zip(loaded.state_dict().items(), method.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_zeroshot_command_matches_library(run, capsys) -> None:
    ckpt, method = run
    code = main(
        ["eval", "zeroshot", "--checkpoint", str(ckpt), "--data", "fashion_mnist_captions", "--image-size", "16",
         "--max-test", "200", "--templates", "a photo of a {}.|a {}."]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    ds = fashion_mnist_captions("test", image_size=16)
    r = zeroshot_classify(
        method, ds.images_at(torch.arange(200)), ds.labels[:200], ds.classes, ["a photo of a {}.", "a {}."]
    )
    assert f"top-1 {100 * r['top1']:.2f}%" in out and "(chance 10.00%)" in out


def test_parse_list_and_errors(tmp_path: Path, capsys) -> None:
    f = tmp_path / "t.txt"
    f.write_text("a photo of a {}.\n\n  a {}  \n")
    assert parse_list(str(f), "templates") == ["a photo of a {}.", "a {}"]
    assert parse_list("x|y", "classes") == ["x", "y"] and parse_list(None, "classes") is None
    with pytest.raises(ValueError, match="--classes is empty"):
        parse_list("|", "classes")
    assert main(["eval", "zeroshot", "--data", "digits"]) == 2
    assert "pass --checkpoint" in capsys.readouterr().err
