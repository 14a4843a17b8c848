"""Online kNN monitor: every N steps, kNN accuracy of the current encoder on held-out labels.

Uses ``online_knn_items`` evenly spaced labelled train images as the memory bank and
as many test images as queries (weighted kNN, k = 20, T = 0.07, as the final
evaluation). Labels are used only for this monitor, never for the loss. Runs on
rank 0 and logs ``online/knn``; datasets without labels or a test split are skipped
with one warning. With ``train.strategy=fsdp`` the encoder's weights are sharded: every rank
takes part in gathering them (a collective) and rank 0 evaluates the full copy.
"""

from __future__ import annotations

import logging
import warnings

import lightning as L

from selfsup.data import create_dataset, dataset_to_tensors
from selfsup.eval.features import extract_features
from selfsup.eval.knn import knn_accuracy
from selfsup.train.config import RunConfig

log = logging.getLogger(__name__)


class OnlineKNN(L.Callback):
    def __init__(self, cfg: RunConfig, mean: list[float] | None, std: list[float] | None) -> None:
        self.cfg = cfg
        self.every = cfg.train.online_knn_every
        self.mean, self.std = mean, std
        self._data = None
        self._unavailable = False

    def _load(self):
        if self._data is None and not self._unavailable:
            d, n = self.cfg.data, self.cfg.train.online_knn_items
            try:
                train = create_dataset(d.name, "train", root=d.root, image_size=d.image_size)
                test = create_dataset(d.name, "test", root=d.root, image_size=d.image_size)
                if getattr(train, "num_classes", 0) < 2:
                    raise ValueError("no class labels")
                self._data = (*dataset_to_tensors(train, max_items=n), *dataset_to_tensors(test, max_items=n))
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
        data = self._load()
        if data is None:
            return
        if sharded:  # a collective: every rank gathers, rank 0 keeps the full encoder
            encoder = pl_module.full_encoder(keep=trainer.is_global_zero)
            if not trainer.is_global_zero:
                return
            encoder.to(pl_module.device)
        else:
            encoder = pl_module.method.encoder
        xtr, ytr, xte, yte = data
        kwargs = dict(
            image_size=self.cfg.data.image_size, mean=self.mean, std=self.std, device=pl_module.device
        )
        accuracy = knn_accuracy(
            extract_features(encoder, xtr, **kwargs),
            ytr,
            extract_features(encoder, xte, **kwargs),
            yte,
            k=self.cfg.eval.knn_k,
            temperature=self.cfg.eval.knn_temperature,
        )
        for logger in trainer.loggers:  # direct, so the value is written once, at this step
            logger.log_metrics({"online/knn": accuracy}, step=step)
        log.info("step %d: online kNN accuracy %.2f %%", step, 100 * accuracy)
