"""KeyQueue: size, pointer wrap-around, FIFO order against a naive deque, checkpointing, 2-rank gather."""

from collections import deque

import pytest
import torch
from distributed_helpers import run_gloo

from selfsup.nn.queue import KeyQueue


def test_initial_state_is_random_unit_keys():
    q = KeyQueue(16, 4)
    assert q.keys.shape == (16, 4) and q.size == 16 and q.dim == 4
    torch.testing.assert_close(q.keys.norm(dim=1), torch.ones(16))
    assert int(q.ptr) == 0 and int(q.filled) == 0
    assert q.ordered().shape == (0, 4)
    assert torch.equal(KeyQueue(4, 2, normalize_init=False).keys, torch.zeros(4, 2))


def test_fifo_and_wraparound_match_a_naive_deque():
    torch.manual_seed(0)
    q = KeyQueue(8, 3)
    ref: deque = deque(maxlen=8)
    for step, n in enumerate([3, 3, 3, 5, 8, 1]):
        keys = torch.randn(n, 3)
        q.enqueue(keys)
        ref.extend(keys)
        assert int(q.ptr) == sum([3, 3, 3, 5, 8, 1][: step + 1]) % 8
        torch.testing.assert_close(q.ordered(), torch.stack(list(ref)), rtol=0, atol=0)
    assert int(q.filled) == 8


def test_slot_layout_after_wrap():
    q = KeyQueue(5, 1, normalize_init=False)
    q.enqueue(torch.arange(1.0, 4.0)[:, None])  # slots 0-2: 1 2 3
    q.enqueue(torch.arange(4.0, 8.0)[:, None])  # 4 5 into slots 3-4, then 6 7 wrap into slots 0-1
    assert q.keys[:, 0].tolist() == [6.0, 7.0, 3.0, 4.0, 5.0]
    assert int(q.ptr) == 2  # next write replaces the oldest key, 3
    assert q.ordered()[:, 0].tolist() == [3.0, 4.0, 5.0, 6.0, 7.0]


def test_more_keys_than_slots_keeps_the_last_ones():
    q = KeyQueue(4, 1, normalize_init=False)
    q.enqueue(torch.tensor([[1.0]]))
    q.enqueue(torch.arange(10.0, 16.0)[:, None])
    assert q.ordered()[:, 0].tolist() == [12.0, 13.0, 14.0, 15.0]


def test_enqueue_is_detached_and_checks_shape():
    q = KeyQueue(4, 2)
    k = torch.randn(2, 2, requires_grad=True)
    q.enqueue(k)
    assert not q.keys.requires_grad
    with pytest.raises(ValueError, match=r"keys must be \[B, 2\]"):
        q.enqueue(torch.randn(2, 3))
    with pytest.raises(ValueError, match="size must be a positive int"):
        KeyQueue(0, 2)


def test_queue_round_trips_through_state_dict():
    q = KeyQueue(6, 2)
    q.enqueue(torch.randn(4, 2))
    q.enqueue(torch.randn(4, 2))
    state = q.state_dict()
    assert set(state) == {"keys", "ptr", "filled"}
    r = KeyQueue(6, 2)
    r.load_state_dict(state)
    torch.testing.assert_close(r.ordered(), q.ordered(), rtol=0, atol=0)
    assert int(r.ptr) == int(q.ptr) == 2


def _enqueue_on_ranks(rank: int, world_size: int) -> dict:
    torch.manual_seed(123)  # same initial queue on both ranks, as after DDP's broadcast of buffers
    q = KeyQueue(8, 2, normalize_init=False)
    for step in range(3):
        keys = torch.full((2, 2), float(10 * step + rank)) + torch.arange(2.0)[:, None] / 10
        q.enqueue(keys)
    return {"keys": q.keys, "ordered": q.ordered(), "ptr": q.ptr}


@pytest.mark.multiprocess
def test_keys_from_two_ranks_land_identically_in_every_queue():
    r0, r1 = run_gloo(_enqueue_on_ranks, 2)
    torch.testing.assert_close(r0["keys"], r1["keys"], rtol=0, atol=0)
    assert int(r0["ptr"]) == int(r1["ptr"]) == 12 % 8
    # Rank order within each step: rank 0's two keys, then rank 1's; the oldest 4 keys were dropped.
    expected = [10 * s + r + i / 10 for s in range(3) for r in range(2) for i in range(2)][-8:]
    torch.testing.assert_close(r0["ordered"][:, 0], torch.tensor(expected), rtol=0, atol=1e-6)
