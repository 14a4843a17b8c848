"""``pretrain(cfg)``: build data, backbone and method, run ``lightning.Trainer``, export the encoder.

Checkpoints are written every ``train.checkpoint_every`` optimizer steps and at the
end (``last.ckpt``); ``resume=PATH`` continues a run exactly where it stopped (same
data order, same views, same schedule values), writing into the same run directory.

``train.strategy=fsdp`` shards the method with FSDP2 (``selfsup.train.strategy`` says how it maps onto
Lightning); checkpoints stay full single files and, after training, every rank gathers the full weights
so the exported encoder and ``PretrainResult.method`` are plain, unsharded modules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from selfsup.backbones import create_backbone
from selfsup.data import create_dataset
from selfsup.methods.base import Method
from selfsup.registry import create_method
from selfsup.train.allocator import keep_freed_memory
from selfsup.train.calibrate import seconds_per_step, steps_for_budget
from selfsup.train.checkpoint import export_method, input_spec
from selfsup.train.config import Derived, RunConfig, derive
from selfsup.train.device_options import apply_memory_format
from selfsup.train.fsdp import require_transformer_blocks
from selfsup.train.lightning_module import LitMethod
from selfsup.train.online_knn import OnlineKNN
from selfsup.train.progress import StepProgressBar
from selfsup.train.run_dir import (
    externally_launched,
    inherited_run_dir,
    load_derived,
    new_run_dir,
    next_log_version,
    run_dir_of_checkpoint,
    save_run_files,
    shared_with_launched_ranks,
)
from selfsup.train.strategy import FSDP, build_strategy, device_type
from selfsup.train.train_stats import FitTimer, save_train_stats

log = logging.getLogger(__name__)


@dataclass
class PretrainResult:
    run_dir: Path
    encoder_path: Path
    method: Method
    derived: Derived
    global_rank: int


def build_method(cfg: RunConfig, channels: int, image_size: int) -> Method:
    backbone = create_backbone(cfg.backbone, in_chans=channels, image_size=image_size, **cfg.backbone_kwargs)
    return create_method(cfg.method_name, backbone, cfg.method)


def _world_size(cfg: RunConfig) -> int:
    return max(1, cfg.train.devices) * max(1, cfg.train.num_nodes)


def pretrain(
    cfg: RunConfig, resume: str | Path | None = None, callbacks: list | None = None
) -> PretrainResult:
    """Pretrain ``cfg.method_name`` on ``cfg.data``; returns where everything was written."""
    keep_freed_memory()
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    dataset = create_dataset(
        cfg.data.name, "train", root=cfg.data.root, image_size=cfg.data.image_size, strict=cfg.data.strict
    )
    items = len(dataset) if cfg.data.max_train_items is None else min(len(dataset), cfg.data.max_train_items)
    derived = derive(cfg, items, _world_size(cfg))
    image_size = cfg.data.image_size or dataset.image_size[0]
    method = build_method(cfg, dataset.channels, image_size)
    apply_memory_format(method, cfg.train.channels_last, device_type(cfg))
    if cfg.train.strategy == FSDP:
        require_transformer_blocks(method)  # fail before any set-up, not inside trainer.fit
    if cfg.train.batch_size * derived.world_size < method.min_batch_size:
        raise ValueError(
            f"{cfg.method_name} needs at least {method.min_batch_size} images per batch (its loss contrasts "
            f"each image with the others), got train.batch_size={cfg.train.batch_size} on "
            f"{derived.world_size} process(es); increase train.batch_size"
        )

    inherited = None if resume else inherited_run_dir()
    run_dir = run_dir_of_checkpoint(resume) if resume else inherited or new_run_dir(cfg)
    if (resume or inherited) and (run_dir / "derived.json").is_file():
        # The same steps and schedule as the interrupted run, or as rank 0 of this run chose.
        derived = load_derived(run_dir)
    elif cfg.train.time_budget_minutes is not None:
        if externally_launched():
            raise ValueError(
                "train.time_budget_minutes in a job whose ranks torchrun or SLURM started: each rank would "
                "time its own steps and could choose a different step count (and hang); set "
                "train.max_steps=N instead, or let Lightning start the ranks (train.devices=N)"
            )
        step_s = seconds_per_step(method, dataset, cfg, derived)
        derived = derive(
            cfg, items, _world_size(cfg), steps_for_budget(cfg.train.time_budget_minutes, step_s)
        )
        log.warning(
            "time budget %.1f min at %.2f s/step: training %d steps (%.2f epochs)",
            cfg.train.time_budget_minutes,
            step_s,
            derived.total_steps,
            derived.total_steps / derived.steps_per_epoch,
        )
    ckpt_dir = run_dir / "checkpoints"
    checkpointing = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="step-{step:07.0f}",
        auto_insert_metric_name=False,
        every_n_train_steps=cfg.train.checkpoint_every,
        save_top_k=3,
        monitor="step",
        mode="max",
        save_last=True,
    )
    timer = FitTimer(derived.global_batch)
    log_version = next_log_version(run_dir)
    bar = [StepProgressBar(refresh_rate=10)] if cfg.train.progress_bar else []
    monitors = [OnlineKNN(cfg, *method.normalization())] if cfg.train.online_knn_every > 0 else []
    build_plain = partial(build_method, cfg, dataset.channels, image_size)  # fsdp: holds gathered weights
    lit = LitMethod(method, cfg, derived, train_dataset=dataset, build_plain=build_plain)
    trainer = L.Trainer(
        accelerator=cfg.train.accelerator,
        devices=cfg.train.devices,
        num_nodes=cfg.train.num_nodes,
        strategy=build_strategy(cfg, derived.world_size, derived.precision),
        precision=derived.precision,
        max_steps=derived.total_steps,
        max_epochs=-1,
        accumulate_grad_batches=cfg.train.accumulate,
        gradient_clip_val=cfg.optim.grad_clip,
        sync_batchnorm=cfg.train.sync_batchnorm,
        use_distributed_sampler=False,
        logger=[
            # A resumed run logs into the next version_N folder, so no earlier log is overwritten.
            CSVLogger(run_dir, name="logs", version=log_version),
            TensorBoardLogger(run_dir, name="logs", version=log_version, default_hp_metric=False),
        ],
        callbacks=[checkpointing, timer, *monitors, *bar, *(callbacks or [])],
        log_every_n_steps=cfg.train.log_every,
        enable_progress_bar=cfg.train.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=cfg.train.deterministic,
        default_root_dir=run_dir,
    )
    if derived.input is None:  # a new run, or one resumed from a run that predates the record
        derived = replace(derived, input=input_spec(method, cfg, image_size).to_dict())
    if trainer.is_global_zero:
        save_run_files(run_dir, cfg, derived)
    with shared_with_launched_ranks(run_dir):
        trainer.fit(lit, ckpt_path=str(resume) if resume else None)
    trainer.save_checkpoint(ckpt_dir / "last.ckpt")
    encoder_path = run_dir / "encoder.safetensors"
    method = lit.full_method()  # fsdp: every rank gathers the full weights (a collective)
    if trainer.is_global_zero:
        export_method(method, cfg, encoder_path, image_size, int(trainer.global_step))
        save_train_stats(run_dir, timer.stats())
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    return PretrainResult(run_dir, encoder_path, method, derived, trainer.global_rank)
