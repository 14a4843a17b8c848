"""MAE's light decoder (He et al. 2021, §3 "MAE decoder").

The decoder receives the encoded visible tokens (projected to its own width) plus a shared,
learned mask token at every masked position, unshuffled back to raster order, adds fixed 2-D
sin-cos position embeddings, runs its own Transformer blocks (timm ``Block``) and predicts the
``p * p * C`` pixel values of every patch with a final linear layer. Defaults are the paper's
ImageNet decoder: 8 blocks of width 512 (Table 1a/1b: depth 8, width 512; 16 heads); small images
use far lighter presets (e.g. 2 x 128).
"""

from __future__ import annotations

import torch
from timm.models.vision_transformer import Block
from torch import Tensor, nn

from selfsup.nn.pos_embed import sincos_2d

__all__ = ["MAEDecoder"]


class MAEDecoder(nn.Module):
    """``latent [B, P + K, D_enc], ids_restore [B, L] -> predicted patches [B, L, p*p*C]``.

    Args:
        grid: ``(rows, cols)`` of the patch grid, ``L = rows * cols``.
        encoder_dim: encoder width ``D_enc``.
        patch_dim: pixels per patch, ``p * p * C``.
        dim, depth, num_heads, mlp_ratio: decoder Transformer (MAE: 512, 8, 16, 4).
        num_prefix_tokens: class/register tokens leading the latent (1 for a plain ViT); they pass
            through the decoder and are dropped from the prediction.
    """

    def __init__(
        self,
        grid: tuple[int, int],
        encoder_dim: int,
        patch_dim: int,
        dim: int = 512,
        depth: int = 8,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        num_prefix_tokens: int = 1,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"decoder dim {dim} must be divisible by decoder num_heads {num_heads}")
        if dim % 4:
            raise ValueError(f"decoder dim must be a multiple of 4 (2-D sin-cos embedding), got {dim}")
        self.grid = (int(grid[0]), int(grid[1]))
        self.num_patches = self.grid[0] * self.grid[1]
        self.num_prefix_tokens = num_prefix_tokens
        self.embed = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        pos = sincos_2d(dim, self.grid, cls_token=False)
        pos = torch.cat([torch.zeros(num_prefix_tokens, dim), pos], dim=0)
        self.register_buffer("pos_embed", pos.unsqueeze(0), persistent=False)  # fixed, never trained
        self.blocks = nn.ModuleList(
            [Block(dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=True) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(dim)
        self.pred = nn.Linear(dim, patch_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        # MAE reference: mask token normal(0.02), Linear xavier-uniform / zero bias, LayerNorm 1 / 0.
        nn.init.normal_(self.mask_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, latent: Tensor, ids_restore: Tensor) -> Tensor:
        p = self.num_prefix_tokens
        x = self.embed(latent)  # [B, P + K, dim]
        b, n, d = x.shape
        length = ids_restore.shape[1]
        if length != self.num_patches:
            raise ValueError(f"ids_restore covers {length} patches, the decoder grid {self.num_patches}")
        masks = self.mask_token.expand(b, length - (n - p), d)
        shuffled = torch.cat([x[:, p:], masks], dim=1)  # [B, L, dim] in shuffled order
        restored = shuffled.gather(1, ids_restore.unsqueeze(-1).expand(-1, -1, d))
        x = torch.cat([x[:, :p], restored], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.pred(self.norm(x))[:, p:]
