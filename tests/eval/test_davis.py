"""DAVIS folder format round trip and the J&F table on hand-built multi-object sequences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from selfsup.data.davis import davis_palette, load_sequence, read_mask, sequence_names, write_mask
from selfsup.eval.davis import evaluate_davis, format_davis_table, global_results, score_sequence


def test_palette_is_the_voc_colour_map() -> None:
    p = davis_palette()
    assert len(p) == 768
    assert (
        p[0:3] == [0, 0, 0] and p[3:6] == [128, 0, 0] and p[6:9] == [0, 128, 0] and p[9:12] == [128, 128, 0]
    )
    assert p[12:15] == [0, 0, 128]


def test_mask_round_trip_keeps_ids_and_void(tmp_path: Path) -> None:
    mask = np.zeros((6, 7), np.uint8)
    mask[1:3, 1:3], mask[3:5, 4:6], mask[0, 6] = 1, 2, 255
    write_mask(tmp_path / "m.png", mask)
    with Image.open(tmp_path / "m.png") as im:
        assert im.mode == "P"
        assert im.convert("RGB").getpixel((1, 1)) == (128, 0, 0)
    assert np.array_equal(read_mask(tmp_path / "m.png"), mask)
    Image.new("RGB", (3, 3)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="palette"):
        read_mask(tmp_path / "rgb.png")


def _sequence(t: int = 5) -> np.ndarray:
    gt = np.zeros((t, 20, 30), np.uint8)
    for i in range(t):
        gt[i, 2:8, 2 + i : 8 + i] = 1
        gt[i, 10:18, 15:25] = 2
    gt[:, 0, :] = 255  # a void row
    return gt


def test_perfect_prediction_scores_one_and_first_last_frames_are_skipped() -> None:
    gt = _sequence()
    pred = gt.copy()
    pred[pred == 255] = 0
    pred[0] = 0
    pred[-1] = 0  # garbage on the unscored frames changes nothing
    scores = score_sequence("s", gt, pred, num_objects=2)
    assert [s.name for s in scores] == ["s_1", "s_2"]
    assert all(len(s.j) == 3 for s in scores)
    row = global_results(scores)
    assert row["J&F-Mean"] == row["J-Mean"] == row["F-Mean"] == 1.0
    assert row["J-Recall"] == 1.0 and row["J-Decay"] == 0.0


def test_multi_object_scores_are_per_object() -> None:
    gt = _sequence()
    pred = gt.copy()
    pred[pred == 255] = 0
    pred[pred == 2] = 0  # object 2 missed entirely
    s1, s2 = score_sequence("s", gt, pred, num_objects=2)
    assert s1.j_stats.mean == 1.0 and s2.j_stats.mean == 0.0 and s2.f_stats.mean == 0.0
    row = global_results([s1, s2])
    assert row["J-Mean"] == pytest.approx(0.5) and row["J&F-Mean"] == pytest.approx(0.5)
    assert row["J-Recall"] == pytest.approx(0.5)


def _write_davis(root: Path, gt: np.ndarray, name: str = "seq") -> None:
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text(f"{name}\n")
    for i, mask in enumerate(gt):
        frame = np.zeros((*mask.shape, 3), np.uint8)
        (root / "JPEGImages" / "480p" / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame).save(root / "JPEGImages" / "480p" / name / f"{i:05d}.jpg")
        write_mask(root / "Annotations" / "480p" / name / f"{i:05d}.png", mask)


def test_folder_evaluation_end_to_end(tmp_path: Path) -> None:
    gt = _sequence()
    _write_davis(tmp_path / "davis", gt)
    assert sequence_names(tmp_path / "davis") == ["seq"]
    seq = load_sequence(tmp_path / "davis", "seq")
    assert seq.num_objects == 2 and len(seq.frames) == 5
    pred = gt.copy()
    pred[pred == 255] = 0
    pred[:, :, :] = np.where(pred == 1, 0, pred)  # drop object 1
    for i, mask in enumerate(pred):
        write_mask(tmp_path / "pred" / "seq" / f"{i:05d}.png", mask)
    scores = evaluate_davis(tmp_path / "davis", tmp_path / "pred")
    table = format_davis_table(scores)
    assert "J&F-Mean" in table and "seq_1" in table and "seq_2" in table
    assert global_results(scores)["J-Mean"] == pytest.approx(0.5)
    (tmp_path / "pred" / "seq" / "00003.png").unlink()
    with pytest.raises(FileNotFoundError, match="00003.png"):
        evaluate_davis(tmp_path / "davis", tmp_path / "pred")
    with pytest.raises(FileNotFoundError, match="ImageSets"):
        sequence_names(tmp_path / "nowhere")
