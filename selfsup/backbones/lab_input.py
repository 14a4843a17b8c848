"""``LabInputBackbone``: RGB in, Lab channel groups through one sub-network each, features concatenated.

Colorization (Zhang et al. 2016) trains a network on the L channel only, and the split-brain
autoencoder (Zhang et al. 2017) two disjoint sub-networks, one on L and one on ab, whose features
are concatenated for downstream tasks (§3.2). Evaluation and export hand encoders RGB images, so
this wrapper converts them itself:

- input: RGB ``[B, 3, H, W]`` in [0, 1] (evaluate with mean 0 / std 1, which the methods report);
- group ``"l"``: ``(L - 50) / 50`` ``[B, 1, H, W]``; group ``"ab"``: ``ab / 110`` ``[B, 2, H, W]``;
- ``forward``: the branches' pooled features concatenated, ``[B, sum_i D_i]``;
- ``forward_tokens``: their tokens concatenated along the feature axis (same grid).

The branches are backbones of one architecture ``inner`` built with each group's channel count
(``create_backbone("lab:" + inner, groups=[...], ...)`` builds them); the spec is ``{"name": "lab:" +
inner, "kwargs": {"groups": [...], "in_chans": 3, "image_size": ..., **inner_kwargs}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.backbones.base import Backbone
from selfsup.views.lab import normalize_ab, normalize_l, rgb_to_lab

__all__ = ["GROUP_CHANNELS", "LabInputBackbone", "branch_channels", "lab_groups_input"]

GROUP_CHANNELS = {"l": 1, "ab": 2}


def branch_channels(groups: Sequence[str], in_chans: int = 3) -> list[int]:
    """The input channels of each group's branch; an error naming the fix for a bad request."""
    if in_chans != 3:
        raise ValueError(
            f"a Lab-input encoder takes RGB images (in_chans=3), got in_chans={in_chans}; "
            "colorization needs color data such as data.name=stamps or an image folder"
        )
    groups = [str(g) for g in groups]
    if not groups or any(g not in GROUP_CHANNELS for g in groups) or len(set(groups)) != len(groups):
        raise ValueError(f"groups must be distinct names from {list(GROUP_CHANNELS)}, got {groups}")
    return [GROUP_CHANNELS[g] for g in groups]


def lab_groups_input(lab: Tensor, group: str) -> Tensor:
    """Network-scale input of ``group`` from Lab ``[B, 3, H, W]``: ``"l"`` -> [B, 1, ...], ``"ab"`` -> [B, 2, ...]."""
    if group == "l":
        return normalize_l(lab[:, :1])
    if group == "ab":
        return normalize_ab(lab[:, 1:])
    raise ValueError(f"Lab channel group must be 'l' or 'ab', got {group!r}")


def _architecture(branch: Backbone) -> tuple[str, dict[str, Any]]:
    return branch.spec["name"], {k: v for k, v in branch.spec["kwargs"].items() if k != "in_chans"}


class LabInputBackbone(Backbone):
    """One branch per Lab channel group, all of one architecture; see the module docstring."""

    def __init__(self, branches: Sequence[Backbone], groups: Sequence[str] = ("l",)) -> None:
        super().__init__(3)
        groups = [str(g) for g in groups]
        if [b.in_chans for b in branches] != branch_channels(groups):
            raise ValueError(f"need one branch per group {groups} taking {branch_channels(groups)} channels")
        name, inner_kwargs = _architecture(branches[0])
        if any(_architecture(b) != (name, inner_kwargs) for b in branches):
            raise ValueError("all branches must have one architecture (spec name and kwargs)")
        self.groups = groups
        self.branches = nn.ModuleList(branches)
        strides = {b.patch_size for b in self.branches}
        if len(strides) != 1:
            raise ValueError(f"all branches must share one patch size / stride, got {sorted(strides)}")
        self.patch_size = strides.pop()
        self.num_features = sum(b.num_features for b in self.branches)
        self.token_dim = sum(b.token_dim for b in self.branches)
        image_size = inner_kwargs.pop("image_size", None)
        self._set_spec(
            "lab:" + name, {"groups": groups, "in_chans": 3, "image_size": image_size, **inner_kwargs}
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
