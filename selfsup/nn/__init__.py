"""Building blocks shared by methods: heads, distributed helpers (gather with gradient, ranks), ..."""

from selfsup.nn.distributed import (
    all_gather_no_grad,
    all_gather_sizes,
    all_reduce_mean,
    all_reduce_sum,
    gather_with_grad,
    get_rank,
    get_world_size,
    is_dist,
    rank_offset,
)
from selfsup.nn.heads import ProjectionHead

__all__ = [
    "ProjectionHead",
    "all_gather_no_grad",
    "all_gather_sizes",
    "all_reduce_mean",
    "all_reduce_sum",
    "gather_with_grad",
    "get_rank",
    "get_world_size",
    "is_dist",
    "rank_offset",
]
