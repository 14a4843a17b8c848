"""selfsup's side: the trainer's step, driven outside Lightning so both pipelines are timed alike.

The step is the one ``LitMethod`` runs (``selfsup/train/lightning_module.py``) and ``selfsup bench``
times (``selfsup/bench.py``): lr / weight-decay schedule set on the param groups ->
``method.make_batch`` (views generated in batch from uint8 images, no grad) -> ``training_step``
under the precision ``train.precision`` resolves to -> backward -> ``after_backward`` -> gradient
clipping (``optim.grad_clip``, as Lightning's ``gradient_clip_val``) -> optimizer step ->
``after_optimizer_step`` (EMA, queue, center). Its loader is the trainer's: a DataLoader of uint8
batches with ``collate_batched`` and ``data.num_workers`` workers. Lightning's own per-step cost
(logging, callbacks) is not included; neither is anything comparable on lightly's side.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.data import collate_batched
from selfsup.train.allocator import keep_freed_memory
from selfsup.train.config import derive
from selfsup.train.device_options import apply_memory_format
from selfsup.train.optimizers import build_optimizer
from selfsup.train.pretrain import build_method
from selfsup.train.schedules import warmup_cosine, weight_decay_at
from selfsup.types import Progress


class SelfsupPipeline:
    """``cfg``'s method with its optimizer; ``step(batch, step, total)`` is one trainer step."""

    def __init__(self, cfg, dataset, channels: int, image_size: int, bf16: bool) -> None:
        keep_freed_memory()  # what `selfsup pretrain` and `selfsup bench` do first
        self.cfg, self.bf16 = cfg, bf16
        self.method = build_method(cfg, channels, image_size)
        apply_memory_format(self.method, cfg.train.channels_last, "cpu")
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
        images, labels, indices = batch
        progress = Progress(step, total, self.derived.steps_per_epoch)
        o = self.cfg.optim
        lr = warmup_cosine(progress, self.derived.peak_lr, o.min_lr, warmup)
        ratio = (
            weight_decay_at(progress, o.weight_decay, o.final_weight_decay) / o.weight_decay
            if o.weight_decay
            else 1.0
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
            if o.final_weight_decay is not None:
                base = group.setdefault("base_weight_decay", group["weight_decay"])
                group["weight_decay"] = base * ratio
        g = torch.Generator().manual_seed(self.cfg.train.seed * 1_000_003 + step)
        with torch.no_grad():
            views = self.method.make_batch(images, labels, indices, generator=g)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.method.training_step(views, progress).loss
        loss.backward()
        self.method.after_backward(progress)
        if o.grad_clip:
            nn.utils.clip_grad_norm_(self.method.parameters(), o.grad_clip)
        self.optimizer.step()
        self.method.after_optimizer_step(progress)
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()
