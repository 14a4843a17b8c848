"""Relative patch location: labels match the neighbour's grid position, siamese late fusion, colour."""

import pytest
import torch
import torch.nn.functional as F

from selfsup.backbones import create_backbone
from selfsup.methods.relative_patch import CENTRE, NEIGHBOURS, RelativePatch, RelativePatchConfig
from selfsup.registry import create_method
from selfsup.types import Progress
from selfsup.views.tile_grid import TileLayout

# Direction (dy, dx) of the neighbour from the centre for each label: row-major 3x3 without the centre.
DIRECTIONS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def tiny(chans=1, **kw):
    kw = {"tile": 5, "gap": 4, "jitter": 2, "color": "none", "fc6_dim": 8, "fc7_dim": 16, **kw}
    backbone = create_backbone("resnet_small", in_chans=chans, width=4, depths=(1, 1))
    return RelativePatch(backbone, RelativePatchConfig(**kw))


def cell_image(layout: TileLayout, batch: int) -> torch.Tensor:
    """Images exactly the grid's size whose 9 cells are filled with the values 10 t + 5."""
    s, step = layout.span, layout.tile + layout.gap
    image = torch.zeros(batch, 1, s, s, dtype=torch.uint8)
    for t in range(9):
        r, c = divmod(t, 3)
        reach = layout.tile + 2 * layout.jitter
        image[..., r * step : r * step + reach, c * step : c * step + reach] = 10 * t + 5
    return image


def pixel_values(view: torch.Tensor) -> torch.Tensor:
    return torch.round((view * 0.5 + 0.5) * 255)


def test_labels_match_the_neighbour_position():
    method = tiny()
    images = cell_image(method.layout, 400)
    batch = method.make_batch(images, generator=torch.Generator().manual_seed(0))
    centre, neighbour = (pixel_values(v) for v in batch.views)
    label = batch.targets["position"]
    assert set(label.tolist()) == set(range(8))  # every position is drawn
    assert (centre == 10 * CENTRE + 5).all()
    for i in range(400):
        assert (neighbour[i] == 10 * NEIGHBOURS[int(label[i])] + 5).all()
    # And geometrically: the neighbour's origin lies in the labelled direction from the centre.
    # Jitter moves a tile by at most 2 * jitter < half a grid step, so rounding recovers the cell offset.
    step = method.layout.tile + method.layout.gap
    delta = batch.targets["origins"][:, 1] - batch.targets["origins"][:, 0]
    cells = torch.round(delta.float() / step).long()
    assert cells.tolist() == [list(DIRECTIONS[int(k)]) for k in label]


def test_loss_is_8_way_cross_entropy_of_the_concatenated_pair():
    method = tiny()
    images = torch.randint(0, 256, (6, 1, 30, 30), dtype=torch.uint8)
    batch = method.make_batch(images, generator=torch.Generator().manual_seed(1))
    assert batch.views[0].shape == (6, 1, 5, 5)
    calls = []
    handle = method.encoder.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    out = method.training_step(batch, Progress(0, 10))
    handle.remove()
    assert calls == [12]  # centre and neighbour in one siamese forward
    f = method.fc6(method.encoder(torch.cat(batch.views)))
    logits = method.classifier(torch.cat([f[:6], f[6:]], dim=1))
    torch.testing.assert_close(out.loss, F.cross_entropy(logits, batch.targets["position"]))
    assert logits.shape == (6, 8) and 0.0 <= float(out.metrics["pretext_acc"]) <= 1.0
    out.loss.backward()
    assert all(p.grad is not None for p in method.parameters())


def test_colour_counter_measures_on_rgb():
    images = torch.randint(0, 256, (4, 3, 30, 30), dtype=torch.uint8)
    plain = tiny(chans=3).make_batch(images, generator=torch.Generator().manual_seed(2))
    dropped = tiny(chans=3, color="drop").make_batch(images, generator=torch.Generator().manual_seed(2))
    # Colour dropping: per patch, exactly one channel is the plain one; the others are near-constant noise.
    for plain_view, drop_view in zip(plain.views, dropped.views, strict=True):
        same = (plain_view == drop_view).flatten(2).all(2)
        assert (same.sum(1) == 1).all()
    projected = tiny(chans=3, color="project").make_batch(images, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(projected.views[0].mean(1), plain.views[0].mean(1))


def test_config_validation_and_registry():
    with pytest.raises(ValueError, match="method.color"):
        tiny(color="sepia")
    with pytest.raises(ValueError, match="method.color=none"):
        tiny(color="drop")  # grayscale images cannot drop colours
    with pytest.raises(ValueError, match="jitter"):
        tiny(gap=2, jitter=2)
    with pytest.raises(ValueError, match="data.image_size"):
        tiny().make_batch(torch.zeros(2, 1, 20, 20, dtype=torch.uint8), generator=torch.Generator())
    backbone = create_backbone("resnet_small", in_chans=3, width=4, depths=(1, 1))
    assert isinstance(create_method("relative_patch", backbone), RelativePatch)


def test_paper_defaults_of_the_shortcut_counter_measures():
    config = RelativePatchConfig()
    # Doersch et al. §3: 96 px patches, a gap of about half the patch, jitter up to 7 px, colour dropping.
    assert (config.tile, config.gap, config.jitter, config.color) == (96, 48, 7, "drop")
    assert TileLayout(config.tile, config.gap, config.jitter).span == 3 * 96 + 2 * 48 + 2 * 7


def test_dropped_channels_are_faint_noise_and_projection_removes_green_magenta():
    images = torch.randint(0, 256, (8, 3, 30, 30), dtype=torch.uint8)
    plain = tiny(chans=3).make_batch(images, generator=torch.Generator().manual_seed(3))
    dropped = tiny(chans=3, color="drop").make_batch(images, generator=torch.Generator().manual_seed(3))
    for plain_view, drop_view in zip(plain.views, dropped.views, strict=True):
        kept = (plain_view == drop_view).flatten(2).all(2)  # [B, 3], one True per patch
        kept_std = (plain_view * 0.5)[kept].flatten(1).std(1)  # std of the kept channel in [0, 1] units
        noise = (drop_view * 0.5 + 0.5)[~kept].unflatten(0, (-1, 2)).flatten(2)  # [B, 2, h * w]
        # §3: the dropped channels are Gaussian noise of ~1/100 the kept channel's std (here around 0.5).
        assert (noise.mean(2) - 0.5).abs().max() < 0.01
        ratio = noise.std(2) / kept_std[:, None]
        assert ((ratio > 0.005) & (ratio < 0.02)).all()
    projected = tiny(chans=3, color="project").make_batch(images, generator=torch.Generator().manual_seed(3))
    axis = torch.tensor([-1.0, 2.0, -1.0]) / 6**0.5
    for view in projected.views:  # no component along the green-magenta axis is left
        assert torch.einsum("bchw,c->bhw", view * 0.5 + 0.5, axis).abs().max() < 1e-5
