import torch

from selfsup.nn.multi_resolution import forward_by_resolution


def test_forward_by_resolution_matches_per_view_and_groups_equal_sizes():
    net = torch.nn.Linear(1, 2)
    calls = []

    def backbone(x):
        calls.append(x.shape[0])
        return net(x.mean(dim=(1, 2, 3))[:, None])

    views = [
        torch.randn(2, 1, 4, 4),
        torch.randn(2, 1, 4, 4),
        torch.randn(2, 1, 3, 3),
        torch.randn(2, 1, 3, 3),
    ]
    out = forward_by_resolution(backbone, views)
    assert calls == [4, 4]  # one forward per resolution
    calls.clear()
    torch.testing.assert_close(out, torch.cat([backbone(v) for v in views]))
