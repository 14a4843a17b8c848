"""Throughput of SimCLR view generation: batched tensors (selfsup.views) vs per-image PIL (torchvision).

Both paths make two SimCLR views (crop 0.08-1 + flip, color jitter s=1 with p 0.8, grayscale
p 0.2, blur p 0.5, normalize) of every image in a batch of 32x32 RGB images and report images/s
(source images, two views each) and the peak resident memory of a process running only that path.

    python benchmarks/bench_views.py --batch 256 --size 32 --repeats 20 [--threads 2] [--malloc tuned]
        [--omp-passive] [--profile]

Images are real Fashion-MNIST images (/usr/share/datasets/fashion-mnist, read here with numpy)
resized to ``--size`` and replicated to 3 channels; random images if the files are absent.
Throughput: the two paths alternate batch by batch in one process, so a change in machine load
hits both alike; wall and process-CPU time are both reported. Memory: each path runs alone in a
subprocess and reports its peak RSS, and in brackets the part above the RSS it had after imports,
data loading and building the path (PIL images, transforms).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms as T

from selfsup.views import (
    TwoViewGenerator,
    ViewRecipe,
    color_jitter,
    default_blur_kernel_size,
    gaussian_blur,
    normalize,
    random_grayscale,
    random_resized_crop,
    to_float,
)

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
# glibc otherwise unmaps every large freed buffer and page-faults it back in on the next batch.
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
# Idle OpenMP threads sleep instead of spinning: on a machine shared with other busy processes a
# spinning torch thread steals the core its partner needs, and every op waits a scheduler tick.
PASSIVE_OMP = {"OMP_WAIT_POLICY": "PASSIVE"}


def load_images(n: int, size: int) -> tuple[torch.Tensor, str]:
    """``n`` uint8 RGB images ``[n, 3, size, size]`` and a word saying where they came from."""
    if FASHION.exists():
        with gzip.open(FASHION, "rb") as f:
            magic, count, rows, cols = np.frombuffer(f.read(16), dtype=">i4")
            if magic != 2051:
                raise ValueError(f"{FASHION} is not an idx image file (magic {magic}, expected 2051)")
            take = min(n, int(count))
            pixels = np.frombuffer(f.read(take * rows * cols), dtype=np.uint8).reshape(take, 1, rows, cols)
        x = torch.from_numpy(pixels.copy()).float().repeat(-(-n // take), 1, 1, 1)[:n]
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        x = x.round().clamp(0, 255).to(torch.uint8).repeat(1, 3, 1, 1)
        return x.contiguous(), "fashion-mnist"
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g), "random"


def batched_path(images: torch.Tensor, size: int) -> Callable[[], list[torch.Tensor]]:
    views = TwoViewGenerator(ViewRecipe(size=size))
    generator = torch.Generator().manual_seed(0)
    return lambda: views(images, generator)


def pil_path(images: torch.Tensor, size: int) -> Callable[[], list[torch.Tensor]]:
    s = 1.0  # SimCLR color-distortion strength
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
    return lambda: [torch.stack([transform(im) for im in pil]) for _ in range(2)]


def clock(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, process CPU) seconds of one call; CPU time shows how much contention inflated the wall."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def profile_batched(images: torch.Tensor, size: int, repeats: int) -> dict[str, float]:
    """Median wall ms per op of the batched recipe on the stacked 2B batch."""
    r = ViewRecipe(size=size)
    g = torch.Generator().manual_seed(0)
    x = to_float(images).repeat(2, 1, 1, 1)
    steps = {
        "to_float+repeat": lambda: to_float(images.repeat(2, 1, 1, 1)),
        "crop+flip": lambda: random_resized_crop(
            x, size, r.crop_scale, r.crop_ratio, flip_p=r.flip_p, generator=g
        ),
        "color_jitter": lambda: color_jitter(
            x, r.brightness, r.contrast, r.saturation, r.hue, r.jitter_p, generator=g
        ),
        "grayscale": lambda: random_grayscale(x, r.grayscale_p, generator=g),
        "blur": lambda: gaussian_blur(x, r.blur_sigma, r.blur_p, r.kernel_size, generator=g),
        "normalize": lambda: normalize(x, (0.5,) * 3, (0.5,) * 3),
    }
    out = {}
    for name, fn in steps.items():
        fn()
        out[name] = 1e3 * statistics.median(clock(fn)[0] for _ in range(repeats))
    return out


def status_mib(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS: now, VmHWM: peak) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def memory_child(args: argparse.Namespace) -> None:
    """Run one path alone and print, as JSON, its peak RSS (MiB) and the RSS just before it ran."""
    torch.set_num_threads(args.threads)
    images, _ = load_images(args.batch, args.size)
    fn = {"batched": batched_path, "pil": pil_path}[args.only](images, args.size)
    # Writing 5 to clear_refs resets the peak (VmHWM) to the current RSS, so imports and data
    # loading do not mask the path's own peak.
    Path("/proc/self/clear_refs").write_text("5")
    base = status_mib("VmRSS")
    for _ in range(3):
        fn()
    print(json.dumps({"peak_mib": status_mib("VmHWM"), "base_mib": base}))


def environment(args: argparse.Namespace) -> dict[str, str]:
    """Environment variables the chosen options need (both paths run under the same ones)."""
    return {**(TUNED_MALLOC if args.malloc == "tuned" else {}), **(PASSIVE_OMP if args.omp_passive else {})}


def peak_memory(path: str, args: argparse.Namespace) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--only", path, "--batch", str(args.batch), "--size", str(args.size)]
    cmd += ["--threads", str(args.threads)]
    env = dict(os.environ, **environment(args))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{path} memory run failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for both paths")
    parser.add_argument(
        "--malloc",
        choices=["default", "tuned"],
        default="default",
        help="tuned: keep freed buffers in the heap (glibc MALLOC_MMAP/TRIM_THRESHOLD_) for both paths",
    )
    parser.add_argument(
        "--omp-passive",
        action="store_true",
        help="OMP_WAIT_POLICY=PASSIVE for both paths (use when other processes share the cores)",
    )
    parser.add_argument("--profile", action="store_true", help="also time each op of the batched path")
    parser.add_argument("--only", choices=["batched", "pil"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        memory_child(args)
        return
    env = environment(args)
    if any(os.environ.get(k) != v for k, v in env.items()):
        # glibc and OpenMP read these at start-up: re-run this process with them set.
        os.execve(sys.executable, [sys.executable, *sys.argv], dict(os.environ, **env))

    torch.set_num_threads(args.threads)
    images, source = load_images(args.batch, args.size)
    paths = {"batched": batched_path(images, args.size), "pil": pil_path(images, args.size)}
    for fn in paths.values():
        fn()  # warm-up
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    for _ in range(args.repeats):
        for name, fn in paths.items():
            times[name].append(clock(fn))
    memory = {name: peak_memory(name, args) for name in paths}

    print(
        f"two {args.size}px SimCLR views per image, batch {args.batch}, {args.repeats} repeats, "
        f"torch threads {args.threads}, malloc {args.malloc}, OpenMP wait "
        f"{'passive' if args.omp_passive else 'default'}, images: {source}"
    )
    print(
        f"{'path':<34}{'img/s median':>14}{'img/s best':>12}{'ms/batch':>10}{'CPU ms/batch':>14}{'peak RSS MiB':>16}"
    )
    rate = {}
    for name, label in (
        ("batched", "batched tensors (selfsup.views)"),
        ("pil", "per-image PIL (torchvision v1)"),
    ):
        wall = [w for w, _ in times[name]]
        cpu = statistics.median(c for _, c in times[name])
        med = statistics.median(wall)
        rate[name] = args.batch / med
        peak, base = memory[name]["peak_mib"], memory[name]["base_mib"]
        rss = f"{peak:.0f} (+{peak - base:.0f})"
        print(
            f"{label:<34}{rate[name]:>14,.0f}{args.batch / min(wall):>12,.0f}{1e3 * med:>10.1f}{1e3 * cpu:>14.1f}{rss:>16}"
        )
    print(f"speed-up: {rate['batched'] / rate['pil']:.1f}x (median wall time)")
    if args.profile:
        print("batched path, median wall ms per op on the stacked 2B batch:")
        for name, ms in profile_batched(images, args.size, args.repeats).items():
            print(f"  {name:<18}{ms:>8.2f}")


if __name__ == "__main__":
    main()
