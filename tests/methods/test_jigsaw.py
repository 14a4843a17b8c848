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


def tiny(**kw):
    kw = {"num_permutations": 12, "tile": 5, "gap": 2, "jitter": 1, "fc6_dim": 8, "fc7_dim": 16, **kw}
    backbone = create_backbone("resnet_small", in_chans=1, width=4, depths=(1, 1))
    return Jigsaw(backbone, JigsawConfig(**kw))


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
