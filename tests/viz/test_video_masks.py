"""Mask overlays: exact tint, strip layout, GIF frame count."""

from __future__ import annotations

import numpy as np
from PIL import Image

from selfsup.data.davis import davis_palette, write_mask
from selfsup.viz.video_masks import mask_strip, overlay, render_sequence, write_gif


def test_overlay_tints_objects_only():
    frame = np.full((4, 5, 3), 100, dtype=np.uint8)
    ids = np.zeros((4, 5), dtype=np.uint8)
    ids[1, 1], ids[2, 2] = 1, 255
    out = overlay(frame, ids, alpha=0.5)
    red = np.array(davis_palette()[3:6])
    assert np.array_equal(out[1, 1], np.round(100 * 0.5 + red * 0.5).astype(np.uint8))
    assert (out[ids != 1] == 100).all()  # background and void untouched


def test_strip_and_gif_have_the_right_frame_counts(tmp_path):
    frames = [np.full((6, 8, 3), 10 * i, dtype=np.uint8) for i in range(5)]
    masks = [np.zeros((6, 8), dtype=np.uint8) for _ in range(5)]
    assert mask_strip(frames, masks, every=2).shape == (6, 3 * 8, 3)
    assert mask_strip(frames, masks, every=1, gt=masks).shape == (12, 5 * 8, 3)
    path = write_gif(tmp_path / "a.gif", frames, masks)
    with Image.open(path) as im:
        assert im.n_frames == 5


def test_render_sequence_reads_a_davis_folder(tmp_path):
    root = tmp_path / "d"
    for i in range(3):
        (root / "JPEGImages/480p/s").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((6, 8, 3), 60 * i, dtype=np.uint8)).save(
            root / f"JPEGImages/480p/s/{i:05d}.jpg"
        )
        write_mask(root / f"Annotations/480p/s/{i:05d}.png", np.eye(6, 8, dtype=np.uint8))
        write_mask(tmp_path / f"pred/s/{i:05d}.png", np.zeros((6, 8), dtype=np.uint8))
    strip, gif = render_sequence(root, "s", tmp_path / "out", predictions=tmp_path / "pred", every=1)
    assert np.array(Image.open(strip)).shape == (12, 24, 3)  # predictions over ground truth
    with Image.open(gif) as im:
        assert im.n_frames == 3
