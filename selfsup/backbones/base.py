"""The one backbone interface every method, evaluation and export step uses.

A ``Backbone`` is an ``nn.Module`` mapping images ``[B, in_chans, H, W]`` to

- ``forward(x) -> [B, num_features]``: pooled features (what kNN / linear probes and projection
  heads consume);
- ``forward_tokens(x) -> [B, N, token_dim]``: patch tokens (what MAE, DINO attention maps and video
  segmentation consume). For a ViT these are the patch tokens without class / register tokens; for a
  CNN the last feature map flattened row-major, ``N = h * w`` and ``token_dim = channels``.

It also records ``in_chans``, ``patch_size`` (the ViT patch size, or a CNN's total stride, so that
``N = ceil(H / patch_size) * ceil(W / patch_size)``; for ViTs H must be a multiple) and
``spec = {"name": ..., "kwargs": {...}}`` such that ``create_backbone(spec["name"], **spec["kwargs"])``
rebuilds the same architecture (same state_dict keys and shapes); an exported encoder's JSON
stores it.

This file also holds the safe loader for local weight files (``pretrained_path``): safetensors, or
``torch.load(weights_only=True)``, which refuses to execute pickled code.
"""

from __future__ import annotations

import copy
import pickle
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn


class Backbone(nn.Module, ABC):
    """Adapter interface; subclasses implement ``_forward_pooled`` and ``_forward_tokens``.

    Subclasses set ``num_features`` (pooled width), ``token_dim`` (token width; equal to
    ``num_features`` except for CNNs whose pooled head widens the features, e.g. timm MobileNetV3)
    and ``patch_size``, and call ``_set_spec``.
    """

    num_features: int
    token_dim: int
    patch_size: int | None

    def __init__(self, in_chans: int) -> None:
        super().__init__()
        if not isinstance(in_chans, int) or isinstance(in_chans, bool) or in_chans < 1:
            raise ValueError(
                f"in_chans must be a positive int (3 for RGB, 1 for grayscale), got {in_chans!r}"
            )
        self.in_chans = in_chans
        self._spec: dict[str, Any] = {"name": type(self).__name__, "kwargs": {}}

    # ------------------------------------------------------------------ interface
    def forward(self, x: Tensor) -> Tensor:
        """Pooled features: ``[B, in_chans, H, W] -> [B, num_features]``."""
        self._check_input(x)
        return self._forward_pooled(x)

    def forward_tokens(self, x: Tensor) -> Tensor:
        """Patch tokens: ``[B, in_chans, H, W] -> [B, N, token_dim]`` (no class / register tokens)."""
        self._check_input(x)
        return self._forward_tokens(x)

    @abstractmethod
    def _forward_pooled(self, x: Tensor) -> Tensor: ...

    @abstractmethod
    def _forward_tokens(self, x: Tensor) -> Tensor: ...

    @property
    def spec(self) -> dict[str, Any]:
        """``{"name": str, "kwargs": dict}`` rebuilding this architecture via ``create_backbone``.

        A deep copy, so callers may edit it without changing the backbone.
        """
        return copy.deepcopy(self._spec)

    @property
    def image_size(self) -> int | None:
        """The square input side the architecture was built for (``create_backbone(..., image_size=)``);
        None for a backbone built without one (a CNN accepts any size)."""
        size = self._spec["kwargs"].get("image_size")
        return int(size) if size else None

    def _set_spec(self, name: str, kwargs: dict[str, Any]) -> None:
        self._spec = {"name": name, "kwargs": dict(kwargs)}

    def _check_input(self, x: Tensor) -> None:
        # A Python-level shape check is ~1 us; it turns a deep conv error into one naming the fix.
        if x.ndim != 4:
            raise ValueError(
                f"backbone {self._spec['name']!r} expects images of shape [B, C, H, W], got a tensor of "
                f"shape {tuple(x.shape)}; add a batch dimension with x.unsqueeze(0) for a single image"
            )
        if x.shape[1] != self.in_chans:
            raise ValueError(
                f"backbone {self._spec['name']!r} expects in_chans={self.in_chans} input channels, got "
                f"{x.shape[1]} (input shape {tuple(x.shape)}); build it with in_chans={x.shape[1]} or "
                "convert the images (e.g. repeat grayscale to 3 channels)"
            )

    # ------------------------------------------------------------------ weights
    def _weights_target(self) -> tuple[nn.Module, tuple[str, ...]]:
        """The module local weight files load into, and key prefixes to ignore (classifier heads)."""
        return self, ()

    def load_pretrained(self, path: str | Path) -> None:
        """Load weights from a local file (never downloads, never runs pickled code).

        Accepts ``.safetensors`` or a ``torch.save`` file of tensors, optionally wrapped as
        ``{"state_dict": ...}`` or ``{"model": ...}``. For adapters around a timm / torchvision
        model the keys may be the library's own (``blocks.0.attn.qkv.weight``) or this adapter's
        (``model.blocks.0...``); classifier-head weights in the file are ignored, since the head is
        removed. Any other missing or unexpected key raises ``ValueError``.
        """
        self.load_backbone_state_dict(read_state_dict(path), source=str(path))

    def load_backbone_state_dict(self, state_dict: dict[str, Tensor], source: str = "state_dict") -> None:
        """Strictly load ``state_dict`` (see ``load_pretrained`` for the accepted key styles)."""
        target, ignored = self._weights_target()
        sd = dict(state_dict)
        if target is not self and sd and all(k.startswith("model.") for k in sd):
            sd = {k[len("model.") :]: v for k, v in sd.items()}
        sd = {k: v for k, v in sd.items() if not any(k == p or k.startswith(p + ".") for p in ignored)}
        own = target.state_dict()
        mismatched = [
            f"{k}: file {tuple(sd[k].shape)} vs backbone {tuple(v.shape)}"
            for k, v in own.items()  # the backbone's module order, so the first mismatch is listed first
            if k in sd and sd[k].shape != v.shape
        ]
        if mismatched:
            raise ValueError(
                f"weights in {source} do not fit backbone {self._spec['name']!r} "
                f"(kwargs {self._spec['kwargs']}): {len(mismatched)} shape mismatches, "
                f"e.g. {_head(mismatched, 3)}; build the backbone with the kwargs the weights were "
                "trained with"
            )
        missing, unexpected = target.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"weights in {source} do not match backbone {self._spec['name']!r}: "
                f"missing keys {_head(missing)}, unexpected keys {_head(unexpected)}; check the "
                "backbone name and kwargs (in_chans, image_size, patch_size, ...) match those the "
                "weights were trained with"
            )


def _head(keys: list[str], n: int = 8) -> str:
    return str(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a flat ``{name: tensor}`` dict from a local ``.safetensors`` or ``torch.save`` file.

    ``torch.load`` runs with ``weights_only=True`` so a malicious pickle cannot execute code.
    One level of ``{"state_dict": ...}`` / ``{"model": ...}`` wrapping is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"weights file {str(path)!r} does not exist (pretrained_path must be a local file)"
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        obj: Any = load_file(str(path), device="cpu")
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            raise ValueError(
                f"{str(path)!r} holds more than tensors, so the safe loader (weights_only=True) refused it: "
                f"{str(err).splitlines()[0]}; re-save only the state_dict, or convert it to .safetensors"
            ) from None
    if isinstance(obj, dict) and not all(isinstance(v, Tensor) for v in obj.values()):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        found = list(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(
            f"{str(path)!r} is not a state_dict of tensors (found {found}); save model.state_dict(), "
            "optionally under a 'state_dict' or 'model' key"
        )
    return obj
