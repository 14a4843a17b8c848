"""MAE reconstructions: masked input, prediction, prediction with the visible patches pasted back.

``reconstruct(method, images, mask_ratio)`` returns four ``[B, C, H, W]`` float images in [0, 1]:
the original, the masked input (masked patches grey), the reconstruction and the reconstruction
with the visible patches replaced by the original pixels (MAE Fig. 2 / 3 show the last one).

With ``norm_pix_loss`` the decoder predicts per-patch *normalized* pixels, so turning a prediction
into an image needs each patch's mean and std; as in MAE's own visualization notebook we take them
from the original patch (for visualization only -- ``masked_patch_mse`` never does this).

``masked_patch_mse`` measures the reconstruction error on the masked patches in the model's target
space, next to the baseline that predicts every masked value as the mean of the image's visible
target values (the per-image mean).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from selfsup.losses.reconstruction import normalize_patches
from selfsup.nn.patches import patchify, unpatchify
from selfsup.views import normalize, resize, to_float

if TYPE_CHECKING:
    from selfsup.methods.mae import MAE

__all__ = ["masked_patch_mse", "reconstruct", "reconstruction_grid", "save_grid"]


def _prepare(method: MAE, images_uint8: Tensor) -> Tensor:
    size = method.grid[0] * method.patch_size
    device = next(method.parameters()).device
    x = resize(to_float(images_uint8.to(device)), size)
    mean, std = method.normalization()
    return normalize(x, mean, std)


def _noise(batch: int, length: int, seed: int, device: torch.device) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, length, generator=g).to(device)


@torch.no_grad()
def reconstruct(method: MAE, images_uint8: Tensor, mask_ratio: float, seed: int = 0) -> dict[str, Tensor]:
    """``{"original", "masked", "reconstruction", "pasted"}``: float ``[B, C, H, W]`` in [0, 1]."""
    was_training = method.training
    method.eval()
    try:
        x = _prepare(method, images_uint8)
        noise = _noise(x.shape[0], method.grid[0] * method.grid[1], seed, x.device)
        _, pred, mask, _ = method.forward_mae(x, mask_ratio=mask_ratio, noise=noise)
    finally:
        method.train(was_training)
    p, c = method.patch_size, x.shape[1]
    target = patchify(x, p)
    if method.config.norm_pix_loss:
        mu = target.mean(-1, keepdim=True)
        sd = (target.var(-1, keepdim=True) + method.loss_fn.eps).sqrt()
        pred = pred * sd + mu
    m = mask.unsqueeze(-1)
    mean, std = method.normalization()
    mean_t = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=x.device).view(1, -1, 1, 1)

    def to_image(patches: Tensor) -> Tensor:
        return (unpatchify(patches, p, method.grid, c) * std_t + mean_t).clamp(0, 1)

    grey = (torch.full_like(target, 0.5) - _patch_stat(mean_t, p, c)) / _patch_stat(std_t, p, c)
    return {
        "original": to_image(target),
        "masked": to_image(target * (1 - m) + grey * m),
        "reconstruction": to_image(pred),
        "pasted": to_image(target * (1 - m) + pred * m),
    }


def _patch_stat(stat: Tensor, patch_size: int, channels: int) -> Tensor:
    """A per-channel ``[1, C, 1, 1]`` statistic laid out as one patch vector ``[1, 1, p*p*C]``."""
    return stat.view(1, 1, 1, channels).expand(1, 1, patch_size * patch_size, channels).reshape(1, 1, -1)


@torch.no_grad()
def masked_patch_mse(
    method: MAE, images_uint8: Tensor, mask_ratio: float | None = None, seed: int = 0, batch_size: int = 512
) -> dict[str, float]:
    """Mean squared error per masked value: ``{"model": ..., "mean_baseline": ...}``.

    Errors are in the model's target space (normalized input pixels, per-patch normalized when
    ``norm_pix_loss``), averaged over all masked values of all images. The baseline predicts each
    image's masked values as the mean of that image's visible target values.
    """
    ratio = method.config.mask_ratio if mask_ratio is None else mask_ratio
    was_training = method.training
    method.eval()
    sums = {"model": 0.0, "mean_baseline": 0.0}
    count = 0.0
    try:
        for s in range(0, images_uint8.shape[0], batch_size):
            x = _prepare(method, images_uint8[s : s + batch_size])
            noise = _noise(x.shape[0], method.grid[0] * method.grid[1], seed + s, x.device)
            _, pred, mask, _ = method.forward_mae(x, mask_ratio=ratio, noise=noise)
            target = patchify(x, method.patch_size)
            if method.config.norm_pix_loss:
                target = normalize_patches(target, method.loss_fn.eps)
            m = mask.unsqueeze(-1).expand_as(target)
            visible = 1 - m
            image_mean = (target * visible).sum((1, 2), keepdim=True) / visible.sum((1, 2), keepdim=True)
            sums["model"] += float(((pred - target) ** 2 * m).sum())
            sums["mean_baseline"] += float(((image_mean - target) ** 2 * m).sum())
            count += float(m.sum())
    finally:
        method.train(was_training)
    return {k: v / count for k, v in sums.items()}


def reconstruction_grid(
    method: MAE, images_uint8: Tensor, mask_ratios: Sequence[float], seed: int = 0
) -> Tensor:
    """One row per image: original, then (masked, reconstruction, pasted) per mask ratio.

    Returns a float ``[C, rows * H, cols * W]`` image in [0, 1] with 1-pixel white separators.
    """
    columns: list[Tensor] = []
    for i, ratio in enumerate(mask_ratios):
        out = reconstruct(method, images_uint8, ratio, seed=seed)
        if i == 0:
            columns.append(out["original"])
        columns += [out["masked"], out["reconstruction"], out["pasted"]]
    b, c, h, w = columns[0].shape
    pad = 1
    grid = torch.ones(c, b * (h + pad) + pad, len(columns) * (w + pad) + pad)
    for j, col in enumerate(columns):
        for i in range(b):
            top, left = pad + i * (h + pad), pad + j * (w + pad)
            grid[:, top : top + h, left : left + w] = col[i].cpu()
    return grid


def save_grid(grid: Tensor, path: str | Path, scale: int = 4) -> Path:
    """Write a ``[C, H, W]`` float grid in [0, 1] as a PNG, upscaled ``scale`` x (nearest)."""
    from PIL import Image

    img = (grid.clamp(0, 1) * 255).round().to(torch.uint8)
    img = img.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    arr = img.permute(1, 2, 0).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(path)
    return path
