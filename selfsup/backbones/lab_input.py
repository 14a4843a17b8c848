"""``LabInputBackbone``: RGB in, Lab channel groups through one sub-network each, features concatenated.

Colorization (Zhang et al. 2016) trains a network on the L channel only, and the split-brain
autoencoder (Zhang et al. 2017) two disjoint sub-networks, one on L and one on ab, whose features
are concatenated for downstream tasks (§3.2). Evaluation and export hand encoders RGB images, so
this wrapper converts them itself:

- input: RGB ``[B, 3, H, W]`` in [0, 1] (evaluate with mean 0 / std 1, which the methods report);
- group ``"l"``: ``(L - 50) / 50`` ``[B, 1, H, W]``; group ``"ab"``: ``ab / 110`` ``[B, 2, H, W]``;
- ``forward``: the branches' pooled features concatenated, ``[B, sum_i D_i]``;
- ``forward_tokens``: their tokens concatenated along the feature axis (same grid).

Every branch is ``create_backbone(inner, in_chans=len(group), image_size, **inner_kwargs)``; the
spec is ``{"name": "lab:" + inner, "kwargs": {"groups": [...], "in_chans": 3, "image_size": ...,
**inner_kwargs}}``, which ``create_backbone`` rebuilds once it routes ``lab:`` names here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.backbones.base import Backbone
from selfsup.views.lab import normalize_ab, normalize_l, rgb_to_lab

__all__ = ["GROUP_CHANNELS", "LabInputBackbone", "lab_backbone_like", "lab_groups_input"]

GROUP_CHANNELS = {"l": 1, "ab": 2}


def lab_groups_input(lab: Tensor, group: str) -> Tensor:
    """Network-scale input of ``group`` from Lab ``[B, 3, H, W]``: ``"l"`` -> [B, 1, ...], ``"ab"`` -> [B, 2, ...]."""
    if group == "l":
        return normalize_l(lab[:, :1])
    if group == "ab":
        return normalize_ab(lab[:, 1:])
    raise ValueError(f"Lab channel group must be 'l' or 'ab', got {group!r}")


class LabInputBackbone(Backbone):
    """One ``inner`` backbone per Lab channel group; see the module docstring."""

    def __init__(
        self,
        inner: str,
        groups: Sequence[str] = ("l",),
        in_chans: int = 3,
        image_size: int | None = None,
        **inner_kwargs: Any,
    ) -> None:
        super().__init__(in_chans)
        from selfsup.backbones.factory import create_backbone

        if in_chans != 3:
            raise ValueError(
                f"a Lab-input encoder takes RGB images (in_chans=3), got in_chans={in_chans}; "
                "colorization needs color data such as data.name=stamps or an image folder"
            )
        groups = [str(g) for g in groups]
        if not groups or any(g not in GROUP_CHANNELS for g in groups) or len(set(groups)) != len(groups):
            raise ValueError(f"groups must be distinct names from {list(GROUP_CHANNELS)}, got {groups}")
        self.groups = groups
        self.branches = nn.ModuleList(
            create_backbone(inner, in_chans=GROUP_CHANNELS[g], image_size=image_size, **inner_kwargs)
            for g in groups
        )
        strides = {b.patch_size for b in self.branches}
        if len(strides) != 1:
            raise ValueError(f"all branches must share one patch size / stride, got {sorted(strides)}")
        self.patch_size = strides.pop()
        self.num_features = sum(b.num_features for b in self.branches)
        self.token_dim = sum(b.token_dim for b in self.branches)
        self._set_spec(
            "lab:" + inner, {"groups": groups, "in_chans": in_chans, "image_size": image_size, **inner_kwargs}
        )

    def branch_inputs(self, rgb: Tensor) -> list[Tensor]:
        """RGB ``[B, 3, H, W]`` in [0, 1] -> one network-scale input per group."""
        lab = rgb_to_lab(rgb.float())
        return [lab_groups_input(lab, g) for g in self.groups]

    def _forward_pooled(self, x: Tensor) -> Tensor:
        return torch.cat([b(i) for b, i in zip(self.branches, self.branch_inputs(x), strict=True)], dim=1)

    def _forward_tokens(self, x: Tensor) -> Tensor:
        inputs = self.branch_inputs(x)
        return torch.cat([b.forward_tokens(i) for b, i in zip(self.branches, inputs, strict=True)], dim=2)


def lab_backbone_like(backbone: Backbone, groups: Sequence[str]) -> LabInputBackbone:
    """A ``LabInputBackbone`` whose branches have ``backbone``'s architecture (from its ``spec``)."""
    spec = backbone.spec
    kwargs = dict(spec["kwargs"])
    kwargs.pop("in_chans", None)
    image_size = kwargs.pop("image_size", None)
    if spec["name"].startswith("lab:"):
        raise ValueError("the backbone is already a Lab-input encoder; pass the plain architecture")
    return LabInputBackbone(spec["name"], groups, in_chans=backbone.in_chans, image_size=image_size, **kwargs)
