"""Every shipped YAML in configs/ loads strictly and builds a method that trains on a tiny input.

``tests/train/test_config_loader.py`` only loads the files; this also builds the configured backbone and
method on the data's channel count and image size and runs one ``make_batch`` + ``training_step`` on 16
random images, so a config whose fields are valid one by one but do not fit together (a patch larger than
the image, a queue that does not match the head, a mistyped recipe field) fails here, not minutes into a run.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from selfsup.methods.base import Method
from selfsup.train.build import build_method
from selfsup.train.config_loader import load_run_config
from selfsup.types import Progress

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))

# Channels and native side of each dataset when the config does not set data.image_size
# (selfsup/data/factory.py: Fashion-MNIST 28 px grayscale, digits 8 px grayscale, folders and stamps
# 64 px RGB; video pairs stack two RGB frames). Caption datasets give token ids as labels and unknown
# kinds need inputs a generic tiny batch cannot stand in for: those configs are loaded and built only,
# and their methods' own tests run their steps.
_NATIVE = {
    "fashion_mnist": (1, 28),
    "digits": (1, 8),
    "folder": (3, 64),
    "stamps": (3, 64),
    "video_pairs": (6, 64),
}


def test_configs_exist_for_every_method_and_data_kind():
    names = {p.stem for p in CONFIGS}
    for method in ("simclr", "moco", "mocov3", "cpc"):
        assert f"{method}_fashion_mnist" in names
    for method in ("moco", "mocov3", "cpc"):
        assert f"{method}_image_folder" in names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_loads_strictly_and_builds_a_method_that_trains(path: Path):
    cfg = load_run_config(path)
    assert path.stem.startswith(cfg.method_name + "_"), "configs/<method>_<data>.yaml must name its method"
    known = cfg.data.name in _NATIVE
    channels, native = _NATIVE.get(cfg.data.name, (3, 64))
    size = cfg.data.image_size or native
    if getattr(cfg.method, "num_classes", 0) is None:
        cfg.method.num_classes = 10  # set from the dataset by `selfsup pretrain supervised`
    torch.manual_seed(0)
    method = build_method(cfg, channels, size)
    assert isinstance(method, Method)
    if not known:
        return
    # 16 images: divisible by the shuffle-BN groups of the MoCo configs (8), enough negatives for all.
    batch_size = max(16, method.min_batch_size)
    images = torch.randint(0, 256, (batch_size, channels, size, size), dtype=torch.uint8)
    labels = torch.arange(batch_size) % 10  # as the data loader gives
    batch = method.make_batch(images, labels, generator=torch.Generator().manual_seed(0))
    out = method.training_step(batch, Progress(0, 10))
    assert out.loss.dim() == 0 and math.isfinite(out.loss.item())
    out.loss.backward()
    # Some methods evaluate an EMA copy (DINO's teacher), so check the trainable parameters.
    trainable = [p for p in method.parameters() if p.requires_grad]
    assert trainable and any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)


def test_folder_configs_name_a_placeholder_root_the_user_overrides():
    for path in CONFIG_DIR.glob("*_image_folder.yaml"):
        cfg = load_run_config(path)
        assert cfg.data.name == "folder" and cfg.data.root
        overridden = load_run_config(path, ["data.root=/some/where"])
        assert overridden.data.root == "/some/where"
