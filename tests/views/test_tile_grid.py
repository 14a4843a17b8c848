"""Tile grid: tiles are exact crops at their origins, jitter and gap bounds, identifiable cells,
colour counter-measures and per-tile standardization."""

import pytest
import torch

from selfsup.views.tile_grid import (
    TileLayout,
    drop_colors,
    extract_tiles,
    jitter_channels,
    project_out_green_magenta,
    random_grayscale_images,
    random_tiles,
    sample_tile_origins,
    standardize_tiles,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_tiles_are_the_naive_crops_at_their_origins():
    x = torch.randint(0, 256, (5, 3, 40, 37), dtype=torch.uint8)
    layout = TileLayout(tile=8, gap=4, jitter=2)
    tiles, origins = random_tiles(x, layout, generator=gen())
    assert tiles.shape == (5, 9, 3, 8, 8) and tiles.dtype == torch.uint8 and origins.shape == (5, 9, 2)
    for b in range(5):
        for t in range(9):
            y, xx = origins[b, t].tolist()
            assert torch.equal(tiles[b, t], x[b, :, y : y + 8, xx : xx + 8])
    again, origins2 = random_tiles(x, layout, generator=gen())
    assert torch.equal(again, tiles) and torch.equal(origins2, origins)


def test_origins_respect_grid_gap_jitter_and_image_bounds():
    layout = TileLayout(tile=6, gap=4, jitter=2)
    assert layout.span == 3 * 6 + 2 * 4 + 2 * 2
    origins = sample_tile_origins(4000, 35, 33, layout, generator=gen(1), device=torch.device("cpu"))
    assert origins.min() >= 0
    assert origins[..., 0].max() <= 35 - 6 and origins[..., 1].max() <= 33 - 6
    step = layout.tile + layout.gap
    rows, cols = torch.arange(9) // 3, torch.arange(9) % 3
    # Offsets from the centre tile: nominal grid step plus at most two jitters.
    rel = origins - origins[:, 4:5]
    nominal = torch.stack([rows - 1, cols - 1], 1) * step
    dev = rel - nominal
    assert dev.abs().max() == 2 * layout.jitter  # both extremes of the jitter are drawn
    # Neighbouring tiles never touch: at least gap - 2 * jitter pixels apart.
    right = origins[:, 1, 1] - (origins[:, 0, 1] + layout.tile)
    below = origins[:, 3, 0] - (origins[:, 0, 0] + layout.tile)
    assert right.min() >= layout.gap - 2 * layout.jitter and below.min() >= layout.gap - 2 * layout.jitter


def test_each_tile_comes_from_its_own_grid_cell():
    """An image whose cells have distinct constant values: tile t shows value of cell t only."""
    layout = TileLayout(tile=5, gap=4, jitter=2)
    s = layout.span  # image exactly the grid's size: the grid sits at (0, 0)
    image = torch.zeros(1, 1, s, s, dtype=torch.uint8)
    step = layout.tile + layout.gap
    for t in range(9):
        r, c = divmod(t, 3)
        y0, x0 = r * step, c * step  # the cell's reach: nominal origin +- jitter
        image[..., y0 : y0 + layout.tile + 2 * layout.jitter, x0 : x0 + layout.tile + 2 * layout.jitter] = (
            10 * t + 5
        )
    tiles, _ = random_tiles(image.repeat(50, 1, 1, 1), layout, generator=gen(2))
    for t in range(9):
        assert (tiles[:, t] == 10 * t + 5).all()


def test_bad_layouts_and_small_images_are_named():
    with pytest.raises(ValueError, match="jitter"):
        TileLayout(tile=8, gap=2, jitter=2)
    with pytest.raises(ValueError, match="tile >= 1"):
        TileLayout(tile=0, gap=2, jitter=1)
    with pytest.raises(ValueError, match="data.image_size"):
        sample_tile_origins(2, 20, 40, TileLayout(8, 4, 1), generator=gen(), device=torch.device("cpu"))
    with pytest.raises(ValueError, match="inside"):
        extract_tiles(torch.zeros(1, 1, 10, 10), torch.tensor([[[0, 5]]]), 6)


def test_drop_colors_keeps_one_channel_and_fills_the_others_with_faint_noise():
    tiles = torch.rand(64, 3, 6, 6)
    out = drop_colors(tiles, generator=gen(3))
    kept = (out == tiles).flatten(2).all(2)  # [N, 3]
    assert (kept.sum(1) == 1).all()
    for i in range(64):
        k = int(kept[i].nonzero())
        noise = out[i][~kept[i]]
        assert (noise - 0.5).abs().max() < 0.1 * tiles[i, k].std() + 1e-6
    assert set(kept.float().argmax(1).tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match="RGB"):
        drop_colors(torch.rand(2, 1, 4, 4), generator=gen())


def test_green_magenta_projection():
    gray = torch.full((2, 3, 4, 4), 0.3)
    assert torch.allclose(project_out_green_magenta(gray), gray)
    green = torch.tensor([0.5, 0.9, 0.5]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    out = project_out_green_magenta(green)
    assert torch.allclose(out[0, 1] - out[0, 0], torch.zeros(2, 2), atol=1e-6)  # no green excess left
    red_blue = torch.tensor([0.8, 0.5, 0.2]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert torch.allclose(project_out_green_magenta(red_blue), red_blue, atol=1e-6)
    x = torch.rand(3, 3, 5, 5)
    once = project_out_green_magenta(x)
    assert torch.allclose(project_out_green_magenta(once), once, atol=1e-6)  # a projection
    assert torch.allclose(once.mean(1), x.mean(1), atol=1e-6)  # luminance (channel mean) kept


def test_standardize_tiles_per_tile():
    tiles = torch.rand(4, 9, 3, 5, 5) * (0.2 + torch.rand(4, 9, 1, 1, 1)) + torch.rand(4, 9, 1, 1, 1)
    out = standardize_tiles(tiles, eps=0.0)
    assert torch.allclose(out.mean(dim=(-3, -2, -1)), torch.zeros(4, 9), atol=1e-4)
    assert torch.allclose(out.std(dim=(-3, -2, -1)), torch.ones(4, 9), atol=1e-5)
    assert torch.equal(standardize_tiles(torch.full((1, 1, 2, 2), 0.7)), torch.zeros(1, 1, 2, 2))


def test_jittered_channels_are_naive_crops_at_their_own_clamped_offsets():
    x = torch.randint(0, 256, (6, 3, 30, 31), dtype=torch.uint8)
    layout = TileLayout(tile=7, gap=2, jitter=1)
    origins = sample_tile_origins(6, 30, 31, layout, generator=gen(3), device=torch.device("cpu"))
    tiles, shifts = jitter_channels(x, origins, 7, 2, generator=gen(4))
    assert tiles.shape == (6, 9, 3, 7, 7) and tiles.dtype == torch.uint8 and shifts.shape == (6, 9, 3, 2)
    assert shifts.abs().max() <= 2
    for b in range(6):
        for t in range(9):
            for c in range(3):
                y, xx = (origins[b, t] + shifts[b, t, c]).tolist()
                assert 0 <= y <= 30 - 7 and 0 <= xx <= 31 - 7  # clamped inside the image
                assert torch.equal(tiles[b, t, c], x[b, c, y : y + 7, xx : xx + 7])
    # Away from the borders every offset in [-2, 2] per axis occurs, independently per channel.
    many = sample_tile_origins(500, 30, 31, layout, generator=gen(5), device=torch.device("cpu"))
    inner = many.clamp(2, 30 - 7 - 2)
    _, s = jitter_channels(x[:1].expand(500, -1, -1, -1), inner, 7, 2, generator=gen(6))
    assert set(s.flatten().tolist()) == {-2, -1, 0, 1, 2}
    assert (s[:, :, 0] != s[:, :, 1]).any(-1).float().mean() > 0.9
    # Corner tiles: offsets that would leave the image are clamped to its edge.
    corner = torch.zeros(1, 1, 2, dtype=torch.long)
    _, s0 = jitter_channels(x[:1], corner, 7, 2, generator=gen(7))
    assert s0.min() >= 0


def test_zero_channel_jitter_is_plain_extraction_and_bad_shift_raises():
    x = torch.randint(0, 256, (3, 3, 24, 24), dtype=torch.uint8)
    tiles, origins = random_tiles(x, TileLayout(5, 2, 1), generator=gen())
    same, shifts = jitter_channels(x, origins, 5, 0, generator=gen())
    assert torch.equal(same, tiles) and not shifts.any()
    with pytest.raises(ValueError, match="max_shift"):
        jitter_channels(x, origins, 5, -1, generator=gen())
    with pytest.raises(ValueError, match="origins"):
        jitter_channels(x, origins[:2], 5, 1, generator=gen())


def test_random_grayscale_turns_whole_images_gray_with_bt601_luma():
    tiles = torch.rand(4000, 9, 3, 4, 4)
    out = random_grayscale_images(tiles, 0.3, generator=gen(8))
    gray = (out != tiles).flatten(1).any(1)  # images that changed
    assert abs(gray.float().mean().item() - 0.3) < 0.03
    r, g, b = tiles[gray].unbind(2)
    luma = 0.299 * r + 0.587 * g + 0.114 * b  # naive reference, [n, 9, h, w]
    for c in range(3):
        torch.testing.assert_close(out[gray][:, :, c], luma)  # all 9 tiles of a gray image
    assert torch.equal(out[~gray], tiles[~gray])  # colour images untouched
    assert torch.equal(random_grayscale_images(tiles, 0.0, generator=gen()), tiles)
    with pytest.raises(ValueError, match="RGB tiles"):
        random_grayscale_images(torch.rand(2, 9, 1, 4, 4), 0.3, generator=gen())
    with pytest.raises(ValueError, match="prob"):
        random_grayscale_images(tiles[:2], 1.5, generator=gen())
