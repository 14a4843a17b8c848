"""Sharded tar datasets (webdataset layout), read with random access and decoded in loader workers.

Layout: ``root/shard-000000.tar, shard-000001.tar, ...``; each sample is a group of members sharing a
key: ``<key>.png`` (or ``.jpg`` / ``.jpeg`` / ``.webp``) and an optional ``<key>.cls`` holding the
integer label as text, the convention of webdataset (Aizman et al. 2019). ``root/classes.txt``
(one name per line, optional) names the labels.

``ShardedImageDataset`` is map-style: opening the shards once records every member's byte offset,
so item ``i`` is one ``seek`` + ``read`` + decode. That keeps the trainer's deterministic,
step-indexed sampler (exact resume; every rank a disjoint slice), lets ``DataLoader`` workers decode
in parallel (each worker opens its own file handles), and resizes every image to a fixed square
canvas before batching; views are then made in batch on the device as for any other dataset.
``write_shards`` converts any ``(image, label, index)`` dataset.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def write_shards(
    dataset: Iterable,
    out_dir: str | Path,
    shard_size: int = 1000,
    classes: list[str] | None = None,
    image_format: str = "png",
) -> list[Path]:
    """Write ``(uint8 [C, H, W], label, index)`` items as image + ``.cls`` members, ``shard_size`` per tar.

    image_format: ``png`` (lossless) or ``jpeg`` (quality 90, the format of ImageNet-style corpora).
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    if image_format not in ("png", "jpeg"):
        raise ValueError(f"image_format must be 'png' or 'jpeg', got {image_format!r}")
    suffix_of_image = ".png" if image_format == "png" else ".jpg"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    tar = None
    for n, (image, label, _) in enumerate(dataset):
        if n % shard_size == 0:
            if tar is not None:
                tar.close()
            paths.append(out / f"shard-{len(paths):06d}.tar")
            tar = tarfile.open(paths[-1], "w")
        array = image.numpy() if isinstance(image, Tensor) else np.asarray(image)
        array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
        buf = io.BytesIO()
        Image.fromarray(array).save(
            buf, format=image_format.upper(), **({"quality": 90} if image_format == "jpeg" else {})
        )
        for suffix, payload in ((suffix_of_image, buf.getvalue()), (".cls", str(int(label)).encode())):
            info = tarfile.TarInfo(f"{n:09d}{suffix}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    if tar is not None:
        tar.close()
    if classes:
        (out / "classes.txt").write_text("\n".join(classes) + "\n")
    return paths


class ShardedImageDataset(Dataset):
    """Items ``(uint8 [C, S, S], label, index)`` from the tar shards under ``root``.

    image_size: side S of the canvas every image is resized to (shorter side to S, centre crop).
    grayscale:  decode to 1 channel instead of 3.
    Labels are -1 where a sample has no ``.cls`` member.
    """

    def __init__(self, root: str | Path, image_size: int = 64, grayscale: bool = False) -> None:
        self.root = Path(root)
        shards = sorted(self.root.glob("*.tar"))
        if not shards:
            raise FileNotFoundError(
                f"no .tar shards in {self.root}; write them with selfsup.data.shards.write_shards "
                "or point data.root at a folder of webdataset-style tar files"
            )
        if image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        self.shards, self.side, self.grayscale = shards, int(image_size), grayscale
        # (shard id, image offset, image size, label)
        self.index: list[tuple[int, int, int, int]] = []
        for sid, path in enumerate(shards):
            self.index += _scan(sid, path)
        if not self.index:
            raise ValueError(f"the shards in {self.root} hold no image members ({', '.join(IMAGE_SUFFIXES)})")
        names = self.root / "classes.txt"
        labels = {label for *_, label in self.index if label >= 0}
        self.classes = (
            names.read_text().split("\n")[:-1]
            if names.is_file()
            else [str(c) for c in range(max(labels, default=-1) + 1)]
        )
        self._files: dict[int, object] = {}
        self._pid = os.getpid()

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.side, self.side)

    def __len__(self) -> int:
        return len(self.index)

    def _file(self, sid: int):
        if os.getpid() != self._pid:  # a forked loader worker: open its own handles
            self._files, self._pid = {}, os.getpid()
        if sid not in self._files:
            self._files[sid] = open(self.shards[sid], "rb")  # noqa: SIM115 -- kept open for reuse
        return self._files[sid]

    def decode(self, data: bytes, where: str) -> Tensor:
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.draft("L" if self.grayscale else "RGB", (self.side, self.side))
                im = im.convert("L" if self.grayscale else "RGB")
                w, h = im.size
                crop = min(w, h)
                box = ((w - crop) / 2, (h - crop) / 2, (w + crop) / 2, (h + crop) / 2)
                array = np.asarray(
                    im.resize((self.side, self.side), Image.Resampling.BICUBIC, box=box), np.uint8
                )
        except (OSError, SyntaxError, ValueError) as err:
            raise ValueError(
                f"{where}: cannot decode the image ({err}); rewrite or drop that sample"
            ) from err
        t = torch.from_numpy(array.copy())
        return t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1).contiguous()

    def __getitem__(self, i: int) -> tuple[Tensor, int, int]:
        n = len(self.index)
        if not -n <= int(i) < n:
            raise IndexError(f"sharded dataset {self.root}: index {i} out of range for {n} items")
        i = int(i) % n
        sid, offset, size, label = self.index[i]
        f = self._file(sid)
        f.seek(offset)
        return self.decode(f.read(size), f"{self.shards[sid]} item {i}"), label, i

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_files"] = {}  # file handles do not cross process boundaries
        return state


def _scan(sid: int, path: Path) -> list[tuple[int, int, int, int]]:
    try:
        with tarfile.open(path, "r:") as tar:  # uncompressed: members are seekable
            members = tar.getmembers()
            images, labels = {}, {}
            for m in members:
                key, suffix = os.path.splitext(m.name)
                if suffix.lower() in IMAGE_SUFFIXES:
                    images[key] = (m.offset_data, m.size)
                elif suffix == ".cls":
                    labels[key] = int(tar.extractfile(m).read().decode().strip())
    except (tarfile.TarError, ValueError) as err:
        raise ValueError(f"shard {path} is not a readable uncompressed tar ({err}); re-write it") from err
    return [(sid, off, size, labels.get(key, -1)) for key, (off, size) in sorted(images.items())]
