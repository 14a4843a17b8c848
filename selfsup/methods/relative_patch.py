"""Relative patch location (Doersch, Gupta, Efros 2015, "Unsupervised Visual Representation Learning by
Context Prediction"): given the centre patch of a 3x3 grid and one of its 8 neighbours, classify
where the neighbour sits.

Per image, ``make_batch`` lays a 3x3 grid of tiles with a gap and per-tile jitter at a random place
(:mod:`selfsup.views.tile_grid`), picks one neighbour uniformly and labels it 0..7 in row-major
order of the grid without the centre (0 = top-left, 3 = left, 4 = right, 7 = bottom-right). Both
patches go through the shared encoder (a siamese pair, one forward over ``[2B, C, t, t]``); each
pooled feature passes a per-patch ``fc6``, the two are concatenated and ``fc7`` -> ``fc8`` give 8-way
logits (the paper's late-fusion architecture, Fig. 3). ``pretext_acc``: chance is 12.5 %.

Paper values (§3, §4): 96 px patches, 48 px gap, up to 7 px jitter; fc6 and fc7 of 4096 units.
Chromatic aberration lets a network tell where a patch was in the lens field, so the paper drops
colours (keeps one random channel, noise in the others) or projects out green-magenta:
``color: drop | project | none`` (grayscale data needs ``none``). Configs for small images scale the
tile, gap and jitter with the image and keep tile : gap = 2 : 1 (see configs/relative_patch_*.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.methods.base import Method, MethodConfig, view_generator
from selfsup.nn.heads import ProjectionHead
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views import normalize, to_float
from selfsup.views.tile_grid import (
    TileLayout,
    drop_colors,
    extract_tiles,
    project_out_green_magenta,
    sample_tile_origins,
    standardize_tiles,
)

CENTRE = 4
NEIGHBOURS = (0, 1, 2, 3, 5, 6, 7, 8)  # label i <-> tile NEIGHBOURS[i] of the row-major 3x3 grid


@dataclass
class RelativePatchConfig(MethodConfig):
    tile: int = 96  # §3: 96 px patches
    gap: int = 48  # §3: 48 px gap between patches
    jitter: int = 7  # §3: patches jittered by up to 7 px
    color: str = "drop"  # §3: colour dropping (drop), green-magenta projection (project) or none
    standardize: bool = False  # per-patch mean/std normalization (Noroozi & Favaro's, off in the paper)
    fc6_dim: int = 4096  # Fig. 3: fc6 4096 per patch
    fc7_dim: int = 4096  # Fig. 3: fc7 4096 on the concatenated pair

    def validate(self) -> None:
        TileLayout(self.tile, self.gap, self.jitter)  # raises on a bad layout
        if self.color not in ("drop", "project", "none"):
            raise ValueError(f"method.color must be 'drop', 'project' or 'none', got {self.color!r}")
        if self.fc6_dim < 1 or self.fc7_dim < 1:
            raise ValueError("method.fc6_dim and method.fc7_dim must be >= 1")


def tile_head(width: int, fc6_dim: int) -> nn.Module:
    """The per-tile ``fc6`` of the siamese branch: ``[N, width] -> [N, fc6_dim]``."""
    return nn.Sequential(
        nn.Linear(width, fc6_dim, bias=False), nn.BatchNorm1d(fc6_dim), nn.ReLU(inplace=True)
    )


def prepare_tiles(tiles: Tensor, color: str, standardize: bool, generator: torch.Generator) -> Tensor:
    """uint8 tiles ``[N, C, t, t]`` -> normalized float tiles (colour counter-measure, then 0.5 / 0.5)."""
    x = to_float(tiles)
    if color != "none" and x.shape[1] != 3:
        raise ValueError(
            f"method.color={color!r} needs RGB images, got {x.shape[1]} channel(s); use method.color=none"
        )
    if color == "drop":
        x = drop_colors(x, generator=generator)
    elif color == "project":
        x = project_out_green_magenta(x)
    return standardize_tiles(x) if standardize else normalize(x, 0.5, 0.5)


@register_method("relative_patch")
class RelativePatch(Method):
    """8-way relative position of a neighbour patch; ``self.encoder`` is the shared patch encoder."""

    Config = RelativePatchConfig

    def __init__(self, backbone: nn.Module, config: RelativePatchConfig) -> None:
        super().__init__(backbone, config)
        if config.color != "none" and backbone.in_chans != 3:
            raise ValueError(
                f"method.color={config.color!r} needs RGB images but the backbone has {backbone.in_chans} "
                "input channel(s); use method.color=none for grayscale data"
            )
        self.layout = TileLayout(config.tile, config.gap, config.jitter)
        self.fc6 = tile_head(backbone.num_features, config.fc6_dim)
        self.classifier = ProjectionHead(2 * config.fc6_dim, config.fc7_dim, len(NEIGHBOURS), num_layers=2)

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        generator = view_generator(images, generator)
        b, _, h, w = images.shape
        origins = sample_tile_origins(b, h, w, self.layout, generator=generator, device=images.device)
        position = torch.randint(len(NEIGHBOURS), (b,), generator=generator, device=images.device)
        neighbour = torch.tensor(NEIGHBOURS, device=images.device)[position]
        rows = torch.arange(b, device=images.device)
        pair = torch.stack([origins[:, CENTRE], origins[rows, neighbour]], dim=1)  # [B, 2, 2]
        tiles = extract_tiles(images, pair, self.layout.tile).flatten(0, 1)  # [2B, C, t, t]
        x = prepare_tiles(tiles, self.config.color, self.config.standardize, generator).unflatten(0, (b, 2))
        return Batch(views=[x[:, 0], x[:, 1]], targets={"position": position, "origins": pair})

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        b = batch.batch_size
        features = self.encoder(torch.cat(batch.views[:2]))  # [2B, D]: centres, then neighbours
        pair = self.fc6(features).unflatten(0, (2, b)).transpose(0, 1).flatten(1)  # [B, 2 * fc6]
        logits = self.classifier(pair).float()
        target = batch.targets["position"]
        loss = F.cross_entropy(logits, target)
        with torch.no_grad():
            accuracy = (logits.argmax(1) == target).float().mean()
        return StepOutput(loss=loss, metrics={"pretext_acc": accuracy}, features=features[:b])
