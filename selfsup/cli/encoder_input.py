"""The options every ``selfsup eval`` protocol on an exported encoder shares, and their resolution.

``--data``, ``--root`` and ``--image-size`` default to what the encoder was trained on (its
``InputSpec``, ``selfsup.runs.input_spec_of``), never to a fixed dataset. An explicit value that
contradicts the encoder (another size, another channel count) is an error naming both, unless
``--allow-input-mismatch`` says it is deliberate. Another dataset with the same input (transfer)
is allowed and named in the output.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from torch import Tensor

from selfsup.runs import ALLOW_MISMATCH_FLAG, check_eval_input, input_spec_of
from selfsup.types import InputSpec
from selfsup.views.channels import match_channels


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="dataset name (default: the dataset the encoder was trained on)")
    p.add_argument("--root", help="dataset folder (default: the training run's, for its dataset)")
    p.add_argument(
        "--image-size",
        type=int,
        help=f"image side (default: the encoder's training size; another size needs {ALLOW_MISMATCH_FLAG})",
    )
    p.add_argument(
        ALLOW_MISMATCH_FLAG,
        dest="allow_input_mismatch",
        action="store_true",
        help="evaluate at another size or channel count than the encoder was trained with, deliberately",
    )


@dataclass
class EncoderInput:
    """Where and how an encoder is evaluated: the resolved dataset and the encoder's input spec."""

    spec: InputSpec
    data: str
    root: str | None
    image_size: int
    allow_mismatch: bool
    source: str

    @property
    def note(self) -> str:
        """'' when evaluated on the training dataset, else a line saying it is another one."""
        if self.spec.dataset is None or self.data == self.spec.dataset:
            return ""
        return f"(transfer: trained on {self.spec.dataset!r}, evaluated on {self.data!r})"


def resolve_encoder_input(args: argparse.Namespace, encoder_path: str) -> EncoderInput:
    """The dataset, root and image size an eval command uses for ``encoder_path``."""
    from selfsup.data.captions import CAPTION_DATASETS, labelled_dataset_of

    spec = input_spec_of(encoder_path)
    data = args.data or spec.dataset
    if data is None:
        raise ValueError(f"{encoder_path} records no training dataset; pass --data NAME (see `selfsup list`)")
    root = args.root
    if root is None and data == spec.dataset:
        root = spec.root
    if data.strip().lower().replace("-", "_") in CAPTION_DATASETS:
        # An image-text encoder is scored with class labels of the images behind its captions.
        labelled = labelled_dataset_of(data)
        if labelled is None:
            raise ValueError(
                f"{encoder_path} was trained on captions without class labels ({data!r}); pass --data NAME "
                "of a labelled dataset"
            )
        root = root if labelled == "stamps" else None
        data = labelled
    size = check_eval_input(spec, encoder_path, args.image_size, allow_mismatch=args.allow_input_mismatch)
    return EncoderInput(spec, data, root, size, args.allow_input_mismatch, encoder_path)


def fit_channels(inp: EncoderInput, images: Tensor) -> Tensor:
    """uint8 ``[N, c, H, W]`` -> ``[N, C, H, W]`` with the encoder's ``C``: an error when ``c`` differs,
    unless the mismatch is deliberate (then grey is repeated / RGB turned to luma)."""
    check_eval_input(
        inp.spec, inp.source, channels=int(images.shape[1]), data=inp.data, allow_mismatch=inp.allow_mismatch
    )
    return match_channels(images, inp.spec.channels)


def load_encoder_eval_data(inp: EncoderInput, max_train: int | None = None, max_test: int | None = None):
    """``EvalData`` for ``inp`` (``selfsup.eval.protocol``), its images in the encoder's channels."""
    from selfsup.eval.protocol import load_eval_data

    data = load_eval_data(inp.data, inp.root, inp.image_size, max_train, max_test)
    data.train_images = fit_channels(inp, data.train_images)
    data.test_images = fit_channels(inp, data.test_images)
    return data
