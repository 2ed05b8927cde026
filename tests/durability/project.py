"""A small durable project for the durability tests: a multi-turn, multi-tool agent whose
command tools append one line per call (keyed by the idempotency key) to ``effects.txt``."""

from __future__ import annotations

import textwrap
from pathlib import Path

APPEND_PY = """
import fcntl, json, os, sys
from pathlib import Path

args = json.load(sys.stdin)
key = os.environ["AGENTSPEC_IDEMPOTENCY_KEY"]
here = Path(__file__).resolve().parent
with open(here / "attempts.txt", "a") as attempts:
    attempts.write(key + "\\n")
with open(here / "effects.txt", "a+") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.seek(0)
    if not any(line.split(" ", 1)[0] == key for line in f.read().splitlines()):
        f.write(key + " " + args["key"] + "\\n")
        f.flush()
        os.fsync(f.fileno())
print(json.dumps("ok " + args["key"]))
"""

SPEC = """
package: durable
version: 0.1.0
models:
  script:
    provider: scripted
    script:
      - when: {last: user, contains: "approve"}
        tool_calls:
          - {id: g1, name: guarded, arguments: {key: "g1"}}
          - {id: g2, name: step1, arguments: {key: "x"}}
      - when: {last: tool, tool: guarded}
        text: "guarded said: {{tool_result}}"
      - when: {last: user}
        tool_calls:
          - {id: c1, name: step1, arguments: {key: "a"}}
          - {id: c2, name: step1, arguments: {key: "b"}}
      - when: {last: tool, tool: step1}
        tool_calls:
          - {id: c3, name: step2, arguments: {key: "c"}}
      - when: {last: tool, tool: step2}
        tool_calls:
          - {id: c4, name: step3, arguments: {key: "d"}}
          - {id: c5, name: step3, arguments: {key: "e"}}
      - when: {last: tool, tool: step3}
        text: "all done: {{tool_result}} and more words to stream"
prompts:
  main: {content: "You run steps."}
skills:
  step1: &step
    description: A step with a side effect.
    input: {key: {type: string, required: true}}
    command: {binary: python3, args: [append.py], timeout: 20s}
  step2: *step
  step3: *step
  guarded:
    description: A step that needs approval.
    input: {key: {type: string, required: true}}
    command: {binary: python3, args: [append.py], timeout: 20s}
    approval: required
agents:
  worker:
    model: script
    prompt: main
    skills: [step1, step2, step3, guarded]
    max_turns: 6
"""

EXPECTED_OUTPUT = "all done: ok d, ok e and more words to stream"
CALLS = ("c1", "c2", "c3", "c4", "c5")


def write_project(root: Path) -> Path:
    """Write the project into ``root`` and return it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "agentspec.yaml").write_text(textwrap.dedent(SPEC))
    (root / "append.py").write_text(APPEND_PY)
    return root


def effects(root: Path) -> list[str]:
    """The lines the tools wrote (one per call that had its effect)."""
    path = root / "effects.txt"
    return path.read_text().splitlines() if path.exists() else []


def attempts(root: Path) -> list[str]:
    """One line per tool execution (a call executed twice appears twice)."""
    path = root / "attempts.txt"
    return path.read_text().splitlines() if path.exists() else []
