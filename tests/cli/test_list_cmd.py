"""``selfsup list`` stays light: no Lightning, timm or torchvision import for the plain listing."""

from __future__ import annotations

import os
import subprocess
import sys

from selfsup.cli.list_cmd import builtin_methods
from selfsup.registry import list_methods

SCRIPT = """
import sys
from selfsup.cli.main import main
main(["list"])  # through the CLI's own entry point, as a user runs it
print("heavy:", sorted(m for m in ("lightning", "timm", "torchvision") if m in sys.modules))
"""


def test_the_method_names_read_from_source_are_the_registered_ones() -> None:
    assert builtin_methods() == list_methods()


def test_the_listing_imports_no_lightning_timm_or_torchvision() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "heavy: []" in out
    assert "simclr" in out and "fashion_mnist" in out and "resnet_small" in out and "timm:" in out
