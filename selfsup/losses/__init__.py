"""Losses: pure ``nn.Module``s, one per file, each tested against a naive reference formula."""

from selfsup.losses.info_nce import InfoNCELoss

__all__ = ["InfoNCELoss"]
