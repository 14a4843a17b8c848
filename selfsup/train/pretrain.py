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
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from selfsup.data import create_dataset
from selfsup.methods.base import Method
from selfsup.train.allocator import keep_freed_memory
from selfsup.train.atomic_io import (
    AtomicCheckpointIO,
    NonFiniteCheckpointError,
    load_checkpoint_file,
    remove_stale_temporaries,
)
from selfsup.train.build import build_method, input_spec
from selfsup.train.calibrate import RunCost, binding_limit, calibrate, time_precisions
from selfsup.train.checkpoint import export_method
from selfsup.train.config import Derived, RunConfig, derive, warmup_cap_note
from selfsup.train.config_loader import config_to_dict
from selfsup.train.device_options import apply_memory_format
from selfsup.train.divergence import DivergenceWarning, non_finite_stop
from selfsup.train.fsdp import require_transformer_blocks
from selfsup.train.lightning_module import LitMethod, NonFiniteLossError
from selfsup.train.online_knn import OnlineKNN
from selfsup.train.precision import MEASURED, measured_precision, measures_precision
from selfsup.train.progress import StepProgressBar
from selfsup.train.resume import check_resume_config, resume_run_dir, resumed_derived
from selfsup.train.run_dir import (
    externally_launched,
    inherited_run_dir,
    launch_rank,
    load_derived,
    new_run_dir,
    next_log_version,
    require_fresh,
    save_run_files,
    shared_with_launched_ranks,
)
from selfsup.train.run_lock import hold_run_lock
from selfsup.train.strategy import FSDP, build_strategy, device_type
from selfsup.train.train_stats import FitTimer, save_train_stats

log = logging.getLogger(__name__)


@contextmanager
def quiet_resume_warnings() -> Iterator[None]:
    """Silence two Lightning warnings that are wrong for selfsup: its batch sampler restarts from the
    restored step (resume is exact, mid-epoch included), and on resume the checkpoint directory holds
    the run's own earlier checkpoints."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*dataloader is\\s+not resumable.*")
        warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
        yield


@dataclass
class PretrainResult:
    run_dir: Path
    encoder_path: Path
    method: Method
    derived: Derived
    global_rank: int


def step_signature(cfg: RunConfig, channels: int, image_size: int) -> dict[str, Any]:
    """What the cost of one training step depends on (the key of the measured ``precision: auto``)."""
    config = config_to_dict(cfg)
    return {
        "method": cfg.method_name, "method_config": config["method"], "backbone": cfg.backbone,
        "backbone_kwargs": config["backbone_kwargs"], "batch_size": cfg.train.batch_size,
        "accumulate": cfg.train.accumulate, "channels": channels, "image_size": image_size,
        "channels_last": cfg.train.channels_last, "compile": cfg.train.compile,
    }  # fmt: skip


def _world_size(cfg: RunConfig) -> int:
    return max(1, cfg.train.devices) * max(1, cfg.train.num_nodes)


def pretrain(
    cfg: RunConfig,
    resume: str | Path | None = None,
    callbacks: list | None = None,
    run_dir: str | Path | None = None,
) -> PretrainResult:
    """Pretrain ``cfg.method_name`` on ``cfg.data``; returns where everything was written.

    ``resume``: a checkpoint to continue (``selfsup.train.resume`` says what ``cfg`` may change);
    ``run_dir``: the run it continues, needed only when the checkpoint is not in ``RUN/checkpoints/``.
    """
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
    if resume:
        run_dir = resume_run_dir(resume, run_dir)
    else:
        run_dir = inherited or new_run_dir(cfg)
    # The process that owns the run (rank 0, or the only one) holds its lock until pretrain returns;
    # ranks that join rank 0's directory do not take it.
    owner = inherited is None and (not externally_launched() or launch_rank() == 0)
    with hold_run_lock(run_dir) if owner else nullcontext():
        if owner and not resume:
            require_fresh(run_dir)
        if owner:
            remove_stale_temporaries(run_dir / "checkpoints")  # left by a save that a kill interrupted
        return _pretrain_in(cfg, run_dir, resume, inherited, dataset, items, derived, method, callbacks)


def _pretrain_in(
    cfg: RunConfig,
    run_dir: Path,
    resume: str | Path | None,
    inherited: Path | None,
    dataset: Any,
    items: int,
    derived: Derived,
    method: Method,
    callbacks: list | None,
) -> PretrainResult:
    """``pretrain`` once the run directory is chosen (and, for its owner, locked)."""
    image_size = cfg.data.image_size or dataset.image_size[0]
    monitors = [OnlineKNN(cfg, *method.normalization())] if cfg.train.online_knn_every > 0 else []
    budget_s = None if cfg.train.time_budget_minutes is None else 60 * cfg.train.time_budget_minutes
    cost: RunCost | None = None
    changed: list[str] = []
    done = 0  # steps the resumed checkpoint already trained
    if resume:
        changed = check_resume_config(run_dir, cfg)
        done = int(load_checkpoint_file(resume, mmap=True).get("global_step", 0))  # also: is it readable?
        saved = load_derived(run_dir) if (run_dir / "derived.json").is_file() else None
        budget_cap = None
        if "train.time_budget_minutes" in changed and budget_s is not None:
            cost = calibrate(method, dataset, cfg, derived, run_dir, *monitors[:1])
            budget_cap = cost.steps_within(budget_s)
        derived = resumed_derived(
            saved, cfg, changed, items, _world_size(cfg), done, budget_cap, Path(resume)
        )
    elif inherited and (run_dir / "derived.json").is_file():
        # The same steps and schedule as rank 0 of this run chose.
        derived = load_derived(run_dir)
    else:
        if measures_precision(cfg.train.precision, cfg.train.accelerator) and not externally_launched():
            precision, note = measured_precision(
                step_signature(cfg, dataset.channels, image_size),
                lambda: time_precisions(method, dataset, cfg, derived, MEASURED),
            )
            log.warning(note)
            derived = replace(derived, precision=precision)
        if budget_s is not None:
            if externally_launched():
                raise ValueError(
                    "train.time_budget_minutes in a job whose ranks torchrun or SLURM started: each rank "
                    "would time its own steps and could choose a different step count (and hang); set "
                    "train.max_steps=N instead, or let Lightning start the ranks (train.devices=N)"
                )
            cost = calibrate(method, dataset, cfg, derived, run_dir, *monitors[:1])
            budget_steps = cost.steps_within(budget_s)
            log.warning(binding_limit(cfg, derived, budget_steps, cost))
            derived = replace(derive(cfg, items, _world_size(cfg), budget_steps), precision=derived.precision)
    if not (resume or inherited) and (note := warmup_cap_note(cfg, derived)):
        log.warning(note)
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
    if cost is not None:  # what the calibration predicts for the fit itself, to compare with its real time
        timer.predicted_seconds = cost.fit_seconds(derived.total_steps - done)
    divergence = DivergenceWarning(cfg.train.log_every)
    log_version = next_log_version(run_dir)
    label = "training" if cfg.method_name == "supervised" else "pretraining"
    bar = [StepProgressBar(label, cfg.train.accumulate, refresh_rate=10)] if cfg.train.progress_bar else []
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
        callbacks=[checkpointing, timer, divergence, *monitors, *bar, *(callbacks or [])],
        plugins=[AtomicCheckpointIO()],
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
    try:
        with shared_with_launched_ranks(run_dir), quiet_resume_warnings():
            trainer.fit(lit, ckpt_path=str(resume) if resume else None, weights_only=True)
        trainer.save_checkpoint(ckpt_dir / "last.ckpt", weights_only=False)  # full state: resumable
    except (NonFiniteLossError, NonFiniteCheckpointError) as err:
        raise non_finite_stop(err, ckpt_dir) from None
    encoder_path = run_dir / "encoder.safetensors"
    method = lit.full_method()  # fsdp: every rank gathers the full weights (a collective)
    if trainer.is_global_zero:
        export_method(method, cfg, encoder_path, image_size, int(trainer.global_step))
        save_train_stats(run_dir, timer.stats())
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    return PretrainResult(run_dir, encoder_path, method, derived, trainer.global_rank)
