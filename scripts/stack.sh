#!/usr/bin/env bash
# The real stack on this machine: PostgreSQL 15, a Prefect server on it, an S3 server (moto) as the
# workers' result storage. Usage: scripts/stack.sh up|down|env [--server]|status (see scripts/stack.py).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="$root/.venv/bin/python"
if [ ! -x "$python" ]; then
    echo "stack: $python is missing: run \`make .venv/.installed-dev\` first" >&2
    exit 2
fi
exec "$python" "$root/scripts/stack.py" "$@"
