"""Video colorization: the pointer copies colors exactly for matching embeddings; loss vs a naive reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from selfsup.backbones import create_backbone
from selfsup.methods.video_colorization import (
    VideoColorization,
    VideoColorizationConfig,
    kmeans,
    pointer_copy,
)
from selfsup.types import Progress


def _method(**kw) -> VideoColorization:
    torch.manual_seed(0)
    backbone = create_backbone("resnet_small", in_chans=1, width=8, depths=[1, 1, 1])  # stride 4
    return VideoColorization(backbone, VideoColorizationConfig(num_colors=4, embed_dim=8, **kw))


def test_pointer_copies_colors_exactly_for_one_hot_matching_embeddings():
    perm = torch.tensor([2, 0, 3, 1, 4])
    ref = 50.0 * torch.eye(5)[None]  # [1, 5, 5]
    tgt = 50.0 * torch.eye(5)[perm][None]  # target j matches reference perm[j]
    colors = F.one_hot(torch.tensor([[0, 1, 2, 1, 0]]), 3).float()
    out = pointer_copy(ref, tgt, colors, temperature=1.0)
    assert torch.allclose(out, colors[:, perm], atol=1e-6)


def test_pointer_is_a_softmax_over_reference_locations():
    torch.manual_seed(0)
    ref, tgt, vals = torch.randn(2, 6, 4), torch.randn(2, 3, 4), torch.randn(2, 6, 5)
    expected = torch.einsum(
        "bmn,bnl->bml", torch.softmax(torch.einsum("bme,bne->bmn", tgt, ref) / 0.5, -1), vals
    )
    assert torch.allclose(pointer_copy(ref, tgt, vals, 0.5), expected, atol=1e-6)


def test_kmeans_finds_well_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[-50.0, 0.0], [0.0, 40.0], [30.0, -30.0]])
    points = (centers[:, None] + torch.randn(3, 100, 2, generator=g)).reshape(-1, 2)
    found = kmeans(points, 3, 20, torch.Generator().manual_seed(1))
    dist = torch.cdist(found, centers)
    assert dist.min(1).values.max() < 1.0 and len(set(dist.argmin(1).tolist())) == 3


def test_make_batch_quantizes_uniform_colors_on_the_embedding_grid():
    m = _method()
    colors = torch.tensor([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], dtype=torch.uint8)
    images = torch.zeros(4, 6, 16, 24, dtype=torch.uint8)
    for i in range(4):  # reference and target each one flat colour
        images[i, :3] = colors[i].view(3, 1, 1)
        images[i, 3:] = colors[(i + 1) % 4].view(3, 1, 1)
    batch = m.make_batch(images, generator=torch.Generator().manual_seed(0))
    assert bool(m.centroids_ready)
    ref, tgt = batch.targets["ref_colors"], batch.targets["tgt_colors"]
    assert ref.shape == (4, 4 * 6) and batch.views[0].shape == (4, 1, 16, 24)
    assert len(set(ref[:, 0].tolist())) == 4  # 4 colours, 4 clusters
    assert (ref == ref[:, :1]).all() and torch.equal(tgt[:, 0], ref[:, 0].roll(-1))
    with pytest.raises(ValueError, match=r"\[B, 6, H, W\]"):
        m.make_batch(images[:, :3])


def test_training_step_loss_matches_a_naive_reference_and_learns():
    m = _method()
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2, 6, 8, 8), dtype=torch.uint8, generator=g)
    images[:, 3:] = images[:, :3].flip(-1)  # the target is the mirrored reference
    batch = m.make_batch(images, generator=g)
    out = m.training_step(batch, Progress(0, 10))
    e = m.embed(torch.cat(batch.views))
    ref_c, tgt_c = batch.targets["ref_colors"], batch.targets["tgt_colors"]
    total = 0.0
    for b in range(2):
        for j in range(e.shape[1]):
            attn = torch.softmax(e[b] @ e[2 + b, j], 0)  # over reference locations
            total += -torch.log(attn[ref_c[b] == tgt_c[b, j]].sum().clamp_min(1e-8))
    assert out.loss.item() == pytest.approx(total.item() / (2 * e.shape[1]), rel=1e-4)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    first = out.loss.item()
    for step in range(15):
        loss = m.training_step(batch, Progress(step, 15)).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first


def test_config_errors_name_the_field_and_a_run_loads_back_for_tracking(tmp_path):
    from selfsup.runs import load_run
    from selfsup.train.config_loader import load_run_config
    from selfsup.train.pretrain import pretrain

    with pytest.raises(ValueError, match="method.num_colors"):
        VideoColorizationConfig(num_colors=1).validate()
    overrides = [
        "data.image_size=16",
        "method.num_colors=4",
        "method.embed_dim=8",
        "backbone_kwargs={width: 4, depths: [1, 1, 1]}",
        "train.batch_size=4",
        "train.max_steps=1",
        "train.time_budget_minutes=null",
        "train.precision=32-true",
        "train.progress_bar=false",
        f"train.out_dir={tmp_path}",
    ]
    cfg = load_run_config("configs/video_colorization_video_pairs.yaml", overrides)
    run_dir = pretrain(cfg).run_dir
    method = load_run(run_dir, "video_colorization", need_method=True).method
    frames = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    assert bool(method.centroids_ready) and method.centroids.shape == (4, 2)
    assert method.embed_frames(frames).shape == (3, 4, 4, 8)
