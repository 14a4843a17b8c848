"""DINO's teacher variants (§5.2, Table 6): EMA, a copy of the student every iteration, once per epoch."""

import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.methods.dino import DINO, DINOConfig
from selfsup.types import Progress


def _method(update: str) -> DINO:
    torch.manual_seed(0)
    net = create_backbone("resnet_small", in_chans=1, image_size=16, width=4, depths=[1, 1])
    cfg = DINOConfig(
        out_dim=16, hidden_dim=16, bottleneck_dim=8, n_local_crops=1, local_size=8, teacher_update=update
    )
    return DINO(net, cfg)


def _perturb_student(m: DINO) -> None:
    with torch.no_grad():
        for p in [*m.student.parameters(), *m.student_head.parameters()]:
            p.add_(torch.randn_like(p))


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_iteration_copy_makes_the_teacher_the_student_after_every_step() -> None:
    m = _method("iteration")
    _perturb_student(m)
    m.after_optimizer_step(Progress(3, 100, steps_per_epoch=10))
    assert _same(m.teacher, m.student) and _same(m.teacher_head, m.student_head)
    assert m.momentum_at(Progress(0, 100, 10)) == 0.0


def test_epoch_copy_refreshes_only_after_the_last_step_of_an_epoch() -> None:
    m = _method("epoch")
    before = [p.clone() for p in m.teacher.parameters()]
    _perturb_student(m)
    m.after_optimizer_step(Progress(8, 100, steps_per_epoch=10))  # step 9 of 10: teacher unchanged
    assert all(torch.equal(a, b) for a, b in zip(before, m.teacher.parameters(), strict=True))
    m.after_optimizer_step(Progress(9, 100, steps_per_epoch=10))  # the epoch's last step: a copy
    assert _same(m.teacher, m.student) and _same(m.teacher_head, m.student_head)


def test_ema_is_the_default_and_moves_part_way() -> None:
    m = _method("ema")
    assert DINOConfig().teacher_update == "ema"
    t0 = next(m.teacher.parameters()).clone()
    _perturb_student(m)
    m.after_optimizer_step(Progress(0, 100, 10))
    t1, s = next(m.teacher.parameters()), next(m.student.parameters())
    mom = m.momentum_at(Progress(0, 100, 10))
    assert 0.9 < mom < 1.0
    torch.testing.assert_close(t1, mom * t0 + (1 - mom) * s)


def test_unknown_teacher_update_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"teacher_update must be one of \['ema', 'iteration', 'epoch'\]"):
        DINOConfig(teacher_update="sometimes").validate()
