"""A 3x3 grid of tiles with a gap and per-tile jitter, cut in batch: the input of relative patch
location (Doersch, Gupta, Efros 2015) and jigsaw (Noroozi & Favaro 2016).

Layout (``TileLayout``): ``grid x grid`` square tiles of side ``tile``; neighbouring tiles are
``gap`` pixels apart before jitter; each tile then moves by its own integer offset in
``[-jitter, jitter]`` along each axis, so the grid spans ``span = grid * tile + (grid - 1) * gap + 2 *
jitter`` pixels, placed at a random integer position inside the image. The gap and jitter stop the
pretext task from being solved by continuing edges and textures across tile borders.

Paper values, at their image sizes:
- Doersch et al. 2015, §3: 96 px patches, 48 px gap, jitter up to 7 px (in images of 150k-450k pixels):
  ``TileLayout(96, 48, 7)``, span 398 px. Tile : gap = 2 : 1, jitter ~7 % of the tile.
- Noroozi & Favaro 2016, §3: a 225 px crop cut into 75 px cells with a random 64 px tile in each:
  11 px of slack per cell, i.e. ``TileLayout(64, 11, 5)`` (span 224 px).

Tile index ``t = 3 * row + col`` (row-major, 4 = centre). ``origins`` are ``(y, x)`` top-left corners.
Colour counter-measures against chromatic aberration (Doersch §3): ``drop_colors`` keeps one random
channel per tile and fills the other two with faint noise; ``project_out_green_magenta`` removes the
green-magenta colour axis. ``standardize_tiles`` is Noroozi's per-tile mean/std normalization (§3).
Noroozi & Favaro's colour counter-measures (§3.2): ``jitter_channels`` cuts each colour channel of
each tile at its own offset of up to 2 px; ``random_grayscale_images`` turns 30 % of the images gray.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from selfsup.views.ops import check_generator, check_images
from selfsup.views.photometric import LUMA_WEIGHTS

__all__ = [
    "TileLayout",
    "drop_colors",
    "extract_tiles",
    "jitter_channels",
    "project_out_green_magenta",
    "random_grayscale_images",
    "random_tiles",
    "sample_tile_origins",
    "standardize_tiles",
]


@dataclass(frozen=True)
class TileLayout:
    """Tile side, gap between tiles, max per-tile jitter (pixels) and grid side; see the module doc."""

    tile: int
    gap: int
    jitter: int
    grid: int = 3

    def __post_init__(self) -> None:
        for name in ("tile", "gap", "jitter", "grid"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"TileLayout.{name} must be an int, got {value!r}")
        if self.tile < 1 or self.grid < 2 or self.gap < 0 or self.jitter < 0:
            raise ValueError(f"TileLayout needs tile >= 1, grid >= 2, gap >= 0, jitter >= 0; got {self}")
        if 2 * self.jitter > self.gap:
            raise ValueError(
                f"TileLayout.jitter ({self.jitter}) must be <= gap / 2 ({self.gap} / 2) so that jittered "
                "tiles never touch; raise the gap or lower the jitter"
            )

    @property
    def span(self) -> int:
        """Side of the square the jittered grid can cover, in pixels."""
        return self.grid * self.tile + (self.grid - 1) * self.gap + 2 * self.jitter

    @property
    def num_tiles(self) -> int:
        return self.grid * self.grid


def sample_tile_origins(
    batch: int,
    height: int,
    width: int,
    layout: TileLayout,
    *,
    generator: torch.Generator,
    device: torch.device,
) -> Tensor:
    """Top-left ``(y, x)`` of every tile: int64 ``[batch, grid * grid, 2]``, all tiles inside the image.

    Per sample one random grid position, per tile one random jitter; the draws are independent of
    the data, so the generator advances identically on every call with the same shapes.
    """
    if height < layout.span or width < layout.span:
        raise ValueError(
            f"a {layout.grid}x{layout.grid} grid of {layout.tile} px tiles with gap {layout.gap} and jitter "
            f"{layout.jitter} spans {layout.span} px but the images are {height}x{width}; use a larger "
            "data.image_size or smaller tiles"
        )
    n = layout.num_tiles
    corner = torch.stack(
        [
            torch.randint(height - layout.span + 1, (batch,), generator=generator, device=device),
            torch.randint(width - layout.span + 1, (batch,), generator=generator, device=device),
        ],
        dim=1,
    )
    cells = torch.arange(n, device=device)
    step = layout.tile + layout.gap
    nominal = torch.stack([cells // layout.grid, cells % layout.grid], dim=1) * step + layout.jitter
    jitter = torch.randint(
        -layout.jitter, layout.jitter + 1, (batch, n, 2), generator=generator, device=device
    )
    return corner[:, None, :] + nominal[None] + jitter


def extract_tiles(x: Tensor, origins: Tensor, tile: int) -> Tensor:
    """Cut ``tile x tile`` squares at ``origins [B, T, 2]`` (y, x) from ``x [B, C, H, W]`` -> ``[B, T, C, tile, tile]``.

    One gather over the flattened pixels (exact copies, no resampling; any dtype).
    """
    check_images(x, "x", floating=None)
    b, c, h, w = x.shape
    if origins.ndim != 3 or origins.shape[0] != b or origins.shape[2] != 2:
        raise ValueError(f"origins must have shape [B, T, 2] with B = {b}, got {tuple(origins.shape)}")
    if (
        bool((origins < 0).any())
        or bool((origins[..., 0] > h - tile).any())
        or bool((origins[..., 1] > w - tile).any())
    ):
        raise ValueError(f"every {tile} px tile must lie inside the {h}x{w} image; got origins outside it")
    t = origins.shape[1]
    offsets = torch.arange(tile, device=x.device)
    rows = origins[..., 0, None] + offsets  # [B, T, tile]
    cols = origins[..., 1, None] + offsets
    index = (rows[..., :, None] * w + cols[..., None, :]).reshape(b, 1, t * tile * tile)
    flat = x.reshape(b, c, h * w).gather(2, index.expand(b, c, -1))
    return flat.reshape(b, c, t, tile, tile).transpose(1, 2)


def random_tiles(x: Tensor, layout: TileLayout, *, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """All ``grid * grid`` jittered tiles of every image: ``([B, T, C, tile, tile], origins [B, T, 2])``."""
    check_images(x, "x", floating=None)
    check_generator(generator, x)
    origins = sample_tile_origins(
        x.shape[0], x.shape[2], x.shape[3], layout, generator=generator, device=x.device
    )
    return extract_tiles(x, origins, layout.tile), origins


def jitter_channels(
    x: Tensor, origins: Tensor, tile: int, max_shift: int, *, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Tiles whose colour channels are each cut at their own offset (Noroozi & Favaro §3.2).

    ``x [B, C, H, W]`` (any dtype), tile corners ``origins [B, T, 2]`` -> ``(tiles [B, T, C, tile, tile],
    shifts [B, T, C, 2])``: channel ``c`` of tile ``t`` is the ``tile x tile`` square of channel ``c`` at
    ``origins[:, t] + shifts[:, t, c]``, with every shift drawn uniformly in ``[-max_shift, max_shift]``
    per axis and then clamped so that the square stays inside the image (the returned ``shifts`` are
    the clamped ones). The paper uses 0, +-1 or +-2 px at 64 px tiles: misaligned channels make the
    colour fringes of chromatic aberration useless for telling where a tile sat in the image.
    """
    check_images(x, "x", floating=None)
    check_generator(generator, x)
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift must be an int >= 0, got {max_shift!r}")
    b, c, h, w = x.shape
    if origins.ndim != 3 or origins.shape[0] != b or origins.shape[2] != 2:
        raise ValueError(f"origins must have shape [B, T, 2] with B = {b}, got {tuple(origins.shape)}")
    t = origins.shape[1]
    shifts = torch.randint(-max_shift, max_shift + 1, (b, t, c, 2), generator=generator, device=x.device)
    limit = torch.tensor([h - tile, w - tile], device=x.device)
    moved = torch.minimum((origins[:, :, None, :] + shifts).clamp_min(0), limit)  # [B, T, C, 2]
    channels = [extract_tiles(x[:, k : k + 1], moved[:, :, k], tile) for k in range(c)]
    return torch.cat(channels, dim=2), moved - origins[:, :, None, :]


def random_grayscale_images(tiles: Tensor, prob: float, *, generator: torch.Generator) -> Tensor:
    """Replace all tiles of a random ``prob`` fraction of the images by their gray version.

    Float RGB tiles ``[B, T, 3, h, w]`` -> same shape; a gray image has its BT.601 luma
    (0.299 R + 0.587 G + 0.114 B) in all three channels. One draw per image, so the 9 tiles of a
    puzzle are all colour or all gray (Noroozi & Favaro §3.2: 30 % of the images are gray, so the
    network cannot rely on colour cues such as chromatic aberration).
    """
    if tiles.ndim != 5 or tiles.shape[2] != 3 or not tiles.is_floating_point():
        raise ValueError(
            f"random_grayscale_images needs float RGB tiles [B, T, 3, h, w], got {tuple(tiles.shape)} "
            f"{tiles.dtype}; it is for colour images (grayscale data is already gray)"
        )
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"prob must be in [0, 1], got {prob}")
    check_generator(generator, tiles)
    gray = torch.rand(tiles.shape[0], generator=generator, device=tiles.device) < prob
    weights = torch.tensor(LUMA_WEIGHTS, dtype=tiles.dtype, device=tiles.device)
    luma = torch.einsum("btchw,c->bthw", tiles, weights).unsqueeze(2).expand_as(tiles)
    return torch.where(gray.view(-1, 1, 1, 1, 1), luma, tiles)


def drop_colors(tiles: Tensor, *, generator: torch.Generator, noise_fraction: float = 0.01) -> Tensor:
    """Doersch et al.'s colour dropping on float RGB tiles ``[N, 3, h, w]`` in [0, 1].

    Keeps one random channel per tile and replaces the other two with ``0.5 + noise`` whose std is
    ``noise_fraction`` (1/100 in the paper) of the kept channel's std, so that chromatic aberration
    (colour fringes that reveal where a patch sat in the lens field) cannot be used.
    """
    if tiles.ndim != 4 or tiles.shape[1] != 3 or not tiles.is_floating_point():
        raise ValueError(
            f"drop_colors needs float RGB tiles [N, 3, h, w], got {tuple(tiles.shape)} {tiles.dtype}; "
            "colour dropping is for colour images (turn it off for grayscale data)"
        )
    check_generator(generator, tiles)
    n = tiles.shape[0]
    keep = torch.randint(3, (n,), generator=generator, device=tiles.device)
    noise = torch.randn(tiles.shape, generator=generator, device=tiles.device, dtype=tiles.dtype)
    kept = tiles[torch.arange(n, device=tiles.device), keep]  # [N, h, w]
    scale = kept.flatten(1).std(dim=1).mul(noise_fraction).view(n, 1, 1, 1)
    dropped = noise.mul_(scale).add_(0.5)
    is_kept = torch.nn.functional.one_hot(keep, 3).to(torch.bool).view(n, 3, 1, 1)
    return torch.where(is_kept, tiles, dropped)


def project_out_green_magenta(x: Tensor) -> Tensor:
    """Remove the green-magenta colour axis ``a = (-1, 2, -1) / sqrt(6)`` from ``[..., 3, h, w]`` (Doersch §3).

    ``x - (x . a) a`` per pixel: green and magenta fringes move to gray; ``a`` sums to zero, so gray
    pixels, luminance ``(1, 1, 1)`` and the red-blue axis are unchanged.
    """
    if x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"project_out_green_magenta needs RGB input [..., 3, h, w], got {tuple(x.shape)}")
    a = torch.tensor([-1.0, 2.0, -1.0], dtype=x.dtype, device=x.device) / 6**0.5
    coeff = torch.einsum("...chw,c->...hw", x, a).unsqueeze(-3)
    return x - coeff * a.view(3, 1, 1)


def standardize_tiles(tiles: Tensor, eps: float = 1e-3) -> Tensor:
    """Zero mean, unit std per tile over ``(C, h, w)`` (Noroozi & Favaro §3): ``[..., C, h, w]``.

    Stops the network from matching tiles by their brightness and contrast. ``eps`` keeps flat tiles
    (e.g. background only) finite: they map to zeros.
    """
    mean = tiles.mean(dim=(-3, -2, -1), keepdim=True)
    std = tiles.std(dim=(-3, -2, -1), keepdim=True)
    return (tiles - mean) / (std + eps)
