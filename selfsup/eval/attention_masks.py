"""How well a ViT's attention covers objects: DINO's 60 %-mass masks scored by Jaccard.

DINO (Caron et al. 2021, §4.2.1 and the Jaccard table of Fig. 4, on PASCAL VOC12 val) thresholds
each head's last-layer ``[CLS]`` attention to keep 60 % of its mass and compares the mask with the
ground-truth objects. This module follows the official code:

- **Threshold** (``dino_mass_mask``), facebookresearch/dino ``visualize_attention.py`` lines 184-195
  (commit 7c446df): the ``[CLS]`` row without the ``[CLS]`` key (line 184) is sorted in **ascending**
  order, divided by its sum, cumulatively summed, and a patch is kept when its cumulative value is
  ``> 1 - 0.6`` (line 191, strict). Equivalently a patch is kept when the mass of the patches sorted
  above it is ``< 0.6``, so the boundary patch that reaches 60 % is kept and the mask holds
  ``>= 60 %`` of the mass with the fewest patches. Ties are ordered by a stable ascending sort:
  among equal values the lower patch index counts as smaller, so at a boundary tie the
  **higher-index** patch is kept. The comparison runs in the map's dtype (float32, as the official
  code), where ``0.2 + 0.2 > 1 - 0.6`` is false.
- **Pixels** (``upsample_masks``): the patch mask is upsampled to the image with ``nearest``
  interpolation (line 197: ``scale_factor=patch_size, mode="nearest"``) and compared pixel-wise.
- **Jaccard and aggregation** (``score_attention``): the Jaccard code Caron posted for the Fig. 4
  table (facebookresearch/dino issue #54): per image, for each ground-truth object ``o``,
  ``J(o, h) = |mask_o & th_h| / |mask_o | th_h|`` for every head ``h``; the image scores the mean over
  its objects of ``max_h J(o, h)`` (the best head per object), and the dataset the mean over images.
  We also report per head the mean over images (and objects) of ``J(o, h)``, their mean over heads,
  and the best single head (the head with the highest dataset mean). Object ids are 1..254;
  0 is background and 255 (VOC void) is no object, but void pixels covered by a mask count in the
  union, as in that code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.data.object_masks import VOID_ID

__all__ = [
    "DINO_MASS",
    "AttentionJaccard",
    "dino_mass_mask",
    "format_attention_table",
    "jaccard",
    "object_jaccard",
    "score_attention",
    "upsample_masks",
]

DINO_MASS = 0.6  # DINO §4.2.1 / Fig. 4: "thresholding the self-attention maps to keep 60% of the mass"


def dino_mass_mask(maps: Tensor, mass: float = DINO_MASS) -> Tensor:
    """Bool ``[..., gh, gw]``: per map, the patches DINO keeps to hold ``mass`` of its attention.

    ``maps``: non-negative ``[..., gh, gw]`` (need not sum to 1: each map is divided by its sum, as
    in the official code). See the module docstring for ties and the boundary patch.
    """
    if not 0.0 < mass <= 1.0:
        raise ValueError(f"mass must be in (0, 1] (DINO keeps 0.6), got {mass}")
    if maps.ndim < 2:
        raise ValueError(f"maps must be [..., gh, gw], got shape {tuple(maps.shape)}")
    if bool((maps < 0).any()):
        raise ValueError("maps must be non-negative attention weights")
    flat = maps.flatten(-2)
    values, order = flat.sort(dim=-1, stable=True)  # ascending, as torch.sort's default
    values = values / values.sum(dim=-1, keepdim=True)
    keep_sorted = values.cumsum(dim=-1) > (1 - mass)
    keep = torch.zeros_like(keep_sorted).scatter_(-1, order, keep_sorted)
    return keep.reshape(maps.shape)


def upsample_masks(masks: Tensor, size: tuple[int, int]) -> Tensor:
    """Bool ``[B, K, gh, gw]`` -> bool ``[B, K, H, W]`` by nearest interpolation (one block per patch)."""
    return F.interpolate(masks.float(), size=size, mode="nearest") > 0.5


def jaccard(pred: Tensor, target: Tensor) -> Tensor:
    """``|pred & target| / |pred | target|`` over the last two dims of bool masks (1 where both are empty)."""
    inter = (pred & target).flatten(-2).sum(-1).double()
    union = (pred | target).flatten(-2).sum(-1).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def object_jaccard(masks: Tensor, ids: Tensor) -> list[Tensor]:
    """Per image, ``J(o, h)`` float64 ``[objects, heads]`` for ``masks`` bool ``[N, heads, H, W]`` (pixels)
    and ``ids`` uint8 ``[N, H, W]`` (objects 1..254). An image without objects is an error."""
    if masks.shape[0] != ids.shape[0] or masks.shape[-2:] != ids.shape[-2:]:
        raise ValueError(
            f"masks {tuple(masks.shape)} and ids {tuple(ids.shape)} do not cover the same images"
        )
    out = []
    for i in range(ids.shape[0]):
        objects = [int(o) for o in torch.unique(ids[i]) if 0 < int(o) < VOID_ID]
        if not objects:
            raise ValueError(f"image {i} has no object pixel in its mask; every scored image needs an object")
        out.append(torch.stack([jaccard(masks[i], (ids[i] == o).unsqueeze(0)) for o in objects]))
    return out


@dataclass
class AttentionJaccard:
    """Jaccard of one model's 60 %-mass masks with the objects, over ``N`` images.

    label:           the model's row name.
    per_image_head:  float64 ``[N, heads]``: per image, the mean over its objects of ``J(o, h)``.
    per_image_best:  float64 ``[N]``: per image, the mean over its objects of ``max_h J(o, h)`` (DINO).
    kept_fraction:   mean fraction of patches in the masks (over images and heads).
    grid:            the patch grid ``(gh, gw)``.
    """

    label: str
    per_image_head: Tensor
    per_image_best: Tensor
    kept_fraction: float
    grid: tuple[int, int]

    @property
    def num_heads(self) -> int:
        return int(self.per_image_head.shape[1])

    @property
    def per_head(self) -> list[float]:
        """Mean over images of each head's Jaccard."""
        return [float(v) for v in self.per_image_head.mean(0)]

    @property
    def best(self) -> float:
        """DINO's number: mean over images of the best head per object."""
        return float(self.per_image_best.mean())

    @property
    def mean(self) -> float:
        """Mean over heads (and images)."""
        return float(self.per_image_head.mean())

    @property
    def best_head(self) -> int:
        """0-based index of the head with the highest mean Jaccard."""
        return int(self.per_image_head.mean(0).argmax())

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "best_head_per_object": self.best,
            "mean_over_heads": self.mean,
            "best_single_head": self.best_head + 1,
            "per_head": self.per_head,
            "kept_patch_fraction": self.kept_fraction,
            "grid": list(self.grid),
            "images": int(self.per_image_best.shape[0]),
        }


def score_attention(label: str, maps: Tensor, ids: Tensor, mass: float = DINO_MASS) -> AttentionJaccard:
    """Score ``maps`` float ``[N, heads, gh, gw]`` against ``ids`` uint8 ``[N, H, W]``; see the module docstring."""
    if maps.ndim != 4 or ids.ndim != 3 or maps.shape[0] != ids.shape[0]:
        raise ValueError(
            f"need maps [N, heads, gh, gw] and ids [N, H, W], got {tuple(maps.shape)}, {tuple(ids.shape)}"
        )
    patch_masks = dino_mass_mask(maps, mass)
    per_image = object_jaccard(upsample_masks(patch_masks, tuple(ids.shape[-2:])), ids)
    return AttentionJaccard(
        label=label,
        per_image_head=torch.stack([j.mean(0) for j in per_image]),
        per_image_best=torch.stack([j.max(1).values.mean() for j in per_image]),
        kept_fraction=float(patch_masks.float().mean()),
        grid=(int(maps.shape[-2]), int(maps.shape[-1])),
    )


def format_attention_table(results: list[AttentionJaccard], mass: float = DINO_MASS) -> str:
    """A markdown table, Jaccard in %: one row per model."""
    lines = [
        f"| model | heads | grid | J best head per object (DINO) | J mean over heads | best single head | "
        f"J per head | patches kept ({mass:.0%} mass) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        heads = " ".join(f"{100 * v:.1f}" for v in r.per_head)
        lines.append(
            f"| {r.label} | {r.num_heads} | {r.grid[0]}x{r.grid[1]} | {100 * r.best:.1f} | {100 * r.mean:.1f} | "
            f"{r.best_head + 1} ({100 * r.per_head[r.best_head]:.1f}) | {heads} | {100 * r.kept_fraction:.1f} % |"
        )
    return "\n".join(lines)
