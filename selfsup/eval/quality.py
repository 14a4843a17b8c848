"""The label-free quality signals as an evaluation metric; they live in ``selfsup.monitors.quality``."""

from selfsup.monitors.quality import alignment, embedding_std, quality_signals, rankme, uniformity

__all__ = ["alignment", "embedding_std", "quality_signals", "rankme", "uniformity"]
