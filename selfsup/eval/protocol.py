"""The standard evaluation of a pretrained encoder, printed beside its baselines.

Three disjoint roles (``selfsup.data.splits``): a validation split carved from the training
split (10 %, stratified, seed 0), the rest of the training split (fit), and the test split.
Every choice (the probe's weight decay) is made on validation; the validation columns are
what a user compares configs on; the test columns are scored once, at the end, by a
classifier fit on the whole training split. For a labelled dataset it reports top-1 on
validation and test of

- a weighted kNN on raw pixels (what any encoder must beat),
- the same architecture at random initialisation (kNN and linear probe),
- the pretrained encoder (kNN and linear probe),

all with the same protocol: weighted kNN (k = 20, T = 0.07; Wu et al. 2018,
Caron et al. 2021) and a linear probe on standardized frozen features.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from selfsup.data import create_dataset, dataset_to_tensors
from selfsup.data.splits import VALIDATION_FRACTION, VALIDATION_SEED, fingerprint, stratified_split
from selfsup.eval.baselines import evaluate_encoder, knn_val_and_test, random_init_copy
from selfsup.eval.features import raw_pixel_features


class UnlabeledDataError(ValueError):
    """The dataset has no class labels, so kNN / linear evaluation is undefined."""


@dataclass
class EvalRow:
    """One encoder's top-1 accuracies in [0, 1]: ``knn`` / ``linear`` on test, ``*_val`` on validation."""

    name: str
    knn: float
    linear: float | None
    feature_dim: int
    seconds: float
    knn_val: float | None = None
    linear_val: float | None = None


@dataclass
class EvalData:
    """Labelled uint8 images ``[N, C, H, W]`` / ``[M, C, H, W]`` with labels, and how they were split.

    validation: ``(fit_idx, val_idx)`` into the train tensors (``selfsup.data.splits``).
    test_note:  where the test images come from ("the test split" or the folder's held-out part).
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    name: str
    validation: tuple[torch.Tensor, torch.Tensor] | None = None
    test_note: str = "the test split"

    def splits_record(self) -> dict:
        """What a run records about its evaluation splits (``RUN/eval_splits.json``)."""
        record: dict = {"dataset": self.name, "train": len(self.train_labels)}
        if self.validation is not None:
            fit_idx, val_idx = self.validation
            record["validation"] = {
                "carved_from": "train",
                "fraction": VALIDATION_FRACTION,
                "seed": VALIDATION_SEED,
                "stratified": True,
                "images": int(val_idx.numel()),
                "fit_images": int(fit_idx.numel()),
                "fingerprint": fingerprint(val_idx),
            }
        record["test"] = {"images": len(self.test_labels), "source": self.test_note}
        return record

    def describe(self) -> str:
        """One line naming both splits, printed under every table."""
        val = "no validation split"
        if self.validation is not None:
            val = (
                f"validation = {self.validation[1].numel()} images carved from the train split "
                f"({round(100 * VALIDATION_FRACTION)} %, stratified, seed {VALIDATION_SEED}; "
                f"classifiers fit on the other {self.validation[0].numel()})"
            )
        return f"{val}; test = {len(self.test_labels)} images of {self.test_note}, scored once (fit on all train)"


def load_eval_data(
    name: str,
    root: str | None = None,
    image_size: int | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
) -> EvalData:
    """Labelled train/test tensors of dataset ``name`` (uint8 images, int64 labels) with the
    validation split carved from the (possibly ``max_train``-subsampled) train tensors."""
    train = create_dataset(name, "train", root=root, image_size=image_size)
    test = create_dataset(name, "test", root=root, image_size=image_size)
    if getattr(train, "num_classes", 0) < 2:
        raise UnlabeledDataError(
            f"dataset {name!r} has no class labels; kNN and linear evaluation need labelled data"
        )
    xtr, ytr = dataset_to_tensors(train, max_items=max_train)
    xte, yte = dataset_to_tensors(test, max_items=max_test)
    validation = stratified_split(ytr, VALIDATION_FRACTION, VALIDATION_SEED)
    note = getattr(test, "split_note", None) or f"the {name} test split"
    return EvalData(xtr, ytr, xte, yte, name, validation, note)


def _row(name: str, started: float, result: dict) -> EvalRow:
    return EvalRow(
        name,
        result["knn"],
        result["linear"],
        result["feature_dim"],
        time.perf_counter() - started,
        result["knn_val"],
        result["linear_val"],
    )


def evaluate_encoder_row(
    name: str,
    encoder: nn.Module,
    data: EvalData,
    image_size: int | None,
    mean: list[float] | None,
    std: list[float] | None,
    k: int = 20,
    temperature: float = 0.07,
    linear: bool = True,
) -> EvalRow:
    started = time.perf_counter()
    result = evaluate_encoder(
        encoder,
        data.train_images,
        data.train_labels,
        data.test_images,
        data.test_labels,
        image_size=image_size,
        mean=mean,
        std=std,
        k=k,
        temperature=temperature,
        linear=linear,
        validation=data.validation,
    )
    return _row(name, started, result)


def standard_evaluation(
    encoder: nn.Module,
    data: EvalData,
    image_size: int | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    k: int = 20,
    temperature: float = 0.07,
    linear: bool = True,
    baselines: bool = True,
    name: str = "pretrained",
) -> list[EvalRow]:
    """Rows for raw pixels and random init (if ``baselines``) and the pretrained encoder."""
    rows = []
    if baselines:
        started = time.perf_counter()
        knn_val, knn = knn_val_and_test(
            raw_pixel_features(data.train_images),
            data.train_labels,
            raw_pixel_features(data.test_images),
            data.test_labels,
            data.validation,
            k,
            temperature,
        )
        raw = {"knn": knn, "knn_val": knn_val, "linear": None, "linear_val": None}
        rows.append(_row("raw pixels", started, {**raw, "feature_dim": int(data.train_images[0].numel())}))
        rows.append(
            evaluate_encoder_row(
                "random init",
                random_init_copy(encoder, seed=0),
                data,
                image_size,
                mean,
                std,
                k,
                temperature,
                linear,
            )
        )
    rows.append(evaluate_encoder_row(name, encoder, data, image_size, mean, std, k, temperature, linear))
    return rows


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def format_table(rows: list[EvalRow], title: str = "", splits: str = "") -> str:
    """A Markdown table of the rows (top-1 in %, validation columns first), ``splits`` below it."""
    lines = [title] if title else []
    lines += [
        "| encoder | kNN val (%) | linear val (%) | kNN test (%) | linear test (%) | dim |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cells = (_percent(r.knn_val), _percent(r.linear_val), _percent(r.knn), _percent(r.linear))
        lines.append(f"| {r.name} | {' | '.join(cells)} | {r.feature_dim} |")
    if splits:
        lines.append(splits)
    return "\n".join(lines)


def rows_to_json(rows: list[EvalRow]) -> list[dict]:
    return [asdict(r) for r in rows]
