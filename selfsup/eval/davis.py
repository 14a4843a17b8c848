"""Semi-supervised DAVIS 2017 evaluation of a folder of predicted masks: J&F table.

The same numbers as the official ``davisvideochallenge/davis2017-evaluation`` code
(Pont-Tuset et al. 2017; ``evaluation_method.py --task semi-supervised``, commit ac7c43f), step by step:

- ground truth: every annotation PNG of the sequence, with void (255) turned into background
  (``davis2017/davis.py``, ``get_all_masks``); the semi-supervised evaluation passes no void mask
  (``evaluation.py``: ``_evaluate_semisupervised(..., None, ...)``), so void pixels count in J and F
  like any background pixel; the objects are 1..K with K the largest id of the first frame's
  annotation;
- scored frames: all but the first (given) and the last (``evaluation.py``: ``[:, 1:-1]``); only
  their predictions are read, ``predictions/<seq>/<annotation name>.png`` (palette indices);
- a predicted id above K is an error (the official script stops there too); an object missing
  from every prediction is scored as an empty mask (the official code pads with zeros);
- per object: J and F on every scored frame, then Mean / Recall / Decay (``selfsup.eval.jf``);
- global row: each statistic averaged over all objects of all sequences (not per sequence first),
  and J&F-Mean = (J-Mean + F-Mean) / 2; the per-object rows are ``<seq>_<id>`` J-Mean and F-Mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfsup.data.davis import VOID, load_sequence, read_mask, sequence_names
from selfsup.eval.jf import Statistics, contour_accuracy, region_similarity, statistics


@dataclass(frozen=True)
class ObjectScores:
    """Per-frame J and F of one object (``sequence_<id>``) over the scored frames."""

    name: str
    j: np.ndarray
    f: np.ndarray

    @property
    def j_stats(self) -> Statistics:
        return statistics(self.j)

    @property
    def f_stats(self) -> Statistics:
        return statistics(self.f)


def score_frames(
    name: str, gt: np.ndarray, pred: np.ndarray, num_objects: int, frame_names: list[str] | None = None
) -> list[ObjectScores]:
    """Scores of objects 1..``num_objects`` on already-selected frames: id masks uint8 ``[S, H, W]``.

    ``gt`` may hold void (255), which counts as background. ``frame_names`` (one per frame, e.g. the
    prediction files) name the offending frame in errors.
    """
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape or gt.ndim != 3 or gt.shape[0] == 0:
        raise ValueError(
            f"sequence {name!r}: gt {gt.shape} and predictions {pred.shape} must both be [S, H, W], S >= 1"
        )
    gt = np.where(gt == VOID, 0, gt)
    over = pred > num_objects
    if over.any():
        t = int(np.argwhere(over.any(axis=(1, 2)))[0, 0])
        where = frame_names[t] if frame_names else f"scored frame {t}"
        raise ValueError(
            f"prediction {where} holds object id {int(pred[t].max())} but the first frame's ground truth "
            f"of {name!r} has {num_objects} object(s); write ids 0..{num_objects} only (0 = background)"
        )
    out = []
    for obj in range(1, num_objects + 1):
        j = [region_similarity(p == obj, g == obj) for p, g in zip(pred, gt, strict=True)]
        f = [contour_accuracy(p == obj, g == obj) for p, g in zip(pred, gt, strict=True)]
        out.append(ObjectScores(f"{name}_{obj}", np.array(j), np.array(f)))
    return out


def score_sequence(name: str, gt: np.ndarray, pred: np.ndarray, num_objects: int) -> list[ObjectScores]:
    """Scores from whole sequences uint8 ``[T, H, W]`` (T >= 3); frames 0 and T-1 are not scored."""
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape or gt.ndim != 3:
        raise ValueError(
            f"sequence {name!r}: gt {gt.shape} and predictions {pred.shape} must both be [T, H, W]"
        )
    if gt.shape[0] < 3:
        raise ValueError(
            f"sequence {name!r}: needs >= 3 frames (first and last are not scored), got {gt.shape[0]}"
        )
    return score_frames(name, gt[1:-1], pred[1:-1], num_objects)


def _read_predictions(pred_dir: Path, stems: list[str], shape: tuple[int, int]) -> np.ndarray:
    masks = []
    for stem in stems:
        path = pred_dir / f"{stem}.png"
        if not path.is_file():
            raise FileNotFoundError(
                f"prediction {path} is missing; predict every frame but the first and the last"
            )
        mask = read_mask(path)
        if mask.shape != shape:
            raise ValueError(
                f"prediction {path} is {mask.shape[1]}x{mask.shape[0]}, ground truth is {shape[1]}x{shape[0]}"
            )
        masks.append(mask)
    return np.stack(masks)


def evaluate_sequence(davis_root: str | Path, predictions: str | Path, name: str) -> list[ObjectScores]:
    """Scores of every object of sequence ``name`` (see the module docstring)."""
    seq = load_sequence(davis_root, name)
    if len(seq.annotations) != len(seq.frames):
        raise ValueError(
            f"sequence {name!r}: {len(seq.annotations)} annotations for {len(seq.frames)} frames; "
            "the evaluation needs the ground truth of every frame"
        )
    if len(seq.annotations) < 3:
        raise ValueError(f"sequence {name!r}: needs >= 3 frames (first and last are not scored)")
    scored = seq.annotations[1:-1]
    size = seq.frame_size  # a mask of another size is one line naming it
    gt = np.stack([read_mask(p, size, seq.frames[0]) for p in scored])
    stems = [p.stem for p in scored]
    pred_dir = Path(predictions) / name
    pred = _read_predictions(pred_dir, stems, gt.shape[1:])
    return score_frames(name, gt, pred, seq.num_objects, [str(pred_dir / f"{s}.png") for s in stems])


def evaluate_davis(
    davis_root: str | Path, predictions: str | Path, split: str = "val", sequences: list[str] | None = None
) -> list[ObjectScores]:
    """Score ``predictions/<seq>/*.png`` against ``davis_root``'s annotations for every sequence of ``split``."""
    names = sequences if sequences is not None else sequence_names(davis_root, split)
    return [s for name in names for s in evaluate_sequence(davis_root, predictions, name)]


def global_results(scores: list[ObjectScores]) -> dict[str, float]:
    """The global row: every statistic averaged over objects; J&F-Mean is the mean of J-Mean and F-Mean."""
    if not scores:
        raise ValueError("no objects to evaluate")
    row = {}
    for metric in ("j", "f"):
        stats = [getattr(s, f"{metric}_stats") for s in scores]
        for field in ("mean", "recall", "decay"):
            row[f"{metric.upper()}-{field.capitalize()}"] = float(
                np.mean([getattr(st, field) for st in stats])
            )
    row = {"J&F-Mean": (row["J-Mean"] + row["F-Mean"]) / 2, **row}
    return row


def format_davis_table(scores: list[ObjectScores], split: str = "val") -> str:
    """The benchmark's layout: the global row, then J-Mean / F-Mean per object."""
    row = global_results(scores)
    header = "".join(f"{k:>10}" for k in row)
    values = "".join(f"{v:>10.3f}" for v in row.values())
    width = max(len(s.name) for s in scores) + 2
    lines = [
        f"--- Global results for {split} ---",
        header,
        values,
        f"--- Per sequence results for {split} ---",
    ]
    lines.append(f"{'Sequence':<{width}}{'J-Mean':>10}{'F-Mean':>10}")
    lines += [f"{s.name:<{width}}{s.j_stats.mean:>10.3f}{s.f_stats.mean:>10.3f}" for s in scores]
    return "\n".join(lines)
