"""Diverged runs: the one-line NaN/Inf stop, and a warning for divergence that never reaches NaN.

A non-finite loss (``NonFiniteLossError``, raised by the training step) or non-finite weights (the
checkpoint writer refuses them: ``NonFiniteCheckpointError``) stop the run; ``non_finite_stop`` turns
either into one message naming the step and the newest finite checkpoint that is kept.

Some runs diverge without ever producing NaN: the loss stays where it started (chance) while the weights'
norm explodes. ``DivergenceWarning`` watches the global weight norm at each logging step and warns once
when it has grown ``norm_growth`` times over its value at the run's first step while the loss has not
fallen below its first value: a lower ``optim.lr`` or ``optim.grad_clip`` is then the usual fix.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch

from selfsup.train.atomic_io import NonFiniteCheckpointError
from selfsup.train.lightning_module import NonFiniteLossError

log = logging.getLogger(__name__)

FIX = "lower optim.lr, enable optim.grad_clip, or use train.precision=32-true"


def newest_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest ``step-*.ckpt`` (all are finite: non-finite ones are never written), else None."""
    steps = sorted(ckpt_dir.glob("step-*.ckpt"))
    return steps[-1] if steps else None


def non_finite_stop(err: NonFiniteLossError | NonFiniteCheckpointError, ckpt_dir: Path) -> NonFiniteLossError:
    """One line: what became non-finite, at which step, which checkpoint is kept, what to change."""
    if isinstance(err, NonFiniteCheckpointError):
        what = f"the weights became NaN/Inf ({err.key}) at step {err.step}"
    else:
        what = str(err).split(";")[0]
    kept = newest_checkpoint(ckpt_dir)
    keep = (
        f"the last good checkpoint is kept: {kept} (resume with --resume {kept})"
        if kept is not None
        else "no checkpoint had been written yet, so nothing is kept"
    )
    return NonFiniteLossError(f"training stopped: {what}; {keep}; {FIX}")


class DivergenceWarning(L.Callback):
    """Warn once when the weight norm explodes while the loss does not improve (see the module doc)."""

    def __init__(self, every: int, norm_growth: float = 50.0) -> None:
        self.every = max(1, every)
        self.norm_growth = norm_growth
        self.first: tuple[float, float] | None = None  # (weight norm, loss) at the first step seen
        self.warned = False

    @staticmethod
    def weight_norm(module: torch.nn.Module) -> float:
        with torch.no_grad():
            squares = [p.detach().float().pow(2).sum() for p in module.parameters() if p.is_floating_point()]
            total = torch.stack(squares).sum() if squares else torch.zeros(())
            if hasattr(total, "full_tensor"):  # fsdp: the norm of all shards
                total = total.full_tensor()
            return float(total.sqrt())

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, idx: int
    ) -> None:
        if self.warned or trainer.global_step % self.every:
            return
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        norm, value = self.weight_norm(pl_module.method), float(loss)
        if self.first is None:
            self.first = (norm, value)
            return
        norm0, loss0 = self.first
        if norm0 > 0 and norm > self.norm_growth * norm0 and value >= loss0:
            self.warned = True
            log.warning(
                "the run is diverging: at step %d the weight norm is %.3g, %.0fx its %.3g at the start, "
                "while the loss (%.4g) is no lower than at the start (%.4g); %s",
                trainer.global_step,
                norm,
                norm / norm0,
                norm0,
                value,
                loss0,
                FIX,
            )
