"""Throughput of SimCLR view generation: batched tensors (selfsup.views) vs per-image PIL (torchvision).

Both paths make two SimCLR views (crop 0.08-1 + flip, color jitter s=1 with p 0.8, grayscale
p 0.2, blur p 0.5, normalize) of every image in a batch of 32x32 RGB images and report images/s
(source images, two views each) and the peak resident memory of a process running only that path.

    python benchmarks/bench_views.py --batch 256 --size 32 --repeats 20 [--threads 2] [--profile]

Images are real Fashion-MNIST digits (/usr/share/datasets/fashion-mnist, read here with numpy)
resized to ``--size`` and replicated to 3 channels; random images if the files are absent.
Each path runs in its own subprocess so that their peak memory does not mix.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


def load_images(n: int, size: int) -> tuple[torch.Tensor, str]:
    """``n`` uint8 RGB images ``[n, 3, size, size]`` and a word saying where they came from."""
    if FASHION.exists():
        with gzip.open(FASHION, "rb") as f:
            raw = f.read()
        magic, count, rows, cols = np.frombuffer(raw[:16], dtype=">i4")
        if magic != 2051:
            raise ValueError(f"{FASHION} is not an idx image file (magic {magic}, expected 2051)")
        pixels = np.frombuffer(raw[16:], dtype=np.uint8).reshape(count, 1, rows, cols)
        reps = -(-n // count)
        x = torch.from_numpy(np.tile(pixels, (reps, 1, 1, 1))[:n].copy()).float()
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        x = x.round().clamp(0, 255).to(torch.uint8).repeat(1, 3, 1, 1)
        return x.contiguous(), "fashion-mnist"
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g), "random"


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def timed(fn, repeats: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def run_batched(images: torch.Tensor, size: int, repeats: int) -> list[float]:
    from selfsup.views import TwoViewGenerator, ViewRecipe

    views = TwoViewGenerator(ViewRecipe(size=size))
    generator = torch.Generator().manual_seed(0)
    return timed(lambda: views(images, generator), repeats)


def run_pil(images: torch.Tensor, size: int, repeats: int) -> list[float]:
    from PIL import Image
    from torchvision import transforms as T

    from selfsup.views import default_blur_kernel_size

    s = 1.0
    transform = T.Compose(
        [
            T.RandomResizedCrop(size, scale=(0.08, 1.0)),
            T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
            T.RandomGrayscale(p=0.2),
            T.RandomApply([T.GaussianBlur(default_blur_kernel_size(size), sigma=(0.1, 2.0))], p=0.5),
            T.ToTensor(),
            T.Normalize((0.5,) * 3, (0.5,) * 3),
        ]
    )
    # Decoding is not timed: the PIL path starts from ready PIL images, as a Dataset would hand them.
    pil = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in images]

    def batch() -> list[torch.Tensor]:
        v1 = torch.stack([transform(im) for im in pil])
        v2 = torch.stack([transform(im) for im in pil])
        return [v1, v2]

    return timed(batch, repeats, warmup=1)


def profile_batched(images: torch.Tensor, size: int, repeats: int) -> dict[str, float]:
    """Median ms per op of the batched recipe on the stacked 2B batch."""
    from selfsup.views import (
        ViewRecipe,
        color_jitter,
        gaussian_blur,
        normalize,
        random_grayscale,
        random_resized_crop,
        to_float,
    )

    r = ViewRecipe(size=size)
    g = torch.Generator().manual_seed(0)
    x = to_float(images).repeat(2, 1, 1, 1)
    steps = {
        "to_float+repeat": lambda: to_float(images).repeat(2, 1, 1, 1),
        "crop+flip": lambda: random_resized_crop(x, size, r.crop_scale, r.crop_ratio, flip_p=r.flip_p, generator=g),
        "color_jitter": lambda: color_jitter(x, r.brightness, r.contrast, r.saturation, r.hue, r.jitter_p, generator=g),
        "grayscale": lambda: random_grayscale(x, r.grayscale_p, generator=g),
        "blur": lambda: gaussian_blur(x, r.blur_sigma, r.blur_p, r.kernel_size, generator=g),
        "normalize": lambda: normalize(x, (0.5,) * 3, (0.5,) * 3),
    }
    return {name: 1e3 * statistics.median(timed(fn, repeats)) for name, fn in steps.items()}


def child(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    images, source = load_images(args.batch, args.size)
    base = maxrss_mib()
    times = {"batched": run_batched, "pil": run_pil}[args.only](images, args.size, args.repeats)
    out = {"times": times, "source": source, "maxrss_mib": maxrss_mib(), "base_mib": base}
    if args.profile and args.only == "batched":
        out["profile"] = profile_batched(images, args.size, args.repeats)
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads in each path")
    parser.add_argument("--profile", action="store_true", help="also time each op of the batched path")
    parser.add_argument("--only", choices=["batched", "pil"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        child(args)
        return

    results = {}
    for path in ("batched", "pil"):
        cmd = [sys.executable, __file__, "--only", path]
        cmd += ["--batch", str(args.batch), "--size", str(args.size), "--repeats", str(args.repeats)]
        cmd += ["--threads", str(args.threads)] + (["--profile"] if args.profile else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{path} benchmark failed:\n{proc.stderr}")
        results[path] = json.loads(proc.stdout.strip().splitlines()[-1])

    print(
        f"two {args.size}px SimCLR views per image, batch {args.batch}, {args.repeats} repeats, "
        f"torch threads {args.threads}, images: {results['batched']['source']}"
    )
    print(f"{'path':<34}{'img/s (median)':>16}{'img/s (best)':>14}{'ms/batch':>10}{'peak RSS MiB':>14}")
    rate = {}
    for path, label in (("batched", "batched tensors (selfsup.views)"), ("pil", "per-image PIL (torchvision v1)")):
        t = results[path]["times"]
        med, best = statistics.median(t), min(t)
        rate[path] = args.batch / med
        rss = f"{results[path]['maxrss_mib']:.0f} (+{results[path]['maxrss_mib'] - results[path]['base_mib']:.0f})"
        print(f"{label:<34}{args.batch / med:>16,.0f}{args.batch / best:>14,.0f}{1e3 * med:>10.1f}{rss:>14}")
    print(f"speed-up (median): {rate['batched'] / rate['pil']:.1f}x")
    if args.profile:
        print("batched path, median ms per op on the stacked 2B batch:")
        for name, ms in results["batched"]["profile"].items():
            print(f"  {name:<18}{ms:>8.2f}")


if __name__ == "__main__":
    main()
