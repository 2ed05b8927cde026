"""Structured logging: JSON lines, context ids, secret redaction, stdlib routing, RunLogger."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import structlog

import agentspec
from agentspec.models.scripted import ScriptedModel
from agentspec.telemetry.logging import (
    RunLogger,
    bind_context,
    configure_logging,
    get_logger,
    mask_credentials,
    request_id_var,
    run_id_var,
)

OPENAI_KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2
API_KEY = "ask_" + "0123456789abcdef" * 2


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    uvicorn = {
        name: (list(lg.handlers), lg.propagate, lg.level)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        for lg in [logging.getLogger(name)]
    }
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, (old, propagate, lvl) in uvicorn.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = old
        lg.propagate = propagate
        lg.setLevel(lvl)
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def configured(**options: Any) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(stream=stream, **options)
    return stream


def test_json_lines_have_the_standard_fields() -> None:
    stream = configured()
    get_logger("agentspec.test").info("hello", agent="calc", n=3)
    (line,) = lines(stream)
    assert line["event"] == "hello"
    assert line["level"] == "info"
    assert line["logger"] == "agentspec.test"
    assert line["agent"] == "calc" and line["n"] == 3
    stamp = datetime.fromisoformat(line["timestamp"])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0
    assert "request_id" not in line and "run_id" not in line


def test_level_filters_structlog_and_stdlib() -> None:
    stream = configured(level="warning")
    log = get_logger("agentspec.test")
    log.info("quiet")
    logging.getLogger("somelib").info("quiet too")
    log.warning("loud")
    assert [line["event"] for line in lines(stream)] == ["loud"]


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level 'chatty'"):
        configure_logging(level="chatty")


def test_reconfiguring_replaces_the_handler() -> None:
    configured()
    stream = configured()
    get_logger("x").info("once")
    assert len(lines(stream)) == 1
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_agentspec_handler", False)]
    assert len(ours) == 1


async def test_request_and_run_ids_come_from_context() -> None:
    stream = configured()
    log = get_logger("agentspec.server")
    token = request_id_var.set("req_1")
    try:
        log.info("plain")
        with bind_context(run_id="run_9"):
            log.info("in run")

            async def child() -> None:
                log.info("in task")

            await asyncio.get_running_loop().create_task(child())
        log.info("after run", run_id="explicit")
    finally:
        request_id_var.reset(token)
    log.info("outside")
    got = [(x["event"], x.get("request_id"), x.get("run_id")) for x in lines(stream)]
    assert got == [
        ("plain", "req_1", None),
        ("in run", "req_1", "run_9"),
        ("in task", "req_1", "run_9"),
        ("after run", "req_1", "explicit"),
        ("outside", None, None),
    ]
    assert run_id_var.get() == ""


def test_secrets_are_redacted_everywhere() -> None:
    stream = configured(redact=lambda text: text.replace("hunter2", "***"))
    log = get_logger("agentspec.test")
    log.info(
        "calling with hunter2",
        detail="password is hunter2, really",
        headers={"Authorization": "Bearer abc.def.ghi", "X-API-Key": API_KEY, "Accept": "*/*"},
        raw="Authorization: Bearer zzzzzzzzzzzz",
        nested=[{"note": f"key {OPENAI_KEY} leaked"}, ("bearer tok_0123456789",)],
        api_key="plain-value",
        input_tokens=12,
    )
    (line,) = lines(stream)
    text = json.dumps(line)
    for secret in ("hunter2", "abc.def.ghi", API_KEY, "zzzzzzzzzzzz", OPENAI_KEY, "plain-value"):
        assert secret not in text
    assert line["event"] == "calling with ***"
    assert line["detail"] == "password is ***, really"
    assert line["headers"] == {"Authorization": "***", "X-API-Key": "***", "Accept": "*/*"}
    assert line["raw"] == "Authorization: ***"
    assert line["nested"] == [{"note": "key *** leaked"}, ["bearer ***"]]
    assert line["api_key"] == "***"
    assert line["input_tokens"] == 12


def test_mask_credentials_leaves_ordinary_text_alone() -> None:
    for text in (
        "task_0123456789abcdefghij done",
        "disk-0123456789abcdefghij",
        "authorization failed for this key",
        "input_tokens=12",
    ):
        assert mask_credentials(text) == text
    assert mask_credentials(f'{{"x-api-key": "{API_KEY}"}}') == '{"x-api-key": "***"}'


def test_a_failing_redact_callable_masks_rather_than_leaks() -> None:
    def broken(text: str) -> str:
        raise RuntimeError("nope")

    stream = configured(redact=broken)
    get_logger("x").info("secret-ish", value="something")
    (line,) = lines(stream)
    assert line["event"] == "***" and line["value"] == "***"


def test_stdlib_and_uvicorn_loggers_are_routed() -> None:
    stray = logging.StreamHandler(io.StringIO())
    logging.getLogger("uvicorn.error").addHandler(stray)
    logging.getLogger("uvicorn.error").propagate = False
    stream = configured(redact=lambda text: text.replace("hunter2", "***"))
    logging.getLogger("uvicorn.error").warning("started on %s with %s", "port 8080", "hunter2")
    logging.getLogger("uvicorn.access").info(
        '127.0.0.1 - "GET /v1/health HTTP/1.1" 200',
        extra={"color_message": "\x1b[1mGET\x1b[0m", "status": 200},
    )
    try:
        raise ValueError(f"bad key {OPENAI_KEY}")
    except ValueError:
        logging.getLogger("somelib").exception("failed")
    got = lines(stream)
    assert got[0]["logger"] == "uvicorn.error"
    assert got[0]["level"] == "warning"
    assert got[0]["event"] == "started on port 8080 with ***"
    assert "timestamp" in got[0]
    assert got[1]["logger"] == "uvicorn.access" and got[1]["level"] == "info"
    assert got[1]["status"] == 200 and "color_message" not in got[1]
    assert got[2]["event"] == "failed" and got[2]["level"] == "error"
    assert "ValueError: bad key ***" in got[2]["exception"]
    assert OPENAI_KEY not in stream.getvalue()
    assert stray not in logging.getLogger("uvicorn.error").handlers


def test_console_rendering() -> None:
    stream = configured(json=False)
    with bind_context(request_id="req_7"):
        get_logger("agentspec.test").warning("careful", token="t0ps3cret")
    out = stream.getvalue()
    assert "careful" in out and "req_7" in out and "warning" in out
    assert "t0ps3cret" not in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.splitlines()[0])


@agentspec.tool
async def fragile(x: int) -> int:
    """Fails."""
    raise RuntimeError("broken tool")


async def test_run_logger_logs_run_lifecycle() -> None:
    stream = configured(level="debug")
    model = ScriptedModel(
        [
            {"when": {"contains": "fail", "last": "user"}, "error": {"code": "bad_request"}},
            {
                "when": {"last": "user"},
                "tool_calls": [{"name": "fragile", "arguments": {"x": 1}}],
                "usage": {"input_tokens": 11, "output_tokens": 4},
            },
            {
                "when": {"last": "tool"},
                "text": "ok",
                "usage": {"input_tokens": 9, "output_tokens": 2},
            },
        ]
    )
    agent = agentspec.Agent("worker", instructions="Work.", model=model, tools=[fragile])
    async with agent.runtime(store="memory") as runtime:
        runtime.add_listener(RunLogger())
        ok = await runtime.run("worker", "go")
        failed = await runtime.run("worker", "fail now", raise_on_failure=False)
    got = [x for x in lines(stream) if x["logger"] == "agentspec.runs"]
    assert [(x["event"], x["level"]) for x in got] == [
        ("run.started", "debug"),
        ("tool.error", "warning"),
        ("run.completed", "info"),
        ("run.started", "debug"),
        ("run.failed", "warning"),
    ]
    started, tool, completed, _, fail = got
    assert started["run_id"] == ok.run_id and started["agent"] == "worker"
    assert tool["tool"] == "fragile" and tool["agent"] == "worker" and tool["error"]
    assert completed["input_tokens"] == 20 and completed["output_tokens"] == 6
    assert completed["duration_ms"] >= 0 and completed["turns"] == 2
    assert fail["run_id"] == failed.run_id and fail["error"] == failed.error
    assert fail["agent"] == "worker"


def test_run_logger_never_raises() -> None:
    class Exploding:
        def info(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("logger down")

        debug = info

    listener = RunLogger(Exploding())
    listener(agentspec.Event("run_1", 1, 0.0, "run.started", {"agent": "a"}))
    listener(agentspec.Event("run_1", 2, 0.0, "model.text", {"text": "x"}))
