"""Training statistics: the CPU peak memory is the process's own."""

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_a_child_process_reports_its_own_peak_not_its_parents():
    """A process started by a large one (compare, findings): ru_maxrss keeps the parent's peak across
    fork + exec on Linux; the child's own VmHWM does not."""
    ballast = bytearray(2 * 2**30)  # the parent holds 2 GiB, every page touched so it is resident
    ballast[::4096] = b"x" * len(ballast[::4096])
    code = "import torch; from selfsup.train.train_stats import peak_memory_mb; print(peak_memory_mb(torch.device('cpu'))[0])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    del ballast
    assert float(out.strip()) < 1500  # the child imports torch (a few hundred MB); ru_maxrss said > 2048
