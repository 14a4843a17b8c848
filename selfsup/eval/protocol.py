"""The standard evaluation of a pretrained encoder, printed beside its baselines.

For a labelled dataset with train/test splits it reports top-1 accuracy on the
test split of

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
from selfsup.eval.baselines import evaluate_encoder, random_init_copy, raw_pixel_knn


class UnlabeledDataError(ValueError):
    """The dataset has no class labels, so kNN / linear evaluation is undefined."""


@dataclass
class EvalRow:
    name: str
    knn: float
    linear: float | None
    feature_dim: int
    seconds: float


@dataclass
class EvalData:
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    name: str


def load_eval_data(
    name: str,
    root: str | None = None,
    image_size: int | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
) -> EvalData:
    """Labelled train/test tensors of dataset ``name`` (uint8 images, int64 labels)."""
    train = create_dataset(name, "train", root=root, image_size=image_size)
    test = create_dataset(name, "test", root=root, image_size=image_size)
    if getattr(train, "num_classes", 0) < 2:
        raise UnlabeledDataError(
            f"dataset {name!r} has no class labels; kNN and linear evaluation need labelled data"
        )
    xtr, ytr = dataset_to_tensors(train, max_items=max_train)
    xte, yte = dataset_to_tensors(test, max_items=max_test)
    return EvalData(xtr, ytr, xte, yte, name)


def _row(name: str, started: float, knn: float, linear: float | None, feature_dim: int) -> EvalRow:
    return EvalRow(name, knn, linear, feature_dim, time.perf_counter() - started)


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
    )
    return _row(name, started, result["knn"], result["linear"], result["feature_dim"])


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
        knn = raw_pixel_knn(
            data.train_images,
            data.train_labels,
            data.test_images,
            data.test_labels,
            k=k,
            temperature=temperature,
        )
        rows.append(_row("raw pixels", started, knn, None, int(data.train_images[0].numel())))
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


def format_table(rows: list[EvalRow], title: str = "") -> str:
    """A Markdown table of the rows (accuracies in %)."""
    lines = [title] if title else []
    lines += ["| encoder | kNN top-1 (%) | linear top-1 (%) | dim |", "|---|---:|---:|---:|"]
    for r in rows:
        lin = f"{100 * r.linear:.2f}" if r.linear is not None else "–"
        lines.append(f"| {r.name} | {100 * r.knn:.2f} | {lin} | {r.feature_dim} |")
    return "\n".join(lines)


def rows_to_json(rows: list[EvalRow]) -> list[dict]:
    return [asdict(r) for r in rows]
