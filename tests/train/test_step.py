"""The one step driver: the trainer's step and the standalone step (calibration, bench) are the same."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from selfsup.data import create_dataset
from selfsup.train.build import build_method
from selfsup.train.config import derive
from selfsup.train.config_loader import load_run_config
from selfsup.train.optimizers import build_optimizer
from selfsup.train.phase_timer import STEP_PHASES, PhaseTimer
from selfsup.train.pretrain import pretrain
from selfsup.train.sampler import step_loader
from selfsup.train.step import TrainStep, attach_inputs
from selfsup.types import Batch

TINY = [
    "data.name=digits",
    "backbone_kwargs={width: 4, depths: [1, 1, 1, 1]}",
    "method.proj_hidden_dim=16",
    "method.proj_out_dim=8",
    "train.batch_size=16",
    "train.precision=32-true",
    "train.progress_bar=false",
    "optim.warmup_epochs=0.05",
]


def standalone(cfg, steps: int, timer: PhaseTimer | None = None):
    """What `pretrain` does, without Lightning: same seed, init, loader, schedules, hooks and clipping."""
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    dataset = create_dataset(cfg.data.name, "train", root=cfg.data.root)
    derived = derive(cfg, len(dataset))
    method = build_method(cfg, dataset.channels, dataset.image_size[0])
    optimizer = build_optimizer(method, cfg.optim, derived.peak_lr)
    driver = TrainStep(method, cfg, derived, timer=timer)
    batches = iter(step_loader(dataset, cfg, derived))
    for step in range(steps):
        driver.run(optimizer, [next(batches) for _ in range(cfg.train.accumulate)], step)
    return method


@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("simclr", ["optim.grad_clip=0.5", "train.accumulate=2"]),  # clipping, loss / accumulate
        ("moco", ["method.queue_size=64"]),  # EMA teacher and queue hooks
    ],
)
def test_the_trainer_and_the_standalone_step_train_the_same_weights(tmp_path, method, extra):
    cfg = load_run_config(
        None, [*TINY, *extra, "train.max_steps=3", f"train.out_dir={tmp_path}"], method=method
    )
    trained = pretrain(cfg).method.state_dict()
    alone = standalone(cfg, 3).state_dict()
    assert trained.keys() == alone.keys()
    for key in trained:
        torch.testing.assert_close(alone[key], trained[key], rtol=0, atol=0, msg=key)


def test_the_driver_attaches_raw_images_indices_and_class_labels():
    images = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    labels, indices, tokens = torch.tensor([3, 4]), torch.tensor([7, 9]), torch.ones(2, 5, dtype=torch.long)
    batch = attach_inputs(Batch(views=[images.float()]), images, labels, indices)
    assert batch.images is images and batch.indices is indices and batch.labels is labels
    # token ids [B, L] (CLIP's second item) are not class labels; a method's own choice is kept
    assert attach_inputs(Batch(views=[images.float()]), images, tokens, indices).labels is None
    own = torch.tensor([0, 1])
    assert attach_inputs(Batch(views=[images.float()], labels=own), images, labels, indices).labels is own


def test_a_phase_timer_sees_every_phase_and_changes_nothing(tmp_path):
    """Timing the phases (`selfsup bench --phases`) charges each of the four to the timer and trains the
    same weights as the untimed step (accumulation: views, forward and backward run once per micro-batch)."""
    cfg = load_run_config(None, [*TINY, "train.accumulate=2", f"train.out_dir={tmp_path}"], method="moco")
    timer = PhaseTimer()
    timed = standalone(cfg, 2, timer).state_dict()
    plain = standalone(cfg, 2).state_dict()
    for key in plain:
        torch.testing.assert_close(timed[key], plain[key], rtol=0, atol=0, msg=key)
    per_step = timer.per_step_ms(2)
    assert tuple(per_step) == STEP_PHASES and all(ms > 0 for ms in per_step.values())
