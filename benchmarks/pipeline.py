"""Pipeline orchestration overhead (issue 5, point 8). Prints numbers; exits 0.

A 100-step pipeline of scripted agents with 10-way parallelism: 10 independent chains of 10
steps, each step reading the previous step's output (``{{prev}}``), in-memory store.

* **orchestration overhead** = wall time of the pipeline run minus the wall time of the same
  100 agent runs started directly (``runtime.run`` with ``parent_run_id``, 10 chains
  concurrently, same inputs): what the pipeline layer adds (its own run and log, step events,
  scheduling, templates, child-run handles). Target: <= 10 ms in total.
* both as wall time and as CPU time of the process (``time.process_time``): on a busy machine
  the CPU figure is the steadier one.
* the same with every step sleeping 10 ms inside its model (``delay``), to show that the
  overhead does not grow when steps really wait and that the 10 chains overlap: the ideal
  wall time is then 10 layers x 10 ms = 100 ms plus the agent runs' own cost.

Usage: python benchmarks/pipeline.py [--quick]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from typing import Any

QUICK = "--quick" in sys.argv
CHAINS, LENGTH = 10, 10
TARGET_MS = 10.0


def package(delay: float) -> Any:
    from agentspec.ir.models import Package

    rule: dict[str, Any] = {"when": {"last": "user"}, "text": "ok"}
    if delay:
        rule["delay"] = delay
    steps = []
    for chain in range(CHAINS):
        for index in range(LENGTH):
            step: dict[str, Any] = {"name": f"c{chain}s{index}", "agent": "worker"}
            if index:
                step["depends_on"] = [f"c{chain}s{index - 1}"]
                step["input"] = f"next {{{{c{chain}s{index - 1}}}}}"
            else:
                step["input"] = "start {{trigger.n}}"
            steps.append(step)
    return Package.model_validate(
        {
            "name": "bench",
            "prompts": {"p": {"name": "p", "content": "Work."}},
            "agents": {
                "worker": {
                    "name": "worker",
                    "prompt": "p",
                    "model": {"provider": "scripted", "script": [rule]},
                }
            },
            "pipelines": {"wide": {"name": "wide", "steps": steps}},
        }
    )


async def direct(runtime: Any) -> tuple[float, float]:
    """The same 100 runs without the pipeline layer: 10 concurrent chains of 10."""

    async def chain() -> None:
        text = "start 1"
        for _ in range(LENGTH):
            result = await runtime.run(
                "worker", text, parent_run_id="run_bench", raise_on_failure=False
            )
            text = f"next {result.output}"

    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(chain() for _ in range(CHAINS)))
    return (time.perf_counter() - began) * 1000.0, (time.process_time() - cpu) * 1000.0


async def piped(runtime: Any) -> tuple[float, float]:
    from agentspec.engine.pipeline import run_pipeline

    began, cpu = time.perf_counter(), time.process_time()
    result = await run_pipeline(runtime, "wide", {"n": 1})
    elapsed = (time.perf_counter() - began) * 1000.0, (time.process_time() - cpu) * 1000.0
    assert result.status == "completed", result.error
    assert len(result.steps) == CHAINS * LENGTH
    return elapsed


async def measure(delay: float, rounds: int) -> tuple[float, float, float, float]:
    """Median wall and CPU ms of the direct runs and of the pipeline."""
    from agentspec.engine.runtime import Runtime
    from agentspec.engine.settings import Settings

    async with Runtime(package(delay), settings=Settings(store="memory")) as runtime:
        for _ in range(3):  # warm up: compile the agent, fill caches
            await direct(runtime)
            await piped(runtime)
        plain, pipe = [], []
        for _ in range(rounds):  # interleaved, so drift hits both alike
            plain.append(await direct(runtime))
            pipe.append(await piped(runtime))
    med = statistics.median
    return (
        med(p[0] for p in plain),
        med(p[0] for p in pipe),
        med(p[1] for p in plain),
        med(p[1] for p in pipe),
    )


def main() -> None:
    rounds = 5 if QUICK else 21
    steps = CHAINS * LENGTH
    print(
        f"{steps}-step pipeline ({CHAINS} chains x {LENGTH} steps), in-memory store, "
        f"median of {rounds}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'steps':<24}{'':>6}{'direct runs':>14}{'pipeline':>12}{'overhead':>12}{'per step':>12}"
    )
    results = {}
    for label, delay in (("instant scripted model", 0.0), ("model sleeping 10 ms", 0.01)):
        wall_plain, wall_pipe, cpu_plain, cpu_pipe = asyncio.run(measure(delay, rounds))
        for kind, plain, pipe in (("wall", wall_plain, wall_pipe), ("cpu", cpu_plain, cpu_pipe)):
            overhead = pipe - plain
            results[(delay, kind)] = overhead
            print(
                f"{label if kind == 'wall' else '':<24}{kind:>6}{plain:>11.2f} ms{pipe:>9.2f} ms"
                f"{overhead:>9.2f} ms{overhead * 1000 / steps:>9.1f} µs"
            )
    for kind in ("wall", "cpu"):
        overhead = results[(0.0, kind)]
        verdict = "OK" if overhead <= TARGET_MS else "ABOVE TARGET"
        print(
            f"orchestration overhead ({kind} time, instant model): {overhead:.2f} ms total "
            f"(target <= {TARGET_MS:g} ms): {verdict}"
        )
    print(
        f"with 10 ms steps the ideal wall time is {LENGTH * 10} ms ({LENGTH} layers) plus the "
        "runs' own cost (the direct column)"
    )


if __name__ == "__main__":
    main()
