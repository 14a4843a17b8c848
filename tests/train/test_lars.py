"""LARS against a naive per-parameter reference (You et al. 2017), excluded groups = SGD with momentum,
the zero-norm fallback, state round trip and argument validation."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch
from torch import nn

from selfsup.train.lars import LARS


def naive_lars(params, grads_per_step, lr, momentum, wd, eta, eps, exclude):
    """Reference on Python floats, one tensor (layer) at a time: trust = η‖w‖/(‖g‖ + β‖w‖ + ε),
    v = m v + lr·trust·(g + β w), w -= v; excluded layers: v = m v + lr g."""
    ws = [p.detach().double().flatten().tolist() for p in params]
    vs = [[0.0] * len(w) for w in ws]
    for grads in grads_per_step:
        for k, (w, g) in enumerate(zip(ws, grads, strict=True)):
            g = g.double().flatten().tolist()
            if exclude[k]:
                d = g
            else:
                w_norm = math.sqrt(sum(a * a for a in w))
                g_norm = math.sqrt(sum(a * a for a in g))
                trust = eta * w_norm / (g_norm + wd * w_norm + eps) if w_norm > 0 and g_norm > 0 else 1.0
                d = [trust * (gi + wd * wi) for gi, wi in zip(g, w, strict=True)]
            vs[k] = [momentum * v + lr * di for v, di in zip(vs[k], d, strict=True)]
            ws[k] = [wi - v for wi, v in zip(w, vs[k], strict=True)]
    return ws


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3)).double()


def _groups(model: nn.Module, wd: float) -> list[dict]:
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    return [
        {"params": decay, "weight_decay": wd},
        {"params": rest, "weight_decay": 0.0, "lars_exclude": True},
    ]


@pytest.mark.parametrize(("momentum", "wd", "eta"), [(0.9, 1e-6, 0.001), (0.5, 1e-2, 0.02), (0.0, 0.0, 0.1)])
def test_matches_naive_reference_over_several_steps(momentum, wd, eta):
    model = _model()
    params = [p for g in _groups(model, wd) for p in g["params"]]
    exclude = [p.ndim <= 1 for p in params]
    init = [p.detach().clone() for p in params]
    opt = LARS(_groups(model, wd), lr=0.7, momentum=momentum, weight_decay=wd, trust_coefficient=eta)

    x = torch.randn(16, 6, dtype=torch.float64)
    grads_per_step = []
    for _ in range(5):  # real gradients of a changing model, recorded for the reference
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        grads_per_step.append([p.grad.detach().clone() for p in params])
        opt.step()

    ref = naive_lars(init, grads_per_step, 0.7, momentum, wd, eta, 1e-8, exclude)
    for p, r in zip(params, ref, strict=True):
        torch.testing.assert_close(
            p.detach().flatten(), torch.tensor(r, dtype=torch.float64), rtol=1e-12, atol=1e-14
        )


def test_one_step_closed_form():
    w = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)  # ‖w‖ = 5
    w.grad = torch.tensor([0.0, 2.0], dtype=torch.float64)  # ‖g‖ = 2
    LARS([w], lr=0.5, momentum=0.9, weight_decay=0.1, trust_coefficient=0.01, eps=0.0).step()
    trust = 0.01 * 5 / (2 + 0.1 * 5)
    expected = torch.tensor([3.0, 4.0]) - 0.5 * trust * (
        torch.tensor([0.0, 2.0]) + 0.1 * torch.tensor([3.0, 4.0])
    )
    torch.testing.assert_close(w.detach(), expected.double())


def test_excluded_group_is_sgd_with_momentum():
    model = _model()
    model_sgd = copy.deepcopy(model)
    opt = LARS(
        [{"params": model.parameters(), "lars_exclude": True}], lr=0.05, momentum=0.9, weight_decay=0.1
    )
    sgd = torch.optim.SGD(model_sgd.parameters(), lr=0.05, momentum=0.9)  # excluded: no weight decay either
    x = torch.randn(16, 6, dtype=torch.float64)
    for _ in range(6):
        for m, o in ((model, opt), (model_sgd, sgd)):
            o.zero_grad()
            m(x).pow(2).mean().backward()
            o.step()
    for p, q in zip(model.parameters(), model_sgd.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("which", ["weight", "grad"])
def test_trust_ratio_is_one_when_a_norm_is_zero(which):
    w = torch.zeros(4, dtype=torch.float64) if which == "weight" else torch.randn(4, dtype=torch.float64)
    w.requires_grad_(True)
    w.grad = torch.randn(4, dtype=torch.float64) if which == "weight" else torch.zeros(4, dtype=torch.float64)
    before = w.detach().clone()
    LARS([w], lr=0.1, momentum=0.0, weight_decay=0.0).step()
    torch.testing.assert_close(w.detach(), before - 0.1 * w.grad)
    assert torch.isfinite(w).all()


def test_params_without_grad_are_untouched_and_closure_is_returned():
    a = torch.randn(3, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    a_before, b_before = a.detach().clone(), b.detach().clone()
    opt = LARS([a, b], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = a.pow(2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    torch.testing.assert_close(loss, a_before.pow(2).sum())
    assert torch.equal(b.detach(), b_before) and not torch.equal(a.detach(), a_before)


def test_state_dict_round_trip_resumes_exactly():
    model = _model()
    opt = LARS(_groups(model, 1e-4), lr=0.3)
    x = torch.randn(8, 6, dtype=torch.float64)

    def step(m, o):
        o.zero_grad()
        m(x).pow(2).mean().backward()
        o.step()

    step(model, opt)
    clone = copy.deepcopy(model)
    opt2 = LARS(_groups(clone, 1e-4), lr=0.3)
    buffer = io.BytesIO()  # through bytes, as a checkpoint would (no tensors shared with `opt`)
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    opt2.load_state_dict(torch.load(buffer, weights_only=True))
    assert opt2.param_groups[1]["lars_exclude"] and not opt2.param_groups[0]["lars_exclude"]
    for _ in range(3):
        step(model, opt)
        step(clone, opt2)
    for p, q in zip(model.parameters(), clone.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -0.1}, "lr"),
        ({"lr": 0.1, "momentum": 1.0}, "momentum"),
        ({"lr": 0.1, "momentum": -0.1}, "momentum"),
        ({"lr": 0.1, "weight_decay": -1e-6}, "weight_decay"),
        ({"lr": 0.1, "trust_coefficient": 0.0}, "trust_coefficient"),
        ({"lr": 0.1, "eps": -1.0}, "eps"),
        ({"lr": float("nan")}, "lr"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"LARS {name} "):
        LARS([torch.zeros(2, requires_grad=True)], **kwargs)
