#!/usr/bin/env bash
# The main job: set everything up and run the quickstart agent offline (SQLite store, in-process
# queue, the built-in scripted demo model: no API key needed), then print the stored run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh all
export PATH="$PWD/.venv/bin:$PATH"
question=${1:-'What is 12 + 30, and how many words are in "the quick brown fox"?'}
agentspec validate examples/quickstart
echo
agentspec run examples/quickstart assistant --input "$question"
echo
agentspec runs show latest
