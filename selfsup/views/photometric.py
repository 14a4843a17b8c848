"""Batched photometric (per-pixel color) view ops: color jitter, grayscale, solarize.

Input and output are float batches ``[B, C, H, W]`` in [0, 1] (``C`` = 1 or 3). Every sample gets
its own factors and its own coin flip for probability ``p``; samples the coin skips come back
bit-identical. Each op has an ``adjust_*`` / ``apply_*`` form that takes explicit per-sample
parameters (tensors ``[B]``) and follows torchvision's functional semantics, and a random form
that draws the parameters from the explicit ``generator`` and calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from selfsup.views.ops import (
    bernoulli,
    check_generator,
    check_images,
    check_probability,
    constant,
    cpu_blocks,
    restore_,
)

__all__ = [
    "LUMA_WEIGHTS",
    "JitterParams",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "apply_grayscale",
    "apply_jitter",
    "apply_solarize",
    "color_jitter",
    "random_grayscale",
    "rgb_to_luma",
    "sample_jitter_params",
    "solarize",
]

# ITU-R BT.601-2 luma, as PIL's convert("L"). (torchvision's tensor path rounds 0.299 to 0.2989.)
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def _per_sample(values: Tensor, x: Tensor, name: str) -> Tensor:
    """Check a per-sample parameter ``[B]`` and shape it ``[B, 1, 1, 1]`` for broadcasting."""
    if values.ndim != 1 or values.shape[0] != x.shape[0]:
        raise ValueError(f"{name} must have shape [B] = [{x.shape[0]}], got {tuple(values.shape)}")
    return values.to(dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)


def rgb_to_luma(x: Tensor) -> Tensor:
    """Luma ``[B, 1, H, W]`` of a float batch ``[B, C, H, W]``; a 1-channel batch is its own luma."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    luma = r * LUMA_WEIGHTS[0]
    return luma.add_(g, alpha=LUMA_WEIGHTS[1]).add_(b, alpha=LUMA_WEIGHTS[2]).unsqueeze(1)


# The ``_name_`` kernels work in place on a tensor the caller owns: the jitter pipeline then
# allocates one buffer instead of one per stage (allocation dominates these cheap ops on the CPU).
# Each follows torchvision's _blend: ratio * img + (1 - ratio) * other, clamped to [0, 1].


def _brightness_(out: Tensor, f: Tensor) -> Tensor:
    return out.mul_(f).clamp_(0.0, 1.0)


def _contrast_(out: Tensor, f: Tensor) -> Tensor:
    # The mean of the luma image equals the luma of the channel means (luma is linear): one reduction.
    means = out.mean(dim=(2, 3))
    if out.shape[1] == 3:
        means = means @ constant(LUMA_WEIGHTS, out.dtype, out.device)
    # (torch.addcmul with broadcast operands falls off the vectorized path: 4x slower than mul_ + add_.)
    return out.mul_(f).add_((1.0 - f) * means.view(-1, 1, 1, 1)).clamp_(0.0, 1.0)


def _saturation_(out: Tensor, f: Tensor) -> Tensor:
    if out.shape[1] == 1:
        return out
    gray = rgb_to_luma(out).mul_(1.0 - f)
    return out.mul_(f).add_(gray).clamp_(0.0, 1.0)


def adjust_brightness(x: Tensor, factor: Tensor) -> Tensor:
    """Multiply sample i of ``[B, C, H, W]`` by ``factor[i]`` and clamp to [0, 1] (blend with black)."""
    return _brightness_(x.clone(), _per_sample(factor, x, "factor"))


def adjust_contrast(x: Tensor, factor: Tensor) -> Tensor:
    """Blend sample i with the mean of its own luma by ``factor[i]`` (torchvision's adjust_contrast)."""
    return _contrast_(x.clone(), _per_sample(factor, x, "factor"))


def adjust_saturation(x: Tensor, factor: Tensor) -> Tensor:
    """Blend sample i with its luma image by ``factor[i]`` (0 = gray, 1 = unchanged); identity for C = 1."""
    return _saturation_(x.clone(), _per_sample(factor, x, "factor"))


def _hue_(out: Tensor, s: Tensor) -> Tensor:
    if out.shape[1] == 1:
        return out
    r, g, b = out.unbind(1)
    maxc = torch.maximum(r, g)
    torch.maximum(maxc, b, out=maxc)
    minc = torch.minimum(r, g)
    torch.minimum(minc, b, out=minc)
    chroma = maxc - minc
    # Which channel holds the max, with torchvision's precedence red, then green, then blue, as
    # float masks: clamp(d * 1e30, 0, 1) is 0 where d = max - c is 0 and 1 for any d > 1e-30 (a
    # smaller d means chroma ~ 0, where the hue does not matter). Comparisons that make bool
    # masks, and torch.where on them, cost several times a subtraction on the CPU.
    not_r = torch.sub(maxc, r).mul_(1e30).clamp_(0.0, 1.0)
    is_g = torch.sub(g, maxc).mul_(1e30).clamp_(-1.0, 0.0).add_(1.0).mul_(not_r)
    # 6 C h is (g - b), (b - r) + 2C or (r - g) + 4C when R, G or B is the max; with the masks:
    # (g - b) + not_r (r - 2g + b + 4C) + is_g (b + g - 2r - 2C). Gray pixels (C = 0) get hue 0.
    h = g - b
    t = torch.add(r, b).sub_(g, alpha=2.0).add_(chroma, alpha=4.0)
    h.addcmul_(not_r, t)
    h.addcmul_(is_g, torch.add(b, g, out=t).sub_(r, alpha=2.0).sub_(chroma, alpha=2.0))
    six_c = torch.clamp(chroma, min=torch.finfo(out.dtype).tiny, out=not_r).mul_(6.0)
    # In turns, shifted; + 1 keeps it positive so frac() is the wrap-around modulo 1.
    h = h.div_(six_c).unsqueeze(1).add_(s + 1.0)
    # r, g, b are spent: the output reuses their buffer.
    torch.add(h, constant((1.0, 2.0 / 3.0, 1.0 / 3.0), out.dtype, out.device).view(1, 3, 1, 1), out=out)
    out.frac_().mul_(6.0).sub_(3.0).abs_().sub_(1.0).clamp_(0.0, 1.0)
    return out.mul_(chroma.unsqueeze(1)).add_(minc.unsqueeze(1))


def adjust_hue(x: Tensor, shift: Tensor) -> Tensor:
    """Rotate the HSV hue of sample i by ``shift[i]`` turns (in [-0.5, 0.5]); identity for C = 1.

    Value V (max channel) and chroma C (max - min) are kept, so only the hue changes, as in
    torchvision's adjust_hue. HSV -> RGB uses the branch-free closed form
    ``c = V - C + C * clamp(|6 frac(h + k_c) - 3| - 1, 0, 1)`` with ``k = 1, 2/3, 1/3`` for R, G, B;
    RGB -> hue uses arithmetic float masks instead of comparisons and ``torch.where``.
    """
    return _hue_(x.clone(), _per_sample(shift, x, "shift"))


class JitterParams(NamedTuple):
    """Per-sample color-jitter parameters, all ``[B]``: multiplicative factors, hue shift, and the coin."""

    brightness: Tensor
    contrast: Tensor
    saturation: Tensor
    hue: Tensor
    applied: Tensor


def sample_jitter_params(
    batch: int,
    brightness: float,
    contrast: float,
    saturation: float,
    hue: float,
    p: float,
    *,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> JitterParams:
    """Draw per-sample jitter parameters like torchvision's ColorJitter inside RandomApply(p).

    Factors are uniform in ``[max(0, 1 - s), 1 + s]`` for strength ``s``; the hue shift is uniform in
    ``[-hue, hue]``. Always draws ``5 * batch`` values.
    """
    for name, v in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
        if v < 0:
            raise ValueError(f"{name} strength must be >= 0, got {v}")
    if not 0 <= hue <= 0.5:
        raise ValueError(f"hue strength must be in [0, 0.5] (turns of the color wheel), got {hue}")
    check_probability(p, "p")
    u = torch.rand(5, batch, generator=generator, device=device)

    def factor(row: Tensor, s: float) -> Tensor:
        lo = max(0.0, 1.0 - s)
        return row * (1.0 + s - lo) + lo

    return JitterParams(
        brightness=factor(u[0], brightness),
        contrast=factor(u[1], contrast),
        saturation=factor(u[2], saturation),
        hue=(2.0 * u[3] - 1.0) * hue,
        applied=u[4] < p,
    )


_JITTER_STAGES = ("brightness", "contrast", "saturation", "hue")


def apply_jitter(x: Tensor, params: JitterParams, *, skip: Sequence[str] = ()) -> Tensor:
    """Apply brightness, contrast, saturation, hue in that fixed order where ``params.applied``.

    torchvision's ColorJitter shuffles the order per image; a fixed order keeps the batch in one
    pass of tensor ops (all samples share the same op sequence). ``skip`` names stages that are
    identities (zero strength) to save the work. Samples with ``applied`` False come back bit-exact.
    """
    check_images(x, "x")
    b = x.shape[0]
    if params.applied.shape != (b,):
        raise ValueError(f"params.applied must have shape [B] = [{b}], got {tuple(params.applied.shape)}")
    factors = {
        name: _per_sample(getattr(params, name), x, f"params.{name}")
        for name in _JITTER_STAGES
        if name not in skip
    }
    skipped = ~params.applied.to(x.device)
    out = torch.empty_like(x)
    # Blocks on the CPU: the hue's dozen temporaries then stay in cache and are recycled by the
    # allocator instead of page-faulted in fresh (2.5x faster hue on 32 px batches here).
    for sl in cpu_blocks(x):
        f = {name: v[sl] for name, v in factors.items()}
        o = out[sl]
        if "brightness" in f:
            torch.mul(x[sl], f["brightness"], out=o).clamp_(0.0, 1.0)
        else:
            o.copy_(x[sl])
        if "contrast" in f:
            _contrast_(o, f["contrast"])
        if "saturation" in f:
            _saturation_(o, f["saturation"])
        if "hue" in f:
            _hue_(o, f["hue"])
        restore_(o, skipped[sl], x[sl])
    return out


def color_jitter(
    x: Tensor,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.2,
    hue: float = 0.1,
    p: float = 0.8,
    *,
    generator: torch.Generator,
    return_params: bool = False,
) -> Tensor | tuple[Tensor, JitterParams]:
    """Random per-sample color jitter of a float batch ``[B, C, H, W]``, applied with probability ``p``.

    Defaults are BYOL's (0.4, 0.4, 0.2, 0.1, p = 0.8; Grill et al. 2020, Appendix B); SimCLR's
    strength-s recipe (0.8s, 0.8s, 0.8s, 0.2s) lives in ``ViewRecipe``. Order is fixed
    b, c, s, h (see ``apply_jitter``). For 1-channel input saturation and hue are identities.
    """
    check_images(x, "x")
    check_generator(generator, x)
    params = sample_jitter_params(
        x.shape[0], brightness, contrast, saturation, hue, p, generator=generator, device=x.device
    )
    strengths = {"brightness": brightness, "contrast": contrast, "saturation": saturation, "hue": hue}
    skip = [k for k, v in strengths.items() if v == 0]
    out = apply_jitter(x, params, skip=skip)
    return (out, params) if return_params else out


def random_grayscale(
    x: Tensor, p: float = 0.2, *, generator: torch.Generator, inplace: bool = False
) -> Tensor:
    """Replace sample i by its luma (0.299 R + 0.587 G + 0.114 B) on all C channels with probability ``p``.

    ``p = 0.2`` is SimCLR's (Chen et al. 2020, Appendix A). A 1-channel batch is returned unchanged.
    ``inplace=True`` overwrites ``x``.
    """
    check_images(x, "x")
    check_generator(generator, x)
    check_probability(p, "p")
    gray = bernoulli(x.shape[0], p, generator=generator, device=x.device)
    return apply_grayscale(x, gray, inplace=inplace)


def apply_grayscale(x: Tensor, applied: Tensor, *, inplace: bool = False) -> Tensor:
    """Replace sample i of ``[B, C, H, W]`` by its luma on all channels where ``applied[i]`` (bool ``[B]``)."""
    check_images(x, "x")
    if applied.shape != (x.shape[0],):
        raise ValueError(f"applied must have shape [B] = [{x.shape[0]}], got {tuple(applied.shape)}")
    if x.shape[1] == 1:
        return x
    luma = rgb_to_luma(x).expand_as(x)
    out = x if inplace else x.clone()
    return restore_(out, applied.to(x.device), luma)


def solarize(x: Tensor, threshold: float = 0.5, p: float = 0.2, *, generator: torch.Generator) -> Tensor:
    """With probability ``p`` per sample, invert (``1 - v``) every pixel value ``v >= threshold``.

    Defaults are BYOL's second view (Grill et al. 2020, Appendix B: threshold 0.5, p = 0.2).
    """
    check_images(x, "x")
    check_generator(generator, x)
    check_probability(p, "p")
    flip = bernoulli(x.shape[0], p, generator=generator, device=x.device)
    return apply_solarize(x, threshold, flip)


def apply_solarize(x: Tensor, threshold: float, applied: Tensor) -> Tensor:
    """Where ``applied[i]`` (bool ``[B]``), invert the values ``>= threshold`` of sample i (torchvision's solarize)."""
    check_images(x, "x")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1] for float images, got {threshold}")
    if applied.shape != (x.shape[0],):
        raise ValueError(f"applied must have shape [B] = [{x.shape[0]}], got {tuple(applied.shape)}")
    return torch.where(applied.to(x.device).view(-1, 1, 1, 1) & (x >= threshold), 1.0 - x, x)
