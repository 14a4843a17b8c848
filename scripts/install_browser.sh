#!/usr/bin/env bash
# Install headless Chromium (Debian package `chromium`) for tests/viz/test_report_browser.py.
# Idempotent: does nothing when a chromium binary is already on PATH. Needs root (or sudo) and
# the Debian package mirror; the test skips with a clear reason when the browser is missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  echo "chromium already installed: $(command -v chromium || command -v chromium-browser)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium
chromium --version
