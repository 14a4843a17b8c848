"""DAVIS folder format round trip and the J&F table on hand-built multi-object sequences, checked
against numbers of the official davis2017-evaluation code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from selfsup.data.davis import davis_palette, load_sequence, read_mask, sequence_names, write_mask
from selfsup.eval.davis import evaluate_davis, format_davis_table, global_results, score_sequence
from selfsup.eval.jf import region_similarity


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


def _void_case() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Two sequences (5 frames, 24x32) whose ground truth has void (255) bands next to the objects
    and whose predictions cover them, so void-as-background and void-excluded disagree."""
    t_, h, w = 5, 24, 32
    gt_a, pr_a = np.zeros((t_, h, w), np.uint8), np.zeros((t_, h, w), np.uint8)
    for t in range(t_):
        gt_a[t, 4:12, 3 + t : 11 + t] = 1  # object 1, 8x8, moving right
        gt_a[t, 3, 2 + t : 12 + t] = 255  # void row above it
        gt_a[t, 4:12, 11 + t] = 255  # void column right of it
        gt_a[t, 14:22, 18:28] = 2  # object 2, static 8x10
        gt_a[t, 13, 17:29] = 255  # void row above object 2
        pr_a[t, 3:12, 3 + t : 12 + t] = 1  # object 1 also covers the void row and column
        pr_a[t, 15:22, 18:26] = 2  # object 2 a bit small
    pr_a[2, 14:22, 26:29] = 2  # frame 2: object 2 spills into the void and past it
    gt_b, pr_b = np.zeros((t_, h, w), np.uint8), np.zeros((t_, h, w), np.uint8)
    for t in range(t_):
        gt_b[t, 6:18, 6:20] = 1
        gt_b[t, 6:18, 20:23] = 255  # a void band on the right
        pr_b[t, 6:18, 8 + t : 23] = 1  # shifted left edge, covers the void band
    return {"seqa": (gt_a, pr_a), "seqb": (gt_b, pr_b)}


# The official davis2017-evaluation code (commit ac7c43f; DAVISEvaluation(task="semi-supervised",
# gt_set="val").evaluate plus evaluation_method.py's global row, run once in a scratch folder with
# opencv-python-headless 4.14 and scikit-image 0.26) on the folder that _write_void_case writes:
OFFICIAL_GLOBAL = {
    "J&F-Mean": 0.7437160587459768,
    "J-Mean": 0.7059175634339033,
    "J-Recall": 1.0,
    "J-Decay": 0.04910873440285205,
    "F-Mean": 0.7815145540580503,
    "F-Recall": 0.8888888888888888,
    "F-Decay": 0.052409322703440286,
}
OFFICIAL_PER_OBJECT = {  # name: (J-Mean, F-Mean)
    "seqa_1": (0.7901234567901234, 0.9859154929577464),
    "seqa_2": (0.7393939393939393, 0.8492063492063492),
    "seqb_1": (0.5882352941176471, 0.5094218200100552),
}


def _write_void_case(root: Path, pred_root: Path) -> None:
    """DAVIS layout of ``_void_case``; predictions only for the scored frames 1..T-2."""
    cases = _void_case()
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("\n".join(cases) + "\n")
    for name, (gt, pred) in cases.items():
        (root / "JPEGImages" / "480p" / name).mkdir(parents=True)
        for t in range(gt.shape[0]):
            Image.fromarray(np.zeros((*gt.shape[1:], 3), np.uint8)).save(
                root / "JPEGImages" / "480p" / name / f"{t:05d}.jpg"
            )
            write_mask(root / "Annotations" / "480p" / name / f"{t:05d}.png", gt[t])
            if 0 < t < gt.shape[0] - 1:
                write_mask(pred_root / name / f"{t:05d}.png", pred[t])


def test_void_pixels_count_as_background_as_the_official_code() -> None:
    scores = [
        s
        for name, (gt, pred) in _void_case().items()
        for s in score_sequence(name, gt, pred, 1 + (name == "seqa"))
    ]
    assert global_results(scores) == pytest.approx(OFFICIAL_GLOBAL, abs=1e-12)
    for s in scores:
        assert (s.j_stats.mean, s.f_stats.mean) == pytest.approx(OFFICIAL_PER_OBJECT[s.name], abs=1e-12)
    # Excluding void instead (which the official evaluation does not do) would give J = F = 1 for seqa_1.
    gt, pred = _void_case()["seqa"]
    void = gt[2] == 255
    assert region_similarity(pred[2] == 1, gt[2] == 1, void) == 1.0
    assert scores[0].j[1] == pytest.approx(64 / 81)  # the 17 void pixels the prediction covers count


def test_only_the_scored_frames_are_read_and_match_the_official_numbers(tmp_path: Path) -> None:
    _write_void_case(tmp_path / "davis", tmp_path / "pred")  # no prediction for frames 0 and 4
    scores = evaluate_davis(tmp_path / "davis", tmp_path / "pred")
    assert global_results(scores) == pytest.approx(OFFICIAL_GLOBAL, abs=1e-12)
    assert [len(s.j) for s in scores] == [3, 3, 3]


def test_a_predicted_id_above_the_object_count_is_an_error(tmp_path: Path) -> None:
    _write_void_case(tmp_path / "davis", tmp_path / "pred")
    bad = _void_case()["seqb"][1][2].copy()
    bad[0, 0] = 2  # seqb's first frame has one object
    write_mask(tmp_path / "pred" / "seqb" / "00002.png", bad)
    with pytest.raises(ValueError, match=r"seqb/00002\.png holds object id 2 .* has 1 object.*ids 0\.\.1"):
        evaluate_davis(tmp_path / "davis", tmp_path / "pred")
    # Ids on the unscored first and last frames are never read.
    write_mask(tmp_path / "pred" / "seqb" / "00002.png", _void_case()["seqb"][1][2])
    write_mask(tmp_path / "pred" / "seqb" / "00004.png", np.full((24, 32), 7, np.uint8))
    assert global_results(evaluate_davis(tmp_path / "davis", tmp_path / "pred")) == pytest.approx(
        OFFICIAL_GLOBAL
    )


def test_an_object_missing_from_every_prediction_scores_as_an_empty_mask(tmp_path: Path) -> None:
    _write_void_case(tmp_path / "davis", tmp_path / "pred")
    for t in (1, 2, 3):
        pred = _void_case()["seqa"][1][t]
        write_mask(tmp_path / "pred" / "seqa" / f"{t:05d}.png", np.where(pred == 2, 0, pred))
    # The official code (as above; it pads the missing object with zeros) on this folder:
    official = {"J&F-Mean": 0.47894934397926203, "J-Mean": 0.4594529169692569, "F-Mean": 0.4984457709892672}
    row = global_results(evaluate_davis(tmp_path / "davis", tmp_path / "pred"))
    assert {k: row[k] for k in official} == pytest.approx(official, abs=1e-12)


def test_a_mask_of_the_wrong_size_is_one_line_naming_the_file_and_both_sizes(tmp_path: Path) -> None:
    _write_void_case(tmp_path / "davis", tmp_path / "pred")  # frames and masks 32x24
    ann = tmp_path / "davis" / "Annotations" / "480p" / "seqb"
    write_mask(ann / "00002.png", np.zeros((24, 30), np.uint8))  # a scored frame's ground truth
    with pytest.raises(ValueError) as info:
        evaluate_davis(tmp_path / "davis", tmp_path / "pred")
    message = str(info.value)  # before: numpy's "all input arrays must have the same shape"
    assert "\n" not in message
    assert message.startswith(f"mask {ann / '00002.png'} is 30x24 pixels but its frame ")
    assert "00000.jpg is 32x24; a DAVIS mask has the size of its frame: re-save it at 32x24" in message
    write_mask(ann / "00002.png", _void_case()["seqb"][0][2])
    write_mask(
        ann / "00000.png", np.zeros((12, 16), np.uint8)
    )  # the given first frame, read by segment-video
    seq = load_sequence(tmp_path / "davis", "seqb")
    with pytest.raises(ValueError, match=r"mask .*seqb/00000\.png is 16x12 pixels but its frame .* is 32x24"):
        seq.read_annotation(0)  # before: returned, to fail later far from the file
