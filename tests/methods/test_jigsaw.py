"""Jigsaw: the inverse permutation rebuilds the tiled image, N-way siamese classifier, the
permutation set travels with checkpoints and exports."""

import pytest
import torch
import torch.nn.functional as F

from selfsup.backbones import create_backbone
from selfsup.methods.jigsaw import Jigsaw, JigsawConfig
from selfsup.registry import create_method
from selfsup.types import Progress
from selfsup.views.permutations import apply_permutations, invert_permutations, permutation_set


def tiny(in_chans=1, **kw):
    kw = {"num_permutations": 12, "tile": 5, "gap": 2, "jitter": 1, "fc6_dim": 8, "fc7_dim": 16, **kw}
    backbone = create_backbone("resnet_small", in_chans=in_chans, width=4, depths=(1, 1))
    return Jigsaw(backbone, JigsawConfig(**kw))


def unshuffled_uint8(method, batch):
    """The batch's tiles back in grid order and in uint8 (for ``standardize=False``): [B, 9, C, t, t]."""
    shuffled = torch.round((torch.stack(batch.views, 1) * 0.5 + 0.5) * 255).to(torch.uint8)
    return apply_permutations(
        shuffled, invert_permutations(method.permutations[batch.targets["permutation"]])
    )


def test_inverse_permutation_reconstructs_the_tiled_image():
    method = tiny(standardize=False)
    images = torch.randint(0, 256, (7, 1, 24, 26), dtype=torch.uint8)
    batch = method.make_batch(images, generator=torch.Generator().manual_seed(0))
    assert len(batch.views) == 9 and batch.views[0].shape == (7, 1, 5, 5)
    shuffled = torch.round((torch.stack(batch.views, 1) * 0.5 + 0.5) * 255).to(torch.uint8)
    perms = method.permutations[batch.targets["permutation"]]
    tiles = apply_permutations(shuffled, invert_permutations(perms))  # [B, 9, C, t, t] in grid order
    origins = batch.targets["origins"]
    canvas = torch.zeros_like(images)
    covered = torch.zeros_like(images, dtype=torch.bool)
    for b in range(7):
        for t in range(9):
            y, x = origins[b, t].tolist()
            canvas[b, :, y : y + 5, x : x + 5] = tiles[b, t]
            covered[b, :, y : y + 5, x : x + 5] = True
    assert covered.sum() == 7 * 9 * 25  # tiles do not overlap
    assert torch.equal(canvas[covered], images[covered])  # the tiled image, pixel for pixel
    # Unshuffled tile t sits in grid cell (t // 3, t % 3): jitter is under half a grid step.
    cells = torch.round((origins - origins[:, :1]).float() / (5 + 2)).long()
    grid = torch.stack([torch.arange(9) // 3, torch.arange(9) % 3], dim=1)
    assert (cells == grid).all()
    assert not torch.equal(shuffled, tiles)  # something was shuffled


def test_standardized_tiles_and_class_targets():
    method = tiny()
    images = torch.randint(0, 256, (64, 1, 24, 24), dtype=torch.uint8)
    batch = method.make_batch(images, generator=torch.Generator().manual_seed(1))
    x = torch.stack(batch.views, 1)
    torch.testing.assert_close(x.mean(dim=(-3, -2, -1)), torch.zeros(64, 9), atol=1e-4, rtol=0)
    assert batch.targets["permutation"].min() >= 0 and batch.targets["permutation"].max() < 12
    assert len(set(batch.targets["permutation"].tolist())) > 6


def test_loss_is_n_way_cross_entropy_of_the_concatenated_tiles():
    method = tiny()
    batch = method.make_batch(
        torch.randint(0, 256, (6, 1, 24, 24), dtype=torch.uint8), generator=torch.Generator().manual_seed(2)
    )
    calls = []
    handle = method.encoder.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    out = method.training_step(batch, Progress(0, 10))
    handle.remove()
    assert calls == [54]  # all 9 tiles of the batch in one siamese forward
    per_tile = method.fc6(method.encoder(torch.cat(batch.views))).unflatten(0, (9, 6))  # [position, B, fc6]
    joint = torch.cat([per_tile[p] for p in range(9)], dim=1)  # image b: its 9 positions in order
    logits = method.classifier(joint)
    torch.testing.assert_close(out.loss, F.cross_entropy(logits, batch.targets["permutation"]))
    assert logits.shape == (6, 12)
    out.loss.backward()
    assert all(p.grad is not None for p in method.parameters())


def test_permutation_set_is_saved_with_the_checkpoint_and_export():
    method = tiny(permutation_seed=5)
    expected, min_distance = permutation_set(12, seed=5)
    assert torch.equal(method.permutations, expected)
    state = method.state_dict()
    assert torch.equal(state["permutations"], expected)
    other = tiny(permutation_seed=6)
    assert not torch.equal(other.permutations, expected)
    other.load_state_dict(state)  # a checkpoint brings its own permutation set
    assert torch.equal(other.permutations, expected)
    extra = other.extra_state()
    assert extra["permutations"] == expected.tolist() and extra["min_hamming_distance"] == min_distance


def test_config_validation_and_registry():
    with pytest.raises(ValueError, match="method.num_permutations"):
        tiny(num_permutations=1001)
    with pytest.raises(ValueError, match="jitter"):
        tiny(gap=1, jitter=1)
    with pytest.raises(ValueError, match="data.image_size"):
        tiny().make_batch(torch.zeros(2, 1, 16, 16, dtype=torch.uint8), generator=torch.Generator())
    backbone = create_backbone("resnet_small", in_chans=1, width=4, depths=(1, 1))
    method = create_method("jigsaw", backbone, JigsawConfig(num_permutations=10, tile=4, gap=2, jitter=1))
    assert isinstance(method, Jigsaw) and method.normalization() == ([0.5], [0.5])
    with pytest.raises(ValueError, match="method.channel_jitter"):
        tiny(channel_jitter=3)  # more than half of a 5 px tile
    with pytest.raises(TypeError, match="method.channel_jitter"):
        tiny(channel_jitter=1.5)
    with pytest.raises(ValueError, match="method.gray_prob"):
        tiny(gray_prob=-0.1)


def test_paper_defaults_of_the_shortcut_counter_measures():
    config = JigsawConfig()
    assert (config.tile, config.gap, config.jitter) == (64, 11, 5)  # 64 px tiles anywhere in ~75 px cells
    assert config.tile + config.gap == 75 and config.gap == 2 * config.jitter + 1
    assert config.standardize and config.channel_jitter == 2 and config.gray_prob == 0.3


def test_colour_counter_measures_leave_grayscale_batches_unchanged():
    images = torch.randint(0, 256, (5, 1, 24, 24), dtype=torch.uint8)
    plain = tiny(channel_jitter=0, gray_prob=0.0).make_batch(
        images, generator=torch.Generator().manual_seed(3)
    )
    default = tiny().make_batch(images, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(plain.views, default.views, strict=True))
    assert torch.equal(plain.targets["permutation"], default.targets["permutation"])


def test_rgb_channels_are_cut_at_their_own_offsets_of_at_most_two_pixels():
    method = tiny(in_chans=3, tile=7, gap=2, jitter=1, standardize=False, gray_prob=0.0)
    images = torch.randint(0, 256, (6, 3, 30, 30), dtype=torch.uint8)
    batch = method.make_batch(images, generator=torch.Generator().manual_seed(4))
    tiles, origins = unshuffled_uint8(method, batch), batch.targets["origins"]
    offsets = []
    for b in range(6):
        for t in range(9):
            y, x = origins[b, t].tolist()
            for c in range(3):  # the one offset within +-2 px whose crop is this channel
                found = [
                    (dy, dx)
                    for dy in range(-2, 3)
                    for dx in range(-2, 3)
                    if 0 <= y + dy <= 23
                    and 0 <= x + dx <= 23
                    and torch.equal(tiles[b, t, c], images[b, c, y + dy : y + dy + 7, x + dx : x + dx + 7])
                ]
                assert len(found) == 1
                offsets.append(found[0])
    assert len(set(offsets)) > 10  # channels really move, independently


def test_gray_prob_turns_whole_puzzles_gray():
    method = tiny(in_chans=3, standardize=False, channel_jitter=0, gray_prob=0.5)
    images = torch.randint(0, 256, (400, 3, 24, 24), dtype=torch.uint8)
    batch = method.make_batch(images, generator=torch.Generator().manual_seed(5))
    x = torch.stack(batch.views, 1)  # [B, 9, 3, t, t]
    equal = (x[:, :, 0] == x[:, :, 1]) & (x[:, :, 1] == x[:, :, 2])  # gray pixels
    gray = equal.flatten(1).all(1)
    assert abs(gray.float().mean().item() - 0.5) < 0.08
    assert not equal[~gray].flatten(1).all(1).any()  # random colour tiles keep their colours
    luma = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]) / 255  # naive reference
    tiles = apply_permutations(x, invert_permutations(method.permutations[batch.targets["permutation"]]))
    for b in torch.nonzero(gray).flatten()[:20].tolist():
        for t in range(9):
            y, xx = batch.targets["origins"][b, t].tolist()
            torch.testing.assert_close(tiles[b, t, 0] * 0.5 + 0.5, luma[b, y : y + 5, xx : xx + 5])
