"""Semi-supervised DAVIS 2017 evaluation of a folder of predicted masks: J&F table.

``predictions/<seq>/<frame>.png`` are palette masks with the same object ids as the ground
truth. Every object of every sequence is scored on every frame except the first (given) and the
last, as in the DAVIS 2017 semi-supervised protocol; the global row averages over objects, and
J&F-Mean = (J-Mean + F-Mean) / 2. See ``selfsup.eval.jf`` for the definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfsup.data.davis import VOID, load_sequence, read_mask, sequence_names
from selfsup.eval.jf import Statistics, contour_accuracy, region_similarity, statistics


@dataclass(frozen=True)
class ObjectScores:
    """Per-frame J and F of one object (``sequence_<id>``), first and last frame excluded."""

    name: str
    j: np.ndarray
    f: np.ndarray

    @property
    def j_stats(self) -> Statistics:
        return statistics(self.j)

    @property
    def f_stats(self) -> Statistics:
        return statistics(self.f)


def score_sequence(name: str, gt: np.ndarray, pred: np.ndarray, num_objects: int) -> list[ObjectScores]:
    """Scores of objects 1..``num_objects`` from id masks ``gt`` / ``pred`` uint8 ``[T, H, W]`` (T >= 3)."""
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape or gt.ndim != 3:
        raise ValueError(
            f"sequence {name!r}: gt {gt.shape} and predictions {pred.shape} must both be [T, H, W]"
        )
    if gt.shape[0] < 3:
        raise ValueError(
            f"sequence {name!r}: needs >= 3 frames (first and last are not scored), got {gt.shape[0]}"
        )
    out = []
    for obj in range(1, num_objects + 1):
        j, f = [], []
        for t in range(1, gt.shape[0] - 1):
            void = gt[t] == VOID
            j.append(region_similarity(pred[t] == obj, gt[t] == obj, void))
            f.append(contour_accuracy(pred[t] == obj, gt[t] == obj, void))
        out.append(ObjectScores(f"{name}_{obj}", np.array(j), np.array(f)))
    return out


def _read_predictions(pred_dir: Path, frames: list[Path], shape: tuple[int, int]) -> np.ndarray:
    masks = []
    for frame in frames:
        path = pred_dir / f"{frame.stem}.png"
        if not path.is_file():
            raise FileNotFoundError(f"prediction {path} is missing; predict every frame of the sequence")
        mask = read_mask(path)
        if mask.shape != shape:
            raise ValueError(
                f"prediction {path} is {mask.shape[1]}x{mask.shape[0]}, ground truth is {shape[1]}x{shape[0]}"
            )
        masks.append(mask)
    return np.stack(masks)


def evaluate_davis(
    davis_root: str | Path, predictions: str | Path, split: str = "val", sequences: list[str] | None = None
) -> list[ObjectScores]:
    """Score ``predictions/<seq>/*.png`` against ``davis_root``'s annotations for every sequence of ``split``."""
    names = sequences if sequences is not None else sequence_names(davis_root, split)
    scores = []
    for name in names:
        seq = load_sequence(davis_root, name)
        if len(seq.annotations) != len(seq.frames):
            raise ValueError(f"sequence {name!r}: evaluation needs an annotation for every frame")
        gt = np.stack([seq.read_annotation(i) for i in range(len(seq.frames))])
        pred = _read_predictions(Path(predictions) / name, seq.frames, gt.shape[1:])
        scores += score_sequence(name, gt, pred, seq.num_objects)
    return scores


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
