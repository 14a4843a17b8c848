"""Throughput of the sharded tar loader alone (decode + resize in workers, no views, no model).

Writes the Fashion-MNIST train split (60,000 images) once as webdataset-style PNG shards, then reads
them back in a shuffled order through the trainer's recipe (``DataLoader`` + ``collate_batched``) with
0, 1 and 2 worker processes, and reports images/s beside the training step's (``selfsup bench``).

    python benchmarks/bench_loader.py --out /tmp/fmnist_shards --batches 60
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from selfsup.data import collate_batched, create_dataset
from selfsup.data.shards import ShardedImageDataset, write_shards


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="/tmp/fmnist_shards")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--batches", type=int, default=60)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    out = Path(args.out)
    if not list(out.glob("*.tar")):
        train = create_dataset("fashion_mnist", "train")
        start = time.perf_counter()
        write_shards((train[i] for i in range(len(train))), out, shard_size=5000, classes=train.classes)
        print(f"wrote {len(train)} images to {out} in {time.perf_counter() - start:.1f} s")
    ds = ShardedImageDataset(out, image_size=28, grayscale=True)
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0)).tolist()
    print(f"| workers | images/s (batch {args.batch}, {args.batches} batches, shuffled) |")
    print("|---:|---:|")
    for workers in args.workers:
        loader = DataLoader(
            ds, batch_size=args.batch, sampler=order, num_workers=workers, collate_fn=collate_batched
        )
        it = iter(loader)
        next(it)  # worker start-up is not throughput
        start, seen = time.perf_counter(), 0
        for _, (images, _, _) in zip(range(args.batches), it, strict=False):
            seen += images.shape[0]
        print(f"| {workers} | {seen / (time.perf_counter() - start):.0f} |")


if __name__ == "__main__":
    main()
