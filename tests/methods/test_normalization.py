"""A method's input normalization has one declaration (``pixel_mean`` / ``pixel_std``) and one hook."""

import pytest

import selfsup.methods  # noqa: F401  (registers every built-in method)
from selfsup.methods.base import Method
from selfsup.registry import list_methods, method_class
from selfsup.views.ops import channel_stats


@pytest.mark.parametrize("name", list_methods())
def test_no_method_overrides_the_normalization_hook(name):
    assert method_class(name).normalization is Method.normalization


def test_channel_stats_defaults_broadcasts_and_names_a_mismatch():
    assert channel_stats(None, None, 3) == ((0.5,) * 3, (0.5,) * 3)
    assert channel_stats(0.0, [1.0], 3) == ((0.0,) * 3, (1.0,) * 3)
    assert channel_stats((0.1, 0.2, 0.3), None, 3) == ((0.1, 0.2, 0.3), (0.5,) * 3)
    with pytest.raises(ValueError, match="mean has 3 values but the input has 1 channels"):
        channel_stats((0.1, 0.2, 0.3), None, 1)
    with pytest.raises(ValueError, match="std must be > 0"):
        channel_stats(None, 0.0, 1)
