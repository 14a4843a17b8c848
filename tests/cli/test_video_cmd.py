"""`selfsup segment-video` / `eval davis`: which normalization the frames get, and a run end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from selfsup.backbones import create_backbone
from selfsup.cli.main import build_parser, main
from selfsup.cli.video_cmd import _features, resolve_normalization
from selfsup.data.davis import write_mask
from selfsup.eval.video_segmentation import DINO_MEAN, DINO_STD
from selfsup.export import export_encoder


def test_normalization_is_recorded_or_dinos_where_none_is_recorded():
    assert resolve_normalization({}) == (DINO_MEAN, DINO_STD)  # foreign weights, e.g. an official DINO
    assert resolve_normalization({"mean": None, "std": None}) == (None, None)  # trained on raw pixels
    assert resolve_normalization({"mean": [0.5], "std": [0.25]}) == ([0.5], [0.25])
    assert resolve_normalization({"mean": [0.5], "std": [0.25]}, "dino") == (DINO_MEAN, DINO_STD)
    assert resolve_normalization({}, "none") == (None, None)
    with pytest.raises(ValueError, match="--normalize"):
        resolve_normalization({}, "imagenet")


def _tiny_vit(tmp_path: Path, **metadata: object) -> Path:
    enc = create_backbone(
        "timm:vit_tiny_patch16_224", embed_dim=16, depth=1, num_heads=1, dynamic_img_size=True
    )
    return export_encoder(enc, tmp_path / "vit", **metadata)


def _davis(root: Path, t: int = 4) -> None:
    rng = np.random.default_rng(0)
    (root / "ImageSets/2017").mkdir(parents=True)
    (root / "ImageSets/2017/val.txt").write_text("seq\n")
    for i in range(t):
        (root / "JPEGImages/480p/seq").mkdir(parents=True, exist_ok=True)
        frame = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
        Image.fromarray(frame).save(root / f"JPEGImages/480p/seq/{i:05d}.jpg")
        mask = np.zeros((24, 32), np.uint8)
        mask[4:12, 4 + i : 14 + i] = 1
        write_mask(root / f"Annotations/480p/seq/{i:05d}.png", mask)


def test_segment_video_defaults_to_dinos_protocol_and_eval_davis_scores_it(tmp_path, capsys):
    enc = _tiny_vit(tmp_path)  # exported without mean / std (and without an image size)
    _davis(tmp_path / "davis")
    argv = ["segment-video", "--davis-root", str(tmp_path / "davis"), "--encoder", str(enc)]
    args = build_parser().parse_args([*argv, "--out", str(tmp_path / "pred")])
    features = _features(args)
    assert (features.mean, features.std, features.short_side) == (DINO_MEAN, DINO_STD, 480)
    assert (args.topk, args.radius, args.n_recent, args.temperature) == (5, 12, 7, None)
    assert main([*argv, "--out", str(tmp_path / "pred"), "--no-eval"]) == 0
    assert sorted(p.name for p in (tmp_path / "pred/seq").iterdir()) == [f"{i:05d}.png" for i in range(4)]
    assert (
        main(
            [
                "eval",
                "davis",
                "--predictions",
                str(tmp_path / "pred"),
                "--davis-root",
                str(tmp_path / "davis"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "J&F-Mean" in out and "seq_1" in out
    # An encoder that records its normalization (here: none, raw pixels) keeps it.
    raw = _tiny_vit(tmp_path / "raw", mean=None, std=None, image_size=32)
    args = build_parser().parse_args(
        ["segment-video", "--davis-root", "x", "--encoder", str(raw), "--out", "y"]
    )
    assert (_features(args).mean, _features(args).std) == (None, None)


def test_segment_video_scores_the_random_init_and_copy_baselines_beside_the_encoder(tmp_path, capsys):
    from selfsup.data.davis import read_mask

    enc = _tiny_vit(tmp_path)
    _davis(tmp_path / "davis")
    pred = tmp_path / "pred"
    argv = [
        "segment-video",
        "--davis-root",
        str(tmp_path / "davis"),
        "--encoder",
        str(enc),
        "--out",
        str(pred),
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    # The DAVIS split file is named as a file, not as "val" (which read as our validation split).
    assert f"J&F on {tmp_path / 'davis'} (its ImageSets/2017/val.txt: " in captured.out
    table = captured.out[captured.out.index("with baselines:") :].splitlines()
    labels = [line.split(" | ")[0].removeprefix("| ") for line in table[3:]]
    assert labels == [
        f"propagation, {enc}",
        "propagation, the same network at random init",
        "copy frame 0 (no features)",
    ]
    assert "segment-video (propagation)" in captured.err and "baseline: random_init" in captured.err
    for frame in range(1, 3):  # the copy baseline repeats the first annotation
        first = read_mask(tmp_path / "davis/Annotations/480p/seq/00000.png")
        assert np.array_equal(read_mask(pred / f"baselines/copy/seq/{frame:05d}.png"), first)
    assert sorted(p.name for p in (pred / "baselines/random_init/seq").iterdir()) == [
        f"{i:05d}.png" for i in range(4)
    ]
    assert main([*argv, "--no-baselines"]) == 0
    assert "with baselines" not in capsys.readouterr().out
