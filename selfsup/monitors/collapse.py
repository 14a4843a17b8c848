"""Collapse monitors: pure functions of a step's outputs, plus a warning when a run is collapsing.

Self-distillation and other negative-free methods can collapse to a constant output. DINO (Caron et
al. 2021, §5.3, Fig. 7) tells the two kinds apart with the teacher's output entropy and the
teacher-student KL divergence:

- **uniform** collapse (centering without sharpening): every teacher distribution becomes uniform,
  its entropy reaches ``log K``;
- **one-hot** collapse (sharpening without centering): one dimension dominates for every input; the
  per-sample entropy goes to 0 and so does the entropy of the batch-mean distribution;
- in both, the student matches the teacher exactly: ``KL(P_t || P_s) → 0`` and nothing is learned.

A healthy run keeps the per-sample entropy well below ``log K`` while the batch-mean ("marginal")
distribution stays spread over many dimensions. For methods without a softmax output, the std of
L2-normalized embeddings across the batch (SimSiam, Chen & He 2021, §4.1) is the monitor: about
``1/sqrt(d)`` per dimension for well-spread embeddings, 0 for a constant output.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "CollapseMonitor",
    "collapse_status",
    "embedding_std",
    "kl_divergence",
    "marginal_entropy",
    "mean_entropy",
]

log = logging.getLogger(__name__)

OK, UNIFORM, ONE_HOT, CONSTANT = "ok", "uniform", "one_hot", "constant"
STATUS_CODES = {OK: 0, UNIFORM: 1, ONE_HOT: 2, CONSTANT: 3}  # numeric form for loggers


def _check_log_probs(log_p: Tensor, name: str) -> None:
    if log_p.dim() != 2:
        raise ValueError(f"{name} must be [N, K] log-probabilities, got shape {tuple(log_p.shape)}")


@torch.no_grad()
def mean_entropy(log_probs: Tensor) -> Tensor:
    """Mean over rows of ``H(p) = -Σ_k p_k log p_k`` in nats, for log-probabilities ``[N, K]`` (0-d).

    0 for one-hot rows, ``log K`` for uniform rows.
    """
    _check_log_probs(log_probs, "log_probs")
    lp = log_probs.float()
    return -(lp.exp() * lp).sum(dim=1).mean()


@torch.no_grad()
def marginal_entropy(log_probs: Tensor) -> Tensor:
    """Entropy of the batch-mean distribution ``p̄ = mean_n p_n`` for log-probabilities ``[N, K]`` (0-d).

    ``>= mean_entropy`` (concavity); near 0 only when every row puts its mass on the same dimension.
    """
    _check_log_probs(log_probs, "log_probs")
    log_mean = torch.logsumexp(log_probs.float(), dim=0) - math.log(log_probs.shape[0])
    return -(log_mean.exp() * log_mean).sum()


@torch.no_grad()
def kl_divergence(log_p: Tensor, log_q: Tensor) -> Tensor:
    """Mean over rows of ``KL(p || q) = Σ_k p_k (log p_k - log q_k)``, both ``[N, K]`` log-probabilities (0-d)."""
    _check_log_probs(log_p, "log_p")
    if log_q.shape != log_p.shape:
        raise ValueError(f"log_q must have log_p's shape {tuple(log_p.shape)}, got {tuple(log_q.shape)}")
    lp, lq = log_p.float(), log_q.float()
    return (lp.exp() * (lp - lq)).sum(dim=1).mean()


@torch.no_grad()
def embedding_std(z: Tensor) -> Tensor:
    """Std over the batch of L2-normalized embeddings ``z [N, D]``, averaged over dimensions (0-d).

    ``≈ 1/sqrt(D)`` for embeddings spread over the sphere, 0 when all rows are equal (SimSiam §4.1).
    """
    if z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f"z must be [N, D] embeddings with N >= 2, got shape {tuple(z.shape)}")
    return F.normalize(z.float(), dim=1).std(dim=0).mean()


def collapse_status(
    *,
    entropy: float | None = None,
    marginal: float | None = None,
    num_classes: int | None = None,
    std: float | None = None,
    dim: int | None = None,
    tol: float = 0.05,
) -> str:
    """Classify a step: ``"uniform"``, ``"one_hot"``, ``"constant"`` or ``"ok"``.

    - ``uniform`` when ``entropy >= (1 - tol) log K`` (every output close to uniform);
    - ``one_hot`` when ``marginal <= tol log K`` (the batch-mean distribution is nearly one-hot, so every
      output picks the same dimension; a low per-sample entropy alone is a confident, healthy teacher);
    - ``constant`` when ``std·sqrt(D) <= tol`` (embeddings nearly identical across the batch);

    each test runs only when its inputs are given (``num_classes`` for the first two, ``dim`` for the
    last), so methods without a softmax output pass just ``std`` and ``dim``.
    """
    if not 0.0 < tol < 1.0:
        raise ValueError(f"tol must be in (0, 1), got {tol}")
    if num_classes is not None:
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        log_k = math.log(num_classes)
        if entropy is not None and float(entropy) >= (1.0 - tol) * log_k:
            return UNIFORM
        if marginal is not None and float(marginal) <= tol * log_k:
            return ONE_HOT
    if std is not None and dim is not None and float(std) * math.sqrt(dim) <= tol:
        return CONSTANT
    return OK


@dataclass
class CollapseMonitor:
    """Warn once when ``collapse_status`` has been non-ok for ``patience`` consecutive steps.

    ``update(status, step)`` returns True when it warns (through ``logging``, as ``selfsup.monitors.collapse``).
    It warns again only after a healthy step or a change of kind, so a long collapsed run logs a few
    lines, not one per step. The per-step numbers themselves go to the training logs.
    """

    patience: int = 20
    streak: int = 0
    last: str = OK
    warned: bool = False

    def update(self, status: str, step: int) -> bool:
        if status not in STATUS_CODES:
            raise ValueError(f"status must be one of {sorted(STATUS_CODES)}, got {status!r}")
        if status != self.last:
            self.streak, self.warned = 0, False
        self.last = status
        if status == OK:
            return False
        self.streak += 1
        if self.streak >= self.patience and not self.warned:
            self.warned = True
            hint = {
                UNIFORM: "teacher outputs are uniform (entropy ~ log K): too little sharpening? lower the "
                "teacher temperature",
                ONE_HOT: "one output dimension dominates for every input (entropy ~ 0): too little centering?",
                CONSTANT: "embeddings are nearly identical across the batch",
            }[status]
            log.warning(
                "step %d: the run is collapsing (%s) for %d steps: %s", step, status, self.streak, hint
            )
            return True
        return False
