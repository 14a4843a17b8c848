"""A ViT image size must be whole patches: a border that is not a patch was silently ignored."""

import pytest

from selfsup.backbones import create_backbone

VIT = dict(in_chans=1, patch_size=4, embed_dim=32, depth=1, num_heads=2)


def test_a_size_that_is_not_whole_patches_is_refused_naming_good_sizes():
    with pytest.raises(ValueError) as info:
        create_backbone("timm:vit_tiny_patch16_224", image_size=30, **VIT)
    message = str(info.value)
    assert "\n" not in message and "not a multiple" in message and "data.image_size=28 or 32" in message


def test_whole_patches_padding_and_cnns_are_accepted():
    assert create_backbone("timm:vit_tiny_patch16_224", image_size=28, **VIT).num_features == 32
    create_backbone("timm:vit_tiny_patch16_224", image_size=30, dynamic_img_pad=True, **VIT)
    create_backbone("timm:resnet18", in_chans=1, image_size=30)
