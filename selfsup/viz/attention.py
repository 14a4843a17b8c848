"""Attention maps: what a ViT's class token looks at, and a class-agnostic stand-in for CNNs.

DINO (Caron et al. 2021, §4.2.1 / Fig. 1 and 3) shows the last layer's self-attention of the
``[CLS]`` query onto the patches, one map per head, and the thresholded map that keeps 60 % of the
attention mass. This module computes both, in batch, from any of our ``timm:vit_*`` backbones:

- ``vit_cls_attention(backbone, x)`` runs the ViT once and reads the input of the last block's
  attention through a forward pre-hook on that one module instance (removed before returning; timm
  itself is never patched, so fused attention stays on for every other call). From that input it
  recomputes ``softmax(q k^T * scale)`` with the block's own ``qkv`` weights, ``q_norm``/``k_norm``
  and ``scale`` (= head_dim ** -0.5), and keeps the row of the class-token query.

  What sums to what: the raw class-token row sums to 1 over all ``P + N`` keys (``P`` prefix
  tokens: the class token itself and any register tokens, ``N = gh * gw`` patches). We drop the
  ``P`` prefix keys (the CLS->CLS entry and CLS->register entries) and **renormalize** by the
  remaining mass, so every returned map sums to exactly 1 over its ``gh * gw`` patches;
  ``prefix_mass`` keeps what was dropped, so ``maps * (1 - prefix_mass)`` is the raw attention.
  DINO's reference visualization thresholds the same renormalized map.

- ``cnn_activation_map(backbone, x)`` for CNNs: the L2 norm over channels of the last feature map
  at each position, divided by its sum over positions (so it, too, sums to 1 over the grid). It is
  class-agnostic (no gradients, no classifier) and has the same ``[B, heads=1, gh, gw]`` layout.

- ``mass_mask(maps, 0.6)``: per map, the smallest set of patches whose attention mass is
  ``>= 0.6``: sort the values in decreasing order and keep the shortest prefix whose cumulative sum
  reaches the threshold (DINO §4.2.1: "we threshold the self-attention maps to keep 60 % of the mass").

``attention_maps(backbone, x)`` picks the right one; ``upsample`` puts a ``[.., gh, gw]`` map onto the
image grid (nearest, as DINO's visualization does, so patch borders stay visible).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "AttentionMaps",
    "attention_maps",
    "cnn_activation_map",
    "is_vit",
    "mass_mask",
    "upsample",
    "vit_cls_attention",
]

DINO_MASS = 0.6  # DINO §4.2.1 / Fig. 3: keep 60 % of the attention mass


@dataclass
class AttentionMaps:
    """Per-image, per-head spatial maps.

    maps:         float ``[B, heads, gh, gw]``, non-negative, each map sums to 1 over its patches.
    prefix_mass:  float ``[B, heads]``: ViT attention mass the class token put on prefix tokens
                  (itself and registers) before renormalization; zeros for CNN maps.
    kind:         ``"cls_attention"`` (ViT) or ``"activation"`` (CNN).
    """

    maps: Tensor
    prefix_mass: Tensor
    kind: str

    @property
    def num_heads(self) -> int:
        return int(self.maps.shape[1])

    @property
    def grid(self) -> tuple[int, int]:
        return int(self.maps.shape[2]), int(self.maps.shape[3])


def _vit_model(backbone: nn.Module) -> nn.Module | None:
    model = getattr(backbone, "model", None)
    blocks = getattr(model, "blocks", None)
    if model is None or blocks is None or len(blocks) == 0:
        return None
    attn = getattr(blocks[-1], "attn", None)
    return model if attn is not None and getattr(model, "cls_token", None) is not None else None


def is_vit(backbone: nn.Module) -> bool:
    """True for a ``timm:vit_*``-style backbone (blocks with ``attn`` and a class token)."""
    return _vit_model(backbone) is not None


def _patch_grid(model: nn.Module, x: Tensor, n_patches: int) -> tuple[int, int]:
    pe = model.patch_embed
    if hasattr(pe, "dynamic_feat_size"):
        gh, gw = pe.dynamic_feat_size(x.shape[-2:])
    else:
        gh, gw = pe.grid_size
    gh, gw = int(gh), int(gw)
    if gh * gw != n_patches:
        raise ValueError(f"the ViT produced {n_patches} patch tokens but its patch grid is {gh}x{gw}")
    return gh, gw


@torch.no_grad()
def vit_cls_attention(backbone: nn.Module, x: Tensor) -> AttentionMaps:
    """Last-layer class-token attention of every head: ``x [B, C, H, W]`` (normalized) -> maps.

    Returns ``AttentionMaps`` with ``maps [B, heads, gh, gw]`` renormalized over the patches (see the
    module docstring). The model runs in its current mode; call ``backbone.eval()`` first for
    dropout-free maps.
    """
    model = _vit_model(backbone)
    if model is None:
        raise ValueError(
            f"{type(backbone).__name__} is not a timm ViT with a class token (e.g. 'timm:vit_tiny_patch16_224'); "
            "use cnn_activation_map for CNN backbones"
        )
    attn = model.blocks[-1].attn
    if not isinstance(getattr(attn, "qkv", None), nn.Linear) or not hasattr(attn, "num_heads"):
        raise ValueError(
            f"the last block's attention ({type(attn).__name__}) has no fused qkv projection; class-token "
            "attention maps support timm's standard Attention module (vit_*, deit_*)"
        )
    captured: list[Tensor] = []

    def grab(_module: nn.Module, args: tuple) -> None:
        captured.append(args[0])

    handle = attn.register_forward_pre_hook(grab)
    try:
        if hasattr(backbone, "_check_input"):
            backbone._check_input(x)  # our adapter's clear shape / channel errors
        model.forward_features(x)
    finally:
        handle.remove()
    tokens = captured[-1]  # [B, T, D]: the normed input of the last attention
    b, t, _ = tokens.shape
    heads = int(attn.num_heads)
    head_dim = int(getattr(attn, "head_dim", attn.qkv.out_features // (3 * heads)))
    qkv = attn.qkv(tokens).reshape(b, t, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    q, k = attn.q_norm(qkv[0]), attn.k_norm(qkv[1])  # [B, heads, T, head_dim]
    scale = float(getattr(attn, "scale", head_dim**-0.5))
    # Only the class-token query row is needed: [B, heads, 1, T].
    logits = (q[:, :, :1].float() * scale) @ k.float().transpose(-2, -1)
    row = logits.softmax(dim=-1)[:, :, 0]  # [B, heads, T], sums to 1 over all tokens
    prefix = int(getattr(model, "num_prefix_tokens", 1))
    patches = row[:, :, prefix:]
    mass = patches.sum(-1, keepdim=True)
    gh, gw = _patch_grid(model, x, patches.shape[-1])
    maps = (patches / mass).reshape(b, heads, gh, gw)
    return AttentionMaps(maps=maps, prefix_mass=1.0 - mass.squeeze(-1), kind="cls_attention")


@torch.no_grad()
def cnn_activation_map(backbone: nn.Module, x: Tensor) -> AttentionMaps:
    """Class-agnostic spatial activation of the last feature map: ``[B, 1, gh, gw]`` summing to 1.

    ``a(i, j) = || F[:, i, j] ||_2`` over the channels of the final map ``F`` (Zagoruyko & Komodakis
    2017, "Paying More Attention to Attention", use sums of powers of ``|F|`` as spatial attention),
    divided by ``sum_ij a(i, j)``. The grid comes from the backbone's total stride (``patch_size``).
    """
    tokens = backbone.forward_tokens(x)  # [B, h*w, C], row-major
    b, n, _ = tokens.shape
    stride = getattr(backbone, "patch_size", None)
    h, w = x.shape[-2:]
    gh, gw = (-(-h // stride), -(-w // stride)) if stride else (0, 0)
    if gh * gw != n:  # a stride that does not describe the map (padding choices): assume square-ish
        gh = int(round((n * h / w) ** 0.5))
        gw = n // max(gh, 1)
        if gh * gw != n:
            raise ValueError(f"cannot lay {n} feature positions of a {h}x{w} input onto a grid")
    act = tokens.float().norm(dim=-1)  # [B, N]
    total = act.sum(-1, keepdim=True).clamp_min(torch.finfo(act.dtype).tiny)
    maps = (act / total).reshape(b, 1, gh, gw)
    return AttentionMaps(maps=maps, prefix_mass=torch.zeros(b, 1, device=x.device), kind="activation")


def attention_maps(backbone: nn.Module, x: Tensor) -> AttentionMaps:
    """ViT class-token attention per head, or a CNN's activation map; see the module docstring."""
    was_training = backbone.training
    backbone.eval()
    try:
        return vit_cls_attention(backbone, x) if is_vit(backbone) else cnn_activation_map(backbone, x)
    finally:
        backbone.train(was_training)


def mass_mask(maps: Tensor, mass: float = DINO_MASS) -> Tensor:
    """Boolean ``[..., gh, gw]``: per map, the fewest patches holding ``>= mass`` of its total.

    Values are sorted in decreasing order and the shortest prefix whose cumulative sum reaches
    ``mass * total`` is kept (``total`` is 1 for our renormalized maps). Ties at the boundary are
    broken by the sort order, so the mask always has exactly the minimal number of patches.
    """
    if not 0.0 < mass <= 1.0:
        raise ValueError(f"mass must be in (0, 1] (DINO keeps 0.6), got {mass}")
    if maps.ndim < 2:
        raise ValueError(f"maps must be [..., gh, gw], got shape {tuple(maps.shape)}")
    flat = maps.flatten(-2).double()
    if bool((flat < 0).any()):
        raise ValueError("maps must be non-negative (attention weights or activation magnitudes)")
    values, order = flat.sort(dim=-1, descending=True)
    cum = values.cumsum(-1)
    target = mass * cum[..., -1:]
    # Keep sorted position i while the mass strictly before it is still short of the target.
    before = torch.cat([torch.zeros_like(cum[..., :1]), cum[..., :-1]], dim=-1)
    keep_sorted = before < target
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return keep.reshape(maps.shape)


def upsample(maps: Tensor, size: tuple[int, int], mode: str = "nearest") -> Tensor:
    """``[B, K, gh, gw] -> [B, K, H, W]`` (nearest by default: one block per patch, as DINO shows)."""
    if mode == "nearest":
        return F.interpolate(maps.float(), size=size, mode="nearest")
    return F.interpolate(maps.float(), size=size, mode=mode, align_corners=False)
