"""Frozen-encoder feature extraction for evaluation (kNN, linear probe, baselines).

Evaluation preprocessing is deterministic: uint8 ``[N, C, H, W]`` -> float in [0, 1] ->
bilinear (antialiased) resize to ``image_size`` when it differs -> per-channel
``(x - mean) / std``. The default mean/std of 0.5/0.5 maps [0, 1] to [-1, 1]; pass the
statistics the encoder was trained with (e.g. ImageNet's) when they differ.

The preprocessing is a small local function on purpose: evaluation must not depend on
the training-time augmentation code, so a change there cannot silently move eval numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ImageSize = int | tuple[int, int]

# Default normalization: maps [0, 1] to [-1, 1]; used when the caller has no dataset statistics.
DEFAULT_MEAN = 0.5
DEFAULT_STD = 0.5


def _check_images(images: Tensor, name: str = "images_uint8") -> None:
    if not isinstance(images, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor [N, C, H, W] of dtype uint8, got {type(images).__name__}"
        )
    if images.dtype != torch.uint8:
        raise ValueError(
            f"{name} must have dtype torch.uint8 (raw images in [0, 255]), got {images.dtype}; "
            "convert with (x * 255).round().to(torch.uint8) if you hold floats in [0, 1]"
        )
    if images.ndim != 4:
        hint = " (grayscale? add the channel axis with images.unsqueeze(1))" if images.ndim == 3 else ""
        raise ValueError(f"{name} must be 4-D [N, C, H, W], got shape {tuple(images.shape)}{hint}")


def _size_pair(image_size: ImageSize | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, int):
        size = (image_size, image_size)
    else:
        size = tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"image_size must be a positive int or an (H, W) pair, got {image_size!r}")
    return size  # type: ignore[return-value]


def _channel_stats(
    values: float | Sequence[float] | None, default: float, channels: int, name: str
) -> Tensor:
    if values is None:
        values = default
    stats = torch.as_tensor(values, dtype=torch.float32).flatten()
    if stats.numel() == 1:
        stats = stats.expand(channels)
    if stats.numel() != channels:
        raise ValueError(
            f"{name} must have 1 or {channels} values (one per image channel), got {stats.numel()}"
        )
    if name == "std" and bool((stats <= 0).any()):
        raise ValueError(f"std values must be > 0, got {stats.tolist()}")
    return stats.view(1, channels, 1, 1)


def preprocess_for_eval(
    images_uint8: Tensor,
    image_size: ImageSize | None = None,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
) -> Tensor:
    """uint8 ``[B, C, H, W]`` -> normalized float32 ``[B, C, h, w]`` (same device as the input).

    ``image_size`` (int or (h, w)): resize with bilinear + antialias when it differs from (H, W);
    ``None`` keeps the size. ``mean``/``std``: one value or one per channel (default 0.5/0.5).
    """
    _check_images(images_uint8)
    channels = images_uint8.shape[1]
    x = images_uint8.float().div_(255.0)
    size = _size_pair(image_size)
    if size is not None and tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    mean_t = _channel_stats(mean, DEFAULT_MEAN, channels, "mean").to(x.device)
    std_t = _channel_stats(std, DEFAULT_STD, channels, "std").to(x.device)
    return (x - mean_t) / std_t


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    # Restore each submodule's own flag, not just the root's: a caller may keep e.g. frozen
    # BatchNorm layers in eval mode inside a training model, and module.train(True) would undo that.
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, was_training in modes:
            m.training = was_training


def _default_device(encoder: nn.Module) -> torch.device:
    for tensor in [*encoder.parameters(), *encoder.buffers()]:
        return tensor.device
    return torch.device("cpu")


def extract_features(
    encoder: nn.Module,
    images_uint8: Tensor,
    image_size: ImageSize | None = None,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
    batch_size: int = 512,
    device: str | torch.device | None = None,
    autocast: bool = False,
) -> Tensor:
    """Pooled features of a frozen encoder: uint8 ``[N, C, H, W]`` -> float32 ``[N, D]`` on the CPU.

    The encoder runs in eval mode (BatchNorm running stats, no dropout) under
    ``torch.inference_mode``; every submodule's train/eval flag is restored afterwards.
    Images are preprocessed per batch (see ``preprocess_for_eval``) on ``device`` (default: the
    encoder's device), so only one batch of float images is ever held. ``autocast=True`` runs the
    forward in bfloat16 autocast (a ~2x speed-up on CPUs with bf16 matmul; features are returned
    in float32). The encoder must return a ``[B, D]`` tensor.
    """
    if not isinstance(encoder, nn.Module):
        raise TypeError(
            f"encoder must be an nn.Module mapping [B, C, H, W] -> [B, D], got {type(encoder).__name__}"
        )
    _check_images(images_uint8)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    target = torch.device(device) if device is not None else _default_device(encoder)
    n = images_uint8.shape[0]
    chunks: list[Tensor] = []
    amp = (
        torch.autocast(device_type=target.type, dtype=torch.bfloat16)
        if autocast
        else contextlib.nullcontext()
    )
    with _eval_mode(encoder), torch.inference_mode():
        for start in range(0, n, batch_size):
            batch = images_uint8[start : start + batch_size].to(target, non_blocking=True)
            x = preprocess_for_eval(batch, image_size, mean, std)
            with amp:
                out = encoder(x)
            if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != x.shape[0]:
                shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(
                    f"encoder must return pooled features [B, D] = [{x.shape[0]}, D], got {shape}; "
                    "wrap it so that forward(x) returns the pooled [B, D] features"
                )
            chunks.append(out.float().cpu())
    if not chunks:
        raise ValueError("images_uint8 is empty (N = 0); nothing to extract")
    return torch.cat(chunks)


def raw_pixel_features(images_uint8: Tensor, image_size: ImageSize | None = None) -> Tensor:
    """Raw-pixel baseline features: uint8 ``[N, C, H, W]`` -> float32 ``[N, C*h*w]`` in [0, 1].

    Optionally resized (bilinear + antialias) to ``image_size`` first. No normalization: the
    kNN baseline L2-normalizes anyway and the linear probe standardizes per feature.
    """
    _check_images(images_uint8)
    x = images_uint8.float().div_(255.0)
    size = _size_pair(image_size)
    if size is not None and tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False).clamp_(0.0, 1.0)
    return x.flatten(1)
