#!/usr/bin/env bash
# One-time set-up, safe to re-run: a virtual environment in .venv with selfsup installed,
# and the Debian package with the Fashion-MNIST files when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "[setup] installing Debian package dataset-fashion-mnist" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >&2
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
