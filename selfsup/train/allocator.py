"""Keep large activation buffers in the process instead of returning them to the OS.

glibc's malloc serves big blocks with ``mmap`` and trims the heap after each free,
so every training step re-faults its activation memory. Raising the mmap and trim
thresholds made ResNet training ~1.5x faster on the 2-core CPUs of DESIGN.md §5.
This is a no-op on non-glibc platforms.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_THRESHOLD = 1 << 30  # 1 GiB: larger than any activation buffer of the models we train


def keep_freed_memory() -> bool:
    """Raise glibc's mmap/trim thresholds; returns True when applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok_mmap = mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)
    ok_trim = mallopt(_M_TRIM_THRESHOLD, _THRESHOLD)
    return bool(ok_mmap and ok_trim)
