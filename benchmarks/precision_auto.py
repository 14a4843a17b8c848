"""What ``train.precision=auto`` chooses for shipped configs on this CPU, and why: the step timed at both.

On a CPU with native bf16 (AVX512-BF16 / AMX) ``auto`` times the run's own optimizer step at fp32 and
at bf16-mixed (``selfsup.train.calibrate.time_precisions``: interleaved, median of N steps after a
warm-up) and keeps the faster one. This script runs the same measurement for each config and prints a
table (it does not read or write the cache):

    python benchmarks/precision_auto.py [--configs simclr_fashion_mnist mae_fashion_mnist ...] [--steps 7]

Run it on a quiet machine; the ratio is what matters (both precisions share every load change).
"""

from __future__ import annotations

import argparse

import torch

from selfsup.data import create_dataset
from selfsup.train.build import build_method
from selfsup.train.calibrate import time_precisions
from selfsup.train.config import derive
from selfsup.train.config_loader import load_run_config
from selfsup.train.precision import MEASURED, cpu_has_native_bf16, cpu_model

DEFAULT = ("simclr_fashion_mnist", "moco_fashion_mnist", "mae_fashion_mnist", "dino_fashion_mnist")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", nargs="+", default=list(DEFAULT), help="shipped config stems")
    p.add_argument("--steps", type=int, default=7, help="timed steps per precision (after 3 warm-up steps)")
    args = p.parse_args()
    print(f"CPU: {cpu_model()}, native bf16: {cpu_has_native_bf16()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    print("| config | s/step fp32 | s/step bf16-mixed | bf16 speed-up | auto chooses |")
    print("|---|---:|---:|---:|---|")
    for stem in args.configs:
        cfg = load_run_config(f"configs/{stem}.yaml")  # the file names its method
        data = create_dataset(cfg.data.name, "train", root=cfg.data.root, image_size=cfg.data.image_size)
        model = build_method(cfg, data.channels, cfg.data.image_size or data.image_size[0])
        seconds = time_precisions(model, data, cfg, derive(cfg, len(data)), MEASURED, steps=args.steps)
        fp32, bf16 = seconds["32-true"], seconds["bf16-mixed"]
        print(f"| {stem} | {fp32:.3f} | {bf16:.3f} | {fp32 / bf16:.2f}x | {min(seconds, key=seconds.get)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
