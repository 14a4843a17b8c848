"""Jigsaw puzzles (Noroozi & Favaro 2016, "Unsupervised Learning of Visual Representations by Solving
Jigsaw Puzzles"): shuffle the 9 tiles of a 3x3 grid by one of ``N`` fixed permutations and classify
which one.

``make_batch`` cuts the 9 jittered tiles of every image (:mod:`selfsup.views.tile_grid`), draws a
class ``j`` uniformly from the permutation set and puts tile ``perms[j, p]`` at position ``p``; the
batch's views are the 9 positions, each ``[B, C, t, t]``. The context-free network is siamese: all
``9B`` tiles go through the shared encoder in one forward, a per-tile ``fc6`` follows, the 9 tile
features are concatenated in position order and ``fc7`` -> ``fc8`` give ``N``-way logits (Fig. 3).
``pretext_acc``: chance is ``1 / N``.

The permutation set (:func:`selfsup.views.permutations.permutation_set`, greedy large Hamming
distance from ``permutation_seed``) is a registered buffer, so it is saved in every checkpoint and
a resumed or exported run uses exactly the classes it was trained with; ``extra_state`` also
writes it, with its minimum Hamming distance, into the exported encoder's JSON.

Shortcut counter-measures (§3.2), all on by default at the paper's values:
- gap and jitter: the paper crops a 225 px window, cuts it into 75 px cells and takes a 64 px tile at a
  random place in each cell, i.e. 11 px of slack per cell. A random place in a cell of side
  ``tile + gap`` is exactly ``gap = 2 * jitter`` here (tile ``t`` then lies anywhere in its cell);
  ``tile=64, gap=11, jitter=5`` is the closest integer layout (10 px of slack). Neighbouring tiles are
  then 1-21 px apart, so edges and textures cannot simply be continued across tile borders.
- ``standardize``: each tile normalized by its own mean and std, so that tiles cannot be matched by
  brightness and contrast (low-level statistics of neighbouring image regions).
- ``channel_jitter``: each colour channel of each tile is cut at its own offset of 0, +-1 or +-2 px,
  and ``gray_prob``: 30 % of the images are gray (one draw per image: all 9 tiles or none) — both
  against chromatic aberration, which reveals a tile's place in the lens field. They act on 3-channel
  images only: a 1-channel image is already gray and has no channels to misalign.
N = 100 permutations by default (up to 1000 in its ablation); fc6 1024 units per tile, fc7 4096.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.methods.base import Method, MethodConfig, view_generator
from selfsup.methods.relative_patch import tile_head
from selfsup.nn.heads import ProjectionHead
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views import to_float
from selfsup.views.permutations import apply_permutations, min_pairwise_hamming, permutation_set
from selfsup.views.tile_grid import (
    TileLayout,
    jitter_channels,
    random_grayscale_images,
    random_tiles,
    standardize_tiles,
)


@dataclass
class JigsawConfig(MethodConfig):
    num_permutations: int = 100  # §3: N = 100 (its ablation goes up to 1000)
    permutation_seed: int = 0  # the set is a pure function of (N, seed)
    tile: int = 64  # §3: 64 px tiles ...
    gap: int = 11  # ... in 75 px cells: 11 px of slack, split into gap and jitter
    jitter: int = 5
    standardize: bool = True  # §3.2: each tile normalized by its own mean and std
    channel_jitter: int = 2  # §3.2: colour channels of each tile shifted by 0, +-1, +-2 px (RGB only)
    gray_prob: float = 0.3  # §3.2: 30 % of the images gray (RGB only)
    fc6_dim: int = 1024  # Fig. 3: fc6 per tile
    fc7_dim: int = 4096  # Fig. 3: fc7 on the 9 concatenated tiles

    def validate(self) -> None:
        if not 2 <= self.num_permutations <= 1000:
            raise ValueError(f"method.num_permutations must be in [2, 1000], got {self.num_permutations}")
        TileLayout(self.tile, self.gap, self.jitter)  # raises on a bad layout
        if self.fc6_dim < 1 or self.fc7_dim < 1:
            raise ValueError("method.fc6_dim and method.fc7_dim must be >= 1")
        if isinstance(self.channel_jitter, bool) or not isinstance(self.channel_jitter, int):
            raise TypeError(f"method.channel_jitter must be an int, got {self.channel_jitter!r}")
        if not 0 <= self.channel_jitter <= self.tile // 2:
            raise ValueError(
                f"method.channel_jitter must be in [0, tile // 2 = {self.tile // 2}] px, got {self.channel_jitter}"
            )
        if not 0.0 <= self.gray_prob <= 1.0:
            raise ValueError(f"method.gray_prob must be in [0, 1], got {self.gray_prob}")


@register_method("jigsaw")
class Jigsaw(Method):
    """N-way classification of tile permutations; ``self.encoder`` is the shared tile encoder."""

    Config = JigsawConfig

    def __init__(self, backbone: nn.Module, config: JigsawConfig) -> None:
        super().__init__(backbone, config)
        self.layout = TileLayout(config.tile, config.gap, config.jitter)
        perms, _ = permutation_set(config.num_permutations, config.permutation_seed)
        self.register_buffer("permutations", perms)  # [N, 9] int64, saved with every checkpoint
        self.fc6 = tile_head(backbone.num_features, config.fc6_dim)
        self.classifier = ProjectionHead(
            self.layout.num_tiles * config.fc6_dim, config.fc7_dim, config.num_permutations, num_layers=2
        )

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        generator = view_generator(images, generator)
        b, channels = images.shape[0], images.shape[1]
        colour = channels == 3  # the colour counter-measures only act on RGB images
        tiles, origins = random_tiles(images, self.layout, generator=generator)  # [B, 9, C, t, t]
        if colour and self.config.channel_jitter > 0:
            tiles, _ = jitter_channels(
                images, origins, self.layout.tile, self.config.channel_jitter, generator=generator
            )
        classes = torch.randint(self.config.num_permutations, (b,), generator=generator, device=images.device)
        shuffled = apply_permutations(tiles, self.permutations.to(images.device)[classes])
        x = to_float(shuffled.flatten(0, 1)).unflatten(0, (b, -1))  # [B, 9, C, t, t] in [0, 1]
        if colour and self.config.gray_prob > 0:
            x = random_grayscale_images(x, self.config.gray_prob, generator=generator)
        x = standardize_tiles(x) if self.config.standardize else (x - 0.5) / 0.5
        return Batch(
            views=list(x.unbind(1)),  # view p: the tile at position p, [B, C, t, t]
            targets={"permutation": classes, "origins": origins},
        )

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        b, n = batch.batch_size, len(batch.views)
        features = self.encoder(torch.cat(batch.views))  # [9B, D], position-major
        joint = self.fc6(features).unflatten(0, (n, b)).transpose(0, 1).flatten(1)  # [B, 9 * fc6]
        logits = self.classifier(joint).float()
        target = batch.targets["permutation"]
        loss = F.cross_entropy(logits, target)
        with torch.no_grad():
            accuracy = (logits.argmax(1) == target).float().mean()
        return StepOutput(loss=loss, metrics={"pretext_acc": accuracy}, features=features[:b])

    def extra_state(self) -> dict[str, Any]:
        return {
            "permutations": self.permutations.tolist(),
            "permutation_seed": self.config.permutation_seed,
            "min_hamming_distance": min_pairwise_hamming(self.permutations),
        }
