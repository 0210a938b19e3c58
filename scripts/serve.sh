#!/usr/bin/env bash
# Sets up .venv if needed, then starts pgsimilar on the embedded PostgreSQL with demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/pgsimilar demo "$@"
