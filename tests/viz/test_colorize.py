"""Colorization grids: the gray column has the true lightness and no chroma; the color column keeps L."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from selfsup.backbones import create_backbone
from selfsup.methods.colorization import ColorizationConfig
from selfsup.registry import create_method
from selfsup.runs import load_run
from selfsup.views.lab import rgb_to_lab
from selfsup.viz.colorize import colorize_images, render_colorize


def _photos() -> torch.Tensor:
    out = [
        torch.from_numpy(np.ascontiguousarray(img[::16, ::16][:16, :16])).permute(2, 0, 1)
        for img in (data.astronaut(), data.coffee())
    ]
    return torch.stack(out)


def _method():
    bb = create_backbone("resnet_small", in_chans=3, image_size=16, width=4, depths=[1, 1, 1])
    return create_method("colorization", bb, ColorizationConfig(decoder_width=16))


def test_gray_and_color_columns_keep_the_true_lightness() -> None:
    imgs = _photos()
    out = colorize_images(_method(), imgs)
    truth = imgs.float() / 255
    torch.testing.assert_close(out["truth"], truth)
    lab_truth, lab_gray, lab_color = (rgb_to_lab(out[k]) for k in ("truth", "gray", "color"))
    torch.testing.assert_close(lab_gray[:, 0], lab_truth[:, 0], atol=0.05, rtol=0)
    assert float(lab_gray[:, 1:].abs().max()) < 0.05  # no chroma
    inside = (lab_color[:, 0] - lab_truth[:, 0]).abs() < 0.5  # equal L except where the color clips
    assert float(inside.float().mean()) > 0.9
    assert abs(out["gray_rmse"] - float(lab_truth[:, 1:].pow(2).mean().sqrt())) < 1e-3


def test_grayscale_input_is_refused() -> None:
    with pytest.raises(ValueError, match="RGB"):
        colorize_images(_method(), torch.zeros(1, 1, 16, 16, dtype=torch.uint8))


@pytest.mark.slow
def test_render_from_a_training_checkpoint(tmp_path) -> None:
    from selfsup.train.config_loader import load_run_config
    from selfsup.train.pretrain import pretrain

    folder = tmp_path / "photos" / "all"
    folder.mkdir(parents=True)
    for i, img in enumerate(_photos().repeat(8, 1, 1, 1)):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    overrides = [
        "data.name=folder",
        f"data.root={tmp_path / 'photos'}",
        "data.image_size=16",
        "backbone=resnet_small",
        "backbone_kwargs={width: 4, depths: [1, 1, 1]}",
        "method.decoder_width=16",
        "train.batch_size=8",
        "train.max_steps=2",
        "train.precision=32-true",
        "train.progress_bar=false",
        f"train.out_dir={tmp_path}",
    ]
    result = pretrain(load_run_config(None, overrides, method="colorization"))
    method = load_run(result.run_dir / "checkpoints" / "last.ckpt", "colorization", need_method=True).method
    path = render_colorize(method, _photos(), tmp_path / "c.png", scale=1)
    assert Image.open(path).size == (3 * 17 + 1, 2 * 17 + 1)
