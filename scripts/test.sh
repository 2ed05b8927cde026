#!/usr/bin/env bash
# Set everything up and run the whole test suite: lint, format check, type check, tests.
# Extra arguments go to pytest (e.g. scripts/test.sh -k yaml -x).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
# Graphviz renders `agentspec graph --format svg|png`; its tests need `dot`.
if ! command -v dot >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "› installing graphviz"
  { apt-get install -y -q graphviz || { apt-get update -q && apt-get install -y -q graphviz; }; } \
    >/dev/null 2>&1 || echo "  graphviz could not be installed: the svg/png graph tests will be skipped"
fi
export PATH="$PWD/.venv/bin:$PATH"
echo "› ruff check";   ruff check src tests benchmarks examples
echo "› ruff format";  ruff format --check src tests benchmarks examples
echo "› mypy (strict)"; mypy
echo "› pytest";       pytest -q "$@"
