"""Framework overhead benchmark (issue 2 targets). Prints a table; exits 0.

(a) build one agent with one tool: µs and KiB per agent
(b) one complete run (scripted model asks add(2,3), the tool runs, the model answers 5):
    µs per run with the in-memory store and with SQLite (events durable before returning)
(c) 1,000 such runs concurrently on one event loop: runs/s and peak RSS
(d) latency of turn 50 vs turn 1 in a 50-turn session with a sliding window
(e) ``import agentspec`` time (fresh interpreter, best of 5)

Usage: python benchmarks/overhead.py [--quick]
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

QUICK = "--quick" in sys.argv
SCRIPT = [
    {"when": {"last": "user"}, "tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]},
    {"when": {"last": "tool"}, "text": "{{tool_result}}"},
]
TARGETS = {
    "a_us": 8.0,
    "a_kib": 2.0,
    "b_mem_us": 100.0,
    "b_sqlite_us": 400.0,
    "c_runs_s": 10_000.0,
    "d_ratio": 1.2,
    "e_s": 0.15,
}


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def make_agent(agentspec: object) -> object:
    return agentspec.Agent(  # type: ignore[attr-defined]
        "calc",
        instructions="You add numbers.",
        model={"provider": "scripted", "script": SCRIPT},
        tools=[ADD_TOOL],
    )


def bench_build() -> tuple[float, float]:
    import agentspec

    n = 20_000 if not QUICK else 2_000
    for _ in range(1000):
        make_agent(agentspec)
    gc.collect()
    started = time.perf_counter()
    for _ in range(n):
        make_agent(agentspec)
    per_us = (time.perf_counter() - started) / n * 1e6
    tracemalloc.start()
    keep = [make_agent(agentspec) for _ in range(1000)]
    size, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del keep
    return per_us, size / 1000 / 1024


async def bench_runs(store: str, n: int, *, pause_gc: bool = False) -> float:
    import agentspec

    agent = make_agent(agentspec)
    runtime = agent.runtime(store=store)  # type: ignore[attr-defined]
    async with runtime:
        for _ in range(200):
            await runtime.run("calc", "what is 2 + 3?")
        samples = []
        if pause_gc:
            gc.collect()
            gc.disable()
        try:
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(n // 5):
                    result = await runtime.run("calc", "what is 2 + 3?")
                samples.append((time.perf_counter() - started) / (n // 5) * 1e6)
        finally:
            gc.enable()
        assert result.output == "5", result.output
    return statistics.median(samples)


async def bench_concurrent(store: str, n: int = 1000) -> tuple[float, float]:
    import agentspec

    agent = make_agent(agentspec)
    runtime = agent.runtime(store=store)  # type: ignore[attr-defined]
    async with runtime:
        await asyncio.gather(*(runtime.run("calc", "2+3") for _ in range(200)))
        best = 0.0
        for _ in range(3):
            started = time.perf_counter()
            results = await asyncio.gather(*(runtime.run("calc", "2+3") for _ in range(n)))
            best = max(best, n / (time.perf_counter() - started))
        assert all(r.output == "5" for r in results)
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return best, rss_kib / 1024


async def bench_session(store: str, turns: int = 50) -> tuple[float, float, float]:
    import agentspec

    agent = agentspec.Agent(
        "chat", instructions="Chat.", model={"provider": "scripted"}, memory={"max_messages": 20}
    )
    runtime = agent.runtime(store=store)
    reps = 20 if not QUICK else 5
    firsts: list[float] = []
    lasts: list[float] = []
    async with runtime:
        for rep in range(reps):
            session = f"bench-{rep}-{os.getpid()}"
            for turn in range(1, turns + 1):
                started = time.perf_counter()
                await runtime.run("chat", f"message {turn} " + "x" * 200, session_id=session)
                elapsed = (time.perf_counter() - started) * 1e6
                if turn == 1:
                    firsts.append(elapsed)
                elif turn == turns:
                    lasts.append(elapsed)
    first, last = statistics.median(firsts), statistics.median(lasts)
    return first, last, last / first


def bench_import() -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    times = []
    for _ in range(5):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; t=time.perf_counter(); import agentspec; "
                "print(time.perf_counter()-t)",
            ],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        times.append(float(out.stdout.strip()))
    return min(times)


def row(label: str, value: float, unit: str, target: float, lower_is_better: bool = True) -> str:
    ok = value <= target if lower_is_better else value >= target
    sign = "<=" if lower_is_better else ">="
    return f"| {label:<44} | {value:>12,.2f} {unit:<6} | {sign} {target:>9,g} | {'ok' if ok else 'MISS':<4} |"


def main() -> None:
    global ADD_TOOL
    import agentspec

    ADD_TOOL = agentspec.tool(add)
    tmp = Path(tempfile.mkdtemp(prefix="agentspec-bench-"))
    sqlite = f"sqlite:///{tmp / 'bench.db'}"
    n = 5000 if not QUICK else 500
    a_us, a_kib = bench_build()
    b_mem = asyncio.run(bench_runs("memory", n))
    b_mem_nogc = asyncio.run(bench_runs("memory", n, pause_gc=True))
    b_sql = asyncio.run(bench_runs(sqlite, n // 5))
    c_mem, rss_mem = asyncio.run(bench_concurrent("memory"))
    c_sql, rss_sql = asyncio.run(bench_concurrent(sqlite))
    d_first, d_last, d_ratio = asyncio.run(bench_session(sqlite))
    e = bench_import()
    print(
        f"agentspec {agentspec.__version__} · Python {sys.version.split()[0]} · {os.cpu_count()} cores"
    )
    print(f"| {'measure':<44} | {'value':>19} | {'target':>12} | {'':<4} |")
    print(f"|{'-' * 46}|{'-' * 21}|{'-' * 14}|{'-' * 6}|")
    print(row("(a) build one agent with one tool", a_us, "µs", TARGETS["a_us"]))
    print(row("(a) memory per agent", a_kib, "KiB", TARGETS["a_kib"]))
    print(row("(b) run add(2,3), in-memory store", b_mem, "µs", TARGETS["b_mem_us"]))
    print(row("(b) same, GC paused while measuring", b_mem_nogc, "µs", TARGETS["b_mem_us"]))
    print(row("(b) run add(2,3), SQLite store (durable)", b_sql, "µs", TARGETS["b_sqlite_us"]))
    print(row("(c) 1,000 concurrent runs, in-memory", c_mem, "runs/s", TARGETS["c_runs_s"], False))
    print(row("(c) 1,000 concurrent runs, SQLite", c_sql, "runs/s", TARGETS["c_runs_s"], False))
    print(
        f"| {'(c) peak RSS of the benchmark process':<44} | {max(rss_mem, rss_sql):>12,.1f} MiB    | {'':>12} |      |"
    )
    print(
        f"| {'(d) session turn 1 / turn 50 (SQLite)':<44} | {d_first:>8,.0f} / {d_last:,.0f} µs | {'':>12} |      |"
    )
    print(row("(d) turn 50 / turn 1", d_ratio, "x", TARGETS["d_ratio"]))
    print(row("(e) import agentspec", e, "s", TARGETS["e_s"]))


ADD_TOOL: object = None

if __name__ == "__main__":
    main()
