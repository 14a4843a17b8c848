"""MAE encoder efficiency: forward + backward on the visible 25 % of patches vs on all patches.

MAE (He et al. 2021, §3, Table 2) runs the encoder only on visible patches; at mask ratio 0.75 the
blocks see ``1 + L/4`` tokens instead of ``1 + L``. This benchmark measures, for the same timm ViT,

- FLOPs of encoder forward + backward (``torch.utils.flop_counter.FlopCounterMode``; matmuls and
  attention; counted on the ``meta`` device, so even ViT-L costs nothing to count), and
- wall time of encoder forward + backward on this machine (median of ``--repeats``; the two
  variants alternate so a change in machine load hits both alike),

for ``selfsup.nn.vit_encoder.vit_encode_visible`` at ``--mask-ratio`` (default 0.75) versus timm's
own ``forward_features`` on all patches. Target: ratio <= 0.35.

    python benchmarks/bench_mae.py                    # FLOPs for ViT-S/B/L-224 + FMNIST ViT, time 2 of them
    python benchmarks/bench_mae.py --batch 16 --repeats 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import timm
import torch
from torch.utils.flop_counter import FlopCounterMode

from selfsup.nn.vit_encoder import vit_encode_visible

# name: (timm model, kwargs, channels, image size)
MODELS = {
    "vit_small_224": ("vit_small_patch16_224", {}, 3, 224),
    "vit_base_224": ("vit_base_patch16_224", {}, 3, 224),
    "vit_large_224": ("vit_large_patch16_224", {}, 3, 224),
    "fmnist_vit_p4": (
        "vit_tiny_patch16_224",
        {"patch_size": 4, "embed_dim": 128, "depth": 4, "num_heads": 4},
        1,
        28,
    ),
}
TIMED = ("vit_small_224", "fmnist_vit_p4")


def build(name: str, device: str = "cpu") -> tuple[torch.nn.Module, int, int]:
    model_name, kwargs, chans, size = MODELS[name]
    with torch.device(device):
        model = timm.create_model(
            model_name, pretrained=False, num_classes=0, in_chans=chans, img_size=size, **kwargs
        )
    return model, chans, size


def step(model: torch.nn.Module, x: torch.Tensor, mask_ratio: float | None) -> None:
    """One encoder forward + backward; ``mask_ratio=None`` runs timm's forward on all patches."""
    if mask_ratio is None:
        out = model.forward_features(x)
    else:
        out, _ = vit_encode_visible(model, x, mask_ratio)
    out.float().pow(2).mean().backward()


def count_flops(name: str, batch: int, mask_ratio: float) -> dict[str, float]:
    model, chans, size = build(name, "meta")
    x = torch.empty(batch, chans, size, size, device="meta")
    flops = {}
    for key, ratio in (("all", None), ("masked", mask_ratio)):
        with FlopCounterMode(display=False) as counter:
            step(model, x, ratio)
        flops[key] = counter.get_total_flops() / batch
    return flops


def time_steps(name: str, batch: int, mask_ratio: float, repeats: int) -> dict[str, float]:
    model, chans, size = build(name)
    x = torch.randn(batch, chans, size, size)
    times: dict[str, list[float]] = {"all": [], "masked": []}
    for _key, ratio in (("all", None), ("masked", mask_ratio)):  # warm-up
        step(model, x, ratio)
    for _ in range(repeats):
        for key, ratio in (("all", None), ("masked", mask_ratio)):
            model.zero_grad(set_to_none=True)
            start = time.perf_counter()
            step(model, x, ratio)
            times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mask-ratio", type=float, default=0.75)
    parser.add_argument("--batch", type=int, default=8, help="batch for ViT-224 timing (FMNIST uses 32x)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    print(f"encoder forward+backward, mask ratio {args.mask_ratio} vs all patches ({torch.__version__})")
    print(
        f"{'model':<16} {'GFLOP/img all':>14} {'masked':>10} {'ratio':>7} {'ms/img all':>11} {'masked':>9} {'ratio':>7}"
    )
    for name in MODELS:
        flops = count_flops(name, 2, args.mask_ratio)
        row = {"model": name, "gflop_all": flops["all"] / 1e9, "gflop_masked": flops["masked"] / 1e9}
        row["flop_ratio"] = flops["masked"] / flops["all"]
        if name in TIMED and not args.no_timing:
            batch = args.batch * (32 if MODELS[name][3] <= 32 else 1)
            t = time_steps(name, batch, args.mask_ratio, args.repeats)
            row |= {"batch": batch, "ms_all": 1e3 * t["all"] / batch, "ms_masked": 1e3 * t["masked"] / batch}
            row["time_ratio"] = t["masked"] / t["all"]
        rows.append(row)
        timing = (
            f"{row['ms_all']:>11.2f} {row['ms_masked']:>9.2f} {row['time_ratio']:>7.3f}"
            if "time_ratio" in row
            else ""
        )
        print(
            f"{name:<16} {row['gflop_all']:>14.3f} {row['gflop_masked']:>10.3f} {row['flop_ratio']:>7.3f} {timing}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
