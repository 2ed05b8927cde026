"""Metrics observe a real Runtime's events; values are read back from the exposition text."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import agentspec
from agentspec.engine.events import Event
from agentspec.models.scripted import ScriptedModel
from agentspec.telemetry.metrics import UNKNOWN_AGENT, Metrics


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition text, keyed by (sample name, labels)."""
    payload, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(payload.decode()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


@agentspec.tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@agentspec.tool
async def boom(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"boom: {reason}")


SCRIPT = [
    {
        "when": {"contains": "fail", "last": "user"},
        "error": {"code": "bad_request", "message": "no"},
    },
    {"when": {"contains": "slow", "last": "user"}, "delay": 30, "text": "late"},
    {
        "when": {"last": "user"},
        "tool_calls": [
            {"name": "add", "arguments": {"a": 2, "b": 3}},
            {"name": "boom", "arguments": {"reason": "test"}},
        ],
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_tokens": 2,
            "cache_write_tokens": 1,
        },
    },
    {
        "when": {"last": "tool"},
        "text": "sum={{tool.add}}",
        "usage": {"input_tokens": 20, "output_tokens": 7},
    },
]


async def test_metrics_follow_a_real_runtime() -> None:
    metrics = Metrics()
    agent = agentspec.Agent(
        "calc", instructions="You add.", model=ScriptedModel(SCRIPT), tools=[add, boom], max_turns=4
    )
    async with agent.runtime(store="memory") as runtime:
        unsubscribe = runtime.add_listener(metrics.observe)
        ok = await runtime.run("calc", "2+3?")
        assert ok.status == "completed" and ok.output == "sum=5"
        failed = await runtime.run("calc", "please fail", raise_on_failure=False)
        assert failed.status == "failed"

        handle = runtime.start("calc", "slow one")
        async for event in handle:
            if event.type == "model.request":
                break
        assert value(metrics, "agentspec_active_runs") == 1.0
        handle.cancel()
        cancelled = await handle.result()
        assert cancelled.status == "cancelled"
        unsubscribe()

    m = samples(metrics)
    inv = "agentspec_invocations_total"
    assert m[(inv, frozenset({("agent", "calc"), ("status", "completed")}))] == 1.0
    assert m[(inv, frozenset({("agent", "calc"), ("status", "failed")}))] == 1.0
    assert m[(inv, frozenset({("agent", "calc"), ("status", "cancelled")}))] == 1.0

    tokens = {
        t: value(metrics, "agentspec_tokens_total", agent="calc", type=t)
        for t in ("input", "output", "cache_read", "cache_write")
    }
    assert tokens == {"input": 30.0, "output": 12.0, "cache_read": 2.0, "cache_write": 1.0}

    tool = "agentspec_tool_calls_total"
    assert value(metrics, tool, agent="calc", tool="add", status="ok") == 1.0
    assert value(metrics, tool, agent="calc", tool="boom", status="error") == 1.0
    assert value(metrics, tool, agent="calc", tool="add", status="error") is None

    assert value(metrics, "agentspec_active_runs") == 0.0
    hist = "agentspec_invocation_duration_seconds"
    assert value(metrics, f"{hist}_count", agent="calc") == 3.0
    assert value(metrics, f"{hist}_bucket", agent="calc", le="+Inf") == 3.0
    assert value(metrics, f"{hist}_bucket", agent="calc", le="0.005") is not None
    assert value(metrics, f"{hist}_bucket", agent="calc", le="120.0") == 3.0
    assert value(metrics, "agentspec_telemetry_errors_total") == 0.0


def test_registry_is_private() -> None:
    first, second = Metrics(), Metrics()  # the same names twice: no "Duplicated timeseries"
    first.rate_limited("key")
    assert value(first, "agentspec_rate_limited_total", scope="key") == 1.0
    assert value(second, "agentspec_rate_limited_total", scope="key") == 0.0
    assert REGISTRY.get_sample_value("agentspec_rate_limited_total", {"scope": "key"}) is None


def test_server_side_metrics() -> None:
    metrics = Metrics()
    metrics.rate_limited("agent")
    metrics.rate_limited("agent")
    metrics.rate_limited("tenant")  # unknown scopes do not create new series
    metrics.set_active_sessions(7)
    metrics.http_request("get", "/v1/agents/{name}", 200, 0.02)
    metrics.http_request("BREW", "", 404, 0.001)
    assert value(metrics, "agentspec_rate_limited_total", scope="agent") == 2.0
    assert value(metrics, "agentspec_rate_limited_total", scope="other") == 1.0
    assert value(metrics, "agentspec_active_sessions") == 7.0
    assert (
        value(
            metrics,
            "agentspec_http_requests_total",
            method="GET",
            route="/v1/agents/{name}",
            status="200",
        )
        == 1.0
    )
    assert (
        value(
            metrics,
            "agentspec_http_requests_total",
            method="OTHER",
            route="<unmatched>",
            status="404",
        )
        == 1.0
    )
    assert (
        value(
            metrics,
            "agentspec_http_request_duration_seconds_count",
            method="GET",
            route="/v1/agents/{name}",
        )
        == 1.0
    )


def test_openmetrics_on_request() -> None:
    payload, content_type = Metrics().render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert payload.rstrip().endswith(b"# EOF")


def test_observe_never_raises_and_counts_its_errors() -> None:
    metrics = Metrics()
    bad = Event("run_x", 1, 0.0, "model.response", {"usage": {"input_tokens": "many"}})
    metrics.observe(bad)
    metrics.observe(None)  # type: ignore[arg-type]
    assert value(metrics, "agentspec_telemetry_errors_total") == 2.0


def test_events_of_unknown_runs_and_bounded_tracking() -> None:
    metrics = Metrics(max_tracked_runs=2)
    for i in range(5):
        metrics.observe(Event(f"run_{i}", 1, 0.0, "run.started", {"agent": "a"}))
    assert value(metrics, "agentspec_active_runs") == 2.0  # only the newest two are tracked
    metrics.observe(
        Event("run_0", 2, 0.0, "run.completed", {"usage": {}, "duration_ms": 12.0, "turns": 1})
    )
    metrics.observe(
        Event("run_4", 2, 0.0, "run.failed", {"error": "timeout", "duration_ms": 5.0, "turns": 1})
    )
    assert (
        value(metrics, "agentspec_invocations_total", agent=UNKNOWN_AGENT, status="completed")
        == 1.0
    )
    assert value(metrics, "agentspec_invocations_total", agent="a", status="failed") == 1.0
    assert value(metrics, "agentspec_active_runs") == 1.0


async def test_listener_is_cheap() -> None:
    metrics = Metrics()
    event = Event("run_1", 2, 0.0, "model.text", {"turn": 1, "text": "x"})
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(10_000):
        metrics.observe(event)
    assert loop.time() - started < 1.0
