"""The multi-GPU shard recipes keep the official implementations' distributed choices: synchronized batch
norm (SimCLR's global BN; DINO converts its networks to SyncBN whenever they have batch norm) and DINO's
student-only stochastic depth."""

from __future__ import annotations

from pathlib import Path

import torch

from selfsup.train.build import build_method
from selfsup.train.config_loader import load_run_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def test_simclr_shards_recipe_uses_synchronized_batch_norm():
    # SimCLR §2.2 "Global BN"; google-research/simclr run.py: global_bn defaults to True.
    cfg = load_run_config(CONFIG_DIR / "simclr_resnet50_shards.yaml")
    assert cfg.backbone == "tv:resnet50"
    assert cfg.train.sync_batchnorm is True


def test_dino_shards_recipe_syncs_batch_norm_and_drops_paths_in_the_student_only():
    cfg = load_run_config(CONFIG_DIR / "dino_vit_small_shards.yaml")
    assert cfg.train.sync_batchnorm is True
    assert cfg.backbone_kwargs["drop_path_rate"] == 0.1  # main_dino.py --drop_path_rate default
    # Build at a tiny size: the student has stochastic depth, the EMA teacher none.
    cfg.method.out_dim, cfg.method.hidden_dim, cfg.method.bottleneck_dim = 16, 16, 8
    torch.manual_seed(0)
    method = build_method(cfg, 3, 32)
    rates = [b.drop_path1.drop_prob for b in method.student.model.blocks[1:]]
    assert rates and all(r > 0 for r in rates)
    assert all(getattr(b.drop_path1, "drop_prob", 0.0) == 0.0 for b in method.teacher.model.blocks)
