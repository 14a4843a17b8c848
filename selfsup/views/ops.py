"""Tensor conventions shared by every batched view op: uint8 -> float, normalization, per-sample draws.

Views are made in batch on the training device. An image batch is a uint8 tensor ``[B, C, H, W]``
(``C`` = 1 grayscale or 3 RGB); the ops work on float tensors in ``[0, 1]`` of the same shape.
All randomness comes from an explicit ``torch.Generator`` on the tensor's device, so a view is a
pure function of (images, generator state) and resuming from a saved generator state is exact.
Every op draws a fixed number of random values per call (independent of the data), so the
generator advances identically on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor

__all__ = ["channel_stats", "normalize", "to_float"]


@lru_cache(maxsize=64)
def constant(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    """A small read-only constant tensor, made once per (values, dtype, device).

    Building it from a Python list costs a host copy (and on a GPU a transfer) per call, which
    adds up over the many small ops of a view pipeline. Callers must not modify it in place.
    """
    return torch.tensor(values, dtype=dtype, device=device)


def check_images(x: Tensor, name: str = "x", *, floating: bool | None = True) -> None:
    """Raise a clear error unless ``x`` is a ``[B, C, H, W]`` batch with C in {1, 3}.

    ``floating=True`` asks for a float tensor (values assumed in [0, 1]; not checked, since
    reading values back would synchronize a GPU); ``floating=False`` asks for uint8; ``None`` accepts both.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [B, C, H, W], got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(
            f"{name} must have shape [B, C, H, W], got shape {tuple(x.shape)}; "
            "add a batch dimension with x.unsqueeze(0) for a single image"
        )
    if x.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} must have 1 (grayscale) or 3 (RGB) channels in dim 1, got shape {tuple(x.shape)}; "
            "channels-last images need x.permute(0, 3, 1, 2)"
        )
    if floating is True and not x.is_floating_point():
        raise TypeError(
            f"{name} must be a float tensor in [0, 1], got dtype {x.dtype}; convert with to_float(x)"
        )
    if floating is False and x.dtype != torch.uint8:
        raise TypeError(f"{name} must be a uint8 tensor, got dtype {x.dtype}")


def check_generator(generator: torch.Generator, x: Tensor, name: str = "generator") -> None:
    """Raise unless ``generator`` is a ``torch.Generator`` on the same device as ``x``."""
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"{name} must be a torch.Generator on {x.device}, got {type(generator).__name__}; "
            f"create one with torch.Generator(device={str(x.device)!r}).manual_seed(seed)"
        )
    gdev, xdev = torch.device(generator.device), x.device
    same = gdev.type == xdev.type and (gdev.index is None or xdev.index is None or gdev.index == xdev.index)
    if not same:
        raise ValueError(
            f"{name} is on {gdev} but the images are on {xdev}; random parameters are drawn on the images' "
            f"device, so create the generator with torch.Generator(device={str(xdev)!r})"
        )


def check_probability(p: float, name: str) -> None:
    """Raise unless ``0 <= p <= 1``."""
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name} is a probability and must be in [0, 1], got {p}")


def check_range(
    r: Sequence[float], name: str, *, low: float | None = None, high: float | None = None
) -> None:
    """Raise unless ``r`` is an ordered pair ``(lo, hi)``, optionally with ``low < lo`` and ``hi <= high``."""
    if len(r) != 2 or float(r[0]) > float(r[1]):
        raise ValueError(f"{name} must be an ordered pair (min, max) with min <= max, got {tuple(r)}")
    if low is not None and not float(r[0]) > low:
        raise ValueError(f"{name} must have min > {low}, got {tuple(r)}")
    if high is not None and not float(r[1]) <= high:
        raise ValueError(f"{name} must have max <= {high}, got {tuple(r)}")


def uniform(n: int, low: float, high: float, *, generator: torch.Generator, device: torch.device) -> Tensor:
    """``n`` independent draws from U[low, high), float32 ``[n]`` on ``device``."""
    u = torch.rand(n, generator=generator, device=device)
    return u.mul_(high - low).add_(low)


def bernoulli(n: int, p: float, *, generator: torch.Generator, device: torch.device) -> Tensor:
    """``n`` independent coin flips with P(True) = p, bool ``[n]``: which samples an op applies to.

    Always draws ``n`` values, even for p in {0, 1}, so the generator advances the same way
    whatever the probabilities are.
    """
    return torch.rand(n, generator=generator, device=device) < p


def restore_(out: Tensor, skipped: Tensor, original: Tensor) -> Tensor:
    """In place: sample i of ``out`` becomes ``original[i]`` wherever ``skipped[i]`` (bool ``[B]``).

    This is how an op applied with probability p leaves the other samples untouched. ``lerp_``
    with 0/1 weights is exact both ways (``a + 0 * d = a`` and ``b - d * 0 = b``), writes no new
    buffer and costs about a third of ``torch.where`` on the CPU.
    """
    return out.lerp_(original, skipped.to(out.dtype).view(-1, 1, 1, 1))


# About 2 MB of float32 pixels: a block and the temporaries of one op on it fit in the CPU caches.
CPU_BLOCK_ELEMENTS = 1 << 19


def cpu_blocks(x: Tensor, elements_per_sample: int | None = None) -> list[slice]:
    """Slices of the batch dim of ``x`` to process one at a time: ~2 MB blocks on the CPU, one on a GPU.

    Many cheap elementwise ops over a large batch are memory bound on the CPU, and glibc returns
    each large freed temporary to the OS and page-faults it back on the next allocation; running
    them block by block keeps the data in cache and recycles small buffers. A GPU prefers one launch
    per op over the whole batch. ``elements_per_sample`` defaults to ``x[0].numel()``.
    """
    b = x.shape[0]
    if x.device.type != "cpu" or b == 0:
        return [slice(0, b)]
    per_sample = elements_per_sample if elements_per_sample is not None else x[0].numel()
    n_blocks = -(-b * max(1, per_sample) // CPU_BLOCK_ELEMENTS)
    step = -(-b // n_blocks)  # equal blocks, not a full ones and a small remainder
    return [slice(i, min(i + step, b)) for i in range(0, b, step)]


def to_float(images: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 images ``[B, C, H, W]`` in {0..255} -> float ``[B, C, H, W]`` in [0, 1] (divide by 255)."""
    check_images(images, "images", floating=False)
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating dtype, got {dtype}")
    # Division (not multiplication by 1/255) matches torchvision's ToTensor bit for bit.
    return images.to(dtype).div_(255.0)


def _per_channel(values: Sequence[float] | float, channels: int, name: str) -> tuple[float, ...]:
    """``values`` (one per channel, or one for all) as ``channels`` floats; a clear error otherwise."""
    flat = tuple(float(v) for v in (values if isinstance(values, Sequence) else [values]))
    if len(flat) not in (1, channels):
        raise ValueError(
            f"{name} has {len(flat)} values but the input has {channels} channels; "
            "give one value per channel or one for all"
        )
    if name == "std" and min(flat) <= 0:
        raise ValueError(f"std must be > 0 for every channel, got {list(flat)}")
    return flat * channels if len(flat) == 1 else flat


def channel_stats(
    mean: Sequence[float] | float | None,
    std: Sequence[float] | float | None,
    channels: int,
    default: float = 0.5,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel ``(mean, std)`` of [0, 1] pixels for a ``channels``-channel input, from declared
    values: None = ``default`` for every channel (0.5 / 0.5 maps [0, 1] to [-1, 1]); one value is
    used for every channel; otherwise one value per channel."""
    return (
        _per_channel(default if mean is None else mean, channels, "mean"),
        _per_channel(default if std is None else std, channels, "std"),
    )


def _channel_stats(values: Sequence[float] | float, channels: int, name: str, x: Tensor) -> Tensor:
    flat = _per_channel(values, channels, name)
    return constant(flat, x.dtype, x.device).view(1, -1, 1, 1)


def normalize(
    x: Tensor, mean: Sequence[float] | float, std: Sequence[float] | float, *, inplace: bool = False
) -> Tensor:
    """Per-channel ``(x - mean) / std`` on a float batch ``[B, C, H, W]`` (as torchvision's Normalize).

    ``mean`` and ``std`` hold one value per channel or a single value for all channels;
    ``inplace=True`` overwrites ``x`` (saves a buffer when the caller owns it).
    """
    check_images(x, "x")
    m = _channel_stats(mean, x.shape[1], "mean", x)
    s = _channel_stats(std, x.shape[1], "std", x)
    return x.sub_(m).div_(s) if inplace else (x - m) / s
