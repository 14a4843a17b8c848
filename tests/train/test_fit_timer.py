"""FitTimer reports the peak memory of the device training ran on, not where Lightning left the model."""

from types import SimpleNamespace

import torch

from selfsup.train import train_stats
from selfsup.train.train_stats import FitTimer


def test_stats_default_to_the_training_device(monkeypatch):
    asked = []
    monkeypatch.setattr(train_stats, "peak_memory_mb", lambda device: asked.append(device) or (1.0, "x"))
    timer = FitTimer(global_batch=8)
    timer.on_train_start(SimpleNamespace(global_step=2), None)
    timer.on_train_end(SimpleNamespace(global_step=7), SimpleNamespace(device=torch.device("cuda", 0)))
    stats = timer.stats()  # after fit the module is back on the CPU; the timer remembers cuda:0
    assert asked == [torch.device("cuda", 0)] and stats.steps == 5
    timer.stats(torch.device("cpu"))
    assert asked[-1] == torch.device("cpu")
