"""A complete fake run directory for the report tests: logs, results, pictures and a real encoder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

from selfsup.backbones import create_backbone
from selfsup.export import export_encoder

# Columns as the trainer writes them (DINO-style monitors included); "online/knn" is sparse.
METRIC_COLUMNS = [
    "train/loss",
    "train/lr",
    "train/pretext_acc",
    "train/teacher_entropy",
    "train/kl_teacher_student",
    "train/embedding_std",
    "train/collapse",
    "train/grad_norm",
    "online/knn",
]
RESULTS = [
    {"name": "raw pixels", "knn": 0.8123, "linear": None, "feature_dim": 64, "seconds": 0.5},
    {"name": "random init", "knn": 0.6011, "linear": 0.7002, "feature_dim": 32, "seconds": 1.0},
    {"name": "dino", "knn": 0.9345, "linear": 0.9512, "feature_dim": 32, "seconds": 1.2},
]
LABEL_EFFICIENCY = [
    {"encoder": "dino", "protocol": "linear", "fraction": f, "num_labels": n, "accuracy": a}
    for f, n, a in [(0.1, 143, 0.8111), (1.0, 1433, 0.9432)]
]


def _value(col: str, step: int) -> float:
    return {
        "train/loss": 5.0 * math.exp(-step / 40) + 1.0,
        "train/lr": 0.1 * min(1.0, step / 20),
        "train/pretext_acc": 1.0 - math.exp(-step / 30),
        "train/teacher_entropy": 3.0 - step / 100,
        "train/kl_teacher_student": 0.5 + step / 500,
        "train/embedding_std": 0.1 + step / 2000,
        "train/collapse": 0.0,
        "train/grad_norm": 1.0 / (1 + step / 10),
    }.get(col, 0.5 + step / 1000)


def _write_csv(path: Path, steps: range, shift: float = 0.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["epoch,step," + ",".join(METRIC_COLUMNS)]
    for s in steps:
        cells = [
            "" if c == "online/knn" and (s + 1) % 40 else f"{_value(c, s) + shift:.6g}"
            for c in METRIC_COLUMNS
        ]
        lines.append(f"{s // 50},{s}," + ",".join(cells))
    path.write_text("\n".join(lines) + "\n")


def make_run(root: Path, name: str = "dino-digits-1", lr: float = 0.1, encoder: bool = True) -> Path:
    run = root / name
    config = {
        "backbone": "resnet_small",
        "backbone_kwargs": {"width": 4, "depths": [1, 1, 1, 1]},
        "method": {"name": "dino", "out_dim": 64},
        "data": {"name": "digits", "root": None, "image_size": None},
        "optim": {"name": "adamw", "lr": lr},
        "train": {"batch_size": 64, "seed": 0},
    }
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (run / "derived.json").write_text(json.dumps({"global_batch": 64, "total_steps": 120, "peak_lr": lr}))
    # A resumed run: version_1 re-logs steps 90-99 (the later segment must win) and goes on to 119.
    _write_csv(run / "logs/version_0/metrics.csv", range(9, 100, 10), shift=100.0)
    _write_csv(run / "logs/version_1/metrics.csv", range(89, 120, 10))
    (run / "results.json").write_text(json.dumps(RESULTS))
    (run / "quality.json").write_text(json.dumps({"rankme": 12.5, "alignment": 0.42}))
    (run / "label_efficiency.json").write_text(json.dumps(LABEL_EFFICIENCY))
    rng = np.random.default_rng(0)
    viz = run / "viz"
    (viz / "reconstructions").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 255, (24, 40, 3), dtype=np.uint8)).save(
        viz / "reconstructions/mask075.png"
    )
    (viz / "reconstructions/mask075.txt").write_text("MAE reconstructions at 75 % masking\n")
    Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(viz / "attention.png")
    if encoder:
        torch.manual_seed(0)
        backbone = create_backbone("resnet_small", in_chans=1, image_size=8, width=4, depths=[1, 1, 1, 1])
        export_encoder(backbone, run / "encoder", method="dino", image_size=8, mean=[0.5], std=[0.5])
    return run
