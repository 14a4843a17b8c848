"""Diverged runs stop with one line and keep only finite checkpoints; slow divergence is warned about."""

import logging
from types import SimpleNamespace

import lightning as L
import pytest
import torch

from selfsup.cli.main import main
from selfsup.train.divergence import DivergenceWarning
from selfsup.train.lightning_module import NonFiniteLossError
from selfsup.train.pretrain import pretrain
from tests.cli.test_cli import TINY as CLI_TINY
from tests.train.test_pretrain import tiny_config


class PoisonAfterStep(L.Callback):
    """Makes the weights NaN right after optimizer step ``step``, before that step's checkpoint."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            with torch.no_grad():
                next(pl_module.method.head.parameters()).fill_(float("nan"))


def test_non_finite_weights_stop_before_they_reach_a_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, "train.max_steps=8", "train.checkpoint_every=2", "train.run_name=nan")
    with pytest.raises(NonFiniteLossError) as info:
        pretrain(cfg, callbacks=[PoisonAfterStep(4)])
    ckpts = tmp_path / "nan" / "checkpoints"
    message = str(info.value)
    assert "\n" not in message and "at step 4" in message
    assert f"the last good checkpoint is kept: {ckpts / 'step-0000002.ckpt'}" in message
    assert sorted(p.name for p in ckpts.iterdir()) == ["last.ckpt", "step-0000002.ckpt"]
    for path in ckpts.iterdir():
        state = torch.load(path, map_location="cpu", weights_only=True)
        assert state["global_step"] == 2
        assert all(v.isfinite().all() for v in state["state_dict"].values() if v.is_floating_point())


def test_a_diverging_cli_run_prints_one_line_and_no_traceback(tmp_path, capsys):
    code = main(
        [
            "pretrain",
            "simclr",
            *CLI_TINY,
            "optim.lr=1e38",
            "train.max_steps=6",
            "train.checkpoint_every=1",
            f"train.out_dir={tmp_path}",
            "train.run_name=div",
            "--no-eval",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    line = [e for e in err.splitlines() if e.startswith("selfsup: error:")]
    assert len(line) == 1 and "training stopped:" in line[0] and "optim.lr" in line[0]
    for path in (tmp_path / "div" / "checkpoints").glob("*.ckpt"):
        state = torch.load(path, map_location="cpu", weights_only=True)
        assert all(v.isfinite().all() for v in state["state_dict"].values() if v.is_floating_point())


def _step(callback, module, step, loss):
    trainer = SimpleNamespace(global_step=step)
    callback.on_train_batch_end(trainer, SimpleNamespace(method=module), torch.tensor(loss), None, 0)


def test_exploding_weights_at_a_flat_loss_are_warned_about_once(caplog):
    module = torch.nn.Linear(8, 8)
    callback = DivergenceWarning(every=1)
    with caplog.at_level(logging.WARNING, logger="selfsup.train.divergence"):
        _step(callback, module, 1, 2.3)
        with torch.no_grad():
            module.weight.mul_(1000)
        _step(callback, module, 2, 2.3)
        _step(callback, module, 3, 2.3)
    warnings = [r for r in caplog.records if "diverging" in r.getMessage()]
    assert len(warnings) == 1 and "step 2" in warnings[0].getMessage()


def test_growing_weights_with_a_falling_loss_are_not_divergence(caplog):
    module = torch.nn.Linear(8, 8)
    callback = DivergenceWarning(every=1)
    with caplog.at_level(logging.WARNING, logger="selfsup.train.divergence"):
        _step(callback, module, 1, 2.3)
        with torch.no_grad():
            module.weight.mul_(1000)
        _step(callback, module, 2, 0.5)
    assert not [r for r in caplog.records if "diverging" in r.getMessage()]
