"""A YAML project exercising every recorded source of nondeterminism the engine has."""

from __future__ import annotations

from pathlib import Path

TOOLS = '''
"""Tools whose outputs differ on every call: a replay must take them from the recording."""
import os
import time

import agentspec


@agentspec.tool
async def add(a: str, b: str) -> int:
    """Add two integers given as text."""
    return int(a) + int(b)


@agentspec.tool
async def roll() -> int:
    """A random number."""
    return int.from_bytes(os.urandom(4), "big")


@agentspec.tool
async def clock() -> dict:
    """The current time."""
    return {"now": time.time(), "pid": os.getpid()}


@agentspec.tool
async def boom(reason: str) -> str:
    """Always fails."""
    raise RuntimeError("boom: " + reason + " " + os.urandom(3).hex())
'''

SPEC = """
package: replaylab
version: 1.0.0

models:
  rules:
    provider: scripted
    script:
      - when: {last: user, regex: 'sum (\\d+) (\\d+)'}
        tool_calls: [{name: add, arguments: {a: "{{1}}", b: "{{2}}"}}]
      - when: {last: user, contains: roll}
        tool_calls: [{name: roll, arguments: {}}, {name: clock, arguments: {}}]
      - when: {last: user, regex: 'boom (\\w+)'}
        tool_calls: [{name: boom, arguments: {reason: "{{1}}"}}]
      - when: {last: user, contains: ghost}
        tool_calls: [{name: ghost, arguments: {}}]
      - when: {last: user, contains: loop}
        tool_calls: [{name: roll, arguments: {}}]
      - when: {last: tool, contains: loop}
        tool_calls: [{name: roll, arguments: {}}]
      - when: {last: user, contains: broken}
        error: {code: bad_request, message: the model refused}
      - when: {last: tool}
        text: "The tools said: {{tool_result}}."
      - text: "You said: {{input}}"
  backup:
    provider: scripted
    script:
      - text: "backup answers {{input}}"
  flaky:
    provider: scripted
    max_retries: 1
    script:
      - error: {code: unavailable, message: try later}
      - text: "recovered"
  stubborn:
    provider: scripted
    max_retries: 0
    script:
      - error: {code: bad_request, message: not now}
      - text: "second time lucky"
  slow:
    provider: scripted
    script:
      - {delay: 5, text: "too late"}

prompts:
  main:
    content: "You help {{user}}."
    variables:
      user: {type: string, default: someone}

skills:
  add: {python: "tools:add"}
  roll: {python: "tools:roll"}
  clock: {python: "tools:clock"}
  boom: {python: "tools:boom"}

agents:
  lab:
    model: rules
    prompt: main
    skills: [add, roll, clock, boom]
    max_turns: 3
  guarded:
    model: rules
    prompt: main
    skills: [add]
    token_budget: 12
  primary:
    model: rules
    prompt: main
    on_error: fallback
    fallback: secondary
  secondary:
    model: backup
    prompt: main
  flaky:
    model: flaky
    prompt: main
  stubborn:
    model: stubborn
    prompt: main
    on_error: retry
    max_retries: 1
  slow:
    model: slow
    prompt: main
    timeout: 0.2s
"""


def write_project(root: Path, spec: str = SPEC) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "agentspec.yaml").write_text(spec)
    (root / "tools.py").write_text(TOOLS)
    return root
