"""uint8 -> float, normalize, per-sample restore and the input checks every view op shares."""

import pytest
import torch
import torchvision.transforms.functional as TF

from selfsup.views import normalize, to_float
from selfsup.views.ops import check_generator, restore_


def test_to_float_matches_to_tensor():
    u8 = torch.randint(0, 256, (4, 3, 7, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    x = to_float(u8)
    assert x.dtype == torch.float32 and x.shape == u8.shape
    assert torch.equal(x[2], TF.to_tensor(u8[2].permute(1, 2, 0).numpy()))
    assert to_float(torch.full((1, 1, 2, 2), 255, dtype=torch.uint8)).eq(1.0).all()
    assert to_float(u8, torch.float64).dtype == torch.float64


def test_to_float_rejects_wrong_input():
    with pytest.raises(TypeError, match="uint8"):
        to_float(torch.rand(2, 3, 4, 4))
    with pytest.raises(ValueError, match="unsqueeze"):
        to_float(torch.zeros(3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="permute"):
        to_float(torch.zeros(2, 4, 4, 3, dtype=torch.uint8))
    with pytest.raises(TypeError, match="Tensor"):
        to_float([[1, 2]])


def test_normalize_matches_torchvision_and_inplace():
    x = torch.rand(3, 3, 4, 4)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    want = torch.stack([TF.normalize(im, mean, std) for im in x])
    torch.testing.assert_close(normalize(x, mean, std), want)
    y = x.clone()
    assert normalize(y, mean, std, inplace=True).data_ptr() == y.data_ptr()
    torch.testing.assert_close(y, want)
    torch.testing.assert_close(normalize(x[:, :1], 0.5, 0.5), x[:, :1] * 2 - 1)


def test_normalize_rejects_bad_stats():
    x = torch.rand(2, 3, 4, 4)
    with pytest.raises(ValueError, match="std must be > 0"):
        normalize(x, 0.5, (0.5, 0.0, 0.5))
    with pytest.raises(ValueError, match="mean has 2 values but the input has 3 channels"):
        normalize(x, (0.5, 0.5), 0.5)


def test_restore_puts_back_exactly_the_skipped_samples():
    out, original = torch.rand(4, 3, 5, 5), torch.rand(4, 3, 5, 5)
    expected = out.clone()
    skipped = torch.tensor([True, False, True, False])
    expected[skipped] = original[skipped]
    assert torch.equal(restore_(out, skipped, original), expected)


def test_generator_device_checked():
    x = torch.rand(1, 3, 2, 2)
    check_generator(torch.Generator(), x)
    with pytest.raises(TypeError, match="torch.Generator"):
        check_generator(None, x)
    with pytest.raises(ValueError, match="meta"):
        check_generator(torch.Generator(), x.to("meta"))
