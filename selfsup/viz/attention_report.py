"""``draw_attention``: checkpoints + images -> one attention PNG per image (``selfsup viz attention``).

Every model (a training checkpoint or an exported encoder, ``encoder_source.load_viz_encoder``) sees
the images the way it was trained: its channels, its input size, its normalization; by default the
images are the test split of the (first) model's own training dataset. Per image the
PNG has one row per model (``attention_png.save_attention_png``), so ``--compare`` puts two models
side by side. The summary lines give, per model, the mean fraction of patches in the 60 %-mass
masks (lower: attention concentrated on fewer patches) and, for ViTs, the mean attention mass the
class token kept on itself / register tokens (dropped before renormalizing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from selfsup.views import resize, to_float
from selfsup.viz.attention import DINO_MASS, AttentionMaps, attention_maps, mass_mask
from selfsup.viz.attention_png import ModelRow, save_attention_png
from selfsup.viz.encoder_source import VizEncoder, load_viz_encoder
from selfsup.viz.image_source import load_images

__all__ = ["draw_attention", "model_attention"]


@torch.no_grad()
def model_attention(model: VizEncoder, images: torch.Tensor, batch_size: int = 256) -> AttentionMaps:
    """Maps of ``model`` for uint8 ``images [N, C, H, W]`` (prepared as the model was trained)."""
    device = next(model.encoder.parameters()).device
    parts = [
        attention_maps(model.encoder, model.prepare(images[s : s + batch_size]).to(device))
        for s in range(0, images.shape[0], batch_size)
    ]
    return AttentionMaps(
        maps=torch.cat([p.maps for p in parts]).cpu(),
        prefix_mass=torch.cat([p.prefix_mass for p in parts]).cpu(),
        kind=parts[0].kind,
    )


def draw_attention(
    checkpoints: Sequence[str | Path],
    image_sources: list[str] | None,
    num: int,
    out_dir: str | Path,
    mass: float = DINO_MASS,
    allow_mismatch: bool = False,
) -> tuple[list[Path], list[str]]:
    """Write ``out_dir/attention_{i:03d}.png`` for each image; returns the paths and summary lines
    (the first names the images).

    ``image_sources`` None: the test images of the first model's training dataset. A dataset whose
    channel count differs from a model's is an error unless ``allow_mismatch``.
    """
    if not checkpoints:
        raise ValueError("draw_attention needs at least one checkpoint or encoder")
    models = [load_viz_encoder(c) for c in checkpoints]
    labels = [m.label for m in models]
    if len(set(labels)) < len(labels):  # two runs of one name: tell the rows apart
        models = [replace(m, label=f"{i + 1}: {m.label}") for i, m in enumerate(models)]
    # Files are read in colour when any model takes colour, so neither model sees a lossy copy.
    source = load_images(image_sources, num, models[0].spec, max(m.spec.channels for m in models))
    per_model = []
    summary = [f"images: {source.describe()}"]
    for m, path in zip(models, checkpoints, strict=True):
        images = source.for_model(m.spec, str(path), allow_mismatch)
        att = model_attention(m, images)
        masks = mass_mask(att.maps, mass)
        shown = resize(to_float(images), m.image_size)
        per_model.append((m, att, masks, shown))
        kept = float(masks.float().flatten(2).mean(-1).mean())
        line = (
            f"{m.label}: {att.kind}, {att.num_heads} map(s) on a {att.grid[0]}x{att.grid[1]} grid; "
            f"{mass:.0%} of the mass lies on {kept:.1%} of the patches (mean over images and maps)"
        )
        if att.kind == "cls_attention":
            line += f"; class token's attention to itself/registers: {float(att.prefix_mass.mean()):.1%}"
        summary.append(line)
    out_dir = Path(out_dir)
    paths = []
    for i in range(source.images.shape[0]):
        rows = [
            ModelRow(m.label, shown[i], att.maps[i], masks[i], att.kind) for m, att, masks, shown in per_model
        ]
        paths.append(save_attention_png(rows, out_dir / f"attention_{i:03d}.png", title=f"image {i}"))
    return paths, summary
