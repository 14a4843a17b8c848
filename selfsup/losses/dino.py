"""DINO's self-distillation loss with teacher centering and sharpening (Caron et al. 2021, §3.1, Alg. 1).

For teacher outputs ``t`` (global crops only) and student outputs ``s`` (every crop), both ``[N, K]``
logits, the teacher distribution is centered and sharpened and the student's is a softmax at a
higher temperature:

    P_t = softmax((t - c) / τ_t),     log P_s = log_softmax(s / τ_s),     τ_s = 0.1,

and the loss is the cross-entropy ``H(P_t, P_s) = -Σ_k P_t,k log P_s,k`` averaged over the batch and
over every (teacher crop i, student crop v) pair with ``v != i`` (a crop is never its own target):
``(1 / #pairs) Σ_i Σ_{v≠i} mean_b H(P_t^{i,b}, P_s^{v,b})``.

Centering and sharpening have opposite effects and together avoid collapse (§5.3, Fig. 7):
centering ``c`` alone pushes the teacher to the uniform distribution, a low ``τ_t`` alone to a one-hot
one. The center is an EMA of the teacher's batch mean (eq. 4), over every rank's batch:

    c ← m c + (1 - m) · (1 / (W·N)) Σ_ranks Σ_n t_n,     m = 0.9.

``τ_t`` is warmed up linearly from 0.04 to 0.07 over the first 30 epochs (§3.1); the schedule lives
in the method (a pure function of progress), the loss receives the current value.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.nn.distributed import all_reduce_sum

__all__ = ["DINOLoss", "dino_cross_entropy"]


def dino_cross_entropy(student_log_probs: list[Tensor], teacher_probs: list[Tensor]) -> Tensor:
    """Mean over pairs ``(i, v)``, ``v != i``, of ``mean_b -Σ_k P_t[i][b,k] log P_s[v][b,k]``.

    ``teacher_probs``: one ``[B, K]`` per teacher crop (the globals, which are student crops 0..G-1);
    ``student_log_probs``: one ``[B, K]`` per student crop. Teacher crop ``i`` and student crop ``i``
    are the same view and are skipped.
    """
    if len(teacher_probs) > len(student_log_probs):
        raise ValueError(
            f"got {len(teacher_probs)} teacher crops but only {len(student_log_probs)} student crops; the "
            "teacher sees the global crops, which the student sees too"
        )
    total = student_log_probs[0].new_zeros(())
    pairs = 0
    for i, p_t in enumerate(teacher_probs):
        for v, log_p_s in enumerate(student_log_probs):
            if v == i:
                continue
            total = total + torch.sum(-p_t * log_p_s, dim=-1).mean()
            pairs += 1
    if pairs == 0:
        raise ValueError(
            "the DINO loss needs at least 2 crops (one teacher crop and a different student crop)"
        )
    return total / pairs


class DINOLoss(nn.Module):
    """Cross-entropy between centered, sharpened teacher and student distributions over crop pairs.

    Args:
        out_dim: ``K``, the head's output size (the center's size).
        n_global: crops the teacher sees (the first ``n_global`` student crops), 2.
        student_temp: ``τ_s``, 0.1.
        center_momentum: ``m`` of the center EMA, 0.9.
        center: subtract the center from teacher logits (turn off only to show collapse).

    ``forward(student_out [n_crops·B, K], teacher_out [n_global·B, K], teacher_temp)`` returns the
    loss; rows are crop-major (crop ``v`` is rows ``v·B .. (v+1)·B``). ``update_center(teacher_out)``
    moves the center; the method calls it once per training step, after the loss.
    """

    center: Tensor

    def __init__(
        self,
        out_dim: int,
        n_global: int = 2,
        student_temp: float = 0.1,
        center_momentum: float = 0.9,
        center: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(out_dim, bool) or not isinstance(out_dim, int) or out_dim < 1:
            raise ValueError(f"out_dim must be a positive int (DINO: 65536), got {out_dim!r}")
        if n_global < 1:
            raise ValueError(f"n_global must be >= 1 (DINO: 2), got {n_global}")
        if not student_temp > 0:
            raise ValueError(f"student_temp must be > 0 (DINO: 0.1), got {student_temp}")
        if not 0.0 <= center_momentum <= 1.0:
            raise ValueError(f"center_momentum must be in [0, 1] (DINO: 0.9), got {center_momentum}")
        self.out_dim, self.n_global = out_dim, n_global
        self.student_temp, self.center_momentum, self.use_center = student_temp, center_momentum, center
        self.register_buffer("center", torch.zeros(1, out_dim))

    def _check(self, x: Tensor, n_views: int, name: str) -> int:
        if x.dim() != 2 or x.shape[1] != self.out_dim or x.shape[0] % n_views:
            raise ValueError(
                f"{name} must be [n_crops·B, {self.out_dim}] logits with n_crops={n_views}, got {tuple(x.shape)}"
            )
        return x.shape[0] // n_views

    def teacher_log_probs(self, teacher_out: Tensor, teacher_temp: float) -> list[Tensor]:
        """``log softmax((t - c) / τ_t)`` per teacher crop: ``n_global`` tensors ``[B, K]`` (no gradient)."""
        if not teacher_temp > 0:
            raise ValueError(f"teacher_temp must be > 0 (DINO: 0.04 -> 0.07), got {teacher_temp}")
        self._check(teacher_out, self.n_global, "teacher_out")
        t = teacher_out.detach().float()
        if self.use_center:
            t = t - self.center
        return list(F.log_softmax(t / teacher_temp, dim=-1).chunk(self.n_global))

    def student_log_probs(self, student_out: Tensor, n_crops: int) -> list[Tensor]:
        """``log_softmax(s / τ_s)`` per student crop: ``n_crops`` tensors ``[B, K]``."""
        self._check(student_out, n_crops, "student_out")
        return list(F.log_softmax(student_out.float() / self.student_temp, dim=-1).chunk(n_crops))

    def forward(self, student_out: Tensor, teacher_out: Tensor, teacher_temp: float) -> Tensor:
        """Scalar loss; ``student_out [n_crops·B, K]``, ``teacher_out [n_global·B, K]`` (crop-major)."""
        b = self._check(teacher_out, self.n_global, "teacher_out")
        if student_out.shape[0] % b:
            raise ValueError(
                f"student_out has {student_out.shape[0]} rows, not a multiple of the batch size {b} "
                "implied by teacher_out"
            )
        log_p_s = self.student_log_probs(student_out, student_out.shape[0] // b)
        p_t = [lp.exp() for lp in self.teacher_log_probs(teacher_out, teacher_temp)]
        return dino_cross_entropy(log_p_s, p_t)

    @torch.no_grad()
    def update_center(self, teacher_out: Tensor) -> None:
        """``c ← m c + (1 − m) · mean of teacher_out [N, K] over every rank's rows`` (eq. 4).

        Without a process group the mean is over this process's rows.
        """
        if teacher_out.dim() != 2 or teacher_out.shape[1] != self.out_dim:
            raise ValueError(f"teacher_out must be [N, {self.out_dim}], got {tuple(teacher_out.shape)}")
        t = teacher_out.detach().float()
        # Sum and row count in one collective, so ranks with unequal batches still get the global mean.
        count = t.new_full((1, 1), float(t.shape[0]))
        reduced = all_reduce_sum(torch.cat([t.sum(dim=0, keepdim=True), count], dim=1))
        batch_center = reduced[:, :-1] / reduced[:, -1:]
        self.center.mul_(self.center_momentum).add_(batch_center, alpha=1.0 - self.center_momentum)
