"""Caption files: CSV / TSV tables and COCO caption JSON read into ``(image path, caption)`` rows.

- ``read_caption_table(path)``: CSV / TSV with an image path and a caption per row (a header with
  ``image``/``filepath``/``file_name``/``path`` and ``caption``/``text``/``title`` is recognised,
  otherwise the first two columns are used); relative paths are relative to the file.
- ``read_coco_captions(path)``: COCO caption JSON (``images[{id, file_name}]``,
  ``annotations[{image_id, caption}]``); images relative to the JSON's folder or ``image_root``.

A file that cannot be read as its format (not UTF-8, not JSON, no caption column) is one error naming
the file and the fix; bad rows (missing or unreadable image, empty caption, malformed annotation) are
skipped and reported in one warning with their count (``report_bad``). ``selfsup.data.captions``
builds datasets from the rows.
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

from PIL import Image

_IMAGE_COLUMNS = ("image", "filepath", "file_path", "file_name", "filename", "path", "image_path", "file")
_CAPTION_COLUMNS = ("caption", "text", "title", "sentence")


def report_bad(source: str, bad: list[str]) -> None:
    """ONE warning naming ``source``, how many rows were skipped and the first few reasons."""
    if bad:
        shown = "; ".join(bad[:5])
        warnings.warn(f"{source}: skipped {len(bad)} bad row(s) (first: {shown})", stacklevel=3)


def _readable(path: Path) -> bool:
    """PIL can identify and verify ``path`` (a header check, as the image-folder dataset does)."""
    try:
        with Image.open(path) as im:
            im.verify()
    except Exception:  # PIL raises many types (UnidentifiedImageError, SyntaxError, OSError, ...)
        return False
    return True


def _keep_good(rows: list[tuple[Path, str]], source: str) -> list[tuple[Path, str]]:
    kept, bad = [], []
    for n, (path, caption) in enumerate(rows):
        if not caption.strip():
            bad.append(f"row {n}: empty caption for {path}")
        elif not path.is_file():
            bad.append(f"row {n}: missing image {path}")
        elif not _readable(path):
            bad.append(f"row {n}: unreadable image {path}")
        else:
            kept.append((path, caption.strip()))
    report_bad(source, bad)
    return kept


def read_caption_table(path: str | Path, image_root: str | Path | None = None) -> list[tuple[Path, str]]:
    """``(image path, caption)`` rows of a CSV (``,``) or TSV (``.tsv``/``.tab``: tab) file; bad rows skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"caption table {path} does not exist; pass a CSV/TSV of (image path, caption)"
        )
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    root = Path(image_root) if image_root is not None else path.parent
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = [r for r in csv.reader(f, delimiter=delimiter) if r]
    except UnicodeDecodeError as err:
        raise ValueError(
            f"caption table {path} is not UTF-8 text (byte {err.start}: {err.reason}); save it as UTF-8"
        ) from err
    if not rows:
        raise ValueError(f"caption table {path} is empty")
    header = [c.strip().lower() for c in rows[0]]
    image_col = next((header.index(c) for c in _IMAGE_COLUMNS if c in header), None)
    caption_col = next((header.index(c) for c in _CAPTION_COLUMNS if c in header), None)
    if image_col is not None and caption_col is not None:
        rows = rows[1:]
    elif image_col is not None or caption_col is not None:
        # A header without one of the two columns: never guess (a `label` column used to become the captions).
        missing = "caption" if caption_col is None else "image"
        names = _CAPTION_COLUMNS if caption_col is None else _IMAGE_COLUMNS
        raise ValueError(
            f"caption table {path} has columns {rows[0]} but no {missing} column; name one of them "
            f"{' / '.join(names)}"
        )
    else:
        image_col, caption_col = 0, 1  # no header: (image path, caption) rows
    out, short = [], []
    for n, r in enumerate(rows):
        if len(r) <= max(image_col, caption_col):
            short.append(f"row {n}: {len(r)} column(s)")
            continue
        out.append((root / r[image_col].strip(), r[caption_col]))
    report_bad(str(path), short)
    return _keep_good(out, str(path))


def read_coco_captions(path: str | Path, image_root: str | Path | None = None) -> list[tuple[Path, str]]:
    """``(image path, caption)`` rows of a COCO caption JSON, one per annotation; bad rows skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"COCO caption file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(
            f"COCO caption file {path} is not UTF-8 text ({err.reason}); save it as UTF-8"
        ) from err
    except ValueError as err:
        raise ValueError(f"COCO caption file {path} is not valid JSON ({err})") from err
    need = "it needs top-level 'images' and 'annotations' lists"
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) for k in ("images", "annotations")
    ):
        raise ValueError(f"{path} is not COCO caption JSON: {need}")
    root = Path(image_root) if image_root is not None else path.parent
    files = {}
    for n, img in enumerate(data["images"]):
        if not isinstance(img, dict) or "id" not in img or not isinstance(img.get("file_name"), str):
            raise ValueError(
                f"{path} is not COCO caption JSON: images[{n}] must be an object with 'id' and a string "
                f"'file_name', got {str(img)[:80]}"
            )
        if isinstance(img["id"], (dict, list)):
            raise ValueError(f"{path}: images[{n}].id must be a number or string, got {img['id']!r}")
        files[img["id"]] = img["file_name"]
    rows, bad = [], []
    for n, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or isinstance(ann.get("image_id"), (dict, list)):
            bad.append(f"annotation {n}: not an object with an image_id")
            continue
        if not isinstance(ann.get("caption", ""), str):
            bad.append(f"annotation {n}: caption is not a string")
            continue
        if ann.get("image_id") not in files:
            bad.append(f"annotation {n}: unknown image_id {ann.get('image_id')!r}")
            continue
        rows.append((root / files[ann["image_id"]], str(ann.get("caption") or "")))
    report_bad(str(path), bad)
    return _keep_good(rows, str(path))
