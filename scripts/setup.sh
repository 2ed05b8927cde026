#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install agentspec into it. Idempotent and quiet when nothing changed.
# Usage: scripts/setup.sh [extras]   e.g. scripts/setup.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-all}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "agentspec needs Python >= 3.11 (found: $("$python" --version 2>&1))" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  echo "› creating .venv"
  if ! "$python" -m venv .venv 2>/dev/null; then
    echo "› python3-venv is missing; installing it with apt"
    ${SUDO:-$( [ "$(id -u)" = 0 ] || echo sudo )} apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv .venv
  fi
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=".venv/.agentspec-installed-$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "› installing agentspec[$extras] into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]"
  touch "$stamp"
fi
