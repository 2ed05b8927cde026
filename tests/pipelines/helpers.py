"""Shared helpers of the pipeline tests: write a YAML project, load it, run a pipeline."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from agentspec.engine.events import Event
from agentspec.engine.pipeline import PipelineResult, run_pipeline
from agentspec.engine.runtime import Runtime
from agentspec.engine.settings import Settings
from agentspec.ir.models import Package
from agentspec.lang.project import load

# Scripted agents: "fast" answers at once; "slow" sleeps 0.3 s; "boom" fails after 0.05 s;
# "json" answers a JSON object. Rules mode (`when`), so one model serves any number of runs. Every answer quotes the input so data flow is visible.
AGENTS = """\
package: pipes
models:
  fast: {provider: scripted, script: [{when: {last: user}, text: "fast({{input}})"}]}
  slow: {provider: scripted, script: [{when: {last: user}, delay: 0.3, text: "slow({{input}})"}]}
  sleepy: {provider: scripted, script: [{when: {last: user}, delay: 2, text: "late"}]}
  boom:
    provider: scripted
    script: [{when: {last: user}, delay: 0.05, error: {code: bad_request, message: analyst exploded}}]
  json: {provider: scripted, script: [{when: {last: user}, text: '{"verdict": "ok", "score": 7}'}]}
agents:
  fast: {model: fast, instructions: Be fast.}
  slow: {model: slow, instructions: Be slow.}
  slow2: {model: slow, instructions: Be slow too.}
  sleepy: {model: sleepy, instructions: Be very slow.}
  boom: {model: boom, instructions: Fail.}
  json: {model: json, instructions: Answer JSON.}
"""


def write_project(root: Path, pipelines: str, agents: str = AGENTS) -> Path:
    """A YAML project in ``root``: the scripted agents above plus ``pipelines`` (YAML text)."""
    root.mkdir(parents=True, exist_ok=True)
    text = agents + "pipelines:\n" + textwrap.indent(textwrap.dedent(pipelines), "  ")
    (root / "agentspec.yaml").write_text(text)
    return root


def load_package(root: Path) -> Package:
    return load(root).package


async def run(
    package: Package, name: str, trigger: dict[str, Any] | None = None, store: str = "memory"
) -> tuple[PipelineResult, list[Event], Runtime]:
    """Run a pipeline on a fresh runtime; the runtime is returned closed (its store too)."""
    events: list[Event] = []
    runtime = Runtime(package, settings=Settings(store=store))
    async with runtime:
        result = await run_pipeline(runtime, name, trigger or {}, listener=events.append)
    return result, events, runtime


def steps_of(events: list[Event], kind: str) -> list[str]:
    return [e.data["step"] for e in events if e.type == kind]
