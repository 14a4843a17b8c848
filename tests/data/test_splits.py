"""Seeded stratified splits: the validation split and the held-out test split of a folder."""

import torch

from selfsup.data.splits import fingerprint, stratified_split


def test_stratified_split():
    labels = torch.arange(5).repeat_interleave(torch.tensor([40, 20, 10, 3, 1]))
    fit_idx, val_idx = stratified_split(labels, 0.1, seed=0)
    assert torch.equal(torch.cat([fit_idx, val_idx]).sort().values, torch.arange(len(labels)))
    counts = torch.bincount(labels[val_idx], minlength=5).tolist()
    assert counts == [4, 2, 1, 1, 0]  # round(10 %), at least one, a singleton class stays in train
    again, _ = stratified_split(labels, 0.1, seed=0)
    other, _ = stratified_split(labels, 0.1, seed=1)
    assert torch.equal(again, fit_idx) and not torch.equal(other, fit_idx)


def test_fingerprint_names_the_index_set_not_its_order():
    idx = torch.tensor([5, 1, 9])
    assert fingerprint(idx) == fingerprint(torch.tensor([9, 5, 1]))
    assert fingerprint(idx) != fingerprint(torch.tensor([5, 1, 8]))
    assert len(fingerprint(idx)) == 12
