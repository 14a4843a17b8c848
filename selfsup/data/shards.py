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

Bad shards never stop an epoch silently, as in ``selfsup.data.image_folder``: a shard cut short (a
header or a member's data missing at the end of the file, e.g. a copy that was interrupted) keeps the
samples read before the cut and is named in ONE warning with how many samples were read; symlink and
hardlink members are skipped and counted, never opened (a link could point anywhere in the archive);
an image that fails to decode is replaced by the next readable item, deterministically, and counted.
``strict=True`` raises instead, naming the shard.
"""

from __future__ import annotations

import io
import os
import tarfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from selfsup.data.image_folder import CorruptImageError
from selfsup.data.pixels import to_8bit

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


class ShardError(ValueError):
    """A shard is truncated or holds link members (raised in ``strict`` mode)."""


class ShardedImageDataset(Dataset):
    """Items ``(uint8 [C, S, S], label, index)`` from the tar shards under ``root``.

    image_size: side S of the canvas every image is resized to (shorter side to S, centre crop).
    grayscale:  decode to 1 channel instead of 3.
    strict:     raise on a truncated shard, a link member or an undecodable image instead of
                skipping it (``ShardError`` / ``CorruptImageError``, naming the shard).
    Labels are -1 where a sample has no ``.cls`` member.
    """

    def __init__(
        self, root: str | Path, image_size: int = 64, grayscale: bool = False, strict: bool = False
    ) -> None:
        self.root = Path(root)
        shards = sorted(self.root.glob("*.tar"))
        if not shards:
            raise FileNotFoundError(
                f"no .tar shards in {self.root}; write them with selfsup.data.shards.write_shards "
                "or point data.root at a folder of webdataset-style tar files"
            )
        if image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        self.shards, self.side, self.grayscale, self.strict = shards, int(image_size), grayscale, strict
        # (shard id, image offset, image size, label)
        self.index: list[tuple[int, int, int, int]] = []
        scans = [_scan(sid, path) for sid, path in enumerate(shards)]
        self._report(scans)
        for scan in scans:
            self.index += scan.samples
        if not self.index:
            raise ValueError(f"the shards in {self.root} hold no image members ({', '.join(IMAGE_SUFFIXES)})")
        names = self.root / "classes.txt"
        labels = {label for *_, label in self.index if label >= 0}
        self.classes = (
            names.read_text().split("\n")[:-1]
            if names.is_file()
            else [str(c) for c in range(max(labels, default=-1) + 1)]
        )
        self.truncated = [self.shards[s.sid] for s in scans if s.truncated]
        self.skipped_links = [f"{self.shards[s.sid]}:{name}" for s in scans for name in s.links]
        self._failed: set[int] = set()  # items whose image failed to decode (in this process)
        self._warned_runtime = False
        self._files: dict[int, object] = {}
        self._pid = os.getpid()

    def _report(self, scans: list[_ShardScan]) -> None:
        """ONE warning per kind of problem (or ``ShardError`` in strict mode), naming the shards."""
        cut = [s for s in scans if s.truncated]
        if cut:
            first = cut[0]
            shown = "; ".join(
                f"{self.shards[s.sid].name} ({s.truncated}): read {len(s.samples)} sample(s)" for s in cut[:3]
            ) + ("; ..." if len(cut) > 3 else "")
            self._warn_or_raise(
                f"sharded dataset {self.root}: {len(cut)} truncated shard(s), the samples after the cut are "
                f"lost: {shown}; re-write or re-copy {self.shards[first.sid]}"
            )
        links = [(s, name) for s in scans for name in s.links]
        if links:
            s, name = links[0]
            self._warn_or_raise(
                f"sharded dataset {self.root}: skipped {len(links)} symlink/hardlink member(s), never "
                f"followed (e.g. {name!r} in {self.shards[s.sid]}); store the file itself in the tar"
            )

    def _warn_or_raise(self, message: str) -> None:
        """A damaged or unsafe part of the data: an error in strict mode, else one warning."""
        if self.strict:
            raise ShardError(message)
        warnings.warn(message + " (strict=True raises instead)", stacklevel=4)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.side, self.side)

    @property
    def num_skipped(self) -> int:
        """Link members skipped at construction plus items that failed to decode (in this process)."""
        return len(self.skipped_links) + len(self._failed)

    def __len__(self) -> int:
        return len(self.index)

    def _file(self, sid: int):
        if os.getpid() != self._pid:  # a forked loader worker: open its own handles
            self._files, self._pid = {}, os.getpid()
        if sid not in self._files:
            self._files[sid] = open(self.shards[sid], "rb")  # noqa: SIM115 -- kept open for reuse
        return self._files[sid]

    def decode(self, data: bytes, where: str) -> Tensor:
        """One image member's bytes as uint8 ``[C, S, S]``; ``ValueError`` naming ``where`` if undecodable."""
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.draft("L" if self.grayscale else "RGB", (self.side, self.side))
                im = to_8bit(im, self.grayscale)
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

    def _load(self, i: int) -> Tensor:
        sid, offset, size, _ = self.index[i]
        f = self._file(sid)
        f.seek(offset)
        return self.decode(f.read(size), f"{self.shards[sid]} item {i}")

    def __getitem__(self, i: int) -> tuple[Tensor, int, int]:
        n = len(self.index)
        if not -n <= int(i) < n:
            raise IndexError(f"sharded dataset {self.root}: index {i} out of range for {n} items")
        i = int(i) % n
        # Deterministic substitution, as the image folder: walk forward to the first item that decodes.
        last: Exception | None = None
        for step in range(n):
            j = (i + step) % n
            if j in self._failed:
                continue
            try:
                return self._load(j), self.index[j][3], j
            except ValueError as err:
                if self.strict:
                    raise CorruptImageError(f"{err} (strict=False skips it)") from err
                self._failed.add(j)
                last = err
                if not self._warned_runtime:
                    self._warned_runtime = True
                    warnings.warn(
                        f"sharded dataset {self.root}: {err}; substituting the next readable item, "
                        "further failures are counted in num_skipped",
                        stacklevel=2,
                    )
        raise CorruptImageError(
            f"sharded dataset {self.root}: none of its {n} items can be decoded (last: {last}); "
            "re-write the shards"
        )

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_files"] = {}  # file handles do not cross process boundaries
        return state


@dataclass
class _ShardScan:
    """What one pass over a shard's headers found."""

    sid: int
    samples: list[tuple[int, int, int, int]] = field(default_factory=list)
    truncated: str = ""  # where the file is cut short; "" for a complete shard
    links: list[str] = field(default_factory=list)  # link members skipped, by name


_ZERO_BLOCK = bytes(tarfile.BLOCKSIZE)


def _scan(sid: int, path: Path) -> _ShardScan:
    """Index a shard's image members (offset, size, label) by reading its headers only.

    ``tarfile`` ends the member list quietly at a header cut short (one third of a shard's samples
    once vanished that way), so the scan checks what follows the last member itself: a complete
    archive ends with a zero block; anything else, or a member whose data runs past the end of the
    file, marks the shard as truncated. Link members are recorded and never opened.
    """
    out = _ShardScan(sid)
    file_size = path.stat().st_size
    images: dict[str, tuple[int, int]] = {}
    labels: dict[str, int] = {}
    with open(path, "rb") as f:
        try:
            tar = tarfile.open(fileobj=f, mode="r:")  # uncompressed: members are seekable
        except tarfile.TarError as err:
            raise ValueError(f"shard {path} is not a readable uncompressed tar ({err}); re-write it") from err
        while True:
            try:
                m = tar.next()
            except tarfile.TarError as err:  # "unexpected end of data": the previous member is cut
                out.truncated = f"{err} after byte {tar.offset} of {file_size}"
                break
            if m is None:
                f.seek(tar.offset)
                if tar.offset >= file_size:
                    out.truncated = f"no end-of-archive block after byte {tar.offset}"
                elif f.read(tarfile.BLOCKSIZE) != _ZERO_BLOCK:
                    out.truncated = f"a header cut short at byte {tar.offset} of {file_size}"
                break
            if m.issym() or m.islnk():
                out.links.append(m.name)
                continue
            if not m.isreg():
                continue  # folders and other entries hold no sample
            if m.offset_data + m.size > file_size:
                out.truncated = f"{m.name} cut short at byte {file_size}"
                break
            key, suffix = os.path.splitext(m.name)
            if suffix.lower() in IMAGE_SUFFIXES:
                images[key] = (m.offset_data, m.size)
            elif suffix == ".cls":
                f.seek(m.offset_data)
                text = f.read(m.size).decode(errors="replace").strip()
                try:
                    labels[key] = int(text)
                except ValueError as err:
                    raise ValueError(
                        f"shard {path}: {m.name} holds {text[:40]!r}, not an integer label; re-write it"
                    ) from err
    if out.truncated and labels:
        # The cut may fall between an image and its .cls: never let a labelled shard's sample go unlabelled.
        images = {key: where for key, where in images.items() if key in labels}
    out.samples = [(sid, off, size, labels.get(key, -1)) for key, (off, size) in sorted(images.items())]
    return out
