#!/usr/bin/env bash
# Sets up .venv if needed, then runs the linters, the type checker and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# In CI (root on Debian), also the public-domain clip art some image tests classify; elsewhere those
# tests skip and say why.
if [ "${CI:-}" = "true" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null \
    && [ ! -d /usr/share/openclipart/png ]; then
    apt-get install -y -qq openclipart-png >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq openclipart-png >/dev/null 2>&1; } \
        || echo "note: openclipart-png could not be installed; the clip-art tests will skip"
fi
# Likewise Debian's Chromium, which the web UI's browser tests drive through Playwright (Playwright's
# own browser download is never used); without it those tests fail and say to install it.
if [ "${CI:-}" = "true" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null \
    && [ ! -x /usr/bin/chromium ]; then
    apt-get install -y -qq chromium >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } \
        || echo "warning: chromium could not be installed; the browser tests will fail (apt-get install chromium)"
fi
.venv/bin/ruff check src tests
.venv/bin/ruff format --check src tests
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
