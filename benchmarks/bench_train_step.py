"""Throughput of one full training step (views + forward + backward + optimizer) on this machine.

``--method simclr`` (default) or ``--method moco`` (MoCo v2: query forward + momentum key forward with
shuffled BN, queue of 65,536 keys, EMA update and enqueue after the optimizer step).

Default setting from the foundation issue: CIFAR-style ResNet-18, 32 px RGB, batch 256,
two views. Each variant runs in its own process (so peak memory and allocator settings
are its own) and reports images/s (source images, each giving two views), step time,
peak RSS, model FLOPs per image (``torch.utils.flop_counter``) and achieved FLOP/s.

    python benchmarks/bench_train_step.py                       # all variants
    python benchmarks/bench_train_step.py --variants fp32 bf16  # a subset
    python benchmarks/bench_train_step.py --backbone resnet_small --steps 5
    python benchmarks/bench_train_step.py --method moco --variants fp32  # MoCo v2 step
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

VARIANTS = {
    # name: (precision, keep_freed_memory, one forward over concatenated views)
    "fp32": ("32", True, True),
    "fp32-per-view-forward": ("32", True, False),
    "fp32-default-malloc": ("32", False, True),
    "bf16-autocast": ("bf16", True, True),
}


def run_variant(args: argparse.Namespace, name: str) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from selfsup.backbones import create_backbone
    from selfsup.methods.moco import MoCo, MoCoConfig
    from selfsup.methods.simclr import SimCLR, SimCLRConfig
    from selfsup.train.allocator import keep_freed_memory
    from selfsup.types import Progress
    from selfsup.views import ViewRecipe

    precision, keep_memory, concat = VARIANTS[name]
    if keep_memory:
        keep_freed_memory()
    torch.manual_seed(0)
    backbone = create_backbone(args.backbone, in_chans=3, image_size=args.size)
    recipe = ViewRecipe(size=args.size, blur_p=0.0)
    if args.method == "moco":
        if not concat:
            raise SystemExit("the per-view-forward variant exists for SimCLR only")
        method = MoCo(backbone, MoCoConfig(views=recipe))
    else:
        method = SimCLR(backbone, SimCLRConfig(views=recipe))
    trainable = [p for g in method.param_groups(0.0) for p in g["params"]]
    opt = torch.optim.SGD(trainable, lr=0.1, momentum=0.9)
    images = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)

    def step() -> None:
        batch = method.make_batch(images, generator=g)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            if concat:
                out = method.training_step(batch, Progress(0, 10))
                loss = out.loss
            else:  # one forward per view, the naive way
                z = [method.head(method.encoder(v)).float() for v in batch.views]
                loss = method.loss_fn(z[0], z[1])
        loss.backward()
        opt.step()
        method.after_optimizer_step(Progress(0, 10))  # MoCo: EMA of the key encoder, enqueue
        opt.zero_grad(set_to_none=True)

    with FlopCounterMode(display=False) as counter:
        if args.method == "moco":  # one view forward + backward (query), one view forward (key)
            x = torch.randn(args.batch, 3, args.size, args.size)
            method.head(method.encoder(x)).sum().backward()
            with torch.no_grad():
                method.momentum_head(method.momentum_encoder(x))
        else:  # two views, forward + backward
            x = torch.randn(2 * args.batch, 3, args.size, args.size)
            method.head(method.encoder(x)).sum().backward()
    opt.zero_grad(set_to_none=True)
    flops_per_image = counter.get_total_flops() / args.batch

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    elapsed = time.perf_counter() - start
    step_time = elapsed / args.steps
    return {
        "variant": name,
        "images_per_s": args.batch / step_time,
        "views_per_s": 2 * args.batch / step_time,
        "step_s": step_time,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "gflop_per_image": flops_per_image / 1e9,
        "achieved_gflops": flops_per_image * args.batch / step_time / 1e9,
        "threads": torch.get_num_threads(),
    }


def matmul_peak_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Measured fp32 matmul GFLOP/s of this device: the practical peak for the share-of-peak column."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default="simclr", choices=["simclr", "moco"])
    p.add_argument("--backbone", default="resnet18_cifar")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument(
        "--peak-gflops",
        type=float,
        default=None,
        help="peak GFLOP/s for the share-of-peak column (default: measured fp32 matmul)",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_variant(args, args.child)))
        return
    peak = args.peak_gflops or matmul_peak_gflops()
    rows = []
    for name in args.variants:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            name,
            "--method",
            args.method,
            "--backbone",
            args.backbone,
            "--batch",
            str(args.batch),
            "--size",
            str(args.size),
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(f"  {name}: {rows[-1]['images_per_s']:.1f} img/s", file=sys.stderr)
    print(
        f"\n{'MoCo v2' if args.method == 'moco' else 'SimCLR'} step, {args.backbone}, {args.size} px, "
        f"batch {args.batch}, 2 views, {rows[0]['threads']} threads, "
        f"{rows[0]['gflop_per_image']:.2f} GFLOP per image (model fwd+bwd), "
        f"fp32 matmul peak {peak:.0f} GFLOP/s\n"
    )
    print("| variant | images/s | views/s | step (s) | peak RSS (MiB) | achieved GFLOP/s | share of peak |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        share = f"{100 * r['achieved_gflops'] / peak:.0f} %"
        print(
            f"| {r['variant']} | {r['images_per_s']:.1f} | {r['views_per_s']:.1f} | {r['step_s']:.2f} | "
            f"{r['peak_rss_mib']:.0f} | {r['achieved_gflops']:.1f} | {share} |"
        )


if __name__ == "__main__":
    main()
