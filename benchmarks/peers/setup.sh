#!/usr/bin/env bash
# The peer benchmark's own environment: benchmarks/peers/.venv with selfsup (editable, from this
# checkout, with its pinned torch 2.14.1 / torchvision 0.29.1) plus lightly 1.6, the peer it is timed
# against. lightly is never a dependency of selfsup: it lives only in this environment.
# Safe to re-run. Takes a few minutes (torch installs from the machine's local wheel cache).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"
LIGHTLY="${LIGHTLY_VERSION:-1.6.0}"  # the only 1.6.x on the registry when this was written

if [ ! -x "$VENV/bin/python" ]; then
    echo "[peers] creating $VENV" >&2
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)

# Constraints: lightly's requirements (torch, torchvision, pytorch_lightning, timm, hydra-core) must
# be satisfied by selfsup's pins, never by upgrading or downgrading them; pip fails instead.
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
printf 'torch==2.14.1\ntorchvision==0.29.1\ntimm==1.0.31\n' > "$CONSTRAINTS"

if ! "$VENV/bin/python" -c "import selfsup" 2>/dev/null; then
    echo "[peers] installing selfsup (editable) and its pinned dependencies" >&2
    "${PIP[@]}" -c "$CONSTRAINTS" -e "$ROOT[test]" >&2
fi
if ! "$VENV/bin/python" -c "import lightly" 2>/dev/null; then
    echo "[peers] installing lightly==$LIGHTLY" >&2
    "${PIP[@]}" -c "$CONSTRAINTS" "lightly==$LIGHTLY" >&2
fi

"$VENV/bin/python" - <<'PY'
import lightly, torch, torchvision
from lightly.loss import DINOLoss, NTXentLoss  # noqa: F401  (the blocks the benchmark uses)
from lightly.transforms import DINOTransform, MAETransform, MoCoV2Transform, SimCLRTransform  # noqa: F401

assert torch.__version__.split("+")[0] == "2.14.1", f"torch changed to {torch.__version__}"
assert torchvision.__version__.split("+")[0] == "0.29.1", f"torchvision changed to {torchvision.__version__}"
print(f"[peers] ready: torch {torch.__version__}, torchvision {torchvision.__version__}, lightly {lightly.__version__}")
PY
