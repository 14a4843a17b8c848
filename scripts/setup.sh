#!/usr/bin/env bash
# One-time set-up, safe to re-run: a virtual environment in .venv with selfsup installed,
# and the Debian data packages when they are missing. `--test` also installs headless Chromium
# for the report's browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian data packages (DESIGN.md section 6): Fashion-MNIST (the default dataset) and the real
# photo stamps (color images with captions and exact masks).
MISSING=""
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || MISSING="$MISSING dataset-fashion-mnist"
[ -d /usr/share/tuxpaint/stamps ] || MISSING="$MISSING tuxpaint-stamps-default"
if [ -n "$MISSING" ]; then
    echo "[setup] installing Debian packages:$MISSING" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq >&2
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $MISSING >&2
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv" >&2
    "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import selfsup, torchvision, pytest, skimage" 2>/dev/null; then
    echo "[setup] installing selfsup and its pinned dependencies (torch 2.14.1, torchvision 0.29.1)" >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]" >&2
fi

if [ "${1:-}" = "--test" ]; then
    scripts/install_browser.sh >&2
fi
