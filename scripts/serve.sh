#!/usr/bin/env bash
# Sets up .venv if needed, then serves pgsimilar (http://127.0.0.1:8000/docs) on the embedded PostgreSQL with demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/pgsimilar serve --demo "$@"
