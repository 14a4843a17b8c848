"""Mask overlays: exact tint, outlines, labelled strip, GIF frame count."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from selfsup.data.davis import davis_palette, write_mask
from selfsup.viz.video_masks import object_edges, overlay, render_sequence, save_mask_strip, write_gif


def test_overlay_tints_objects_only():
    frame = np.full((4, 5, 3), 100, dtype=np.uint8)
    ids = np.zeros((4, 5), dtype=np.uint8)
    ids[1, 1], ids[2, 2] = 1, 255
    out = overlay(frame, ids, alpha=0.5, outline=False)
    red = np.array(davis_palette()[3:6])
    assert np.array_equal(out[1, 1], np.round(100 * 0.5 + red * 0.5).astype(np.uint8))
    assert (out[ids != 1] == 100).all()  # background and void untouched


def test_outlines_stay_visible_on_a_red_object_over_a_red_frame():
    frame = np.zeros((8, 8, 3), dtype=np.uint8)
    frame[..., 0] = 200  # a red background
    ids = np.zeros((8, 8), dtype=np.uint8)
    ids[2:6, 2:6] = 1  # object 1 is tinted red too
    out = overlay(frame, ids)
    edge = object_edges(ids)
    assert edge[2, 2] and edge[1, 3] and not edge[3, 3] and not edge[0, 0]
    assert (out[2, 2:6] == 255).all() and (out[1, 2:6] == 0).all()  # white inside, black outside
    assert (out[3:5, 3:5] == overlay(frame, ids, outline=False)[3:5, 3:5]).all()  # interior: tint only
    void = ids.copy()
    void[0, 0] = 255
    assert not object_edges(void)[0, 1]  # void borders count as background


def test_strip_labels_rows_and_gif_has_every_frame(tmp_path):
    frames = [np.full((30, 40, 3), 10 * i, dtype=np.uint8) for i in range(5)]
    masks = [np.zeros((30, 40), dtype=np.uint8) for _ in range(5)]
    masks[0][5:15, 5:15] = 1
    one = save_mask_strip(tmp_path / "one.png", frames, [("ground truth", masks)], every=2, title="t")
    two = save_mask_strip(tmp_path / "two.png", frames, [("prediction", masks), ("ground truth", masks)])
    h1, w1 = np.array(Image.open(one)).shape[:2]
    h2, w2 = np.array(Image.open(two)).shape[:2]
    assert h2 > h1 and w2 > w1  # a second row; 5 columns instead of 3
    with pytest.raises(ValueError, match="every one of the 5 frames"):
        save_mask_strip(tmp_path / "bad.png", frames, [("prediction", masks[:4])])
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
    gt_only, _ = render_sequence(root, "s", tmp_path / "gt", every=1)
    assert np.array(Image.open(strip)).shape[0] > np.array(Image.open(gt_only)).shape[0]  # two rows
    with Image.open(gif) as im:
        assert im.n_frames == 3
