"""Datasets returning ``(image uint8 [C, H, W], label int, index int)``, and how to batch them.

Every dataset exposes ``num_classes``, ``classes``, ``channels`` and ``image_size``.
In-memory datasets (Fashion-MNIST, digits) also return whole batches from ``__getitems__``;
use ``collate_batched`` as the ``DataLoader`` collate for any of them.
"""

from selfsup.data.batching import collate_batched, dataset_to_tensors
from selfsup.data.digits import DIGITS_CLASSES, Digits
from selfsup.data.factory import create_dataset, list_datasets
from selfsup.data.fashion_mnist import (
    DEFAULT_ROOT as FASHION_MNIST_ROOT,
)
from selfsup.data.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FashionMNIST,
    clear_fashion_mnist_cache,
    load_fashion_mnist_arrays,
)
from selfsup.data.idx import IdxFormatError, parse_idx, read_idx, write_idx
from selfsup.data.image_folder import IMAGE_EXTENSIONS, CorruptImageError, ImageFolderDataset, is_image_file
from selfsup.data.in_memory import InMemoryImageDataset, resize_uint8

__all__ = [
    "CorruptImageError",
    "DIGITS_CLASSES",
    "Digits",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_ROOT",
    "FashionMNIST",
    "IMAGE_EXTENSIONS",
    "IdxFormatError",
    "ImageFolderDataset",
    "InMemoryImageDataset",
    "clear_fashion_mnist_cache",
    "collate_batched",
    "create_dataset",
    "dataset_to_tensors",
    "is_image_file",
    "list_datasets",
    "load_fashion_mnist_arrays",
    "parse_idx",
    "read_idx",
    "resize_uint8",
    "write_idx",
]
