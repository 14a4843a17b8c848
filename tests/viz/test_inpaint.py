"""Inpainting grids: the hole is grey in the input, the pasted column keeps the context, PNG round trip."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from selfsup.backbones import create_backbone
from selfsup.methods.inpainting import InpaintingConfig
from selfsup.registry import create_method
from selfsup.runs import load_run
from selfsup.viz.inpaint import column_grid, inpaint_images, render_inpaint


def _images(n: int = 3, channels: int = 1) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, channels, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


def _method(**kw):
    bb = create_backbone("resnet_small", in_chans=1, image_size=16, width=4, depths=[1, 1, 1])
    return create_method("inpainting", bb, InpaintingConfig(decoder_width=16, **kw))


def test_columns_keep_context_and_grey_out_the_hole() -> None:
    imgs = _images()
    out = inpaint_images(_method(mask="center", fill="zero"), imgs)
    truth = imgs.float() / 255
    torch.testing.assert_close(out["truth"], truth)
    hole = torch.zeros(16, 16, dtype=torch.bool)
    hole[4:12, 4:12] = True  # central square, half the side
    torch.testing.assert_close(out["masked"][..., hole], torch.full_like(out["masked"][..., hole], 0.5))
    torch.testing.assert_close(out["masked"][..., ~hole], truth[..., ~hole], atol=1e-6, rtol=0)
    torch.testing.assert_close(out["pasted"][..., ~hole], truth[..., ~hole], atol=1e-6, rtol=0)
    torch.testing.assert_close(out["pasted"][..., hole], out["prediction"][..., hole])
    assert out["mse"] > 0 and out["mean_fill_mse"] > 0


def test_masked_column_is_the_encoder_input_and_mask_kind_overrides() -> None:
    imgs = _images(4)
    m = _method(mask="region", fill="image_mean")
    out = inpaint_images(m, imgs, seed=2)
    hole = out["mask"].bool()
    assert float(out["mask"].sum()) == 4 * round(0.25 * 256)  # the trained random-region mask
    truth = imgs.float() / 255
    for i in range(4):  # hole shows the image's mean context value, the context is untouched
        h = hole[i, 0]
        torch.testing.assert_close(out["masked"][i, 0][h], truth[i, 0][~h].mean().expand(int(h.sum())))
        torch.testing.assert_close(out["masked"][i, 0][~h], truth[i, 0][~h], atol=1e-6, rtol=0)
    center = inpaint_images(m, imgs, mask_kind="center")["mask"]
    assert float(center[0, 0, 4:12, 4:12].sum()) == 64 and float(center.sum()) == 4 * 64


def test_column_grid_layout() -> None:
    cols = [torch.zeros(2, 3, 4, 5), torch.ones(2, 3, 4, 5)]
    grid = column_grid(cols)
    assert grid.shape == (3, 2 * 5 + 1, 2 * 6 + 1)
    assert float(grid[:, 1:5, 1:6].max()) == 0 and float(grid[:, 1:5, 7:12].min()) == 1


def test_wrong_channels_are_refused() -> None:
    with pytest.raises(ValueError, match="channels"):
        inpaint_images(_method(), _images(channels=3))


@pytest.mark.slow
def test_render_from_a_training_checkpoint(tmp_path) -> None:
    from selfsup.train.config_loader import load_run_config
    from selfsup.train.pretrain import pretrain

    overrides = [
        "data.name=digits",
        "data.image_size=16",
        "backbone=resnet_small",
        "backbone_kwargs={width: 4, depths: [1, 1, 1]}",
        "method.decoder_width=16",
        "train.batch_size=32",
        "train.max_steps=2",
        "train.precision=32-true",
        "train.progress_bar=false",
        f"train.out_dir={tmp_path}",
    ]
    result = pretrain(load_run_config(None, overrides, method="inpainting"))
    ckpt = result.run_dir / "checkpoints" / "last.ckpt"
    method = load_run(ckpt, "inpainting", need_method=True).method
    path = render_inpaint(method, _images(2), tmp_path / "grid.png", scale=2)
    assert Image.open(path).size == ((4 * 17 + 1) * 2, (2 * 17 + 1) * 2)
    # The same checkpoint through the CLI, on a dataset name and on a color image file.
    from selfsup.cli.main import main

    assert main(["viz", "inpaint", "--checkpoint", str(ckpt), "--images", "digits", "--num", "3",
                 "--out", str(tmp_path / "cli.png"), "--scale", "1"]) == 0  # fmt: skip
    assert Image.open(tmp_path / "cli.png").size == (4 * 17 + 1, 3 * 17 + 1)
    Image.new("RGB", (20, 20), (200, 30, 30)).save(tmp_path / "red.png")
    assert main(["viz", "inpaint", "--checkpoint", str(ckpt), "--images", str(tmp_path / "red.png"),
                 "--out", str(tmp_path / "file.png"), "--scale", "1"]) == 0  # fmt: skip
    assert Image.open(tmp_path / "file.png").size == (4 * 17 + 1, 17 + 1)
