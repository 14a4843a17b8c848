"""Fully sharded data parallel (FSDP2, ``torch.distributed.fsdp.fully_shard``) for a ``Method``.

Why FSDP2 and not Lightning's ``FSDPStrategy``: that strategy wraps the model in FSDP1
(``FullyShardedDataParallel``), which in torch 2.14 refuses CPU-only machines ("FSDP needs a non-CPU
accelerator device") and Lightning itself rejects ``strategy="fsdp"`` with ``accelerator="cpu"``. FSDP2 runs on
CPU (gloo) and GPU (NCCL) alike, keeps parameter names (checkpoints and exports stay plain), and is what
Lightning's ``ModelParallelStrategy`` drives through ``LightningModule.configure_model``.

Wrapping (the transformer-block policy, as FSDP's ``ModuleWrapPolicy({Block})``): every timm ViT ``Block``
of the method — encoder, MAE decoder, momentum / teacher copies — is one FSDP unit, whose parameters are
all-gathered just before it runs and freed after; the method itself is the root unit for everything else
(patch embedding, tokens, heads). A method is not called through ``forward`` (the trainer calls
``training_step``), so ``training_step`` is registered as the root's forward method: that is when the root
parameters are gathered and after whose backward the gradients are reduce-scattered, averaged over ranks
exactly as DDP averages them.

In training (``train.strategy=fsdp``, see ``selfsup.train.strategy``), ``LitMethod.configure_model`` calls
:func:`shard_method` with the strategy's data-parallel mesh. Whatever needs whole weights (export, the online
kNN monitor, ``PretrainResult.method``) gathers them with :func:`gather_into` into a plain copy built from
the run's config: a collective that every rank joins, while one rank keeps the copy.

Activation checkpointing (optional) recomputes each block's activations in the backward pass instead of
storing them: memory of ~one block instead of all, for ~one extra forward (Chen et al. 2016, "Training
Deep Nets with Sublinear Memory Cost"). It uses torch's composable ``checkpoint``, so module names — and
therefore state-dict keys — do not change.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from selfsup.methods.base import Method


def transformer_blocks(module: nn.Module) -> list[nn.Module]:
    """Every timm ViT ``Block`` inside ``module`` (the FSDP wrapping units), outermost first."""
    from timm.models.vision_transformer import Block

    return [m for m in module.modules() if isinstance(m, Block)]


def require_transformer_blocks(method: Method) -> list[nn.Module]:
    """:func:`transformer_blocks` of ``method``; ``ValueError`` naming the fix when there are none."""
    blocks = transformer_blocks(method)
    if not blocks:
        raise ValueError(
            f"train.strategy=fsdp wraps transformer blocks, but {type(method).__name__} with backbone "
            f"{type(method.encoder).__name__} has none; use a timm ViT backbone or train.strategy=ddp"
        )
    return blocks


def shard_method(method: Method, mesh: Any = None, activation_checkpointing: bool = False) -> Method:
    """Shard ``method`` in place with FSDP2 over ``mesh`` (a 1-D ``DeviceMesh``; None: all ranks).

    Call after ``torch.distributed`` is initialised and before the optimizer is built (the optimizer must
    see the sharded parameters). Returns ``method``, whose parameters are now ``DTensor`` shards; gather a
    full copy with :func:`full_state_dict`. Raises ``ValueError`` when the method has no transformer block
    (FSDP of a small CNN saves nothing: use DDP).
    """
    from torch.distributed._composable import checkpoint
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    for block in require_transformer_blocks(method):
        if activation_checkpointing:
            checkpoint(block)  # before fully_shard, as FSDP2 expects
        fully_shard(block, mesh=mesh)
    fully_shard(method, mesh=mesh)
    register_fsdp_forward_method(method, "training_step")
    return method


def is_sharded(module: nn.Module) -> bool:
    """Whether any parameter of ``module`` is a ``DTensor`` shard (i.e. :func:`shard_method` ran on it)."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in module.parameters())


def full_state_dict(module: nn.Module, to_cpu: bool = False) -> dict[str, Any]:
    """The module's state dict with every sharded ``DTensor`` gathered into a full tensor (a collective:
    call it on every rank, in the same order). ``to_cpu``: move each gathered tensor to the CPU at once, so
    an accelerator never holds more than one full tensor beyond its shards."""
    from torch.distributed.tensor import DTensor

    out = {}
    for k, v in module.state_dict().items():
        v = v.full_tensor() if isinstance(v, DTensor) else v
        out[k] = v.detach().cpu() if to_cpu else v
    return out


def gather_into(sharded: nn.Module, plain: nn.Module | None) -> None:
    """Load the full weights of ``sharded`` into ``plain``, an unsharded module of the same structure (e.g.
    built from the same config). A collective: call it on every rank; ranks that need no copy pass
    ``plain=None`` and only take part in the gather."""
    state = full_state_dict(sharded, to_cpu=True)
    if plain is not None:
        plain.load_state_dict(state)
