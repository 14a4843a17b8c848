"""Re-choose a shipped config's values on the validation split: run each variant, choose by validation only.

Every variant is one `selfsup pretrain` of the shipped config with a fixed step count (so the machine's
load changes wall time, not results) plus the variant's overrides. The command's own evaluation table
gives kNN and linear-probe accuracy on the validation split carved from the training split
(`selfsup.data.splits`: 10 %, stratified, seed 0). The variant with the best mean of the two validation
accuracies (averaged over seeds) replaces the shipped one (the first variant) only when it leads by
more than one binomial standard error of an accuracy on the validation set, sqrt(p (1 - p) / n);
a smaller lead is a tie and the shipped value stays. The choice is made by this script before any
test number is read; the summary then shows the test accuracy of the chosen variant only (scored
once, in its run).

    python benchmarks/ablate.py --list
    OMP_NUM_THREADS=1 python benchmarks/ablate.py jigsaw_permutations [--seeds 0 1 2] [--out benchmarks/ablations]
    python benchmarks/ablate.py main_job_multicrop --variants 0 3 --seeds 0 1 2   # a second look at a lead

``--variants`` re-runs a subset (indices in ``--list`` order; 0, the shipped config, is always kept), e.g.
the shipped config and the one-seed leader over more seeds; that summary goes to ``summary-v0-3.md``.

An ablation with ``budget_minutes`` compares variants at equal *wall time* instead (a wider network
gets fewer steps): before any training, each variant's own budget calibration runs once, with the
machine otherwise idle, and its step count is saved in OUT/NAME/plan.json; the runs then train those
fixed step counts, so later load changes wall time only.

Finished runs (RUN/results.json present) are reused, so an interrupted ablation resumes. The summary is
written to OUT/NAME/summary.md and summary.json.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Ablation:
    config: str
    steps: int
    variants: dict[str, list[str]]  # name -> overrides; the first is the shipped config
    eval_items: tuple[int | None, int | None] = (None, None)  # eval.max_train_items / max_test_items
    common: list[str] = field(default_factory=list)
    question: str = ""
    budget_minutes: float | None = None  # equal wall time: steps from each variant's calibration
    same_cost: tuple[str, ...] = ()  # override keys that leave the step's cost unchanged (plans shared)


ABLATIONS = {
    "jigsaw_permutations": Ablation(
        "configs/jigsaw_fashion_mnist.yaml",
        666,
        {
            "N = 1000 (shipped)": [],
            "N = 100": ["method.num_permutations=100"],
            "N = 1000, per-tile standardization": ["method.standardize=true"],
        },
        (20000, 5000),
        question="jigsaw permutation-set size and per-tile standardization (Noroozi & Favaro 2016, §3.2, Table 3)",
    ),
    "mocov3_temperature": Ablation(
        "configs/mocov3_fashion_mnist.yaml",
        332,
        {"tau 0.2 (shipped)": [], "tau 1.0": ["method.temperature=1.0"]},
        (5000, 1000),
        question="MoCo v3 temperature: the paper's 0.2 vs the reference ResNet-50 recipe's 1.0",
    ),
    "cpc_patch_size": Ablation(
        "configs/cpc_fashion_mnist.yaml",
        300,
        {
            "14 px, batch 32 (shipped)": [],
            "8 px patches": ["method.patch_size=8"],
            "14 px, batch 64": ["train.batch_size=64"],
        },
        (5000, 1000),
        question="CPC patch size and batch at a few hundred steps",
    ),
    "inpainting_recipe": Ablation(
        "configs/inpainting_fashion_mnist.yaml",
        300,
        {
            "region, pooled bridge, mean fill, overlap, lr 4e-3 (shipped)": [],
            "central square mask": ["method.mask=center"],
            "no bridge (decoder reads the feature map)": ["method.bridge=none"],
            "zero fill": ["method.fill=zero"],
            "no overlap band": ["method.overlap_px=0"],
            "lr 1e-3": ["optim.lr=1.0e-3"],
        },
        (10000, 2000),
        question="context-encoder mask, bridge, fill, overlap and learning rate (Pathak et al. 2016)",
    ),
    "colorization_rebalance": Ablation(
        "configs/colorization_stamps.yaml",
        500,
        {"plain classification (shipped)": [], "class rebalancing (lambda 0.5)": ["method.rebalance=true"]},
        question="colorization class rebalancing (Zhang et al. 2016 §2.2) on 641 stamps",
    ),
    "colorization_recipe": Ablation(
        "configs/colorization_stamps.yaml",
        500,
        {
            "stride 2, crop [0.5, 1], 32 px, 500 steps (shipped)": [],
            "output stride 1 (full resolution)": ["method.output_stride=1"],
            "output stride 4 (the paper's)": ["method.output_stride=4"],
            "crop scale [0.2, 1]": ["method.crop_scale=[0.2,1.0]"],
            "crop scale [0.8, 1]": ["method.crop_scale=[0.8,1.0]"],
            "1,000 steps": ["train.max_steps=1000"],
            "48 px": ["data.image_size=48"],
        },
        question="colorization output stride, crop scale, length and image size (Zhang et al. 2016 §3) on 641 stamps",
    ),
    "colorization_image_size": Ablation(  # colorization_recipe's pick, confirmed over 3 seeds
        "configs/colorization_stamps.yaml",
        500,
        {"32 px (shipped)": [], "48 px": ["data.image_size=48"]},
        question="colorization image size over 3 seeds (the one-seed pick of colorization_recipe)",
    ),
    "dino_recipe": Ablation(
        "configs/dino_fashion_mnist.yaml",
        854,
        {
            "head BN, teacher temperature 0.04 (shipped)": [],
            "no BN in the head MLP": ["method.head_bn=false"],
            "teacher temperature warmed up to 0.07": ["method.teacher_temp=0.07"],
        },
        (10000, 2000),
        question="DINO head batch norm and teacher temperature (Caron et al. 2021, §3.1, Appendix)",
    ),
    "dino_momentum_lr": Ablation(
        "configs/dino_fashion_mnist.yaml",
        854,
        {
            "momentum 0.99, lr 1e-3 per 256 (shipped)": [],
            "momentum 0.996 (the paper's)": ["method.momentum_teacher=0.996"],
            "lr 5e-4 per 256 (the paper's)": ["optim.lr=5.0e-4"],
        },
        (10000, 2000),
        question="DINO teacher momentum and learning rate for a sub-epoch run (Caron et al. 2021, §3.1)",
    ),
    "dino_budget": Ablation(
        "configs/dino_fashion_mnist.yaml",
        0,
        {
            "whole budget (shipped; epochs capped at 100)": [],
            "one epoch (the config before this ablation)": ["train.epochs=1"],
            "whole budget, momentum 0.996": ["method.momentum_teacher=0.996"],
        },
        question="DINO on Fashion-MNIST: one epoch vs the whole 8-minute budget, and the teacher momentum for the longer run",
        budget_minutes=8,
        same_cost=("method.momentum_teacher",),
    ),
    "main_job_recipe": Ablation(
        "configs/simclr_fashion_mnist.yaml",
        0,
        {
            "tau 0.5, epochs cap 6 (shipped)": [],
            "whole budget (no epochs cap)": ["train.epochs=100"],
            "whole budget, tau 0.2": ["train.epochs=100", "method.temperature=0.2"],
            "whole budget, tau 0.2, width 24": [
                "train.epochs=100",
                "method.temperature=0.2",
                "backbone_kwargs.width=24",
            ],
            "whole budget, tau 0.2, batch 128, lr 0.15": [
                "train.epochs=100",
                "method.temperature=0.2",
                "train.batch_size=128",
                "optim.lr=0.15",
            ],
        },
        question="the main job's recipe at its 8-minute budget (issue 21): epochs cap, temperature, width, batch",
        budget_minutes=8,
        same_cost=("method.temperature",),
    ),
    "main_job_views": Ablation(
        "configs/simclr_fashion_mnist.yaml",
        0,
        {
            "crop 0.2-1, jitter 0.5 (shipped)": [],
            "crop 0.4-1": ["method.views.crop_scale=[0.4, 1.0]"],
            "crop 0.08-1": ["method.views.crop_scale=[0.08, 1.0]"],
            "jitter 1.0": ["method.views.jitter_strength=1.0"],
            "crop 0.6-1": ["method.views.crop_scale=[0.6, 1.0]"],
            "jitter 1.0, crop 0.4-1": [
                "method.views.jitter_strength=1.0",
                "method.views.crop_scale=[0.4, 1.0]",
            ],
            "jitter 1.5": ["method.views.jitter_strength=1.5"],
        },
        question="the main job's augmentation strengths for 28 px grayscale at its 8-minute budget (issue 21)",
        budget_minutes=8,
        same_cost=("method.views.crop_scale", "method.views.jitter_strength"),
    ),
    "main_job_optim": Ablation(
        "configs/simclr_fashion_mnist.yaml",
        0,
        {
            "SGD lr 0.3, tau 0.5, width 16, eager (shipped)": [],
            "tau 0.2": ["method.temperature=0.2"],
            "SGD lr 0.6": ["optim.lr=0.6"],
            "LARS lr 1.2, wd 1e-6": ["optim.name=lars", "optim.lr=1.2", "optim.weight_decay=1.0e-6"],
            "width 20": ["backbone_kwargs.width=20"],
            "compiled step (more steps)": ["train.compile=true"],
        },
        question="the main job's temperature, optimizer (SimCLR's small-batch LARS: 0.075 x sqrt(256) = 1.2, "
        "wd 1e-6, Chen et al. 2020 §B.9), width and compiled step at its 8-minute budget, with the §1.3 views (issue 21)",
        budget_minutes=8,
        same_cost=("method.temperature", "optim.lr"),
    ),
    "main_job_head": Ablation(
        "configs/simclr_fashion_mnist.yaml",
        0,
        {
            "projector 128-128-128, depths 1-1-1-1 (shipped)": [],
            "projector hidden 512": ["method.proj_hidden_dim=512"],
            "3-layer projector (SimCLR v2)": ["method.proj_layers=3"],
            "3-layer projector, hidden 512": ["method.proj_layers=3", "method.proj_hidden_dim=512"],
            "depths 2-2-2-2 (fewer steps)": ["backbone_kwargs.depths=[2, 2, 2, 2]"],
        },
        question="the main job's projection head (SimCLR v2's deeper, wider projector, Chen et al. 2020b §2) "
        "and a deeper encoder at its 8-minute budget (issue 21); a 512-wide head adds < 1 % of a step's "
        "FLOPs, so the head variants share the shipped plan",
        budget_minutes=8,
        same_cost=("method.proj_hidden_dim", "method.proj_layers"),
    ),
    "main_job_multicrop": Ablation(
        "configs/simclr_fashion_mnist.yaml",
        0,
        {
            "2 views (shipped)": [],
            "2 + 2 local crops of 12 px": ["method.n_local_crops=2"],
            "2 + 4 local crops of 12 px": ["method.n_local_crops=4"],
            "2 + 6 local crops of 12 px": ["method.n_local_crops=6"],
        },
        question="multi-crop views for the main job's SimCLR (SwAV, Caron et al. 2020, §3.2: small local "
        "crops of 5-40 % of the image at 96/224 of the side, every crop of an image a positive) at its "
        "8-minute budget (issue 21)",
        budget_minutes=8,
    ),
    "colorization_lr": Ablation(
        "configs/colorization_stamps.yaml",
        500,
        {"Adam lr 1.2e-2 per 256 (shipped)": [], "Adam lr 4e-3 per 256": ["optim.lr=4.0e-3"]},
        question="colorization learning rate for 500 steps on 641 stamps",
    ),
    "supervised_crop_scale": Ablation(
        "configs/supervised_fashion_mnist.yaml",
        302,
        {"crop scale 0.8-1 (shipped)": [], "crop scale 0.5-1": ["method.crop_scale=[0.5, 1.0]"]},
        (10000, 2000),
        common=["method.num_classes=10"],  # `selfsup pretrain supervised` sets it from the data
        question="supervised ViT crop scale on 28 px images",
    ),
    "jigsaw_stamps_color": Ablation(
        "configs/jigsaw_stamps.yaml",
        300,
        {
            "standardize + channel jitter 1 + 30 % gray (shipped)": [],
            "no counter-measures": [
                "method.standardize=false",
                "method.channel_jitter=0",
                "method.gray_prob=0.0",
            ],
        },
        question="jigsaw colour counter-measures on colour stamps (Noroozi & Favaro 2016, §3.2)",
    ),
    "relative_patch_stamps_color": Ablation(
        "configs/relative_patch_stamps.yaml",
        1000,
        {
            "colour dropping (shipped)": [],
            "green-magenta projection": ["method.color=project"],
            "no counter-measure": ["method.color=none"],
        },
        question="relative-patch chromatic-aberration counter-measure on colour stamps (Doersch et al. 2015, §3)",
    ),
}


def _method(ab: Ablation) -> str:
    method = Path(ab.config).stem.split("_")[0]
    return {"relative": "relative_patch", "split": "split_brain"}.get(method, method)


def planned_steps(ab: Ablation, overrides: list[str], out: Path) -> int:
    """The step count ``ab.budget_minutes`` gives this variant here: its run's own calibration (the
    run is stopped as soon as it has written ``derived.json``, before the first training step)."""
    run = out / f".plan-{abs(hash(tuple(overrides))):x}"
    shutil.rmtree(run, ignore_errors=True)
    cmd = [
        sys.executable, "-m", "selfsup.cli", "pretrain", _method(ab), "--config", ab.config,
        f"train.time_budget_minutes={ab.budget_minutes}", "train.progress_bar=false",
        f"train.out_dir={out}", f"train.run_name={run.name}", *ab.common, *overrides,
    ]  # fmt: skip
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        while not (run / "derived.json").is_file():
            if proc.poll() is not None:
                raise RuntimeError(f"planning {overrides} failed: {proc.stderr.read()[-2000:]}")
            time.sleep(0.2)
        proc.terminate()
    steps = int(json.loads((run / "derived.json").read_text())["total_steps"])
    shutil.rmtree(run, ignore_errors=True)
    return steps


def _own_steps(overrides: list[str], default: int) -> int:
    own = [o.split("=", 1)[1] for o in overrides if o.startswith("train.max_steps=")]
    return int(own[-1]) if own else default


def plan(ab: Ablation, out: Path) -> dict[str, int]:
    """Steps per variant: ``ab.steps`` for all, or the median of three calibrations of the variant's
    cost signature (its overrides less ``ab.same_cost`` keys) for ``ab.budget_minutes`` (saved, reused)."""
    if ab.budget_minutes is None:  # a variant may set its own length with train.max_steps=N
        return {name: _own_steps(overrides, ab.steps) for name, overrides in ab.variants.items()}
    path = out / "plan.json"
    saved = json.loads(path.read_text()) if path.is_file() else {}
    steps = {}
    for name, overrides in ab.variants.items():
        cost = [o for o in overrides if o.split("=")[0] not in ab.same_cost]
        key = " ".join(cost) or "-"
        if key not in saved:
            saved[key] = int(statistics.median(planned_steps(ab, cost, out) for _ in range(3)))
            print(f"[ablate] plan: {key}: {saved[key]} steps in {ab.budget_minutes:g} min", flush=True)
            path.write_text(json.dumps(saved, indent=2))
        steps[name] = saved[key]
    return steps


def run_variant(
    ab: Ablation, name: str, key: str, overrides: list[str], seed: int, out: Path, steps: int
) -> dict:
    run = out / f"{key}-seed{seed}"
    results = run / "results.json"
    if not results.is_file():
        train_items, test_items = ab.eval_items
        cmd = [
            sys.executable, "-m", "selfsup.cli", "pretrain", _method(ab), "--config", ab.config,
            f"train.max_steps={steps}", "train.time_budget_minutes=null", f"train.seed={seed}",
            "train.progress_bar=false", f"train.out_dir={out}", f"train.run_name={run.name}",
            *([f"eval.max_train_items={train_items}"] if train_items else []),
            *([f"eval.max_test_items={test_items}"] if test_items else []),
            *ab.common, *overrides,
        ]  # fmt: skip
        print(f"[ablate] {name}, seed {seed}: {' '.join(cmd[3:])}", flush=True)
        with open(out / f"{run.name}.log", "w") as log:
            subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=True)
    rows = json.loads(results.read_text())
    return {r["name"]: r for r in rows}


def _mean_std(values: list[float]) -> str:
    mean = 100 * statistics.fmean(values)
    return f"{mean:.2f}" if len(values) < 2 else f"{mean:.2f} ± {100 * statistics.stdev(values):.2f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("name", nargs="?", choices=sorted(ABLATIONS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--out", default="benchmarks/ablations")
    p.add_argument(
        "--variants", type=int, nargs="+", help="indices of the variants to run (0 is always kept)"
    )
    p.add_argument("--list", action="store_true")
    args = p.parse_args()
    if args.list or args.name is None:
        for key, ab in ABLATIONS.items():
            length = f"{ab.budget_minutes:g} min each" if ab.budget_minutes else f"{ab.steps} steps"
            print(f"{key}: {ab.question} ({len(ab.variants)} variants, {length}, {ab.config})")
            for i, name in enumerate(ab.variants):
                print(f"    {i}: {name}")
        return 0
    ab = ABLATIONS[args.name]
    names = list(ab.variants)
    picked = sorted({0, *(args.variants or range(len(names)))})
    if picked[-1] >= len(names) or picked[0] < 0:
        p.error(f"--variants: {args.name} has variants 0-{len(names) - 1} (see --list)")
    out = Path(args.out) / args.name
    out.mkdir(parents=True, exist_ok=True)
    steps = plan(ab, out)
    scored = {}
    for i in picked:
        name, overrides = names[i], ab.variants[names[i]]
        scored[name] = [run_variant(ab, name, f"v{i}", overrides, s, out, steps[name]) for s in args.seeds]
    method_row = lambda rows: next(r for n, r in rows.items() if n not in ("raw pixels", "random init"))  # noqa: E731
    summary, lines = (
        [],
        [
            f"{ab.question}: `{ab.config}`, "
            f"{f'{ab.budget_minutes:g} min of training each' if ab.budget_minutes else f'{ab.steps} steps'}, "
            f"seeds {args.seeds}; chosen on validation "
            "(mean of kNN and linear validation top-1)",
            "",
            "| variant | overrides | steps | kNN val (%) | linear val (%) |",
            "|---|---|---:|---:|---:|",
        ],
    )
    for name, runs in scored.items():
        overrides = ab.variants[name]
        rows = [method_row(r) for r in runs]
        knn_val, lin_val = [r["knn_val"] for r in rows], [r["linear_val"] for r in rows]
        score = (statistics.fmean(knn_val) + statistics.fmean(lin_val)) / 2
        summary.append(
            {
                "variant": name,
                "overrides": overrides,
                "steps": steps[name],
                "knn_val": knn_val,
                "linear_val": lin_val,
                "score": score,
            }
        )
        lines.append(
            f"| {name} | `{' '.join(overrides) or '-'}` | {steps[name]} | {_mean_std(knn_val)} | {_mean_std(lin_val)} |"
        )
    best, shipped = max(summary, key=lambda s: s["score"]), summary[0]
    splits = json.loads((out / f"v0-seed{args.seeds[0]}" / "eval_splits.json").read_text())
    n_val = splits["validation"]["images"]
    p_val = min(max(shipped["score"], 1e-3), 1 - 1e-3)
    standard_error = math.sqrt(p_val * (1 - p_val) / n_val)
    chosen = best if best["score"] - shipped["score"] > standard_error else shipped
    runs = scored[chosen["variant"]]
    ours = [method_row(r) for r in runs]
    rand = [r["random init"] for r in runs]
    test = {
        "knn": [r["knn"] for r in ours], "linear": [r["linear"] for r in ours],
        "random_init_knn": [r["knn"] for r in rand], "random_init_linear": [r["linear"] for r in rand],
        "random_init_knn_val": [r["knn_val"] for r in rand], "random_init_linear_val": [r["linear_val"] for r in rand],
    }  # fmt: skip
    lines += [
        f"| random init (same architecture) | - | - | {_mean_std(test['random_init_knn_val'])} | "
        f"{_mean_std(test['random_init_linear_val'])} |",
        "",
        f"Best on validation: {best['variant']} (score {100 * best['score']:.2f} vs shipped "
        f"{100 * shipped['score']:.2f}; one standard error on {n_val} validation images = "
        f"{100 * standard_error:.2f} points). Chosen: **{chosen['variant']}**"
        f"{'' if chosen is best else ' (a tie within one standard error keeps the shipped value)'}. "
        f"Its test split, scored once: kNN "
        f"{_mean_std(test['knn'])}, linear {_mean_std(test['linear'])} (random init {_mean_std(test['random_init_knn'])}"
        f" / {_mean_std(test['random_init_linear'])}).",
    ]
    text = "\n".join(lines)
    print(text)
    stem = "summary" if args.variants is None else "summary-v" + "-".join(map(str, picked))
    (out / f"{stem}.md").write_text(text + "\n")
    (out / f"{stem}.json").write_text(
        json.dumps(
            {
                "chosen": chosen,
                "best": best,
                "standard_error": standard_error,
                "validation_images": n_val,
                "variants": summary,
                "test_of_chosen": test,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
