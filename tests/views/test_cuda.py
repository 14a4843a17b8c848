"""The batched views on a CUDA device: same math as on the CPU, randomness from a CUDA generator."""

import pytest
import torch

from selfsup.views import (
    JitterParams,
    TwoViewGenerator,
    ViewRecipe,
    apply_jitter,
    blur_with_sigmas,
    resized_crop,
    to_float,
)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_explicit_parameter_ops_match_cpu():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 32, 32, generator=g)
    boxes = torch.cat([torch.rand(16, 2, generator=g) * 8, 8 + torch.rand(16, 2, generator=g) * 16], 1)
    flipped = torch.rand(16, generator=g) < 0.5
    params = JitterParams(
        *(torch.rand(16, generator=g) + 0.5 for _ in range(3)), torch.rand(16) - 0.5, flipped
    )
    sigma = torch.rand(16, generator=g) * 2 + 0.1
    cuda = torch.device("cuda")
    cpu_out = (resized_crop(x, boxes, 24, flipped), apply_jitter(x, params), blur_with_sigmas(x, sigma, 5))
    params_cuda = JitterParams(*(t.to(cuda) for t in params))
    gpu_out = (
        resized_crop(x.to(cuda), boxes.to(cuda), 24, flipped.to(cuda)),
        apply_jitter(x.to(cuda), params_cuda),
        blur_with_sigmas(x.to(cuda), sigma.to(cuda), 5),
    )
    for a, b in zip(cpu_out, gpu_out, strict=True):
        torch.testing.assert_close(b.cpu(), a, atol=1e-4, rtol=0)


def test_views_on_cuda_are_deterministic_and_stay_on_device():
    images = torch.randint(0, 256, (32, 3, 28, 28), dtype=torch.uint8, device="cuda")
    tv = TwoViewGenerator(ViewRecipe(size=32, solarize_p=0.2))
    a = tv(images, torch.Generator(device="cuda").manual_seed(3))
    b = tv(images, torch.Generator(device="cuda").manual_seed(3))
    assert all(v.device.type == "cuda" and v.shape == (32, 3, 32, 32) for v in a)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    with pytest.raises(ValueError, match="torch.Generator\\(device="):
        tv(images, torch.Generator().manual_seed(0))
    assert to_float(images).device.type == "cuda"
