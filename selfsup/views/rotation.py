"""Rotation pretext targets (Gidaris, Singh, Komodakis 2018, "Unsupervised Representation Learning by
Predicting Image Rotations").

``rotate(x, k)`` turns sample ``i`` of a square batch ``[B, C, S, S]`` by ``k[i] * 90`` degrees
counter-clockwise (``torch.rot90`` on the spatial dims); ``rotate(rotate(x, k), -k)`` is ``x`` exactly
(a rotation by a multiple of 90 degrees only moves pixels). ``all_rotations(x)`` stacks the four
copies of every image, ``[4B, C, S, S]`` with labels ``[4B]`` in {0, 1, 2, 3}: the paper feeds all
four rotated copies of an image in the same batch, which it found better than sampling one rotation
per image.
"""

from __future__ import annotations

import torch
from torch import Tensor

from selfsup.views.ops import check_images

__all__ = ["NUM_ROTATIONS", "all_rotations", "rotate"]

NUM_ROTATIONS = 4  # 0, 90, 180, 270 degrees


def _check_square(x: Tensor) -> None:
    check_images(x, "x", floating=None)
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(
            f"rotation needs square images (a 90-degree turn swaps height and width), got "
            f"{tuple(x.shape[-2:])}; crop or resize first (data.image_size)"
        )


def rotate(x: Tensor, k: Tensor | int) -> Tensor:
    """Rotate sample ``i`` of ``x [B, C, S, S]`` by ``k[i] * 90`` degrees counter-clockwise.

    ``k``: an int (same turn for every sample) or an integer tensor ``[B]``; taken modulo 4, so
    negative values turn clockwise. Any dtype; returns a new tensor of the same shape and dtype.
    """
    _check_square(x)
    if isinstance(k, int):
        return x.rot90(k % NUM_ROTATIONS, dims=(2, 3)).clone()
    if k.shape != (x.shape[0],) or k.is_floating_point():
        raise ValueError(f"k must be an int or an integer tensor of shape [B] = [{x.shape[0]}], got {k}")
    k = k.to(x.device) % NUM_ROTATIONS
    out = x.clone()
    for turns in range(1, NUM_ROTATIONS):
        hit = k == turns
        if hit.any():
            out[hit] = x[hit].rot90(turns, dims=(2, 3))
    return out


def all_rotations(x: Tensor) -> tuple[Tensor, Tensor]:
    """All four rotations of every image: ``x [B, C, S, S]`` -> ``(views [4B, C, S, S], labels [4B])``.

    Rows ``r * B + i`` hold image ``i`` turned by ``r * 90`` degrees and ``labels[r * B + i] = r``.
    """
    _check_square(x)
    views = torch.cat([x.rot90(r, dims=(2, 3)) for r in range(NUM_ROTATIONS)])
    labels = torch.arange(NUM_ROTATIONS, device=x.device).repeat_interleave(x.shape[0])
    return views, labels
