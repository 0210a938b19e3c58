#!/usr/bin/env bash
# Creates .venv with pgsimilar and its development tools. Safe to run again: it only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"pgsimilar needs Python >= 3.11; {sys.executable} is {sys.version.split()[0]} (set PYTHON=...)")
PY

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# The CPU build of PyTorch, pinned: an unpinned torch would pull several GB of CUDA packages.
.venv/bin/pip install --quiet --disable-pip-version-check "torch==2.13.0"
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[dev]"
