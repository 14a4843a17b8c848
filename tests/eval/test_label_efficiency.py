"""Label-efficiency subsets (balanced, nested, seeded) and the accuracy-vs-labels protocols."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from selfsup.backbones import create_backbone
from selfsup.eval.features import extract_features
from selfsup.eval.finetune import FinetuneConfig
from selfsup.eval.label_efficiency import (
    _finetune_config,
    format_label_efficiency,
    label_efficiency,
    label_subset,
    plot_label_efficiency,
    pseudo_label_accuracy,
)
from selfsup.eval.linear_probe import linear_probe


def test_label_subset_is_class_balanced_nested_and_seeded() -> None:
    labels = torch.tensor([0] * 200 + [1] * 100 + [2] * 7)
    small, big = label_subset(labels, 0.1, seed=3), label_subset(labels, 0.5, seed=3)
    counts = torch.bincount(labels[small], minlength=3).tolist()
    assert counts == [20, 10, 1]  # round(0.1 * n_c), at least one per class
    assert torch.bincount(labels[big], minlength=3).tolist() == [100, 50, 4]
    assert set(small.tolist()) <= set(big.tolist())  # the 10 % labels are inside the 50 % ones
    assert torch.equal(small, label_subset(labels, 0.1, seed=3))  # same seed, same labels for every method
    assert not torch.equal(small, label_subset(labels, 0.1, seed=4))
    assert torch.equal(label_subset(labels, 1.0), torch.arange(labels.numel()))
    with pytest.raises(ValueError, match="fraction"):
        label_subset(labels, 0.0)


def test_finetune_steps_are_capped() -> None:
    cfg = _finetune_config(FinetuneConfig(epochs=10, batch_size=128), num_labels=600, max_steps=10)
    assert cfg.epochs == pytest.approx(10 / 4)  # 4 steps per epoch
    assert _finetune_config(FinetuneConfig(epochs=2), 600, None).epochs == 2


class Flatten(nn.Module):
    num_features = 64

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) + 0 * self.w

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))


def test_linear_rows_equal_a_direct_probe_on_the_same_subset(digits, tiny_encoder) -> None:
    xtr, ytr, xte, yte = digits
    rows = label_efficiency(
        {"pixels": Flatten(), "conv": tiny_encoder},
        xtr,
        ytr,
        xte,
        yte,
        fractions=(0.05, 1.0),
        protocols=("linear",),
        weight_decays=(1e-4,),
    )
    assert [(r.encoder, r.fraction) for r in rows] == [
        ("pixels", 0.05),
        ("conv", 0.05),
        ("random init", 0.05),
        ("pixels", 1.0),
        ("conv", 1.0),
        ("random init", 1.0),
    ]
    idx = label_subset(ytr, 0.05)
    ftr, fte = extract_features(Flatten(), xtr), extract_features(Flatten(), xte)
    direct = linear_probe(ftr[idx], ytr[idx], fte, yte, (1e-4,), num_classes=10).test_accuracy
    assert rows[0].accuracy == pytest.approx(direct) and rows[0].num_labels == idx.numel()
    # Raw digit pixels are linearly separable: more labels help a lot.
    assert rows[3].accuracy > rows[0].accuracy + 0.05 and rows[3].accuracy > 0.9


def _small_backbone() -> nn.Module:
    return create_backbone("resnet_small", in_chans=1, image_size=8, width=8, depths=[1, 1, 1, 1])


def test_finetune_and_pseudo_label_rows(digits) -> None:
    xtr, ytr, xte, yte = digits
    cfg = FinetuneConfig(epochs=1, batch_size=64, lr=1e-2, warmup_epochs=0, drop_path=0, seed=0)
    rows = label_efficiency(
        {"conv": _small_backbone()},
        xtr,
        ytr,
        xte,
        yte,
        fractions=(0.2,),
        protocols=("finetune",),
        finetune_config=cfg,
        finetune_max_steps=5,
        pseudo_label=True,
    )
    assert [(r.encoder, r.protocol) for r in rows] == [
        ("conv", "finetune"),
        ("random init", "finetune"),
        ("pseudo-label", "pseudo_label"),
    ]
    assert all(0.0 <= r.accuracy <= 1.0 for r in rows)
    idx = label_subset(ytr, 0.2)
    args = (xtr, ytr, idx, xte, yte, _small_backbone, cfg)
    _, none_used = pseudo_label_accuracy(*args, threshold=1.01)
    _, all_used = pseudo_label_accuracy(*args, threshold=0.0)
    assert none_used == 0 and all_used == xtr.shape[0] - idx.numel()


def test_table_and_plot(tmp_path: Path, digits) -> None:
    xtr, ytr, xte, yte = digits
    rows = label_efficiency(
        {"pixels": Flatten()}, xtr, ytr, xte, yte, fractions=(0.1, 1.0), protocols=("linear",)
    )
    table = format_label_efficiency(rows)
    assert "| pixels | linear |" in table and "| random init | linear |" in table and "100%" in table
    plot_label_efficiency(rows, str(tmp_path / "curve.png"))
    assert (tmp_path / "curve.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="protocols"):
        label_efficiency({"pixels": Flatten()}, xtr, ytr, xte, yte, protocols=("knn",))
