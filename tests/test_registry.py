"""One registry mechanism for methods, backbones and datasets, and what it lets a user add."""

import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.backbones.small_resnet import resnet_small
from selfsup.data import create_dataset, list_datasets
from selfsup.registry import BACKBONES, DATASETS, METHODS, Registry, UnknownNameError, list_methods


def test_a_registry_registers_looks_up_and_names_what_is_missing():
    reg: Registry[int] = Registry("widget")
    reg.register("a")(1)
    reg.register("a")(1)  # the same entry again is harmless (a module imported twice)
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        reg.register("a")(2)
    assert reg["a"] == 1 and "a" in reg and reg.names() == ["a"]
    with pytest.raises(UnknownNameError, match="unknown widget 'b'; available widgets: a") as err:
        reg["b"]
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    assert str(err.value) == "unknown widget 'b'; available widgets: a"  # no KeyError quotes


def test_the_three_families_share_it():
    assert "simclr" in METHODS and list_methods() == METHODS.names()
    assert {"resnet_small", "resnet18_cifar"} <= set(BACKBONES.names())
    assert {"fashion_mnist", "stamps", "folder"} <= set(
        DATASETS.names()
    ) and list_datasets() == DATASETS.names()


def test_a_registered_backbone_and_dataset_are_found_by_the_factories(monkeypatch):
    monkeypatch.setattr(BACKBONES, "_entries", dict(BACKBONES._entries))
    monkeypatch.setattr(DATASETS, "_entries", dict(DATASETS._entries))

    @BACKBONES.register("my_net")
    def my_net(in_chans: int = 3, image_size: int | None = None, width: int = 8):
        return resnet_small(in_chans, image_size, width=width, depths=(1, 1, 1, 1))

    net = create_backbone("my_net", in_chans=1, image_size=16, width=4)
    assert net(torch.rand(2, 1, 16, 16)).shape == (2, 32)
    with pytest.raises(ValueError, match="valid: in_chans, image_size, pretrained_path, width"):
        create_backbone("my_net", depth=3)

    @DATASETS.register("my_data")
    def my_data(split, root, image_size, strict, kw):
        return [(torch.zeros(1, 8, 8, dtype=torch.uint8), 0, 0)] * (3 if split == "train" else 1)

    assert len(create_dataset("my_data", "train")) == 3 and len(create_dataset("My-Data", "test")) == 1
