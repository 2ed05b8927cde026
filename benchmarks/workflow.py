"""Workflow executor overhead (issue 5 target: <= 20 µs per node transition).

A 1,000-node chain of deterministic nodes (START -> 998 LINEAR -> EXIT, each a Python
function that returns its input) runs as one workflow run on the in-memory store. Each
transition emits ``node.started`` and ``node.completed``. Prints µs per transition (median of
the repeats, run.started/run.completed and the flush included) and exits 0; ``--check`` exits
1 when the target is missed.

Usage: python benchmarks/workflow.py [--quick] [--check]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

from agentspec.engine.runtime import Runtime
from agentspec.engine.settings import Settings
from agentspec.engine.workflow import WorkflowRunner
from agentspec.ir.check import check_package
from agentspec.ir.models import Package
from agentspec.ir.workflow import Workflow, WorkflowNode

NODES = 1000
TARGET_US = 20.0


def identity(data: Any) -> Any:
    return data


def chain(count: int) -> Workflow:
    nodes = [WorkflowNode(name="n0", role="start", function="bench:identity", next="n1")]
    for index in range(1, count - 1):
        nodes.append(
            WorkflowNode(
                name=f"n{index}", role="linear", function="bench:identity", next=f"n{index + 1}"
            )
        )
    nodes.append(WorkflowNode(name=f"n{count - 1}", role="exit", function="bench:identity"))
    return Workflow(name="chain", nodes=tuple(nodes))


async def main() -> float:
    repeats = 5 if "--quick" in sys.argv else 30
    workflow = chain(NODES)
    package = Package(name="bench", workflows={"chain": workflow})
    assert not check_package(package), check_package(package)
    async with Runtime(package, settings=Settings(store="memory")) as runtime:
        runner = WorkflowRunner(runtime, workflow, functions={"bench:identity": identity})
        timings: list[float] = []
        for _ in range(repeats + 2):
            started = time.perf_counter()
            result = await runtime.run_flow("workflow", "chain", {"x": 1}, runner.body({"x": 1}))
            timings.append(time.perf_counter() - started)
            assert result.status == "completed", result.error_message
        events = await runtime.get_events(result.run_id)
        assert len(events) == 2 * NODES + 3, len(
            events
        )  # + run.started, task.exited, run.completed
    per_transition = statistics.median(timings[2:]) / NODES * 1e6
    best = min(timings[2:]) / NODES * 1e6
    print(f"workflow chain of {NODES} deterministic nodes (in-memory store)")
    print(
        f"  µs per transition: {per_transition:.2f} median, {best:.2f} best (target <= {TARGET_US:g})"
    )
    return per_transition


if __name__ == "__main__":
    value = asyncio.run(main())
    if "--check" in sys.argv and value > TARGET_US:
        sys.exit(1)
