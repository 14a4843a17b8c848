"""Deterministic, resumable batch sampler: the batch of every step is a pure function of the step.

Epoch ``e`` visits a permutation of the dataset drawn from ``(seed, e)``; optimizer
step ``s`` of that epoch takes the ``s``-th global batch of ``global_batch =
batch_size × accumulate × world_size`` indices; micro-batch ``a`` of the step and
rank ``r`` take consecutive slices of it. So a run of ``2N`` steps and a run of
``N`` steps + resume + ``N`` steps see the same data, and a 2-process run with
per-rank batch ``B`` sees exactly the batches of a 1-process run with batch ``2B``.
The last partial batch of each epoch is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from selfsup.train.config import Derived, RunConfig


class StepBatchSampler:
    """Yields lists of dataset indices, one per micro-batch, from ``start_step()`` to ``total_steps``.

    ``start_step`` is called when iteration begins (after a checkpoint is restored),
    so a resumed run continues with the batch it would have seen.
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        total_steps: int,
        *,
        accumulate: int = 1,
        world_size: int = 1,
        rank: int = 0,
        seed: int = 0,
        start_step: Callable[[], int] = lambda: 0,
    ) -> None:
        self.num_items = num_items
        self.batch_size = batch_size
        self.total_steps = total_steps
        self.accumulate = accumulate
        self.world_size = world_size
        self.rank = rank
        self.seed = seed
        self.start_step = start_step
        self.global_batch = batch_size * accumulate * world_size
        if num_items < self.global_batch:
            raise ValueError(
                f"dataset has {num_items} items, fewer than one global batch ({self.global_batch}); "
                "lower train.batch_size"
            )
        self.steps_per_epoch = num_items // self.global_batch
        self._perm_epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            self._perm = torch.randperm(self.num_items, generator=g)
            self._perm_epoch = epoch
        return self._perm

    def indices_for(self, step: int, micro: int = 0) -> list[int]:
        """Dataset indices of micro-batch ``micro`` of optimizer step ``step`` on this rank."""
        epoch, position = divmod(step, self.steps_per_epoch)
        perm = self._permutation(epoch)
        start = position * self.global_batch + (micro * self.world_size + self.rank) * self.batch_size
        return perm[start : start + self.batch_size].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start_step(), self.total_steps):
            for micro in range(self.accumulate):
                yield self.indices_for(step, micro)

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step()) * self.accumulate


def step_loader(
    dataset: Any,
    cfg: RunConfig,
    derived: Derived,
    *,
    world_size: int = 1,
    rank: int = 0,
    start_step: Callable[[], int] = lambda: 0,
) -> torch.utils.data.DataLoader:
    """The trainer's loader: uint8 ``(images, labels, indices)`` micro-batches in :class:`StepBatchSampler`
    order, decoded by ``data.num_workers`` workers. The time-budget
    calibration times batches of this same loader."""
    from selfsup.data import collate_batched

    sampler = StepBatchSampler(
        derived.train_items,
        cfg.train.batch_size,
        derived.total_steps,
        accumulate=cfg.train.accumulate,
        world_size=world_size,
        rank=rank,
        seed=cfg.train.seed,
        start_step=start_step,
    )
    workers = cfg.data.num_workers
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_batched,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
    )
