"""CPC for 1-D sequences (time series, audio features): per-step encoder, GRU context, k-step InfoNCE.

van den Oord, Li, Vinyals 2018 (§2, Fig. 1): an encoder maps each step ``x_t`` to ``z_t``, an
autoregressive GRU summarises ``z_{≤t}`` into ``c_t``, and a linear ``W_k`` per horizon predicts
``z_{t+k}`` from ``c_t`` (``k = 1..K``; 12 steps for audio in the paper). The InfoNCE candidates of each
prediction are all latents of the batch: the true ``z_{t+k}``, other steps of the same sequence and
steps of other sequences (:func:`selfsup.losses.cpc.cpc_info_nce`). No method trains on sequences: the
model lives beside its tests, which show that the loss learns a predictable future and not noise.
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


def _sequences(kind: str, n: int, t: int, gen: torch.Generator) -> torch.Tensor:
    """``[n, t, 4]`` sequences: two oscillators per sequence (predictable) or i.i.d. noise."""
    if kind == "predictable":  # angles θ_t = ω t + φ with per-sequence ω, φ: the past fixes the future
        omega = 0.3 + 0.7 * torch.rand(n, 1, 2, generator=gen)
        phase = 6.2832 * torch.rand(n, 1, 2, generator=gen)
        theta = omega * torch.arange(t, dtype=torch.float32)[None, :, None] + phase  # [n, t, 2]
        return torch.cat([theta.cos(), theta.sin()], dim=2)
    return torch.randn(n, t, 4, generator=gen)


def _train_sequence_cpc(kind: str) -> float:
    # Tiny GRU ops: one thread is ~10x faster than two threads contending on a busy 2-core machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_loop(kind)
    finally:
        torch.set_num_threads(threads)


def _train_loop(kind: str) -> float:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = SequenceCPC(4, latent_dim=32, context_dim=32, pred_steps=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        loss, _ = model(_sequences(kind, 16, 12, gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return model(_sequences(kind, 16, 12, gen))[1].item()


def test_sequence_cpc_learns_a_predictable_future_and_not_noise():
    # Each prediction has 16 x 12 = 192 candidates: chance is ~0.005.
    acc_pred = _train_sequence_cpc("predictable")
    acc_noise = _train_sequence_cpc("noise")
    assert acc_pred > 0.5
    assert acc_noise < 0.05


def test_sequence_context_is_causal():
    model = SequenceCPC(3, latent_dim=4, context_dim=5, pred_steps=1)
    x = torch.randn(2, 10, 3)
    x2 = x.clone()
    x2[:, 6:] = torch.randn(2, 4, 3)
    c, c2 = model.context(model.encode(x)), model.context(model.encode(x2))
    torch.testing.assert_close(c2[:, :6], c[:, :6], rtol=0, atol=0)
