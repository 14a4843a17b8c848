"""MoCo v1/v2: loss against the paper's formula, momentum update, frozen key encoder, queue order."""

import pytest
import torch
import torch.nn.functional as F

from selfsup.backbones import create_backbone
from selfsup.methods.moco import MOCO_V1_VIEWS, MOCO_V2_VIEWS, MoCo, MoCoConfig
from selfsup.train.config_loader import load_run_config
from selfsup.types import Progress

B = 8


def _method(**kw) -> MoCo:
    torch.manual_seed(0)
    backbone = create_backbone("resnet_small", in_chans=1, image_size=16, width=4, depths=[1, 1])
    cfg = {"queue_size": 32, "proj_out_dim": 8, "shuffle_bn_groups": 2, "views": MOCO_V2_VIEWS, **kw}
    return MoCo(backbone, MoCoConfig(**cfg))


def _batch(method: MoCo, seed: int = 0):
    images = torch.randint(
        0, 256, (B, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)
    )
    return method.make_batch(images, generator=torch.Generator().manual_seed(seed))


def test_version_defaults():
    v1, v2 = MoCoConfig(version=1), MoCoConfig()
    assert (v1.tau, v2.tau) == (0.07, 0.2)
    assert (v1.use_mlp, v2.use_mlp) == (False, True)
    assert v1.recipe.blur_p == 0.0 and v1.recipe.jitter_p == 1.0 and v2.recipe.blur_p == 0.5
    assert v2.queue_size == 65536 and v2.momentum == 0.999
    assert len(_method(version=1).head.net) == 1  # linear fc
    assert [type(m).__name__ for m in _method().head.net] == ["Linear", "ReLU", "Linear"]


def test_loss_is_cross_entropy_with_positive_first():
    m = _method()
    batch = _batch(m)
    out = m.training_step(batch, Progress(0, 10))
    q = F.normalize(m.head(m.encoder(batch.views[0])), dim=1)
    k = m.keys(batch.views[1], batch.targets["key_perm"])
    queue = m.queue.keys
    # -log( exp(q·k+/τ) / (exp(q·k+/τ) + Σ_queue exp(q·k/τ)) ), one sample at a time
    ref = []
    for i in range(B):
        pos = torch.exp(q[i] @ k[i] / 0.2)
        neg = torch.exp(queue @ q[i] / 0.2).sum()
        ref.append(-torch.log(pos / (pos + neg)))
    torch.testing.assert_close(out.loss, torch.stack(ref).mean(), rtol=1e-5, atol=1e-6)
    correct = (q * k).sum(1) > (q @ queue.T).max(1).values
    assert out.metrics["contrastive_acc"].item() == pytest.approx(correct.float().mean().item())


def test_key_encoder_gets_no_gradient_and_is_not_optimized():
    m = _method()
    trainable = {id(p) for g in m.param_groups(1e-4) for p in g["params"]}
    for p in [*m.momentum_encoder.parameters(), *m.momentum_head.parameters()]:
        assert not p.requires_grad and id(p) not in trainable
    assert all(id(p) in trainable for p in [*m.encoder.parameters(), *m.head.parameters()])
    m.training_step(_batch(m), Progress(0, 10)).loss.backward()
    assert all(p.grad is None for p in m.momentum_encoder.parameters())
    assert all(p.grad is not None for p in m.head.parameters())


def test_optimizer_step_then_momentum_update_and_enqueue():
    m = _method(momentum=0.9)
    opt = torch.optim.SGD([p for g in m.param_groups(0.0) for p in g["params"]], lr=0.5)
    batch = _batch(m)
    old_k = [p.detach().clone() for p in m.momentum_encoder.parameters()]
    out = m.training_step(batch, Progress(0, 10))
    expected_keys = m.keys(batch.views[1], batch.targets["key_perm"])  # the pre-update key encoder
    out.loss.backward()
    opt.step()
    m.after_optimizer_step(Progress(0, 10))
    for k, old, q in zip(m.momentum_encoder.parameters(), old_k, m.encoder.parameters(), strict=True):
        torch.testing.assert_close(k, 0.9 * old + 0.1 * q.detach(), rtol=1e-6, atol=1e-7)
    assert any(not torch.equal(k, old) for k, old in zip(m.momentum_encoder.parameters(), old_k, strict=True))
    torch.testing.assert_close(m.queue.ordered(), expected_keys, rtol=1e-5, atol=1e-6)
    assert int(m.queue.ptr) == B
    torch.testing.assert_close(m.queue.ordered().norm(dim=1), torch.ones(B))


def test_cosine_momentum_schedule_is_used():
    m = _method(momentum=0.99, momentum_schedule="cosine")
    assert m.momentum_at(Progress(0, 100)) == pytest.approx(0.99)
    assert m.momentum_at(Progress(100, 100)) == pytest.approx(1.0)


def test_shuffle_bn_changes_keys_but_not_without_it():
    m = _method()
    batch = _batch(m)
    plain = m.keys(batch.views[1])
    shuffled = m.keys(batch.views[1], batch.targets["key_perm"])
    assert not torch.allclose(plain, shuffled, atol=1e-4)  # BN statistics per group of 4, not of 8
    with pytest.raises(ValueError, match="shuffle_bn_groups=3 must divide the batch size 8"):
        _method(shuffle_bn_groups=3).keys(batch.views[1], batch.targets["key_perm"])
    assert "key_perm" not in _batch(_method(shuffle_bn=False)).targets


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", 3),
        ("temperature", 0.0),
        ("momentum", 1.5),
        ("momentum_schedule", "step"),
        ("queue_size", 0),
    ],
)
def test_validate_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"method.{field}"):
        MoCoConfig(**{field: value}).validate()


def test_fashion_mnist_config_loads():
    cfg = load_run_config("configs/moco_fashion_mnist.yaml")
    assert cfg.method_name == "moco" and cfg.method.version == 2 and cfg.method.tau == 0.2
    assert cfg.method.queue_size < 60000  # fewer keys than training images
    assert MOCO_V1_VIEWS != cfg.method.recipe


def test_resume_restores_queue_and_key_encoder_exactly(tmp_path):
    """A run stopped after a checkpoint and resumed equals the straight run: queue, pointer, key encoder."""
    import lightning as L

    from selfsup.train.pretrain import pretrain

    tiny = [
        "data.name=digits",
        "backbone=resnet_small",
        "backbone_kwargs={width: 4, depths: [1, 1]}",
        "method.queue_size=80",
        "method.proj_hidden_dim=16",
        "method.proj_out_dim=8",
        "method.shuffle_bn_groups=4",
        "method.momentum=0.9",
        "method.views.blur_p=0.0",
        "train.batch_size=32",
        "train.precision=32-true",
        "train.progress_bar=false",
        "train.max_steps=6",
        "train.checkpoint_every=3",
        "optim.warmup_epochs=0.1",
        "eval.baselines=false",
    ]

    def cfg(name):
        return load_run_config(
            None, [*tiny, f"train.out_dir={tmp_path}", f"train.run_name={name}"], method="moco"
        )

    class Crash(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == 4:
                raise RuntimeError("simulated crash")

    straight = pretrain(cfg("a")).method
    with pytest.raises(RuntimeError, match="simulated crash"):
        pretrain(cfg("b"), callbacks=[Crash()])
    resumed = pretrain(cfg("b"), resume=tmp_path / "b" / "checkpoints" / "step-0000003.ckpt").method
    a, b = straight.state_dict(), resumed.state_dict()
    assert {"queue.keys", "queue.ptr", "momentum_encoder.stem.0.weight"} <= set(a)
    assert int(a["queue.ptr"]) == 6 * 32 % 80
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=0, msg=key)


def test_key_encoder_is_deterministic_when_the_query_encoder_uses_drop_path():
    torch.manual_seed(0)
    vit = create_backbone(
        "timm:vit_tiny_patch16_224",
        in_chans=1,
        image_size=16,
        patch_size=8,
        embed_dim=16,
        depth=2,
        num_heads=2,
        drop_path_rate=0.5,
        drop_rate=0.2,
    )
    m = MoCo(vit, MoCoConfig(queue_size=32, proj_out_dim=8, shuffle_bn=False)).train()
    x = torch.randn(4, 1, 16, 16)
    torch.manual_seed(1)
    assert not torch.equal(m.encoder(x), m.encoder(x))
    torch.testing.assert_close(m.keys(x), m.keys(x), rtol=0, atol=0)
