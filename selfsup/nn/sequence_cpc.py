"""CPC for 1-D sequences (time series, audio features): per-step encoder, GRU context, k-step InfoNCE.

van den Oord, Li, Vinyals 2018 (§2, Fig. 1): an encoder maps each step ``x_t`` to ``z_t``, an
autoregressive GRU summarises ``z_{≤t}`` into ``c_t``, and a linear ``W_k`` per horizon predicts
``z_{t+k}`` from ``c_t`` (``k = 1..K``; 12 steps for audio in the paper). The InfoNCE candidates of each
prediction are all latents of the batch: the true ``z_{t+k}``, other steps of the same sequence and
steps of other sequences (:func:`selfsup.losses.cpc.cpc_info_nce`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.losses.cpc import cpc_info_nce


class SequenceCPC(nn.Module):
    """``x [B, T, F] → (loss, accuracy)``; ``encode`` / ``context`` expose ``z [B, T, D]``, ``c [B, T, C]``.

    Args:
        in_dim: features per step ``F``.
        latent_dim: ``D`` (paper, audio: 512).
        context_dim: GRU width ``C`` (paper, audio: 256).
        pred_steps: horizons ``K`` (paper, audio: 12).
        encoder: a module ``[B, T, F] → [B, T, D]``; default a per-step 2-layer MLP (the paper's strided
            convolutions suit raw audio; pass one for that).
        temperature: ``None`` for the paper's bilinear score, or cosine / τ.
    """

    def __init__(
        self,
        in_dim: int,
        latent_dim: int = 512,
        context_dim: int = 256,
        pred_steps: int = 12,
        encoder: nn.Module | None = None,
        temperature: float | None = None,
    ) -> None:
        super().__init__()
        if pred_steps < 1:
            raise ValueError(f"pred_steps must be >= 1, got {pred_steps}")
        self.encoder = encoder or nn.Sequential(
            nn.Linear(in_dim, latent_dim), nn.ReLU(inplace=True), nn.Linear(latent_dim, latent_dim)
        )
        self.gru = nn.GRU(latent_dim, context_dim, batch_first=True)
        self.predictors = nn.ModuleList(
            nn.Linear(context_dim, latent_dim, bias=False) for _ in range(pred_steps)
        )
        self.temperature = temperature

    def encode(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"x must be [B, T, F], got {tuple(x.shape)}")
        return self.encoder(x)

    def context(self, z: Tensor) -> Tensor:
        """Causal summaries ``c_t`` of ``z_{≤t}``: ``[B, T, D] → [B, T, C]``."""
        return self.gru(z)[0]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = self.encode(x)
        c = self.context(z)
        b, t, d = z.shape
        candidates = z.reshape(b * t, d)
        index = torch.arange(b * t, device=z.device).reshape(b, t)
        preds, targets = [], []
        for k, predictor in enumerate(self.predictors, start=1):
            if k >= t:
                break
            preds.append(predictor(c[:, : t - k]).reshape(-1, d))
            targets.append(index[:, k:].reshape(-1))
        if not preds:
            raise ValueError(f"sequences of length {t} are too short to predict 1 step ahead")
        return cpc_info_nce(torch.cat(preds), candidates, torch.cat(targets), self.temperature)
