"""Collapse monitors against closed forms: entropies, KL, embedding std, status and the warning."""

import logging
import math

import pytest
import torch

from selfsup.monitors.collapse import (
    CollapseMonitor,
    collapse_status,
    embedding_std,
    kl_divergence,
    marginal_entropy,
    mean_entropy,
)

K = 16


def _log(p: torch.Tensor) -> torch.Tensor:
    return torch.log(p.clamp_min(1e-30))


def test_entropies_closed_forms():
    uniform = torch.full((5, K), 1.0 / K)
    assert mean_entropy(_log(uniform)).item() == pytest.approx(math.log(K))
    assert marginal_entropy(_log(uniform)).item() == pytest.approx(math.log(K))
    same = torch.zeros(4, K)
    same[:, 3] = 1.0  # one-hot collapse: every row picks dimension 3
    assert mean_entropy(_log(same)).item() == pytest.approx(0.0, abs=1e-6)
    assert marginal_entropy(_log(same)).item() == pytest.approx(0.0, abs=1e-6)
    spread = torch.eye(K)[:4]  # confident but diverse: per-row 0, batch-mean uniform over 4 dims
    assert mean_entropy(_log(spread)).item() == pytest.approx(0.0, abs=1e-6)
    assert marginal_entropy(_log(spread)).item() == pytest.approx(math.log(4))
    logits = torch.randn(6, K)
    lp = torch.log_softmax(logits, 1)
    assert marginal_entropy(lp) >= mean_entropy(lp)  # concavity of entropy


def test_kl_closed_form():
    p = torch.tensor([[0.25, 0.75]])
    q = torch.tensor([[0.5, 0.5]])
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert kl_divergence(p.log(), q.log()).item() == pytest.approx(expected)
    lp = torch.log_softmax(torch.randn(3, K), 1)
    assert kl_divergence(lp, lp).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="log_q"):
        kl_divergence(lp, lp[:, :3])


def test_embedding_std():
    assert embedding_std(torch.ones(8, 5) * 3.0).item() == pytest.approx(0.0, abs=1e-6)
    torch.manual_seed(0)
    d = 256
    assert embedding_std(torch.randn(4000, d)).item() == pytest.approx(1 / math.sqrt(d), rel=0.05)
    with pytest.raises(ValueError, match="N >= 2"):
        embedding_std(torch.randn(1, 4))


def test_collapse_status():
    log_k = math.log(K)
    assert collapse_status(entropy=0.99 * log_k, marginal=log_k, num_classes=K) == "uniform"
    assert collapse_status(entropy=0.01, marginal=0.01, num_classes=K) == "one_hot"
    assert collapse_status(entropy=0.01, marginal=0.8 * log_k, num_classes=K) == "ok"  # confident, diverse
    assert collapse_status(std=1e-4, dim=64) == "constant"
    assert collapse_status(std=1 / 8, dim=64) == "ok"
    assert collapse_status() == "ok"
    with pytest.raises(ValueError, match="num_classes"):
        collapse_status(entropy=0.1, num_classes=1)


def test_monitor_warns_once_after_patience(caplog):
    monitor = CollapseMonitor(patience=3)
    with caplog.at_level(logging.WARNING, logger="selfsup.monitors.collapse"):
        fired = [
            monitor.update(s, i) for i, s in enumerate(["ok", "uniform", "uniform", "uniform", "uniform"])
        ]
        assert fired == [False, False, False, True, False]
        fired = [monitor.update(s, i) for i, s in enumerate(["ok", "one_hot", "one_hot", "one_hot"])]
        assert fired == [False, False, False, True]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "uniform" in messages[0] and "one_hot" in messages[1]
    with pytest.raises(ValueError, match="status"):
        monitor.update("exploded", 0)
