"""CLIP's text encoder (Radford et al. 2021, §2.4): a causal pre-LN transformer read at the EOT token.

``tokens`` int64 ``[B, L]`` -> token embedding + learned position embedding ``[B, L, W]`` ->
``layers`` pre-LN blocks (``x + attn(LN(x))``, ``x + MLP(LN(x))``) with a causal mask -> final
LN -> the feature at each row's end-of-text token ``[B, W]`` -> linear projection ``[B, out_dim]``.

Pooling: ``pool="argmax"`` takes the position of the largest token id, as CLIP does; it is the EOT
because EOT (49407) is the largest id of CLIP's vocabulary. ``pool="first_eot"`` takes the first
position whose id equals ``eot_id`` (for vocabularies where EOT is not the largest id). Because
attention is causal, tokens after the EOT (padding) never reach its feature.

Defaults are CLIP's base text model: width 512, 12 layers, 8 heads, context 77, vocabulary 49,408;
initialisation as in CLIP's released code description: token embeddings N(0, 0.02), positions
N(0, 0.01), attention in-projections N(0, W^-0.5), output projections N(0, (2·layers)^-0.5 · W^-0.5),
MLP in N(0, (2W)^-0.5), text projection N(0, W^-0.5).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class _Block(nn.Module):
    """Pre-LN transformer block: ``x + attn(LN(x))``, then ``x + MLP(LN(x))`` (MLP ratio 4, GELU)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class TextTransformer(nn.Module):
    """Causal text transformer with EOT pooling and a projection to the shared embedding size.

    vocab_size:     49,408 (CLIP's BPE vocabulary with SOT/EOT).
    context_length: 77 (CLIP).
    width/layers/heads: 512 / 12 / 8 (CLIP's base text model).
    out_dim:        shared image-text embedding size, 512 (CLIP ViT-B).
    pool:           "argmax" (CLIP: EOT has the largest id) or "first_eot" (needs ``eot_id``).
    """

    def __init__(
        self,
        vocab_size: int = 49408,
        context_length: int = 77,
        width: int = 512,
        layers: int = 12,
        heads: int = 8,
        out_dim: int = 512,
        pool: str = "argmax",
        eot_id: int | None = None,
    ) -> None:
        super().__init__()
        if pool not in ("argmax", "first_eot"):
            raise ValueError(f"pool must be 'argmax' or 'first_eot', got {pool!r}")
        if pool == "first_eot" and eot_id is None:
            raise ValueError("pool='first_eot' needs eot_id (the end-of-text token id)")
        if width % heads != 0:
            raise ValueError(f"width ({width}) must be divisible by heads ({heads})")
        for name, value in (
            ("vocab_size", vocab_size),
            ("context_length", context_length),
            ("layers", layers),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.context_length = context_length
        self.vocab_size = vocab_size
        self.pool = pool
        self.eot_id = eot_id
        self.width = width
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.blocks = nn.ModuleList(_Block(width, heads) for _ in range(layers))
        self.ln_final = nn.LayerNorm(width)
        self.projection = nn.Linear(width, out_dim, bias=False)
        # Additive causal mask: -inf above the diagonal, so position i attends to positions <= i.
        mask = torch.full((context_length, context_length), float("-inf")).triu_(1)
        self.register_buffer("causal_mask", mask, persistent=False)
        self._init_weights(layers)

    def _init_weights(self, layers: int) -> None:
        w = self.width
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        proj_std = (2 * layers) ** -0.5 * w**-0.5
        for block in self.blocks:
            nn.init.normal_(block.attn.in_proj_weight, std=w**-0.5)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp[0].weight, std=(2 * w) ** -0.5)
            nn.init.normal_(block.mlp[2].weight, std=proj_std)
        nn.init.normal_(self.projection.weight, std=w**-0.5)

    def eot_positions(self, tokens: Tensor) -> Tensor:
        """Index ``[B]`` of the token each row is read at (see the module docstring)."""
        if self.pool == "argmax":
            return tokens.argmax(dim=-1)
        is_eot = tokens == self.eot_id
        if not bool(is_eot.any(dim=-1).all()):
            raise ValueError(
                "every token row needs an EOT token for pool='first_eot'; tokenize with ClipTokenizer"
            )
        return is_eot.int().argmax(dim=-1)  # argmax returns the first maximal position

    def forward_features(self, tokens: Tensor) -> Tensor:
        """Final-LN features at the EOT ``[B, width]`` (before the projection)."""
        if tokens.dim() != 2 or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"tokens must be integer ids [B, L], got {tokens.dtype} {tuple(tokens.shape)}")
        length = tokens.shape[1]
        if length > self.context_length:
            raise ValueError(
                f"tokens have length {length} > context_length {self.context_length}; "
                "tokenize with ClipTokenizer(context_length) or fit_context(tokens, context_length, eot_id)"
            )
        x = self.token_embedding(tokens) + self.positional_embedding[:length]
        mask = self.causal_mask[:length, :length].to(x.dtype)
        for block in self.blocks:
            x = block(x, mask)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0], device=x.device), self.eot_positions(tokens)]

    def forward(self, tokens: Tensor) -> Tensor:
        """int ``[B, L]`` (L <= context_length) -> projected text features ``[B, out_dim]``."""
        return self.projection(self.forward_features(tokens))
