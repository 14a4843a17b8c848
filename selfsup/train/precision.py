"""Choose the training precision the hardware runs fastest without changing results.

``precision: auto`` resolves to ``bf16-mixed`` on CUDA GPUs with bf16 support and on
CPUs with native bf16 instructions (AVX512-BF16 or AMX), where bf16 autocast ran
2.2x faster than fp32 (DESIGN.md §5), and to ``32-true`` elsewhere: on an
AVX2-only CPU bf16 autocast is emulated and ran ~10x *slower* than fp32 here.
"""

from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, accelerator: str = "auto") -> str:
    """``auto`` → ``bf16-mixed`` or ``32-true`` for this machine; other values pass through."""
    if precision != "auto":
        return precision
    use_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if use_gpu:
        return "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_has_native_bf16() else "32-true"
