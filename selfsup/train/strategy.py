"""``train.strategy`` -> what ``lightning.Trainer(strategy=...)`` receives, and the device type of a run.

``train.strategy=fsdp`` maps to Lightning's ``ModelParallelStrategy`` with a 1-D data-parallel mesh over all
ranks (``data_parallel_size`` = world size, ``tensor_parallel_size`` = 1). That strategy sets up the
process group and the ``DeviceMesh`` and then calls ``LightningModule.configure_model``, where
``LitMethod`` shards the method with FSDP2 (``selfsup.train.fsdp.shard_method``) before the optimizer is
built over the sharded parameters. Why not the alternatives:

- Lightning's ``FSDPStrategy`` wraps in FSDP1, which refuses CPU-only machines in torch 2.14 and is
  rejected by Lightning with ``accelerator="cpu"``; ``ModelParallelStrategy`` runs on CPU (gloo) and GPU
  (NCCL) alike, so the same code path is tested here on CPU and used on GPUs.
- A custom ``DDPStrategy`` subclass would have to re-implement what ``ModelParallelStrategy`` already does
  for DTensor parameters: no DDP wrapper, full-state checkpoints gathered with ``get_model_state_dict``,
  and loading them back into the shards (``set_model_state_dict`` / ``set_optimizer_state_dict``).

Checkpoints are saved as one full file (``save_distributed_checkpoint=False``): the weights and optimizer
state are gathered onto rank 0 and written as a normal Lightning ``.ckpt``, which resumes with any world
size, exports with ``selfsup export`` and needs no torch.distributed.checkpoint folder. At the model
sizes of this project (up to ViT-B/L, <= ~1.2 GB of fp32 weights) a full file is cheap; a sharded
checkpoint would only pay off for models that do not fit in one host's memory.
"""

from __future__ import annotations

from typing import Any

import torch

from selfsup.train.config import RunConfig

FSDP = "fsdp"
FSDP_PRECISIONS = ("32-true", "bf16-mixed", "bf16-true")  # ModelParallelStrategy has no fp16 grad scaler


def device_type(cfg: RunConfig) -> str:
    """``'cuda'`` when the trainer will run on a GPU (``train.accelerator`` gpu/cuda, or auto with a GPU
    present), else ``'cpu'``: the device type the GPU-path options (channels_last) are resolved for."""
    accelerator = cfg.train.accelerator
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return "cuda"
    return "cpu"


def build_strategy(cfg: RunConfig, world_size: int, precision: str) -> Any:
    """The ``strategy`` argument of ``lightning.Trainer`` for ``cfg.train.strategy`` on ``world_size`` ranks
    with the resolved ``precision``: a ``ModelParallelStrategy`` for ``fsdp``, the name itself otherwise."""
    if cfg.train.strategy != FSDP:
        return cfg.train.strategy
    if precision not in FSDP_PRECISIONS:
        raise ValueError(
            f"train.strategy=fsdp supports train.precision {', '.join(FSDP_PRECISIONS)}; got {precision!r} "
            "(fp16 needs a gradient scaler that sharded training does not have here): use bf16-mixed"
        )
    if cfg.train.sync_batchnorm:
        raise ValueError(
            "train.sync_batchnorm=true is not applied by train.strategy=fsdp (Lightning's ModelParallelStrategy "
            "does not convert batch norm layers; the transformer blocks it shards use LayerNorm): set "
            "train.sync_batchnorm=false, or use train.strategy=ddp"
        )
    from lightning.pytorch.strategies import ModelParallelStrategy

    return ModelParallelStrategy(
        data_parallel_size=world_size, tensor_parallel_size=1, save_distributed_checkpoint=False
    )
