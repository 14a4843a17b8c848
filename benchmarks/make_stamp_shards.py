"""Write the real photo stamps as webdataset-style JPEG shards at ImageNet-like size, for GPU benchmarks.

Each train stamp is composited on ``--backgrounds`` different seeded gradient canvases (so the loader
benchmark has thousands of distinct JPEGs to decode), the test stamps once; labels are the 17 categories.

    python benchmarks/make_stamp_shards.py --out .bench_data/stamps256 --size 256 --backgrounds 4
"""

from __future__ import annotations

import argparse
from pathlib import Path

from selfsup.data.shards import write_shards
from selfsup.data.stamps import STAMPS_ROOT, _load_all, backgrounds, composite, stratified_split


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--backgrounds", type=int, default=4)
    args = p.parse_args()
    out = Path(args.out)
    rgba, records = _load_all(STAMPS_ROOT, args.size)
    classes = sorted({r.category for r in records})
    labels = [classes.index(r.category) for r in records]
    for split, seeds in (("train", range(args.backgrounds)), ("test", range(1))):
        # The split is the stamps dataset's own (seed 0); only the canvases change with the seed.
        keep = stratified_split([r.category for r in records], split, 0.2, 0)
        images = [
            composite(rgba[keep], backgrounds(len(records), args.size, "random", s)[keep]) for s in seeds
        ]
        items = ((im[j], labels[i], j) for im in images for j, i in enumerate(keep))
        paths = write_shards(items, out / split, shard_size=1000, classes=classes, image_format="jpeg")
        size = sum(p.stat().st_size for p in paths) / 2**20
        print(f"{split}: {len(keep) * len(seeds)} images in {len(paths)} shards, {size:.1f} MiB")


if __name__ == "__main__":
    main()
