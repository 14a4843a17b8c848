"""Online kNN monitor: every N steps, kNN accuracy of the current encoder on the validation split.

The memory bank is ``online_knn_items`` evenly spaced images of the train split's fit part and
the queries as many images of its validation part (``selfsup.data.splits``: 10 %, stratified,
seed 0), with the final evaluation's weighted kNN (k = 20, T = 0.07). The test split is never
looked at during training. Labels are used only for this monitor, never for the loss. Runs on
rank 0 and logs ``online/knn`` (a validation accuracy); datasets without labels are skipped
with one warning. With ``train.strategy=fsdp`` the encoder's weights are sharded: every rank
takes part in gathering them (a collective) and rank 0 evaluates the full copy.
"""

from __future__ import annotations

import logging
import warnings

import lightning as L
import torch
from torch.utils.data import Subset

from selfsup.data import create_dataset, dataset_to_tensors
from selfsup.data.splits import VALIDATION_FRACTION, VALIDATION_SEED, stratified_split
from selfsup.eval.features import extract_features
from selfsup.eval.knn import knn_accuracy
from selfsup.train.config import RunConfig

log = logging.getLogger(__name__)


def _load(dataset, indices: torch.Tensor, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` evenly spaced items of ``indices`` (all when n is None) as uint8 images and labels."""
    if n is not None and n < indices.numel():
        indices = indices[torch.linspace(0, indices.numel() - 1, n).round().long()]
    return dataset_to_tensors(Subset(dataset, indices.tolist()))


class OnlineKNN(L.Callback):
    def __init__(self, cfg: RunConfig, mean: list[float] | None, std: list[float] | None) -> None:
        self.cfg = cfg
        self.every = cfg.train.online_knn_every
        self.mean, self.std = mean, std
        self._data = None
        self._unavailable = False

    def data(self):
        """The monitor's (bank images, labels, query images, labels), loaded once; None without labels."""
        if self._data is None and not self._unavailable:
            d, n = self.cfg.data, self.cfg.train.online_knn_items
            try:
                train = create_dataset(d.name, "train", root=d.root, image_size=d.image_size)
                labels = getattr(train, "labels", None)
                if getattr(train, "num_classes", 0) < 2 or labels is None:
                    raise ValueError("no class labels")
                fit_idx, val_idx = stratified_split(labels, VALIDATION_FRACTION, VALIDATION_SEED)
                self._data = (*_load(train, fit_idx, n), *_load(train, val_idx, n))
            except (ValueError, FileNotFoundError) as err:
                warnings.warn(f"online kNN monitor disabled for dataset {d.name!r}: {err}", stacklevel=2)
                self._unavailable = True
        return self._data

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        step = trainer.global_step
        if self.every <= 0 or step % self.every != 0:
            return
        sharded = getattr(pl_module, "sharded", False)
        if not (trainer.is_global_zero or sharded):
            return
        # With fsdp every rank loads the (small) monitor data too, so all ranks agree on whether to gather.
        if self.data() is None:
            return
        if sharded:  # a collective: every rank gathers, rank 0 keeps the full encoder
            encoder = pl_module.full_encoder(keep=trainer.is_global_zero)
            if not trainer.is_global_zero:
                return
            encoder.to(pl_module.device)
        else:
            encoder = pl_module.method.encoder
        accuracy = self.accuracy(encoder, pl_module.device)
        for logger in trainer.loggers:  # direct, so the value is written once, at this step
            logger.log_metrics({"online/knn": accuracy}, step=step)
        log.info("step %d: online kNN accuracy %.2f %%", step, 100 * accuracy)

    def accuracy(self, encoder: torch.nn.Module, device: torch.device) -> float:
        """Weighted kNN accuracy of ``encoder`` on the validation queries (one check of the monitor; the
        time-budget calibration times this too)."""
        xtr, ytr, xte, yte = self.data()
        kwargs = dict(image_size=self.cfg.data.image_size, mean=self.mean, std=self.std, device=device)
        return knn_accuracy(
            extract_features(encoder, xtr, **kwargs),
            ytr,
            extract_features(encoder, xte, **kwargs),
            yte,
            k=self.cfg.eval.knn_k,
            temperature=self.cfg.eval.knn_temperature,
        )
