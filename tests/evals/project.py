"""A YAML project for eval tests: JSON answers, tools, failures, a concurrency probe."""

from __future__ import annotations

from pathlib import Path

TOOLS = '''
import asyncio

import agentspec

ACTIVE = [0, 0]


@agentspec.tool
async def lookup(city: str) -> dict:
    """Weather for a city."""
    return {"city": city, "temp": 21}


@agentspec.tool
async def probe() -> int:
    """How many probes ran at once (at most)."""
    ACTIVE[0] += 1
    ACTIVE[1] = max(ACTIVE[1], ACTIVE[0])
    await asyncio.sleep(0.2)
    ACTIVE[0] -= 1
    return ACTIVE[1]
'''

SPEC = """
package: evallab
models:
  lab:
    provider: scripted
    script:
      - when: {last: user, regex: 'weather in (\\w+)'}
        tool_calls: [{name: lookup, arguments: {city: "{{1}}"}}]
      - when: {last: user, contains: probe}
        tool_calls: [{name: probe, arguments: {}}]
      - when: {last: tool, tool: probe}
        text: "max {{tool.probe}}"
      - when: {last: tool}
        text: '{{tool_result}}'
      - when: {last: user, contains: json}
        text: '{"answer": 42, "unit": "none"}'
      - when: {last: user, contains: crash}
        error: {code: bad_request, message: cannot answer that}
      - text: "You said: {{input}}"
prompts:
  main: {content: "Help {{who}}."}
  strict: {content: "Help {{name}}."}
skills:
  lookup: {python: "tools:lookup"}
  probe: {python: "tools:probe"}
agents:
  helper:
    model: lab
    prompt: main
    skills: [lookup, probe]
    variables: {who: everyone}
  other:
    model: lab
    prompt: strict
"""


def write_project(root: Path, cases: str = "", spec: str = SPEC) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "agentspec.yaml").write_text(spec)
    (root / "tools.py").write_text(TOOLS)
    if cases:
        (root / "evals").mkdir(exist_ok=True)
        (root / "evals" / "cases.yaml").write_text(cases)
    return root
