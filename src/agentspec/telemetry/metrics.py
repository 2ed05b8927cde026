"""Prometheus metrics for the server and its runs.

:class:`Metrics` owns its own :class:`~prometheus_client.CollectorRegistry` (never the global
one), so several apps or tests in one process never collide. It learns about runs only by
observing events (``runtime.add_listener(metrics.observe)``): it can never change a run, and
:meth:`Metrics.observe` never raises.

Series (label values are bounded: agent and tool names come from the package, HTTP routes are
route *templates*, never raw paths):

- ``agentspec_invocations_total{agent,status}`` -- status ``completed|failed|cancelled``
- ``agentspec_invocation_duration_seconds{agent}`` -- histogram, 5 ms to 120 s
- ``agentspec_tokens_total{agent,type}`` -- type ``input|output|cache_read|cache_write``
- ``agentspec_tool_calls_total{agent,tool,status}`` -- status ``ok|error``
- ``agentspec_active_runs`` / ``agentspec_active_sessions`` -- gauges
- ``agentspec_http_requests_total{method,route,status}`` and
  ``agentspec_http_request_duration_seconds{method,route}``
- ``agentspec_rate_limited_total{scope}`` -- scope ``key|agent|auth_failures``
- ``agentspec_telemetry_errors_total`` -- events telemetry failed to record (a bug, not a run's)
"""

from __future__ import annotations

import contextlib
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from agentspec.engine import events as ev

UNMATCHED_ROUTE: Final = "<unmatched>"
"""The ``route`` label of requests that matched no route (404s, redirects, rejected early)."""

UNKNOWN_AGENT: Final = "<unknown>"
"""The ``agent`` label of events whose run started before the listener was added."""

DURATION_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    20.0,
    30.0,
    60.0,
    120.0,
)
"""Seconds. Runs span a cached scripted answer (ms) to a long tool-using run (minutes)."""

HTTP_BUCKETS: Final = (0.001, 0.0025, *DURATION_BUCKETS)
"""Seconds. Like :data:`DURATION_BUCKETS`, plus finer buckets for cheap endpoints."""

MAX_TRACKED_RUNS: Final = 10_000
"""Runs in flight whose agent is remembered; beyond this the oldest are forgotten."""

_TOKEN_TYPES: Final = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cache_read_tokens"),
    ("cache_write", "cache_write_tokens"),
)
_RATE_SCOPES: Final = frozenset({"key", "agent", "auth_failures"})
_HTTP_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)


class Metrics:
    """The server's metrics, in a registry of their own. See the module docstring.

    Example:
        ```python
        metrics = Metrics()
        unsubscribe = runtime.add_listener(metrics.observe)
        payload, content_type = metrics.render()
        ```
    """

    def __init__(self, *, max_tracked_runs: int = MAX_TRACKED_RUNS) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._max_runs = max(1, max_tracked_runs)
        self._runs: dict[str, str] = {}  # run_id -> agent, for runs in flight
        r = self.registry
        self.invocations = Counter(
            "agentspec_invocations_total",
            "Agent runs that finished, by agent and final status.",
            ["agent", "status"],
            registry=r,
        )
        self.invocation_duration = Histogram(
            "agentspec_invocation_duration_seconds",
            "Wall-clock duration of finished agent runs.",
            ["agent"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "agentspec_tokens_total",
            "Model tokens used, by agent and token type.",
            ["agent", "type"],
            registry=r,
        )
        self.tool_calls = Counter(
            "agentspec_tool_calls_total",
            "Tool calls that returned, by agent, tool and outcome.",
            ["agent", "tool", "status"],
            registry=r,
        )
        self.active_runs = Gauge(
            "agentspec_active_runs", "Agent runs currently in flight.", registry=r
        )
        self.active_sessions = Gauge(
            "agentspec_active_sessions", "Sessions the server currently holds.", registry=r
        )
        self.http_requests = Counter(
            "agentspec_http_requests_total",
            "HTTP requests served, by method, route template and status code.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "agentspec_http_request_duration_seconds",
            "HTTP request duration until the response body completed.",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.rate_limits = Counter(
            "agentspec_rate_limited_total",
            "Requests rejected by a rate limit, by limit scope.",
            ["scope"],
            registry=r,
        )
        self.telemetry_errors = Counter(
            "agentspec_telemetry_errors_total",
            "Events or requests that telemetry failed to record (a telemetry bug).",
            registry=r,
        )
        for scope in sorted(_RATE_SCOPES):
            self.rate_limits.labels(scope)  # export zeros so dashboards see the series

    # ------------------------------------------------------------------ runs
    def observe(self, event: ev.Event) -> None:
        """Record one run event. A runtime listener: O(1), never raises."""
        try:
            self._observe(event)
        except Exception:
            self._internal_error()

    def _observe(self, event: ev.Event) -> None:
        kind = event.type
        data = event.data
        if kind == ev.RUN_STARTED:
            runs = self._runs
            runs[event.run_id] = str(data.get("agent") or UNKNOWN_AGENT)
            while len(runs) > self._max_runs:
                del runs[next(iter(runs))]
            self.active_runs.set(len(runs))
        elif kind == ev.MODEL_RESPONSE:
            usage = data.get("usage") or {}
            agent = self._runs.get(event.run_id, UNKNOWN_AGENT)
            for label, key in _TOKEN_TYPES:
                count = usage.get(key) or 0
                if count > 0:
                    self.tokens.labels(agent, label).inc(count)
        elif kind == ev.TOOL_RESULT:
            agent = self._runs.get(event.run_id, UNKNOWN_AGENT)
            status = "error" if data.get("error") else "ok"
            self.tool_calls.labels(agent, str(data.get("name") or ""), status).inc()
        elif kind in ev.TERMINAL:
            agent = self._runs.pop(event.run_id, UNKNOWN_AGENT)
            self.active_runs.set(len(self._runs))
            if kind == ev.RUN_COMPLETED:
                status = "completed"
            elif data.get("error") == "cancelled":
                status = "cancelled"
            else:
                status = "failed"
            self.invocations.labels(agent, status).inc()
            duration_ms = data.get("duration_ms")
            if duration_ms is not None:
                self.invocation_duration.labels(agent).observe(float(duration_ms) / 1000.0)

    # ------------------------------------------------------------------ server
    def http_request(self, method: str, route_template: str, status: int, seconds: float) -> None:
        """Record one finished HTTP request. ``route_template`` is e.g. ``/v1/agents/{name}``.

        Unknown methods are recorded as ``OTHER`` so clients cannot grow the label set.
        """
        try:
            method = method.upper()
            if method not in _HTTP_METHODS:
                method = "OTHER"
            route = route_template or UNMATCHED_ROUTE
            self.http_requests.labels(method, route, str(int(status))).inc()
            self.http_duration.labels(method, route).observe(max(0.0, seconds))
        except Exception:
            self._internal_error()

    def rate_limited(self, scope: str) -> None:
        """Count one request rejected by a rate limit: ``key``, ``agent`` or ``auth_failures``."""
        try:
            self.rate_limits.labels(scope if scope in _RATE_SCOPES else "other").inc()
        except Exception:
            self._internal_error()

    def set_active_sessions(self, n: int) -> None:
        """Set the ``agentspec_active_sessions`` gauge (the server knows its sessions)."""
        try:
            self.active_sessions.set(max(0, n))
        except Exception:
            self._internal_error()

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition payload and its content type.

        ``accept`` is the scraper's ``Accept`` header: Prometheus text format by default,
        OpenMetrics when asked for.
        """
        encoder, content_type = choose_encoder(accept or "")
        payload: bytes = encoder(self.registry)
        return payload, str(content_type)

    # ------------------------------------------------------------------ internals
    def _internal_error(self) -> None:
        with contextlib.suppress(Exception):  # the counter itself failed: nothing left to do
            self.telemetry_errors.inc()
