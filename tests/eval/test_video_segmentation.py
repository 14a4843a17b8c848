"""One-shot classifier, label propagation (neighbourhood, top-k) and the copy baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from selfsup.data.davis import write_mask
from selfsup.eval.davis import evaluate_davis, global_results
from selfsup.eval.label_propagation import neighbourhood_mask, propagate_labels, propagate_step
from selfsup.eval.video_segmentation import (
    ClassifierConfig,
    PatchFeatures,
    patch_labels,
    segment_davis,
    segment_frames,
    to_pixels,
)


class ColourTokens(torch.nn.Module):
    """Fake backbone: each 4x4 patch's token is its mean RGB (so features encode the mask perfectly)."""

    patch_size = 4
    in_chans = 3

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 4).flatten(2).transpose(1, 2)


def _moving_square_frames(t: int = 4) -> tuple[torch.Tensor, np.ndarray]:
    """Red 8x8 square moving right by 4 px a frame over blue; patch-aligned. uint8 [T,3,16,24], ids [T,16,24]."""
    frames = torch.zeros(t, 3, 16, 24, dtype=torch.uint8)
    frames[:, 2] = 255
    ids = np.zeros((t, 16, 24), dtype=np.uint8)
    for i in range(t):
        frames[i, :, 4:12, 4 * i : 4 * i + 8] = torch.tensor([255, 0, 0], dtype=torch.uint8).view(3, 1, 1)
        ids[i, 4:12, 4 * i : 4 * i + 8] = 1
    return frames, ids


def test_patch_labels_are_area_fractions_without_void():
    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[0, 0:2] = 1  # top-left 2x2 patch: 2 object pixels, 2 background
    mask[1, 0] = 255  # one void pixel in it
    mask[2:4, 2:4] = 255  # bottom-right patch all void
    labels = patch_labels(mask, 1, (2, 2))
    assert torch.allclose(labels[:, 0, 0], torch.tensor([1 / 3, 2 / 3]))
    assert torch.equal(labels[:, 1, 1], torch.zeros(2))
    assert torch.equal(labels[:, 0, 1], torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="num_objects"):
        patch_labels(mask, 0, (2, 2))


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_classifier_on_mask_encoding_features_reproduces_the_mask(kind):
    frames, ids = _moving_square_frames()
    features = PatchFeatures(ColourTokens())
    pred = segment_frames(frames, ids[0], 1, "classifier", features, classifier=ClassifierConfig(kind=kind))
    # Every patch is classified right, so the output is exactly the true patch mask upsampled
    # bilinearly (which rounds the square's corner pixels, as DINO's upsampling does).
    ideal = to_pixels(torch.stack([patch_labels(m, 1, (4, 6)) for m in ids]), (16, 24))
    assert np.array_equal(pred[1:].numpy(), ideal[1:].numpy())
    assert np.array_equal(pred[0].numpy(), ids[0])
    assert (pred.numpy() != ids).sum() == 4 * 3  # only the 4 corner pixels of frames 1..3 differ


def test_propagation_through_identical_frames_reproduces_frame_zero():
    # 10 identical frames whose 48 patches have orthonormal features: each patch's best sources are
    # itself (cos 1) in the context frames; any other patch weighs exp(-1 / 0.1) relative to it.
    feats = torch.eye(48).reshape(1, 6, 8, 48).expand(10, -1, -1, -1)
    mask = np.zeros((24, 32), dtype=np.uint8)
    mask[4:12, 8:20] = 1
    mask[12:24, 24:32] = 2
    labels = patch_labels(mask, 2, (6, 8))
    probs = propagate_labels(feats, labels)
    assert torch.allclose(probs, labels.expand(10, -1, -1, -1), atol=4 * np.exp(-10))
    pred = segment_frames(
        torch.zeros(10, 3, 24, 32, dtype=torch.uint8), mask, 2, "propagation", lambda f: feats
    )
    ideal = to_pixels(labels[None], (24, 32))[0]
    assert all(torch.equal(p, ideal) for p in pred[1:])


def test_neighbourhood_mask_matches_a_naive_square_window():
    h, w, r = 4, 5, 1
    got = neighbourhood_mask(h, w, r)
    for i in range(h * w):
        for j in range(h * w):
            inside = abs(i // w - j // w) <= r and abs(i % w - j % w) <= r
            assert bool(got[i, j]) == inside


def test_sources_outside_the_radius_are_ignored():
    n = 10  # a 1 x 10 strip; target patch 0's perfect match sits at position 9 in the context
    target = torch.eye(n)
    context = torch.eye(n)[None].clone()
    context[0, 9] = torch.eye(n)[0]
    context[0, 0] = 0.0  # no other copy of patch 0's feature
    labels = torch.zeros(1, n, 2)
    labels[0, :, 0] = 1.0
    labels[0, 9] = torch.tensor([0.0, 1.0])
    far = propagate_step(target, context, labels, (1, n), temperature=0.1, topk=5, radius=None)
    near = propagate_step(target, context, labels, (1, n), temperature=0.1, topk=5, radius=3)
    assert far[0, 1] > 0.9  # without the window, the far match wins
    assert near[0, 1] == 0.0  # within 3 patches it is invisible


def test_propagate_step_matches_a_naive_top_k_reference():
    torch.manual_seed(1)
    grid, c, d, nl = (3, 4), 3, 8, 3
    n = grid[0] * grid[1]
    target = F.normalize(torch.randn(n, d), dim=1)
    context = F.normalize(torch.randn(c, n, d), dim=2)
    labels = torch.softmax(torch.randn(c, n, nl), dim=2)
    got = propagate_step(target, context, labels, grid, temperature=0.1, topk=4, radius=1)
    for i in range(n):
        cands = []
        for f in range(c):
            for j in range(n):
                if abs(i // 4 - j // 4) <= 1 and abs(i % 4 - j % 4) <= 1:
                    cands.append((float(target[i] @ context[f, j]), labels[f, j]))
        best = sorted(cands, key=lambda a: -a[0])[:4]
        weights = torch.tensor([np.exp(a / 0.1) for a, _ in best])
        expected = sum(w * lab for w, (_, lab) in zip(weights / weights.sum(), best, strict=True))
        assert torch.allclose(got[i], expected.float(), atol=1e-5)


def test_context_is_first_frame_plus_recent_predictions():
    # Frame 1's features match frame 0; later frames match nothing in frame 0 but equal frame 1, so
    # with n_recent=0 (first frame only) a later frame must still copy from frame 0 only.
    feats = torch.zeros(4, 1, 2, 2)
    feats[:, 0, 0, 0] = 1.0
    feats[:, 0, 1, 1] = 1.0
    labels = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # [L=2, 1, 2]
    probs = propagate_labels(feats, labels, topk=1, radius=None, n_recent=0)
    assert torch.allclose(probs[3], labels)


def test_copy_baseline_repeats_frame_zero(tmp_path):
    frames, ids = _moving_square_frames(t=4)
    root = tmp_path / "davis"
    for i in range(4):
        (root / "JPEGImages/480p/sq").mkdir(parents=True, exist_ok=True)
        Image.fromarray(frames[i].permute(1, 2, 0).numpy()).save(root / f"JPEGImages/480p/sq/{i:05d}.jpg")
        write_mask(root / f"Annotations/480p/sq/{i:05d}.png", ids[i])
    (root / "ImageSets/2017").mkdir(parents=True)
    (root / "ImageSets/2017/val.txt").write_text("sq\n")
    segment_davis(root, tmp_path / "copy", "copy")
    pred = np.array(Image.open(tmp_path / "copy/sq/00002.png"))
    assert np.array_equal(pred, ids[0])
    segment_davis(root, tmp_path / "clf", "classifier", PatchFeatures(ColourTokens()))
    copy_jf = global_results(evaluate_davis(root, tmp_path / "copy"))["J&F-Mean"]
    clf_jf = global_results(evaluate_davis(root, tmp_path / "clf"))["J&F-Mean"]
    assert clf_jf > 0.9 and copy_jf < 0.7
    with pytest.raises(ValueError, match="method must be one of"):
        segment_frames(frames, ids[0], 1, "nearest")
