"""MAE reconstructions: visible patches pasted back exactly, masked ones grey, PNG grid, CLI round trip."""

from __future__ import annotations

import argparse

import pytest
import torch
from PIL import Image

from selfsup.backbones import create_backbone
from selfsup.methods.mae import MAEConfig
from selfsup.nn.patches import patchify
from selfsup.registry import create_method
from selfsup.viz.reconstruct import masked_patch_mse, reconstruct, reconstruction_grid, save_grid


def _mae(norm_pix: bool = True):
    torch.manual_seed(0)
    kw = {"patch_size": 4, "embed_dim": 32, "depth": 1, "num_heads": 2}
    backbone = create_backbone("timm:vit_tiny_patch16_224", in_chans=1, image_size=16, **kw)
    cfg = MAEConfig(decoder_dim=16, decoder_depth=1, decoder_heads=2, norm_pix_loss=norm_pix)
    return create_method("mae", backbone, cfg)


def _images(n: int = 3) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


@pytest.mark.parametrize("norm_pix", [True, False])
def test_pasted_keeps_visible_pixels_and_masked_input_is_grey(norm_pix: bool) -> None:
    m = _mae(norm_pix)
    imgs = _images()
    out = reconstruct(m, imgs, 0.75, seed=1)
    original = imgs.float() / 255
    torch.testing.assert_close(out["original"], original, atol=1e-6, rtol=0)
    pasted, masked, recon = (patchify(out[k], 4) for k in ("pasted", "masked", "reconstruction"))
    orig = patchify(original, 4)
    visible = (masked != 0.5).any(-1)  # a random uint8 patch is never uniformly 0.5
    assert visible.sum(1).tolist() == [4, 4, 4]  # 16 patches, 25 % visible
    torch.testing.assert_close(pasted[visible], orig[visible], atol=1e-6, rtol=0)
    torch.testing.assert_close(pasted[~visible], recon[~visible], atol=1e-6, rtol=0)
    torch.testing.assert_close(masked[~visible], torch.full_like(masked[~visible], 0.5), atol=1e-6, rtol=0)
    assert all(0 <= float(v.min()) and float(v.max()) <= 1 for v in out.values())


def test_mean_baseline_matches_closed_form_for_pixel_targets() -> None:
    m = _mae(norm_pix=False)
    imgs = _images(2)
    res = masked_patch_mse(m, imgs, 0.5, seed=0)
    out = reconstruct(m, imgs, 0.5, seed=0)  # same seed, same masks
    x = (imgs.float() / 255 - 0.5) / 0.5
    t = patchify(x, 4)
    masked = (patchify(out["masked"], 4) == 0.5).all(-1)
    errs, n = 0.0, 0
    for i in range(2):
        mean = t[i][~masked[i]].mean()
        errs += float(((t[i][masked[i]] - mean) ** 2).sum())
        n += t[i][masked[i]].numel()
    assert res["mean_baseline"] == pytest.approx(errs / n, rel=1e-5)
    assert res["model"] > 0


def test_grid_layout_and_png(tmp_path) -> None:
    m = _mae()
    grid = reconstruction_grid(m, _images(2), [0.5, 0.75, 0.9])
    assert grid.shape == (1, 2 * 17 + 1, 10 * 17 + 1)  # original + 3 x (masked, recon, pasted)
    path = save_grid(grid, tmp_path / "g.png", scale=2)
    assert Image.open(path).size == (2 * (10 * 17 + 1), 2 * (2 * 17 + 1))


def test_viz_cli_from_a_training_checkpoint(tmp_path) -> None:
    from selfsup.cli import viz_cmd
    from selfsup.train.config_loader import load_run_config
    from selfsup.train.pretrain import pretrain

    overrides = [
        "data.name=digits",
        "backbone=timm:vit_tiny_patch16_224",
        "backbone_kwargs={patch_size: 2, embed_dim: 16, depth: 1, num_heads: 2}",
        "method.decoder_dim=8",
        "method.decoder_depth=1",
        "method.decoder_heads=2",
        "train.batch_size=32",
        "train.max_steps=2",
        "train.precision=32-true",
        "train.progress_bar=false",
        f"train.out_dir={tmp_path}",
        "train.run_name=r",
    ]
    result = pretrain(load_run_config(None, overrides, method="mae"))
    parser = argparse.ArgumentParser()
    viz_cmd.add_parser(parser.add_subparsers())
    out = tmp_path / "rec.png"
    args = parser.parse_args(
        [
            "viz",
            "reconstruct",
            "--checkpoint",
            str(result.run_dir / "checkpoints" / "last.ckpt"),
            "--images",
            "digits",
            "--num",
            "3",
            "--mask-ratio",
            "0.5",
            "0.75",
            "--out",
            str(out),
            "--scale",
            "1",
        ]
    )
    assert args.run(args) == 0
    assert Image.open(out).size == (7 * 9 + 1, 3 * 9 + 1)
