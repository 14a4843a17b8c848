"""One-shot classifier, label propagation (DINO's protocol, checked against numbers of DINO's
``eval_video_segmentation.py``) and the copy baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from selfsup.data.davis import write_mask
from selfsup.eval.davis import evaluate_davis, global_results
from selfsup.eval.label_propagation import (
    labels_to_ids,
    neighbourhood_mask,
    norm_mask,
    propagate_labels,
    propagate_step,
)
from selfsup.eval.video_segmentation import (
    DINO_MEAN,
    DINO_STD,
    ClassifierConfig,
    PatchFeatures,
    dino_input_size,
    nearest_labels,
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
    features = PatchFeatures(ColourTokens(), mean=None, std=None, short_side=None)  # frames as they are
    pred = segment_frames(frames, ids[0], 1, "classifier", features, classifier=ClassifierConfig(kind=kind))
    # Every patch is classified right, so the output is exactly the true patch mask upsampled
    # bilinearly (which rounds the square's corner pixels, as DINO's upsampling does).
    ideal = to_pixels(torch.stack([patch_labels(m, 1, (4, 6)) for m in ids]), (16, 24))
    assert np.array_equal(pred[1:].numpy(), ideal[1:].numpy())
    assert np.array_equal(pred[0].numpy(), ids[0])
    assert (pred.numpy() != ids).sum() == 4 * 3  # only the 4 corner pixels of frames 1..3 differ


def test_propagation_through_identical_frames_reproduces_frame_zero():
    # 10 identical frames whose 48 patches have orthonormal features: each patch's best source is
    # itself (cos 1) in every context frame. In frame 1 (context: frame 0 only) the other 47 patches
    # all tie with the 5th-best affinity exp(0) and DINO keeps ties, so each gets exp(-1 / 0.1)
    # relative to the patch itself.
    feats = torch.eye(48).reshape(1, 6, 8, 48).expand(10, -1, -1, -1)
    mask = np.zeros((24, 32), dtype=np.uint8)
    mask[4:12, 8:20] = 1
    mask[12:24, 24:32] = 2
    labels = patch_labels(mask, 2, (6, 8))
    probs = propagate_labels(feats, labels, radius=None)
    flat = labels.flatten(1)
    e = np.exp(-10.0)
    frame1 = (flat + e * (flat.sum(1, keepdim=True) - flat)) / (1 + 47 * e)
    assert torch.allclose(probs[1].flatten(1), frame1, atol=1e-6)
    assert torch.equal(probs.argmax(1), labels.argmax(0).expand(10, -1, -1))
    pred = segment_frames(
        torch.zeros(10, 3, 24, 32, dtype=torch.uint8),
        mask,
        2,
        "propagation",
        lambda f: feats,
        labels="area",
        output="direct",
    )
    ideal = to_pixels(labels[None], (24, 32))[0]
    assert all(torch.equal(p, ideal) for p in pred[1:])


def test_ties_with_the_kth_affinity_are_kept_as_dino_does():
    # Target patch 0 has three sources at cosine 1 (two in frame A, one in frame B); with topk=2
    # DINO zeroes only the affinities *below* the 2nd largest, so all three stay, weighted 1/3 each.
    e0, e1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    target = torch.stack([e0, e1])
    context = torch.stack([torch.stack([e0, e0]), torch.stack([e0, e1])])  # [C=2, N=2, D=2]
    labels = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])
    out = propagate_step(target, context, labels, (1, 2), temperature=0.1, topk=2, radius=None)
    assert torch.allclose(out[0], torch.tensor([1 / 3, 2 / 3]))


def test_radius_zero_disables_the_neighbourhood_as_dino_does():
    # size_mask_neighborhood=0 means no mask in DINO's script (not "the same patch only").
    torch.manual_seed(0)
    target, context = F.normalize(torch.randn(6, 4), dim=1), F.normalize(torch.randn(2, 6, 4), dim=2)
    labels = torch.softmax(torch.randn(2, 6, 3), dim=2)
    free = propagate_step(target, context, labels, (1, 6), topk=3, radius=None)
    assert torch.equal(propagate_step(target, context, labels, (1, 6), topk=3, radius=0), free)
    assert neighbourhood_mask(1, 6, 0).all()


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


def test_tiled_windows_equal_the_dense_masked_affinity():
    # propagate_step scores each tile of targets only against the sources its windows can reach;
    # on a grid of several tiles (ragged edges included) it must equal the dense [N, C*N] affinity
    # with DINO's square mask applied.
    torch.manual_seed(2)
    grid, c, d, nl, r, k = (19, 21), 3, 6, 4, 3, 5
    n = grid[0] * grid[1]
    target = F.normalize(torch.randn(n, d), dim=1)
    context = F.normalize(torch.randn(c, n, d), dim=2)
    labels = torch.softmax(torch.randn(c, n, nl), dim=2)
    logits = (target @ context.reshape(-1, d).T / 0.1).view(n, c, n)
    logits = logits.masked_fill(~neighbourhood_mask(*grid, r)[:, None, :], float("-inf")).flatten(1)
    logits = logits.masked_fill(logits < logits.topk(k, dim=1).values[:, -1:], float("-inf"))
    dense = torch.softmax(logits, dim=1) @ labels.reshape(-1, nl)
    tiled = propagate_step(target, context, labels, grid, temperature=0.1, topk=k, radius=r)
    assert torch.allclose(tiled, dense, atol=1e-6)
    unmasked = torch.softmax((target @ context.reshape(-1, d).T / 0.1), dim=1) @ labels.reshape(-1, nl)
    assert torch.allclose(propagate_step(target, context, labels, grid, 0.1, None, None), unmasked, atol=1e-6)


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
    features = PatchFeatures(ColourTokens(), mean=None, std=None, short_side=None)
    segment_davis(root, tmp_path / "clf", "classifier", features)
    copy_jf = global_results(evaluate_davis(root, tmp_path / "copy"))["J&F-Mean"]
    clf_jf = global_results(evaluate_davis(root, tmp_path / "clf"))["J&F-Mean"]
    assert clf_jf > 0.9 and copy_jf < 0.7
    with pytest.raises(ValueError, match="method must be one of"):
        segment_frames(frames, ids[0], 1, "nearest")


@pytest.mark.parametrize(
    ("frame", "expected"),
    [  # (H, W) -> the tensor size DINO's read_frame returned for a frame of that size (run once)
        ((480, 854), (480, 832)),
        ((854, 480), (832, 480)),
        ((480, 910), (480, 896)),
        ((720, 1280), (480, 832)),
        ((240, 320), (480, 640)),
        ((500, 500), (480, 448)),
        ((300, 299), (448, 480)),
    ],
)
def test_dino_input_size_is_the_scripts_rule(frame, expected):
    assert dino_input_size(*frame) == expected


class RecordingTokens(torch.nn.Module):
    """Fake ViT: records its input, returns zero tokens on its patch grid."""

    in_chans = 3

    def __init__(self, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.seen: list[torch.Tensor] = []

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x)
        return torch.zeros(x.shape[0], (x.shape[2] // self.patch_size) * (x.shape[3] // self.patch_size), 2)


def test_patch_features_default_to_dinos_input():
    frames = torch.empty(1, 3, 480, 854, dtype=torch.uint8)
    frames[:, 0], frames[:, 1], frames[:, 2] = 100, 150, 200
    enc = RecordingTokens(16)
    assert PatchFeatures(enc)(frames).shape == (1, 30, 52, 2)
    x = enc.seen[0]
    assert x.shape == (1, 3, 480, 832)
    # color_normalize of the script: its std for red is 0.228
    assert DINO_STD == (0.228, 0.224, 0.225) and DINO_MEAN == (0.485, 0.456, 0.406)
    expected = (torch.tensor([100, 150, 200]) / 255.0 - torch.tensor(DINO_MEAN)) / torch.tensor(DINO_STD)
    assert torch.allclose(x[0, :, 7, 11], expected, atol=1e-6)
    # A patch size that does not divide the size: the remainder is cropped, as a strided patch
    # embedding ignores it (480x832 -> 476x826 for patch 14).
    enc14 = RecordingTokens(14)
    assert PatchFeatures(enc14)(frames).shape == (1, 34, 59, 2)
    assert enc14.seen[0].shape[-2:] == (476, 826)


def test_first_frame_labels_are_nearest_downsampled_one_hot():
    mask = np.zeros((8, 8), np.uint8)
    mask[1:4, 1:4] = 1  # covers pixel (2, 2), the one PIL's nearest resize samples for patch (0, 0)
    mask[4:6, 4:6] = 2  # misses pixel (6, 6): it vanishes, as in DINO's read_seg
    mask[6, 2] = 255  # void on the sample of patch (1, 0): background
    got = nearest_labels(mask, 2, (2, 2))
    assert torch.equal(got.argmax(0), torch.tensor([[1, 0], [0, 0]]))
    assert torch.equal(got.sum(0), torch.ones(2, 2))  # one-hot, no area fractions
    assert got.shape == (3, 2, 2)


def test_norm_mask_and_dino_upsampling_by_hand():
    # Background 0.9 -> 0.6, object 0.1 -> 0.4 across two patches. Bilinear x4 (align_corners=False)
    # gives the fractions s = 0, 0, 1/8, 3/8, 5/8, 7/8, 1, 1 along a row; after norm_mask the object
    # is s and the background 1 - s, so the object wins from s = 5/8 on. Without norm_mask the
    # background (0.9 - 0.3 s) beats the object (0.1 + 0.3 s) everywhere.
    probs = torch.tensor([[[0.9, 0.6]], [[0.1, 0.4]]])
    row = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1], dtype=torch.uint8)
    assert torch.equal(labels_to_ids(probs, (4, 8), patch_size=4), row.expand(4, 8))
    assert not labels_to_ids(probs, (4, 8), patch_size=4, normalize=False).any()
    # then nearest neighbour to the frame size (PIL samples columns 1, 3, 5, 7)
    assert torch.equal(labels_to_ids(probs, (2, 4), patch_size=4), torch.tensor([[0, 0, 1, 1]] * 2).byte())
    # A constant positive channel becomes NaN (0 / 0) in DINO's norm_mask and wins torch.max.
    flat = torch.stack([torch.ones(1, 2), torch.tensor([[0.0, 0.5]])])
    assert torch.isnan(norm_mask(flat.clone())[0]).all()
    assert not labels_to_ids(flat, (4, 8), patch_size=4).any()


def _dino_case() -> tuple[np.ndarray, torch.Tensor]:
    """First mask 16x24 with a small object 1 and object 2, and features [5, 4, 6, 4] on a 4x6 grid
    of 4-pixel patches, exact to 2 decimals."""
    mask = np.zeros((16, 24), np.uint8)
    mask[1:6, 2:8] = 1
    mask[9:16, 14:22] = 2
    t, i, j = np.meshgrid(np.arange(5), np.arange(4), np.arange(6), indexing="ij")
    a = 0.9 * i + 0.5 * j + 0.3 * t
    f = np.stack(
        [np.cos(a), np.sin(a), np.cos(1.7 * j - 0.4 * i + 0.2 * t), 0.3 * np.sin(2.3 * i * j + t)], -1
    )
    return mask, torch.from_numpy(np.round(f, 2).astype(np.float32))


# DINO's eval_video_segmentation.py (facebookresearch/dino, commit 7c446df) on _dino_case, run once
# on the CPU: eval_video_tracking_davis with a model returning these features for each frame,
# read_seg(first mask, 4, scale_size=[24, 16]), --n_last_frames 7 --topk 5 --size_mask_neighborhood 1
# (the grid is smaller than the default window of 12). Frames 1..4, one string per pixel row.
DINO_SCRIPT_IDS = [
    "111111110000000000000000",
    "111111110000000000000000",
    "111111100000000000000000",
    "111111000000000000000000",
    "000000000000000000000000",
    "000000000000000000000000",
    "000000000000000000000000",
    "000000000000000022200000",
    "000000000000000222220000",
    "000000000000022222220000",
    "000000000000222222220000",
    "000000000002222222220000",
    "000000000022222222220000",
    "000000000222222222200000",
    "000000000222222222200000",
    "000000000222222222200000",
    "111111000000000000000000",
    "111111000000000000000000",
    "111100000000000000000000",
    "000000000000000000000000",
    "000000000000000000000000",
    "000000000000000002200000",
    "000000000000000022200000",
    "000000000000000022220000",
    "000000000000000222220000",
    "000000000000022222220000",
    "000000000000222222220000",
    "000000000022222222220000",
    "000000000222222222200000",
    "000000002222222222000000",
    "000000002222222220000000",
    "000000002222222220000000",
    "111000000000000000000000",
    "111000000000000000000000",
    "110000000000000000000000",
    "000000000000000000000000",
    "000000000000000022200000",
    "000000000000000222220000",
    "000000000000002222220000",
    "000000000000022222220000",
    "000000000000222222220000",
    "000000000002222222220000",
    "000000000022222222220000",
    "000000000222222222200000",
    "000000000222222222000000",
    "000000002222222220000000",
    "000000002222222220000000",
    "000000002222222220000000",
    "110000000000000000000000",
    "110000000000000000000000",
    "000000000000000000000000",
    "000000000000000002000000",
    "000000000000022222200000",
    "000000000000222222220000",
    "000000000002222222220000",
    "000000000022222222220000",
    "000000000222222222220000",
    "000000000222222222200000",
    "000000000222222222200000",
    "000000002222222222000000",
    "000000002222222220000000",
    "000000002222222220000000",
    "000000002222222220000000",
    "000000002222222220000000",
]


def test_propagation_matches_dinos_script_on_a_small_case():
    mask, feats = _dino_case()

    class Features:
        patch_size = 4

        def __call__(self, frames: torch.Tensor) -> torch.Tensor:
            return feats

    def run(**kw: object) -> list[str]:
        frames = torch.zeros(5, 3, 16, 24, dtype=torch.uint8)
        ids = segment_frames(frames, mask, 2, "propagation", Features(), **{"radius": 1, **kw})
        return ["".join(str(int(v)) for v in row) for row in ids[1:].reshape(-1, 24)]

    assert run() == DINO_SCRIPT_IDS
    # Each of the protocol's choices changes the answer on this case.
    for kw in (
        {"topk": None},
        {"topk": 1},
        {"radius": None},
        {"temperature": 0.05},
        {"n_recent": 0},
        {"labels": "area"},
        {"output": "direct"},
    ):
        assert run(**kw) != DINO_SCRIPT_IDS, kw
