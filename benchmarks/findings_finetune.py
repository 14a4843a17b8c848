"""Choose the fine-tune recipe of `selfsup findings` on Fashion-MNIST's validation split.

Every variant fine-tunes the encoder of each given finished run (``RUN/encoder.safetensors``) with
``EvalSettings.finetune_config`` on the findings' evaluation data (the first 20,000 train images:
18,000 fit, 2,000 validation; ``selfsup.eval.protocol.load_eval_data``) and is scored on the
validation images only: this script never reads a test label. The variant with the best mean
validation accuracy over the runs replaces the one before (the first) only when it leads by more
than one binomial standard error, sqrt(p (1 - p) / n_val); a smaller lead is a tie.

    OMP_NUM_THREADS=1 python benchmarks/findings_finetune.py RUN [RUN ...] [--out FILE.json]

Results are saved after every fine-tune (per run and variant), so an interrupted sweep resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import time
from pathlib import Path

from selfsup.eval.findings.scoring import EvalSettings
from selfsup.eval.finetune import finetune
from selfsup.eval.protocol import load_eval_data
from selfsup.export import load_encoder
from selfsup.runs import input_spec_of

# The recipe before this choice (the first variant, which stays unless another leads), then the others.
BEFORE = EvalSettings(max_train=20000, finetune_steps=300, finetune_lr=1e-2, finetune_crop_scale=(0.08, 1.0))
VARIANTS = {
    "300 steps (before)": {},
    "crop 0.35-1": {"finetune_crop_scale": (0.35, 1.0)},
    "crop 0.7-1": {"finetune_crop_scale": (0.7, 1.0)},
    "lr 3e-3": {"finetune_lr": 3e-3},
    "1000 steps": {"finetune_steps": 1000},
    "1000 steps, crop 0.7-1": {"finetune_steps": 1000, "finetune_crop_scale": (0.7, 1.0)},
    "1000 steps, crop 0.9-1": {"finetune_steps": 1000, "finetune_crop_scale": (0.9, 1.0)},
    "1000 steps, flip only": {"finetune_steps": 1000, "finetune_crop_scale": (1.0, 1.0)},
}


def settings_line(s: EvalSettings) -> str:
    lo, hi = s.finetune_crop_scale
    return f"{s.finetune_steps} steps, lr {s.finetune_lr:g}, crop [{lo:g}, {hi:g}]"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="finished pretraining runs (Fashion-MNIST)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/ablations/findings_finetune.json"))
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    data_by_size = {}
    for run in args.runs:
        spec = input_spec_of(run / "encoder.safetensors")
        size = spec.image_size
        if size not in data_by_size:
            data_by_size[size] = load_eval_data("fashion_mnist", None, size, BEFORE.max_train, 1)
        data = data_by_size[size]
        fit, val = data.validation
        x, y = data.train_images, data.train_labels
        encoder = load_encoder(run / "encoder.safetensors")
        for name in args.variants:
            settings = dataclasses.replace(BEFORE, **VARIANTS[name])
            key = f"{run.name}|{settings_line(settings)}"
            if key in results:
                continue
            cfg = settings.finetune_config(int(fit.numel()), seed=0)
            started = time.perf_counter()
            result = finetune(
                encoder, x[fit], y[fit], x[val], y[val], cfg, image_size=size, mean=spec.mean, std=spec.std
            )
            results[key] = {"run": run.name, "variant": name, "val": float(result.test_accuracy)}
            print(
                f"{run.name} {name}: val {100 * result.test_accuracy:.2f} ({time.perf_counter() - started:.0f} s)"
            )
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1))
    n_val = int(data_by_size[next(iter(data_by_size))].validation[1].numel())
    means = {}
    print(f"\nvalidation top-1 (%), mean over {len(args.runs)} run(s), {n_val} validation images:")
    for name in args.variants:
        settings = dataclasses.replace(BEFORE, **VARIANTS[name])
        vals = [results[f"{r.name}|{settings_line(settings)}"]["val"] for r in args.runs]
        means[name] = statistics.mean(vals)
        print(
            f"  {name:22s} ({settings_line(settings)}): {100 * means[name]:.2f}  [{', '.join(f'{100 * v:.2f}' for v in vals)}]"
        )
    best = max(means, key=means.get)
    before = args.variants[0]
    error = math.sqrt(means[before] * (1 - means[before]) / (n_val * len(args.runs)))
    lead = means[best] - means[before]
    chosen = best if lead > error else before
    print(
        f"best {best!r} leads {before!r} by {100 * lead:.2f} (one standard error {100 * error:.2f}): choose {chosen!r}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
