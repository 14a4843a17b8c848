"""DINO: teacher sees global crops only, loss vs a naive pair loop, exact EMA teacher, last-layer freeze,
schedules, which backbone is exported, and the weight-decay schedule the trainer applies."""

import math

import lightning as L
import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.export import load_encoder, read_metadata
from selfsup.methods.dino import DINO, DINOConfig
from selfsup.schedules import weight_decay_at
from selfsup.train.config_loader import load_run_config
from selfsup.train.pretrain import pretrain
from selfsup.types import Progress

K = 32


def _method(backbone="resnet", **kw) -> DINO:
    torch.manual_seed(0)
    if backbone == "vit":
        net = create_backbone(
            "timm:vit_tiny_patch16_224",
            in_chans=1,
            image_size=16,
            patch_size=4,
            embed_dim=16,
            depth=1,
            num_heads=2,
            dynamic_img_size=True,
        )
    else:
        net = create_backbone("resnet_small", in_chans=1, image_size=16, width=4, depths=[1, 1])
    cfg = {"out_dim": K, "hidden_dim": 16, "bottleneck_dim": 8, "n_local_crops": 3, "local_size": 8, **kw}
    return DINO(net, DINOConfig(**cfg))


def _batch(m, b=4):
    images = torch.randint(
        0, 256, (b, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(2)
    )
    return m.make_batch(images, generator=torch.Generator().manual_seed(0))


def test_teacher_sees_global_crops_only_and_one_forward_per_resolution():
    m = _method("vit")
    seen = {"teacher": [], "student": []}
    m.teacher.register_forward_hook(lambda mod, inp, out: seen["teacher"].append(tuple(inp[0].shape)))
    m.student.register_forward_hook(lambda mod, inp, out: seen["student"].append(tuple(inp[0].shape)))
    batch = _batch(m)
    assert [tuple(v.shape[-2:]) for v in batch.views] == [(16, 16)] * 2 + [(8, 8)] * 3
    m.training_step(batch, Progress(0, 10))
    assert seen["teacher"] == [(8, 1, 16, 16)]  # the 2 global crops, one forward
    assert seen["student"] == [(8, 1, 16, 16), (12, 1, 8, 8)]  # globals, then the 3 locals together


def _naive_loss(m, batch, temp):
    """Per-crop forwards and an explicit loop over (teacher crop i, student crop v != i) pairs."""
    center = m.loss_fn.center.clone()
    s = [m.student_head(m.student(v)) / 0.1 for v in batch.views]
    with torch.no_grad():
        t = [torch.softmax((m.teacher_head(m.teacher(v)) - center) / temp, 1) for v in batch.views[:2]]
    terms = [(-t[i] * torch.log_softmax(s[v], 1)).sum(1).mean() for i in range(2) for v in range(5) if v != i]
    return torch.stack(terms).mean(), center


def test_loss_matches_naive_reference_and_center_moves():
    m = _method()
    m.eval()  # batch norm in eval mode: per-crop forwards equal the grouped ones
    with torch.no_grad():
        m.loss_fn.center.copy_(torch.randn(1, K) * 0.1)
    batch = _batch(m)
    progress = Progress(3, 100, steps_per_epoch=10)
    temp = m.teacher_temp_at(progress)
    ref, center = _naive_loss(m, batch, temp)
    out = m.training_step(batch, progress)
    torch.testing.assert_close(out.loss, ref, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        t_out = m.teacher_head(m.teacher(torch.cat(batch.views[:2])))
    torch.testing.assert_close(m.loss_fn.center, 0.9 * center + 0.1 * t_out.mean(0, keepdim=True))
    for key in (
        "teacher_entropy",
        "teacher_marginal_entropy",
        "kl_teacher_student",
        "embedding_std",
        "collapse",
    ):
        assert key in out.metrics
    assert 0.0 <= float(out.metrics["teacher_entropy"]) <= math.log(K) + 1e-5
    assert out.features.shape == (4, m.encoder.num_features)


def test_teacher_is_exact_ema_and_gets_no_gradient():
    m = _method()
    out = m.training_step(_batch(m), Progress(0, 10))
    out.loss.backward()
    assert all(
        p.grad is None and not p.requires_grad
        for p in [*m.teacher.parameters(), *m.teacher_head.parameters()]
    )
    trainable = {id(p) for g in m.param_groups(0.04) for p in g["params"]}
    assert not any(id(p) in trainable for p in [*m.teacher.parameters(), *m.teacher_head.parameters()])
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5)
    opt.step()
    old = [p.clone() for p in [*m.teacher.parameters(), *m.teacher_head.parameters()]]
    student = [*m.student.parameters(), *m.student_head.parameters()]
    progress = Progress(4, 10)
    mom = m.momentum_at(progress)
    assert mom == pytest.approx(1 - 0.004 * (math.cos(math.pi * 0.4) + 1) / 2)  # cosine 0.996 -> 1
    m.after_optimizer_step(progress)
    teacher = [*m.teacher.parameters(), *m.teacher_head.parameters()]
    changed = 0
    for t, o, s in zip(teacher, old, student, strict=True):
        assert torch.equal(t, o.mul(mom).add(s, alpha=1 - mom))  # bit-exact m·old + (1 − m)·student
        changed += not torch.equal(t, o)
    assert changed > 0


def test_last_layer_frozen_during_first_epoch():
    m = _method(freeze_last_layer_epochs=1.0)
    opt = torch.optim.AdamW([p for g in m.param_groups(0.04) for p in g["params"]], lr=0.1, weight_decay=0.04)
    last = m.student_head.last_layer.weight_v
    before = last.detach().clone()
    for step in (0, 9):  # both in epoch 0 (10 steps per epoch)
        progress = Progress(step, 100, steps_per_epoch=10)
        m.training_step(_batch(m), progress).loss.backward()
        assert last.grad is not None  # the loss does reach it ...
        m.after_backward(progress)
        assert last.grad is None  # ... and the hook cancels it
        assert m.student_head.mlp[0].weight.grad is not None  # the rest still trains
        opt.step()
        opt.zero_grad(set_to_none=True)
        m.after_optimizer_step(progress)
    assert torch.equal(last, before)  # no step at all, not even weight decay
    progress = Progress(10, 100, steps_per_epoch=10)  # epoch 1: trains
    m.training_step(_batch(m), progress).loss.backward()
    m.after_backward(progress)
    assert last.grad is not None
    opt.step()
    assert not torch.equal(last, before)


def test_schedules_and_weight_decay():
    m = _method(warmup_teacher_temp_epochs=2.0)
    temps = [m.teacher_temp_at(Progress(s, 100, steps_per_epoch=10)) for s in (0, 10, 20, 50)]
    assert temps == pytest.approx([0.04, 0.055, 0.07, 0.07])
    wds = [weight_decay_at(Progress(s, 100), 0.04, 0.4) for s in (0, 50, 100)]
    assert wds == pytest.approx([0.04, 0.22, 0.4])  # cosine 0.04 -> 0.4 (DINO)
    assert weight_decay_at(Progress(50, 100), 0.04) == 0.04


def test_encoder_is_the_teacher_by_default():
    m = _method()
    assert m.encoder is m.teacher and m.student is not m.teacher
    assert m.extra_state() == {"exported_backbone": "teacher"}
    keys = list(m.state_dict())
    assert any(k.startswith("student_backbone.") for k in keys) and any(
        k.startswith("encoder.") for k in keys
    )
    s = _method(eval_encoder="student")
    assert s.encoder is s.student and any(k.startswith("teacher_backbone.") for k in s.state_dict())


def test_config_file_loads_and_bad_values_are_named():
    cfg = load_run_config("configs/dino_fashion_mnist.yaml", [], method="dino")
    assert cfg.method.out_dim == 1024 and cfg.optim.final_weight_decay == 0.4
    assert cfg.train.time_budget_minutes <= 8 and cfg.backbone_kwargs["dynamic_img_size"] is True
    with pytest.raises(ValueError, match="method.eval_encoder"):
        DINOConfig(eval_encoder="both").validate()
    with pytest.raises(ValueError, match="method.warmup_teacher_temp"):
        DINOConfig(warmup_teacher_temp=0.0).validate()
    with pytest.raises(ValueError, match="optim.final_weight_decay"):
        load_run_config(None, ["optim.weight_decay=0.0", "optim.final_weight_decay=0.4"], method="dino")


class _RecordWeightDecay(L.Callback):
    def __init__(self):
        self.seen = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.seen.append((trainer.global_step, [g["weight_decay"] for g in optimizer.param_groups]))


def test_pretrain_end_to_end_schedules_weight_decay_and_exports_teacher(tmp_path):
    overrides = [
        "data.name=digits",
        "backbone=resnet_small",
        "backbone_kwargs={width: 4, depths: [1, 1, 1, 1]}",
        f"method.out_dim={K}",
        "method.hidden_dim=16",
        "method.bottleneck_dim=8",
        "method.n_local_crops=2",
        "method.local_size=6",
        "optim.name=adamw",
        "optim.lr=0.001",
        "optim.weight_decay=0.04",
        "optim.final_weight_decay=0.4",
        "optim.warmup_epochs=0.1",
        "train.batch_size=32",
        "train.max_steps=4",
        "train.precision=32-true",
        "train.progress_bar=false",
        "train.log_every=1",
        f"train.out_dir={tmp_path}",
    ]
    cfg = load_run_config(None, overrides, method="dino")
    record = _RecordWeightDecay()
    result = pretrain(cfg, callbacks=[record])
    for step, wds in record.seen:
        expected = weight_decay_at(Progress(step, 4), 0.04, 0.4)
        assert sorted(wds) == pytest.approx(sorted([expected, 0.0]))  # decayed group, and biases/norms at 0
    assert [s for s, _ in record.seen] == [0, 1, 2, 3]
    exported = load_encoder(result.encoder_path)
    teacher = result.method.teacher.state_dict()
    for k, v in exported.state_dict().items():
        torch.testing.assert_close(v, teacher[k])
    assert read_metadata(result.encoder_path)["exported_backbone"] == "teacher"
    student = result.method.student.state_dict()
    assert any(not torch.equal(student[k], teacher[k]) for k in teacher if teacher[k].is_floating_point())


def test_per_parameter_clip_bounds_each_student_gradient_as_the_reference():
    m = _method(clip_grad_per_parameter=0.01, freeze_last_layer_epochs=0.0)
    progress = Progress(0, 10, steps_per_epoch=10)
    (100 * m.training_step(_batch(m), progress).loss).backward()  # large gradients
    student = [*m.student.parameters(), *m.student_head.parameters()]
    before = [p.grad.norm().item() if p.grad is not None else None for p in student]
    m.after_backward(progress)
    for p, norm in zip(student, before, strict=True):
        if norm is None:
            continue
        if norm > 0.01:
            assert p.grad.norm().item() == pytest.approx(0.01, rel=1e-3)  # clipped on its own ...
        else:
            assert p.grad.norm().item() == pytest.approx(norm)  # ... the small ones untouched
    assert sum(n is not None and n > 0.01 for n in before) > 0
    assert all(p.grad is None for p in m.teacher.parameters())  # the teacher gets no gradient
    with pytest.raises(ValueError, match="clip_grad_per_parameter"):
        _method(clip_grad_per_parameter=0.0)


def test_teacher_is_deterministic_when_the_student_uses_drop_path():
    # Reference main_dino.py: student with drop_path_rate 0.1, teacher built without it.
    torch.manual_seed(0)
    net = create_backbone(
        "timm:vit_tiny_patch16_224",
        in_chans=1,
        image_size=16,
        patch_size=4,
        embed_dim=16,
        depth=2,
        num_heads=2,
        dynamic_img_size=True,
        drop_path_rate=0.5,
    )
    m = DINO(
        net, DINOConfig(out_dim=K, hidden_dim=16, bottleneck_dim=8, n_local_crops=2, local_size=8)
    ).train()
    x = torch.randn(4, 1, 16, 16)
    torch.manual_seed(1)
    assert not torch.equal(m.student(x), m.student(x))
    with torch.no_grad():
        t1, t2 = m.teacher_head(m.teacher(x)), m.teacher_head(m.teacher(x))
    torch.testing.assert_close(t1, t2, rtol=0, atol=0)
    # Same weights at init: the teacher is the student without stochastic depth.
    torch.testing.assert_close(m.teacher(x), m.student.eval()(x))
