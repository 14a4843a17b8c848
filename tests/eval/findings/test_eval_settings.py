"""The findings' evaluation settings: the fine-tune recipe they build and the cache keys they give."""

from __future__ import annotations

import dataclasses

import pytest

from selfsup.eval.findings.scoring import EvalSettings


def test_the_finetune_recipe_is_cut_to_the_step_cap_with_a_tenth_of_warm_up() -> None:
    settings = EvalSettings(finetune_steps=300, finetune_lr=3e-3, finetune_crop_scale=(0.35, 1.0))
    cfg = settings.finetune_config(num_images=18000, seed=2)
    steps_per_epoch = 18000 // cfg.batch_size
    assert cfg.epochs * steps_per_epoch == pytest.approx(300)
    assert cfg.warmup_epochs == pytest.approx(0.1 * cfg.epochs)
    assert (cfg.lr, cfg.crop_scale, cfg.seed) == (3e-3, (0.35, 1.0), 2)


def test_a_short_dataset_keeps_the_recipes_own_epochs() -> None:
    cfg = EvalSettings(finetune_steps=10_000).finetune_config(num_images=256, seed=0)
    assert cfg.epochs == 10.0  # FinetuneConfig's default: the cap does not bind


@pytest.mark.parametrize(
    "change", [{"finetune_steps": 500}, {"finetune_lr": 3e-3}, {"finetune_crop_scale": (0.35, 1.0)}]
)
def test_another_finetune_recipe_is_another_cache_entry_and_leaves_the_frozen_one(change: dict) -> None:
    shipped = EvalSettings(max_train=20000)
    other = dataclasses.replace(shipped, **change)
    assert other.key("finetune") != shipped.key("finetune")
    assert other.key("label_efficiency") != shipped.key("label_efficiency")
    assert other.key("frozen") == shipped.key("frozen")
