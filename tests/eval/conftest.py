"""Fixtures for the evaluation tests: real digits as uint8 images, small encoders."""

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn


@pytest.fixture(scope="session")
def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """sklearn digits as uint8 ``[N, 1, 8, 8]`` images: a fixed stratified 2/3 train, 1/3 test split."""
    data = load_digits()
    images = torch.from_numpy(data.images * (255.0 / 16.0)).round().to(torch.uint8).unsqueeze(1)
    labels = torch.from_numpy(data.target).long()
    generator = torch.Generator().manual_seed(0)
    perm = torch.randperm(labels.numel(), generator=generator)
    n_test = labels.numel() // 3
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    return images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]


class TinyConvEncoder(nn.Module):
    """[B, C, H, W] -> [B, D]; BatchNorm and Dropout make train and eval mode differ."""

    def __init__(self, in_chans: int = 1, dim: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_chans, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Conv2d(8, dim, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@pytest.fixture
def tiny_encoder() -> TinyConvEncoder:
    torch.manual_seed(0)
    encoder = TinyConvEncoder()
    # Non-trivial running statistics, so eval-mode BatchNorm is not the identity.
    encoder.body[1].running_mean.uniform_(-0.5, 0.5)
    encoder.body[1].running_var.uniform_(0.5, 2.0)
    return encoder
