"""Run a plain timm ``VisionTransformer`` on the visible patches only (MAE's asymmetric encoder).

MAE (He et al. 2021, §3) applies the encoder "only on visible, unmasked patches": patch embedding
and position embedding for all ``L`` patches, then random masking keeps ``K = round(L (1 - r))``
tokens, the class token is prepended and only ``1 + K`` tokens go through the blocks. With r = 0.75
the blocks see about a quarter of the tokens, which is where the ~3x saving comes from.

We drive timm's own modules (``patch_embed``, ``cls_token``/``reg_token``, ``pos_embed``,
``norm_pre``, ``blocks``, ``norm``) rather than a copy of them, so the trained encoder *is* a timm
ViT: its weights keep timm's names and load into ``timm.create_model`` unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.nn.patches import MaskingResult, random_masking
from selfsup.nn.pos_embed import sincos_2d

__all__ = ["check_plain_vit", "init_mae_vit", "vit_encode_visible", "vit_grid", "vit_patch_tokens"]

_REQUIRED = ("patch_embed", "blocks", "norm", "pos_embed", "cls_token")


def check_plain_vit(model: nn.Module) -> None:
    """Raise a clear error unless ``model`` is a timm ViT with absolute position embeddings."""
    missing = [a for a in _REQUIRED if getattr(model, a, None) is None]
    if missing:
        raise ValueError(
            f"MAE needs a plain timm ViT with a class token and absolute position embeddings "
            f"(e.g. backbone 'timm:vit_tiny_patch16_224'); {type(model).__name__} lacks {missing}"
        )


def vit_grid(model: nn.Module) -> tuple[int, int]:
    """The ``(rows, cols)`` patch grid the ViT's position embeddings were built for."""
    gh, gw = model.patch_embed.grid_size
    return int(gh), int(gw)


def vit_patch_tokens(model: nn.Module, images: Tensor) -> Tensor:
    """Patch embeddings plus their position embeddings: ``[B, C, H, W] -> [B, L, D]`` (raster order)."""
    x = model.patch_embed(images)
    b, d = x.shape[0], x.shape[-1]
    x = x.reshape(b, -1, d)  # dynamic_img_size models return [B, h, w, D]
    grid = vit_grid(model)
    if x.shape[1] != grid[0] * grid[1]:
        raise ValueError(
            f"images {tuple(images.shape[-2:])} give {x.shape[1]} patches but the ViT's position "
            f"embeddings cover a {grid[0]}x{grid[1]} grid; build the backbone with this image_size"
        )
    offset = 0 if getattr(model, "no_embed_class", False) else int(model.num_prefix_tokens)
    return x + model.pos_embed[:, offset:]


def _prefix_tokens(model: nn.Module, batch: int) -> Tensor:
    """Class (and register) tokens with their position embeddings: ``[B, num_prefix, D]``."""
    tokens = [model.cls_token.expand(batch, -1, -1)]
    if getattr(model, "reg_token", None) is not None:
        tokens.append(model.reg_token.expand(batch, -1, -1))
    prefix = torch.cat(tokens, dim=1)
    if not getattr(model, "no_embed_class", False):
        prefix = prefix + model.pos_embed[:, : prefix.shape[1]]
    return prefix


def vit_encode_visible(
    model: nn.Module,
    images: Tensor,
    mask_ratio: float,
    *,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, MaskingResult]:
    """Encode only the visible patches.

    Returns ``latent [B, P + K, D]`` (``P = model.num_prefix_tokens`` class/register tokens first,
    after the final norm) and the ``MaskingResult`` (mask ``[B, L]``, ``ids_restore [B, L]``).
    ``mask_ratio=0`` runs every patch (in a random order; attention is permutation-equivariant).
    """
    tokens = vit_patch_tokens(model, images)
    masking = random_masking(tokens, mask_ratio, noise=noise, generator=generator)
    x = torch.cat([_prefix_tokens(model, tokens.shape[0]), masking.kept], dim=1)
    x = model.norm_pre(x)
    for block in model.blocks:
        x = block(x)
    return model.norm(x), masking


@torch.no_grad()
def init_mae_vit(model: nn.Module, freeze_pos_embed: bool = True) -> None:
    """MAE's initialization (reference ``initialize_weights``; §A.1) of a timm ViT, in place.

    Fixed 2-D sin-cos position embeddings (zero for the class token), frozen when
    ``freeze_pos_embed``; patch-embedding weights xavier-uniform as if a Linear layer; class and
    register tokens normal(std 0.02); every Linear xavier-uniform with zero bias; LayerNorm 1 / 0.
    """
    check_plain_vit(model)
    dim = model.pos_embed.shape[-1]
    with_prefix = model.pos_embed.shape[1] != vit_grid(model)[0] * vit_grid(model)[1]
    emb = sincos_2d(dim, vit_grid(model), cls_token=False)
    if with_prefix:
        prefix = model.pos_embed.shape[1] - emb.shape[0]
        emb = torch.cat([torch.zeros(prefix, dim), emb], dim=0)
    model.pos_embed.copy_(emb.unsqueeze(0))
    model.pos_embed.requires_grad_(not freeze_pos_embed)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            if module.weight is not None:
                nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    proj = model.patch_embed.proj.weight
    nn.init.xavier_uniform_(proj.view(proj.shape[0], -1))
    nn.init.normal_(model.cls_token, std=0.02)
    if getattr(model, "reg_token", None) is not None:
        nn.init.normal_(model.reg_token, std=0.02)
