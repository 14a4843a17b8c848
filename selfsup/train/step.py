"""The one training step: views -> ``training_step`` -> backward -> (clip) -> optimizer -> hooks.

Every place that trains or times a method runs this step, so what is timed is what trains:

- the trainer (``selfsup.train.lightning_module.LitMethod``) calls the phases from Lightning's hooks,
  where Lightning itself runs backward (loss / ``train.accumulate``), clipping
  (``optim.grad_clip``) and the optimizer between them;
- the time-budget calibration (``selfsup.train.calibrate``) and ``selfsup bench`` call :meth:`TrainStep.run`,
  which does the same in the same order without Lightning.

The order is Lightning's automatic optimization: schedules set on the param groups -> for each
micro-batch: views without grad (``method.make_batch``, under the precision's autocast, as Lightning
wraps the whole ``training_step``) -> ``method.training_step`` -> ``(loss / accumulate).backward()`` ->
``method.after_backward`` -> clip the global grad norm -> ``optimizer.step()`` ->
``method.after_optimizer_step`` (EMA teacher, queue, center, CLIP's scale clamp) -> zero the grads.
Views are drawn from a generator seeded by (seed, micro-batch, rank) only, so they are exact on resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

import torch
from torch import Tensor

from selfsup.methods.base import Method
from selfsup.schedules import warmup_cosine, weight_decay_at
from selfsup.train.config import Derived, RunConfig
from selfsup.train.phase_timer import PhaseTimer, timed_phase
from selfsup.types import Batch, Progress, StepOutput

RawBatch = tuple[Tensor, Tensor | None, Tensor | None]  # the loader's (uint8 images, labels, indices)


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; training stopped and the last good checkpoint is kept."""


def view_seed(seed: int, micro: int, rank: int = 0) -> int:
    """The seed of micro-batch ``micro``'s views on ``rank``: a pure function, so resume is exact."""
    return ((seed * 1_000_003 + micro) * 4096 + rank) % 2**63


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a Lightning precision string (None: full fp32)."""
    if precision.startswith("bf16"):
        return torch.bfloat16
    if precision.startswith("16"):
        return torch.float16
    return None


def attach_inputs(batch: Batch, images: Tensor, labels: Tensor | None, indices: Tensor | None) -> Batch:
    """The one place that gives ``make_batch``'s result the loader's inputs: the raw images and indices
    (always) and the class labels (where the method left them unset, as every method but supervised does).

    Only 1-D labels are class labels (``Batch.labels`` is ``[B]``); CLIP's second item is token ids
    ``[B, L]``, which its ``make_batch`` turns into targets, so they are not attached as labels.
    """
    batch.images = images
    batch.indices = indices
    if batch.labels is None and labels is not None and labels.dim() == 1:
        batch.labels = labels
    return batch


class TrainStep:
    """One optimizer step of ``method`` with ``cfg``'s schedules, clipping and ``derived.precision``.

    ``rank`` enters the view seed (each process of a data-parallel run draws its own views).
    ``timer``: a ``PhaseTimer`` that each phase (``views``, ``forward``, ``backward``, ``update``)
    reports its wall time to (``selfsup bench --phases``); None times nothing.
    """

    def __init__(
        self, method: Method, cfg: RunConfig, derived: Derived, rank: int = 0, timer: PhaseTimer | None = None
    ) -> None:
        self.method = method
        self.cfg = cfg
        self.derived = derived
        self.rank = rank
        self.timer = timer

    def phase(self, name: str) -> AbstractContextManager[None]:
        """``timer(name)`` when a timer is attached, else a no-op context."""
        return timed_phase(self.timer, name)

    # -- schedules and randomness ------------------------------------------------------------
    def progress(self, step: int) -> Progress:
        return Progress(step, self.derived.total_steps, self.derived.steps_per_epoch)

    def lr_at(self, progress: Progress) -> float:
        return warmup_cosine(progress, self.derived.peak_lr, self.cfg.optim.min_lr, self.derived.warmup_steps)

    def weight_decay_at(self, progress: Progress) -> float:
        return weight_decay_at(progress, self.cfg.optim.weight_decay, self.cfg.optim.final_weight_decay)

    def set_schedules(self, optimizer: torch.optim.Optimizer, progress: Progress) -> None:
        """The scheduled lr (× each group's ``lr_scale``) and, where scheduled, weight decay."""
        lr = self.lr_at(progress)
        scheduled_wd = self.cfg.optim.final_weight_decay is not None
        wd_ratio = self.weight_decay_at(progress) / self.cfg.optim.weight_decay if scheduled_wd else 1.0
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
            if scheduled_wd:
                # Groups keep their own decay relative to optim.weight_decay (0 for biases and norms).
                base = group.setdefault("base_weight_decay", group["weight_decay"])
                group["weight_decay"] = base * wd_ratio

    def generator(self, micro: int, device: torch.device) -> torch.Generator:
        """The views' generator of micro-batch ``micro`` (counted over the whole run)."""
        return torch.Generator(device=device).manual_seed(view_seed(self.cfg.train.seed, micro, self.rank))

    # -- the phases (Lightning calls these from its hooks) ------------------------------------------
    def forward(self, raw: RawBatch, progress: Progress, generator: torch.Generator) -> StepOutput:
        """Views of one micro-batch (no grad) and the method's loss; stops on a non-finite loss."""
        images, labels, indices = raw
        with torch.no_grad(), self.phase("views"):
            batch = self.method.make_batch(images, labels, generator=generator)
        with self.phase("forward"):
            out = self.method.training_step(attach_inputs(batch, images, labels, indices), progress)
        if not torch.isfinite(out.loss.detach()):
            raise NonFiniteLossError(
                f"the loss became {out.loss.item()} at step {progress.step} (epoch {progress.epoch}); "
                "training stopped and the last good checkpoint is kept in the run's checkpoints/ folder. "
                "Lower optim.lr, enable optim.grad_clip, or use train.precision=32-true."
            )
        return out

    def after_backward(self, progress: Progress) -> None:
        self.method.after_backward(progress)

    def after_optimizer_step(self, progress: Progress) -> None:
        self.method.after_optimizer_step(progress)

    # -- the whole step, without Lightning ---------------------------------------------------------
    def run(
        self, optimizer: torch.optim.Optimizer, micro_batches: Sequence[RawBatch], step: int
    ) -> StepOutput:
        """Optimizer step ``step`` over ``micro_batches`` (``train.accumulate`` of them, on the method's
        device); returns the last micro-batch's output. Equal to the trainer's step at 32-true (a test
        checks it); 16-mixed runs without Lightning's grad scaler."""
        progress = self.progress(step)
        self.set_schedules(optimizer, progress)
        device = micro_batches[0][0].device
        dtype = autocast_dtype(self.derived.precision)
        accumulate = len(micro_batches)
        for i, raw in enumerate(micro_batches):
            autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
            with autocast:
                out = self.forward(raw, progress, self.generator(step * accumulate + i, device))
            with self.phase("backward"):
                (out.loss / accumulate).backward()
        with self.phase("update"):
            self.after_backward(progress)
            if self.cfg.optim.grad_clip:
                params = [p for group in optimizer.param_groups for p in group["params"]]
                torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.grad_clip)
            optimizer.step()
            self.after_optimizer_step(progress)
            optimizer.zero_grad(set_to_none=True)
        return out
