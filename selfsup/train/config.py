"""Run configuration: dataclasses are the schema.

A run is ``RunConfig`` with sections ``data``, ``optim``, ``train``, ``eval`` and
``method`` (the registered method's own ``Config``, chosen by ``method_name``).
YAML files and ``key=value`` overrides are loaded strictly by
``selfsup.train.config_loader``. Derived values (global batch, scaled lr, total
steps) are computed by ``derive`` and saved beside the run, never written back.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from selfsup.schedules import MAX_WARMUP_FRACTION, capped_warmup, scaled_lr
from selfsup.train.precision import resolve_precision

MAX_IMAGE_SIZE = 4096  # larger squares are a typo, and would be allocated for every image before training
MAX_EPOCHS = 1_000_000  # refuse typos such as 1e12 before the sampler plans that many steps
MAX_STEPS = 10**9
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")


def require_finite(section: Any, prefix: str) -> None:
    """Refuse ``nan``/``inf`` in any float field of a config section (YAML reads ``.nan`` and ``.inf``
    as numbers, and every comparison with NaN is false, so range checks alone let them through)."""
    for f in dataclasses.fields(section):
        values = getattr(section, f.name)
        for value in values if isinstance(values, (tuple, list)) else (values,):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{prefix}.{f.name} must be a finite number, got {value}")


@dataclass
class DataConfig:
    """Which data to pretrain and evaluate on."""

    name: str = "fashion_mnist"  # fashion_mnist | digits | folder (see `selfsup list`)
    root: str | None = None  # None: the dataset's default location
    image_size: int | None = None  # None: the dataset's native size (28 for Fashion-MNIST)
    strict: bool = False  # folder data: error on corrupt images instead of skipping them
    num_workers: int = 0  # loader worker processes (in-memory datasets need none)
    max_train_items: int | None = None  # pretrain on a prefix of the train split (quick runs)

    def validate(self) -> None:
        if self.image_size is not None and not 8 <= self.image_size <= MAX_IMAGE_SIZE:
            raise ValueError(
                f"data.image_size must be between 8 and {MAX_IMAGE_SIZE} px (datasets are resized in memory "
                f"before training), got {self.image_size}"
            )
        if self.num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {self.num_workers}")


@dataclass
class OptimConfig:
    """Optimizer and learning-rate schedule. ``lr`` is per 256 images (see ``lr_scaling``)."""

    name: str = "sgd"  # sgd | adamw | lars
    lr: float = 0.3  # SimCLR: 0.3 × batch/256 with LARS (Chen et al. 2020, §B.1)
    lr_scaling: str = "linear"  # linear | sqrt | none
    min_lr: float = 0.0  # final lr of the cosine decay (absolute)
    weight_decay: float = 1e-6  # SimCLR: 1e-6 with LARS; use ~5e-4 with plain SGD on small data
    final_weight_decay: float | None = None  # cosine weight_decay -> this over training (DINO: 0.04 -> 0.4)
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_epochs: float = 10.0  # SimCLR: 10 epochs of linear warm-up
    grad_clip: float | None = None  # max global grad norm; None disables

    def validate(self) -> None:
        require_finite(self, "optim")
        if self.min_lr < 0:
            raise ValueError(
                f"optim.min_lr must be >= 0 (the final lr of the cosine decay), got {self.min_lr}"
            )
        if not 0 <= self.momentum < 1:
            raise ValueError(f"optim.momentum must be in [0, 1), got {self.momentum}")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"optim.betas must both be in [0, 1), got {list(self.betas)}")
        if self.name not in ("sgd", "adamw", "lars"):
            raise ValueError(f"optim.name must be one of sgd, adamw, lars; got {self.name!r}")
        if not self.lr > 0:
            raise ValueError(f"optim.lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        if self.final_weight_decay is not None:
            if self.final_weight_decay < 0:
                raise ValueError(
                    f"optim.final_weight_decay must be >= 0 or null, got {self.final_weight_decay}"
                )
            if not self.weight_decay > 0:
                raise ValueError(
                    "optim.final_weight_decay schedules the decay from optim.weight_decay, which must then be "
                    f"> 0 (DINO: 0.04 -> 0.4); got optim.weight_decay={self.weight_decay}"
                )
        if self.warmup_epochs < 0:
            raise ValueError(f"optim.warmup_epochs must be >= 0, got {self.warmup_epochs}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"optim.grad_clip must be > 0 or null, got {self.grad_clip}")
        scaled_lr(1.0, 256, self.lr_scaling)  # raises on an unknown rule


@dataclass
class TrainConfig:
    """Trainer settings (mapped onto ``lightning.Trainer``)."""

    batch_size: int = 256  # per device, per micro-batch
    epochs: float = 10.0
    max_steps: int | None = None  # overrides epochs when set
    time_budget_minutes: float | None = None  # cap the steps to fit this wall-clock budget (timed at start)
    accumulate: int = 1  # gradient accumulation (micro-batches per optimizer step)
    precision: str = "auto"  # auto: bf16-mixed where the hardware has native bf16, else 32-true
    accelerator: str = "auto"  # cpu | gpu | auto
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"  # auto | ddp | ddp_spawn | fsdp
    sync_batchnorm: bool = False
    seed: int = 0
    out_dir: str = "runs"
    run_name: str | None = None  # default: <method>-<dataset>-<timestamp>
    checkpoint_every: int = 500  # optimizer steps between checkpoints (and one at the end)
    log_every: int = 10
    online_knn_every: int = 0  # steps between online kNN checks (0: off)
    online_knn_items: int = 5000  # train/test items used by the online kNN monitor
    quality_every: int = 50  # steps between label-free quality signals of the batch features (0: off)
    progress_bar: bool = True
    deterministic: bool = False
    channels_last: bool | str = "auto"  # auto: NHWC for CNNs on CUDA (selfsup.train.device_options)
    compile: bool = False  # torch.compile (regional: each transformer block) -- GPU runs of many steps
    activation_checkpointing: bool = False  # fsdp only: recompute each block in backward (less memory)

    def validate(self) -> None:
        require_finite(self, "train")
        if not isinstance(self.activation_checkpointing, bool):
            raise ValueError(
                f"train.activation_checkpointing must be true or false, got {self.activation_checkpointing!r}"
            )
        if self.activation_checkpointing and self.strategy != "fsdp":
            raise ValueError(
                "train.activation_checkpointing=true is applied by the fsdp strategy (to each transformer "
                f"block), but train.strategy={self.strategy!r}; set train.strategy=fsdp or "
                "train.activation_checkpointing=false"
            )
        if str(self.channels_last).lower() not in ("auto", "true", "false"):
            raise ValueError(f"train.channels_last must be auto, true or false; got {self.channels_last!r}")
        if self.quality_every < 0:
            raise ValueError(f"train.quality_every must be >= 0 (0 turns it off), got {self.quality_every}")
        if self.batch_size < 1:
            raise ValueError(f"train.batch_size must be >= 1, got {self.batch_size}")
        if not self.epochs > 0 and self.max_steps is None:
            raise ValueError(f"train.epochs must be > 0, got {self.epochs}")
        if self.epochs > MAX_EPOCHS:
            raise ValueError(f"train.epochs must be <= {MAX_EPOCHS}, got {self.epochs}; use a smaller number")
        if self.max_steps is not None and self.max_steps > MAX_STEPS:
            raise ValueError(f"train.max_steps must be <= {MAX_STEPS}, got {self.max_steps}")
        if self.devices < 1:
            raise ValueError(f"train.devices must be >= 1 (devices per node), got {self.devices}")
        if self.num_nodes < 1:
            raise ValueError(f"train.num_nodes must be >= 1, got {self.num_nodes}")
        if self.accelerator not in ACCELERATORS:
            raise ValueError(
                f"train.accelerator must be one of {', '.join(ACCELERATORS)}; got {self.accelerator!r}"
            )
        if self.time_budget_minutes is not None and not self.time_budget_minutes > 0:
            raise ValueError(f"train.time_budget_minutes must be > 0, got {self.time_budget_minutes}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"train.max_steps must be >= 1, got {self.max_steps}")
        if self.accumulate < 1:
            raise ValueError(f"train.accumulate must be >= 1, got {self.accumulate}")
        if self.precision not in ("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true"):
            raise ValueError(
                "train.precision must be one of auto, 32-true, bf16-mixed, 16-mixed, bf16-true; "
                f"got {self.precision!r}"
            )
        if self.checkpoint_every < 1:
            raise ValueError(f"train.checkpoint_every must be >= 1, got {self.checkpoint_every}")


@dataclass
class EvalConfig:
    """Evaluation protocol after pretraining (kNN as in Wu et al. 2018 / DINO)."""

    knn_k: int = 20  # DINO: 20 neighbours
    knn_temperature: float = 0.07  # DINO / InstDisc: T = 0.07
    linear: bool = True
    baselines: bool = True  # also print raw-pixel and random-init kNN
    max_train_items: int | None = None  # evaluate on a prefix (quick runs)
    max_test_items: int | None = None

    def validate(self) -> None:
        require_finite(self, "eval")
        if self.knn_k < 1:
            raise ValueError(f"eval.knn_k must be >= 1, got {self.knn_k}")
        if not self.knn_temperature > 0:
            raise ValueError(f"eval.knn_temperature must be > 0, got {self.knn_temperature}")


@dataclass
class RunConfig:
    """Everything a pretraining run needs. ``method`` is the method's own Config."""

    method_name: str = "simclr"
    backbone: str = "resnet_small"
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    method: Any = None
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def validate(self) -> None:
        if dataclasses.is_dataclass(self.method):
            require_finite(self.method, "method")
        for section in (self.data, self.optim, self.train, self.eval, self.method):
            if hasattr(section, "validate"):
                section.validate()


@dataclass(frozen=True)
class Derived:
    """Values computed once from a config and the data; saved as ``derived.json``."""

    world_size: int
    global_batch: int  # batch_size × accumulate × world_size
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    peak_lr: float
    train_items: int
    precision: str  # the resolved train.precision
    input: dict | None = None  # the encoder's InputSpec (selfsup.types), recorded for evaluation


def derive(cfg: RunConfig, train_items: int, world_size: int = 1, step_cap: int | None = None) -> Derived:
    """Global batch, steps and scaled learning rate for ``train_items`` training images.

    ``step_cap`` (from a time budget) caps the total steps; warm-up shrinks in proportion, and never
    exceeds ``MAX_WARMUP_FRACTION`` of the run (``warmup_cap_note`` says when it was capped).
    """
    global_batch = cfg.train.batch_size * cfg.train.accumulate * world_size
    if train_items < global_batch:
        raise ValueError(
            f"the training set has {train_items} images but one step needs a global batch of "
            f"{global_batch}; lower train.batch_size or use more data"
        )
    steps_per_epoch = train_items // global_batch  # drop the last partial batch
    total = planned_steps(cfg, steps_per_epoch)
    if step_cap is not None:
        total = max(1, min(total, step_cap))
    return Derived(
        world_size=world_size,
        global_batch=global_batch,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        warmup_steps=capped_warmup(requested_warmup(cfg, steps_per_epoch, total), total),
        peak_lr=scaled_lr(cfg.optim.lr, global_batch, cfg.optim.lr_scaling),
        train_items=train_items,
        precision=resolve_precision(cfg.train.precision, cfg.train.accelerator),
    )


def planned_steps(cfg: RunConfig, steps_per_epoch: int) -> int:
    """The run's length without a time budget: ``train.max_steps``, else ``train.epochs`` of steps."""
    if cfg.train.max_steps is not None:
        return cfg.train.max_steps
    return max(1, math.ceil(cfg.train.epochs * steps_per_epoch))


def requested_warmup(cfg: RunConfig, steps_per_epoch: int, total_steps: int) -> float:
    """``optim.warmup_epochs`` in steps, shrunk in proportion where a time budget shortened the run."""
    return cfg.optim.warmup_epochs * steps_per_epoch * total_steps / planned_steps(cfg, steps_per_epoch)


def warmup_cap_note(cfg: RunConfig, derived: Derived) -> str | None:
    """One line when ``derive`` capped the warm-up (``selfsup.schedules.MAX_WARMUP_FRACTION``)."""
    requested = round(requested_warmup(cfg, derived.steps_per_epoch, derived.total_steps))
    if requested <= derived.warmup_steps:
        return None
    return (
        f"optim.warmup_epochs={cfg.optim.warmup_epochs:g} is {requested:,} warm-up steps of the run's "
        f"{derived.total_steps:,}; capped at {100 * MAX_WARMUP_FRACTION:g} % ({derived.warmup_steps:,} steps) so the "
        "learning rate decays (the papers warm up for 3-13 % of training); lower optim.warmup_epochs or train longer"
    )
