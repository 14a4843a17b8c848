"""`selfsup eval zeroshot|retrieval` on a clip run's checkpoint gives what the library functions give."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from selfsup.cli.main import main
from selfsup.cli.zeroshot_cmd import load_clip_checkpoint, parse_list
from selfsup.data.captions import fashion_mnist_captions
from selfsup.eval.zeroshot import zeroshot_classify
from selfsup.train.build import build_method
from selfsup.train.config import derive
from selfsup.train.config_loader import load_run_config
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


# ----------------------------------------------------------------------------- a real (tiny) clip run
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """Two steps of `selfsup pretrain clip` on the real stamps at 16 px: (checkpoint, end-of-training table)."""
    from selfsup.cli.zeroshot_cmd import clip_report
    from selfsup.train.pretrain import pretrain

    out = tmp_path_factory.mktemp("clip-trained")
    overrides = [o for o in TINY if not o.startswith("data.name")] + [
        "data.name=stamps_captions",
        "train.batch_size=32",
        "train.max_steps=2",
        "train.precision=32-true",
        "train.progress_bar=false",
        f"train.out_dir={out}",
    ]
    cfg = load_run_config(None, overrides, method="clip")
    result = pretrain(cfg)
    return result.run_dir / "checkpoints" / "last.ckpt", clip_report(result.method, cfg)


def test_eval_commands_without_options_reproduce_the_end_of_training_table(trained, capsys) -> None:
    ckpt, table = trained
    assert "zero-shot on stamps_captions test" in table and "retrieval on stamps_captions test" in table
    assert main(["eval", "zeroshot", "--checkpoint", str(ckpt)]) == 0
    zeroshot = capsys.readouterr().out
    assert main(["eval", "retrieval", "--checkpoint", str(ckpt)]) == 0
    retrieval = capsys.readouterr().out
    assert zeroshot + retrieval == table + "\n"


def test_a_contradicting_image_size_is_an_error_naming_both(trained, capsys) -> None:
    ckpt, table = trained
    for protocol in ("zeroshot", "retrieval"):
        assert main(["eval", protocol, "--checkpoint", str(ckpt), "--image-size", "24"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert "trained at 16 px" in err and "--image-size 24" in err and "--allow-input-mismatch" in err
    # Deliberate: evaluated at 24 px and said so.
    argv = ["eval", "zeroshot", "--checkpoint", str(ckpt), "--image-size", "24", "--allow-input-mismatch"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "note: evaluated on 24 px (trained at 16 px)" in out and "zero-shot on stamps_captions test" in out
    # The same size as trained, spelled out, is no mismatch and gives the table's line.
    assert main(["eval", "zeroshot", "--checkpoint", str(ckpt), "--image-size", "16"]) == 0
    assert capsys.readouterr().out.strip() == table.splitlines()[0]


def test_a_grayscale_dataset_for_a_colour_model_needs_the_flag(trained, capsys) -> None:
    ckpt, _ = trained
    argv = [
        "eval",
        "zeroshot",
        "--checkpoint",
        str(ckpt),
        "--data",
        "fashion_mnist_captions",
        "--max-test",
        "50",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "takes 3-channel images" in err and "'fashion_mnist_captions' has 1 channel" in err
    assert main([*argv, "--allow-input-mismatch"]) == 0
    out = capsys.readouterr().out
    assert (
        "1-channel images converted to 3" in out
        and "zero-shot on fashion_mnist_captions test (50 images" in out
    )
