"""Demo sequences: exact ground truth from alpha, occlusion order, DAVIS layout, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfsup.data.davis import load_sequence, sequence_names
from selfsup.data.stamps import STAMPS_ROOT
from selfsup.data.video import OPENCV_VTEST
from selfsup.data.video_demo import Layer, eased_path, make_video_demo, paste_layers


def _square(side: int, rgb: tuple[int, int, int], alpha: int = 255) -> torch.Tensor:
    out = torch.empty(4, side, side, dtype=torch.uint8)
    out[:3] = torch.tensor(rgb, dtype=torch.uint8).view(3, 1, 1)
    out[3] = alpha
    return out


def test_opaque_square_gives_the_exact_mask_and_colors():
    bg = torch.full((3, 20, 30), 7, dtype=torch.uint8)
    rgb, ids = paste_layers(bg, [Layer(_square(5, (200, 10, 20)), top=4, left=11)])
    expected = torch.zeros(20, 30, dtype=torch.uint8)
    expected[4:9, 11:16] = 1
    assert torch.equal(ids, expected)
    assert (rgb[:, 4:9, 11:16] == torch.tensor([200, 10, 20]).view(3, 1, 1)).all()
    assert (rgb[:, ids == 0] == 7).all()


def test_layers_clip_at_the_frame_border():
    bg = torch.zeros(3, 10, 10, dtype=torch.uint8)
    _, ids = paste_layers(bg, [Layer(_square(6, (255, 255, 255)), top=-2, left=7)])
    expected = torch.zeros(10, 10, dtype=torch.uint8)
    expected[0:4, 7:10] = 1
    assert torch.equal(ids, expected)
    _, none = paste_layers(bg, [Layer(_square(3, (1, 1, 1)), top=20, left=20)])
    assert not none.any()


def test_later_layers_occlude_earlier_ones():
    bg = torch.zeros(3, 12, 12, dtype=torch.uint8)
    low, high = Layer(_square(6, (255, 0, 0)), 2, 2), Layer(_square(6, (0, 255, 0)), 5, 5)
    rgb, ids = paste_layers(bg, [low, high])
    assert (ids[5:11, 5:11] == 2).all()  # the overlap belongs to the top object
    assert (ids[2:5, 2:8] == 1).all() and (ids[5:8, 2:5] == 1).all()
    assert (rgb[:, 6, 6] == torch.tensor([0, 255, 0], dtype=torch.uint8)).all()
    assert int((ids == 1).sum()) == 36 - 9 and int((ids == 2).sum()) == 36


def test_alpha_threshold_is_one_half():
    bg = torch.zeros(3, 4, 4, dtype=torch.uint8)
    _, below = paste_layers(bg, [Layer(_square(2, (255, 255, 255), alpha=127), 0, 0)])
    rgb, at = paste_layers(bg, [Layer(_square(2, (255, 255, 255), alpha=128), 0, 0)])
    assert not below.any() and int(at.sum()) == 4
    assert int(rgb[0, 0, 0]) == round(255 * 128 / 255)  # alpha-blended colour, not pasted


def test_eased_path_passes_keyframes_smoothly_within_range():
    rng = np.random.default_rng(0)
    path = eased_path(rng, 31, 0.2, 0.8, keys=4)
    keys = np.random.default_rng(0).uniform(0.2, 0.8, size=4)
    assert np.allclose(path[[0, 10, 20, 30]], keys)
    assert path.min() >= 0.2 and path.max() <= 0.8
    assert np.abs(np.diff(path)).max() <= 0.6 * np.pi / 2 / 10 + 1e-9  # max speed of a cosine ease


@pytest.mark.skipif(
    not (OPENCV_VTEST.is_file() and STAMPS_ROOT.is_dir()), reason="needs opencv-doc and tuxpaint stamps"
)
def test_make_video_demo_writes_a_deterministic_davis_folder(tmp_path):
    kw = dict(sequences=1, frames=3, objects=2, height=48, width=64, seed=3, videos=[OPENCV_VTEST])
    names = make_video_demo(tmp_path / "a", **kw)
    assert sequence_names(tmp_path / "a") == names == ["demo00-vtest"]
    seq = load_sequence(tmp_path / "a", names[0])
    assert len(seq.frames) == len(seq.annotations) == 3
    assert seq.read_frame(0).shape == (48, 64, 3)
    masks = [seq.read_annotation(i) for i in range(3)]
    assert set(np.unique(np.stack(masks))) <= {0, 1, 2} and seq.num_objects == 2
    assert (np.bincount(masks[0].ravel(), minlength=3)[1:] >= 0.5 * (0.1 * 48) ** 2).all()
    make_video_demo(tmp_path / "b", **kw)
    again = load_sequence(tmp_path / "b", names[0])
    assert all(np.array_equal(masks[i], again.read_annotation(i)) for i in range(3))
