"""The thin adapter between a ``Method`` (a plain module) and ``lightning.Trainer``.

Each phase of the step is the shared driver's (``selfsup.train.step.TrainStep``): the schedules at the
start of each batch, views and loss in ``training_step``, the method's hooks around the optimizer step.
Lightning runs backward, gradient accumulation and clipping and the optimizer between them. Besides,
this module logs the step's metrics and holds the FSDP sharding and full-weight gathering. It knows
nothing else about the method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch.distributed.tensor import DTensor

from selfsup.methods.base import Method
from selfsup.monitors.quality import quality_signals
from selfsup.train.config import Derived, RunConfig
from selfsup.train.device_options import compile_method
from selfsup.train.fsdp import gather_into, is_sharded, shard_method
from selfsup.train.optimizers import build_optimizer
from selfsup.train.sampler import step_loader
from selfsup.train.step import NonFiniteLossError, TrainStep
from selfsup.train.strategy import FSDP
from selfsup.types import Progress

__all__ = ["LitMethod", "NonFiniteLossError"]


class LitMethod(L.LightningModule):
    """``build_plain``: makes a fresh, unsharded method of the run's configuration; needed with
    ``train.strategy=fsdp`` to hold the gathered full weights (:meth:`full_method`)."""

    def __init__(
        self,
        method: Method,
        cfg: RunConfig,
        derived: Derived,
        train_dataset: Any = None,
        build_plain: Callable[[], Method] | None = None,
    ) -> None:
        super().__init__()
        self.method = method
        self.train_dataset = train_dataset
        self.cfg = cfg
        self.derived = derived
        self._micro = 0  # micro-batches done; set from global_step when training starts
        self._build_plain = build_plain
        # The cached unsharded copy (fsdp), in a list so that it is not registered as a submodule (it must
        # not enter checkpoints, the optimizer or device moves).
        self._plain: list[Method] = []
        self._configured = False
        self.driver = TrainStep(method, cfg, derived)  # rank set when training starts

    # -- sharding, compilation and the full weights -------------------------------------------------
    def configure_model(self) -> None:
        """Called by Lightning once the process group (and, for fsdp, the device mesh) exists and before
        the optimizer is built: shard the method with FSDP2 (``train.strategy=fsdp``), then
        ``torch.compile`` it (``train.compile``). Idempotent, as Lightning asks of this hook."""
        if self._configured:
            return
        self._configured = True
        if self.cfg.train.strategy == FSDP:
            mesh = self.device_mesh["data_parallel"]
            shard_method(self.method, mesh, activation_checkpointing=self.cfg.train.activation_checkpointing)
        if self.cfg.train.compile:
            compile_method(self.method)

    @property
    def sharded(self) -> bool:
        return is_sharded(self.method)

    def full_method(self, keep: bool = True) -> Method | None:
        """The method with full (unsharded) weights: ``self.method`` itself unless it is sharded; then a
        collective (call it on every rank) that gathers the weights into a cached plain CPU copy, returned
        where ``keep`` (others pass ``keep=False``, take part in the gather and get None)."""
        if not self.sharded:
            return self.method
        plain = self._plain_copy().cpu() if keep else None  # cpu: the online kNN may have moved its encoder
        gather_into(self.method, plain)
        return plain

    def full_encoder(self, keep: bool = True) -> torch.nn.Module | None:
        """``method.encoder`` with full weights (only the encoder is gathered); see :meth:`full_method`."""
        if not self.sharded:
            return self.method.encoder
        plain = self._plain_copy().encoder if keep else None
        gather_into(self.method.encoder, plain)
        return plain

    def _plain_copy(self) -> Method:
        if not self._plain:
            if self._build_plain is None:
                raise RuntimeError("LitMethod(build_plain=...) is needed to gather a sharded (fsdp) method")
            with torch.random.fork_rng(devices=[]):  # its random init must not shift the training RNG
                self._plain.append(self._build_plain())
        return self._plain[0]

    # -- progress and the step's phases ---------------------------------------------------------
    def progress(self) -> Progress:
        return self.driver.progress(self.global_step)

    def configure_optimizers(self) -> Any:
        return build_optimizer(self.method, self.cfg.optim, self.derived.peak_lr)

    def on_train_start(self) -> None:
        self._micro = self.global_step * self.cfg.train.accumulate
        self.driver.rank = self.global_rank

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        for opt in self.trainer.optimizers:
            self.driver.set_schedules(opt, self.progress())

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        progress = self.progress()
        out = self.driver.forward(batch, progress, self.driver.generator(self._micro, self.device))
        self._micro += 1
        metrics = {"loss": out.loss.detach(), "lr": self.driver.lr_at(progress)}
        if self.cfg.optim.final_weight_decay is not None:
            metrics["weight_decay"] = self.driver.weight_decay_at(progress)
        for key, value in out.metrics.items():
            metrics[key] = value.detach().float() if torch.is_tensor(value) else float(value)
        every = self.cfg.train.quality_every
        feats = out.features
        if (
            every
            and progress.step % every == 0
            and feats is not None
            and feats.shape[0] > 1
            and feats.isfinite().all()
        ):
            # Label-free signals of this batch's encoder features (selfsup.monitors.quality): RankMe is
            # bounded by min(batch, width) here, so compare it across steps and runs of one batch size.
            for key, value in quality_signals(feats.detach().float()).items():
                metrics[f"quality/{key}"] = value
        size = batch[0].shape[0]
        self.log_dict({f"train/{k}": v for k, v in metrics.items()}, on_step=True, batch_size=size)
        self.log("loss", out.loss.detach(), prog_bar=True, logger=False, batch_size=size)
        return out.loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        self.driver.after_backward(self.progress())
        if self.cfg.train.log_every and self.global_step % self.cfg.train.log_every == 0:
            norms = [p.grad.detach().norm() for p in self.method.parameters() if p.grad is not None]
            if norms:
                norm = torch.stack(norms).norm()
                if isinstance(norm, DTensor):  # fsdp: the norm of local shards -> all-reduced global norm
                    norm = norm.full_tensor()
                self.log("train/grad_norm", norm, on_step=True)

    def optimizer_step(
        self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None
    ) -> None:
        progress = self.progress()
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        self.driver.after_optimizer_step(progress)

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        """Built when training starts: rank, world size and the restored step are known by then."""
        return step_loader(
            self.train_dataset,
            self.cfg,
            self.derived,
            world_size=self.trainer.world_size,
            rank=self.global_rank,
            start_step=lambda: self.global_step,
        )
