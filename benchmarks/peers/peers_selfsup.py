"""selfsup's side: the trainer's step, driven outside Lightning so both pipelines are timed alike.

The step is ``selfsup.train.step.TrainStep.run``, the one ``LitMethod`` runs and ``selfsup bench``
times: lr / weight-decay schedule set on the param groups ->
``method.make_batch`` (views generated in batch from uint8 images, no grad) -> ``training_step``
under the precision ``train.precision`` resolves to -> backward -> ``after_backward`` -> gradient
clipping (``optim.grad_clip``, as Lightning's ``gradient_clip_val``) -> optimizer step ->
``after_optimizer_step`` (EMA, queue, center). Its loader is the trainer's: a DataLoader of uint8
batches with ``collate_batched`` and ``data.num_workers`` workers. Lightning's own per-step cost
(logging, callbacks) is not included; neither is anything comparable on lightly's side.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from selfsup.data import collate_batched
from selfsup.train.allocator import keep_freed_memory
from selfsup.train.build import build_method
from selfsup.train.config import derive
from selfsup.train.device_options import apply_memory_format, compile_method
from selfsup.train.optimizers import build_optimizer
from selfsup.train.phase_timer import PhaseTimer
from selfsup.train.step import TrainStep


class SelfsupPipeline:
    """``cfg``'s method with its optimizer; ``step(batch, step, total)`` is one trainer step.

    ``timer``: the trial's ``PhaseTimer``, charged with the step's views, forward, backward and update
    (None: nothing is timed, as in the quality trials).
    ``train.compile=true`` compiles the method as a run does (the first warm-up step pays for it).
    """

    def __init__(
        self, cfg, dataset, channels: int, image_size: int, bf16: bool, timer: PhaseTimer | None = None
    ) -> None:
        keep_freed_memory()  # what `selfsup pretrain` and `selfsup bench` do first
        self.cfg, self.bf16, self.timer = cfg, bf16, timer
        self.method = build_method(cfg, channels, image_size)
        apply_memory_format(self.method, cfg.train.channels_last, "cpu")
        if cfg.train.compile:
            compile_method(self.method)
        self.derived = derive(cfg, len(dataset))
        self.optimizer = build_optimizer(self.method, cfg.optim, self.derived.peak_lr)
        self.dataset = dataset

    @property
    def encoder(self) -> nn.Module:
        return self.method.encoder

    def loader(self, num_workers: int) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(
            self.dataset, batch_size=self.cfg.train.batch_size, shuffle=True, drop_last=True,
            collate_fn=collate_batched, num_workers=num_workers,
        )  # fmt: skip

    def step(self, batch: tuple[Tensor, Tensor, Tensor], step: int, total: int, warmup: int) -> Tensor:
        """The trainer's own step (``selfsup.train.step.TrainStep``) with this trial's schedule length."""
        precision = "bf16-mixed" if self.bf16 else "32-true"
        derived = replace(self.derived, total_steps=total, warmup_steps=warmup, precision=precision)
        driver = TrainStep(self.method, self.cfg, derived, timer=self.timer)
        return driver.run(self.optimizer, [batch], step).loss.detach()
