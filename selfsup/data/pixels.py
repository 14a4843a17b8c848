"""Any decoded PIL image to 8-bit ``L`` or ``RGB``: high bit depths scaled by their depth, alpha composited.

Every dataset that decodes image files (folders, tar shards, caption files) goes through
``to_8bit`` so one file gives the same pixels whichever dataset reads it.

Why by bit depth: a 16-bit PNG stores intensities on 0..65535, so 8-bit pixels are
``x * 255 / 65535`` whatever the image holds. Scaling by each image's own maximum (or only when
the maximum exceeds 255) makes a dark 16-bit scan, whose values all lie below 256, come out as a
bright 8-bit image, and two scans of one scene differ in brightness. PIL's own ``convert("L")``
clips 16-bit values at 255 instead. Float images (mode ``F``) have no depth; they are taken as
0..1, the convention of float image files (tifffile, scikit-image).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")


def bit_depth(im: Image.Image) -> int | None:
    """Bits per sample of a single-channel integer image (16 for ``I;16*``; a TIFF's BitsPerSample;
    16 for a PNG in mode ``I``, PNG's deepest), None for 8-bit and float modes."""
    if im.mode.startswith("I;16"):
        return 16
    if im.mode != "I":
        return None
    tags = getattr(im, "tag_v2", None)
    if tags is not None and tags.get(258):
        return int(tags[258][0] if isinstance(tags[258], tuple) else tags[258])
    return 16 if im.format == "PNG" else 32


def to_8bit(im: Image.Image, grayscale: bool, background: int = 255) -> Image.Image:
    """``im`` as mode ``L`` (``grayscale``) or ``RGB``.

    16/32-bit integer images: ``x * 255 / (2**depth - 1)``, rounded (depth from ``bit_depth``);
    float images: ``x * 255`` clipped to 0..255; transparent pixels composited over a flat
    ``background`` grey (0..255), so a cut-out's empty area does not become black.
    """
    im.load()  # the pixels outlive the file: callers may close it before they resize
    depth = bit_depth(im)
    if depth is not None or im.mode == "F":
        values = np.asarray(im, dtype=np.float64)
        scale = 255.0 if depth is None else 255.0 / (2.0**depth - 1.0)
        im = Image.fromarray(np.clip(np.round(values * scale), 0, 255).astype(np.uint8), "L")
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        im = im.convert("RGBA")
        canvas = Image.new("RGBA", im.size, (int(background),) * 3 + (255,))
        im = Image.alpha_composite(canvas, im)
    target = "L" if grayscale else "RGB"
    return im if im.mode == target else im.convert(target)
