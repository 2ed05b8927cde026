#!/usr/bin/env bash
# Set everything up and run the whole test suite: lint, format check, type check, tests.
# Extra arguments go to pytest (e.g. scripts/test.sh -k yaml -x).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
export PATH="$PWD/.venv/bin:$PATH"
echo "› ruff check";   ruff check src tests benchmarks examples
echo "› ruff format";  ruff format --check src tests benchmarks examples
echo "› mypy (strict)"; mypy
echo "› pytest";       pytest -q "$@"
