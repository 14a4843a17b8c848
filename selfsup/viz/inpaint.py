"""Context-encoder inpainting grids: masked input, prediction, prediction pasted into the context, truth.

``render_inpaint(method, images, out_path)`` writes a PNG with one row per image for an
``inpainting`` method (a run's, from ``selfsup.runs.load_run(..., need_method=True)``). ``inpaint_images(method, images)`` returns the four columns as float tensors and the
masked-region error of the model and of the context-mean fill, for tests and reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from selfsup.views import normalize, resize, to_float
from selfsup.views.inpaint_masks import make_mask
from selfsup.views.photometric import rgb_to_luma
from selfsup.views.region_mask import random_region_mask
from selfsup.viz.reconstruct import save_grid

if TYPE_CHECKING:
    from selfsup.methods.inpainting import ContextEncoder

__all__ = ["column_grid", "inpaint_images", "render_inpaint"]


def column_grid(columns: list[Tensor]) -> Tensor:
    """Columns of float ``[B, C, H, W]`` images in [0, 1] -> one ``[C, rows, cols]`` grid (1 px white gaps)."""
    b, c, h, w = columns[0].shape
    pad = 1
    grid = torch.ones(c, b * (h + pad) + pad, len(columns) * (w + pad) + pad)
    for j, col in enumerate(columns):
        for i in range(b):
            top, left = pad + i * (h + pad), pad + j * (w + pad)
            grid[:, top : top + h, left : left + w] = col[i].detach().float().cpu()
    return grid


def _check_uint8(images: Tensor, channels: int) -> None:
    if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError("images must be a uint8 tensor [B, C, H, W]")
    if images.shape[1] != channels:
        raise ValueError(f"images have {images.shape[1]} channels; the model was trained on {channels}")


@torch.no_grad()
def inpaint_images(
    method: ContextEncoder, images: Tensor, seed: int = 0, mask_kind: str | None = None
) -> dict[str, Tensor | float]:
    """``{"masked", "prediction", "pasted", "truth"}`` float ``[B, C, S, S]`` in [0, 1], plus
    ``"mse"`` / ``"mean_fill_mse"`` (per masked value, normalized pixels).

    ``"masked"`` is the encoder's input (the hole filled as ``method.config.fill`` says); ``mask_kind``
    (``"center"``, ``"blocks"``, ``"region"``) overrides the training mask, e.g. to show the central
    square on a model trained with random regions. ``"mask"`` ``[B, 1, S, S]`` is returned too."""
    from selfsup.methods.inpainting import context_mean_fill, masked_l2

    _check_uint8(images, method.encoder.in_chans)
    cfg = method.config
    device = next(method.parameters()).device
    x = resize(to_float(images.to(device)), method.image_size)
    mean, std = method.normalization()
    xn = normalize(x, mean, std)
    gen = torch.Generator(device=device).manual_seed(seed)
    kind = mask_kind or cfg.mask
    s = method.image_size
    if kind == cfg.mask:
        mask = method.sample_mask(x.shape[0], gen)
    elif kind == "region":
        mask = random_region_mask(x.shape[0], s, s, cfg.region_coverage, cfg.region_grid, generator=gen)
    else:
        mask = make_mask(
            kind,
            x.shape[0],
            s,
            s,
            fraction=cfg.mask_fraction,
            block_fraction=cfg.block_fraction,
            num_blocks=cfg.num_blocks,
            generator=gen,
        )
    was_training = method.training
    method.eval()
    try:
        pred, _ = method.inpaint(xn, mask)
    finally:
        method.train(was_training)
    m_t = torch.tensor(mean, device=device).view(1, -1, 1, 1)
    s_t = torch.tensor(std, device=device).view(1, -1, 1, 1)

    def to_image(t: Tensor) -> Tensor:
        return (t * s_t + m_t).clamp(0, 1)

    return {
        "masked": to_image(method.remove(xn, mask)),  # exactly what the encoder saw
        "prediction": to_image(pred),
        "pasted": to_image(xn * (1 - mask) + pred * mask),
        "truth": x,
        "mask": mask,
        "mse": float(masked_l2(pred.float(), xn, mask)),
        "mean_fill_mse": float(masked_l2(context_mean_fill(xn, mask).expand_as(xn), xn, mask)),
    }


def render_inpaint(
    method: ContextEncoder,
    images: Tensor,
    out_path: str | Path,
    seed: int = 0,
    scale: int = 4,
    mask_kind: str | None = None,
) -> Path:
    """Write a PNG grid (rows: images; columns: masked input / prediction / pasted / truth)."""
    if images.shape[1] == 3 and method.encoder.in_chans == 1:  # color files for a grayscale model
        images = (rgb_to_luma(to_float(images)) * 255).round().to(torch.uint8)
    out = inpaint_images(method, images, seed=seed, mask_kind=mask_kind)
    cols = [out["masked"], out["prediction"], out["pasted"], out["truth"]]
    return save_grid(column_grid(cols), out_path, scale=scale)  # type: ignore[arg-type]
