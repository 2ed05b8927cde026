"""Structured logs: JSON lines (or console text), request/run ids from context, secrets masked.

Usage:
    ```python
    configure_logging(json=True, level="info", redact=runtime.secrets.redact)
    log = get_logger("agentspec.server")
    with bind_context(request_id="req_1"):
        log.info("invoke", agent="assistant")
    runtime.add_listener(RunLogger())
    ```

Every record -- structlog's and the standard library's (uvicorn's loggers included) -- goes
through one handler on the root logger, so all lines share one format and one redaction step.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Final, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from agentspec.engine import events as ev

request_id_var: ContextVar[str] = ContextVar("agentspec_request_id", default="")
"""The current HTTP request's id ("" outside a request); the server's middleware sets it."""

run_id_var: ContextVar[str] = ContextVar("agentspec_run_id", default="")
"""The current run's id ("" when none), for code that logs on behalf of one run."""

MASK: Final = "***"
_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_SENSITIVE_KEYS: Final = frozenset(
    {
        "authorization",
        "proxy_authorization",
        "x_api_key",
        "api_key",
        "apikey",
        "password",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "cookie",
        "set_cookie",
    }
)
_CREDENTIAL_PATTERNS: Final = (
    # "Authorization: Bearer abc", "x-api-key=abc", "'Authorization': 'Basic abc'"
    re.compile(
        r"(?i)((?:proxy-)?authorization|x-api-key)(['\"]?\s*[:=]\s*['\"]?)"
        r"(?:(?:bearer|basic|token)\s+)?[^\s'\",;]+"
    ),
    re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=-]{8,}"),
)
_TOKEN_PATTERN: Final = re.compile(r"\b(?:sk-|ask_)[A-Za-z0-9_-]{16,}")
_MAX_DEPTH: Final = 6
_HANDLER_MARK: Final = "_agentspec_handler"
_UVICORN_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access")


def mask_credentials(text: str) -> str:
    """Mask obvious credentials: ``Authorization``/``X-API-Key`` values, bearer tokens, and
    ``sk-...`` / ``ask_...`` keys."""
    if "sk-" in text or "ask_" in text:
        text = _TOKEN_PATTERN.sub(MASK, text)
    lowered = text.lower()
    if "authorization" in lowered or "api-key" in lowered or "bearer" in lowered:
        for pattern in _CREDENTIAL_PATTERNS:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return text


class Redactor:
    """A structlog processor masking secrets in every string value (nested ones included).

    ``redact`` (typically :meth:`SecretResolver.redact`) runs first, then
    :func:`mask_credentials`. Values under sensitive keys (``authorization``, ``api_key``,
    ``password``, ...) are masked whole. A failing ``redact`` callable masks the value rather
    than leak it.
    """

    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        self.redact = redact

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        return {key: self._value(key, value, 0) for key, value in event_dict.items()}

    def _value(self, key: Any, value: Any, depth: int) -> Any:
        if isinstance(key, str) and _sensitive(key) and value not in (None, ""):
            return MASK
        if isinstance(value, str):
            return self._text(value)
        if depth >= _MAX_DEPTH:
            return value
        if isinstance(value, Mapping):
            return {k: self._value(k, v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(None, v, depth + 1) for v in value]
        if isinstance(value, tuple):
            return tuple(self._value(None, v, depth + 1) for v in value)
        return value

    def _text(self, text: str) -> str:
        if self.redact is not None:
            try:
                text = self.redact(text)
            except Exception:
                return MASK
        return mask_credentials(text)


def _sensitive(key: str) -> bool:
    return key.lower().replace("-", "_") in _SENSITIVE_KEYS


def add_context_ids(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Add ``request_id`` / ``run_id`` from :data:`request_id_var` / :data:`run_id_var`."""
    request_id = request_id_var.get()
    if request_id:
        event_dict.setdefault("request_id", request_id)
    run_id = run_id_var.get()
    if run_id:
        event_dict.setdefault("run_id", run_id)
    return event_dict


@contextlib.contextmanager
def bind_context(*, request_id: str | None = None, run_id: str | None = None) -> Iterator[None]:
    """Set :data:`request_id_var` / :data:`run_id_var` (those given) for the block; the
    previous values come back afterwards."""
    tokens = []
    if request_id is not None:
        tokens.append((request_id_var, request_id_var.set(request_id)))
    if run_id is not None:
        tokens.append((run_id_var, run_id_var.set(run_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def configure_logging(
    json: bool = True,
    level: str = "info",
    redact: Callable[[str], str] | None = None,
    *,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route structlog and the standard library (uvicorn included) to one redacting handler.

    Args:
        json: JSON lines (``timestamp`` ISO-8601 UTC, ``level``, ``event``, ``logger``, ...);
            false renders human-readable console lines.
        level: ``debug|info|warning|error|critical``.
        redact: masks known secret values (e.g. ``SecretResolver.redact``).
        stream: where lines go (default: standard error).

    Standard-library records keep their ``extra={...}`` fields. Calling it again replaces the handler it installed before; other root handlers are kept.
    uvicorn's own handlers are removed so its records propagate here: start uvicorn with
    ``log_config=None`` so it does not install them again. Returns the installed handler.
    """
    numeric = _LEVELS.get(level.lower())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(sorted(_LEVELS))}")
    out = stream if stream is not None else sys.stderr
    shared: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        add_context_ids,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: Processor
    if json:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=_isatty(out))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), _drop_color_message, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                Redactor(redact),
                renderer,
            ],
        )
    )
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    return handler


def _drop_color_message(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """uvicorn passes an ANSI-coloured copy of its message as ``extra``: not worth a field."""
    event_dict.pop("color_message", None)
    return event_dict


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:
        return False


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger named ``name`` (the ``logger`` field of its lines)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


class RunLogger:
    """A runtime listener logging run starts and ends, and tool errors. Never raises.

    ``run.started``/``run.completed`` at info, ``run.failed`` and failed tool calls at warning,
    each with ``run_id``, ``agent`` and (at the end) duration and token counts. Other events are
    ignored at the cost of one set lookup.
    """

    _TYPES: Final = frozenset({ev.RUN_STARTED, ev.RUN_COMPLETED, ev.RUN_FAILED, ev.TOOL_RESULT})

    def __init__(self, logger: Any = None, *, max_tracked_runs: int = 10_000) -> None:
        self.log = logger if logger is not None else get_logger("agentspec.runs")
        self._max_runs = max(1, max_tracked_runs)
        self._agents: dict[str, str] = {}

    def __call__(self, event: ev.Event) -> None:
        if event.type not in self._TYPES:
            return
        with contextlib.suppress(Exception):  # logging must never break a run
            self._log(event)

    def _log(self, event: ev.Event) -> None:
        data = event.data
        run_id = event.run_id
        if event.type == ev.RUN_STARTED:
            agent = str(data.get("agent", ""))
            self._agents[run_id] = agent
            while len(self._agents) > self._max_runs:
                del self._agents[next(iter(self._agents))]
            extra = {"session_id": data["session_id"]} if data.get("session_id") else {}
            if data.get("parent_run_id"):
                extra["parent_run_id"] = data["parent_run_id"]
            self.log.debug(
                "run.started", run_id=run_id, agent=agent, model=data.get("model"), **extra
            )
        elif event.type == ev.TOOL_RESULT:
            if data.get("error"):
                self.log.warning(
                    "tool.error",
                    run_id=run_id,
                    agent=self._agents.get(run_id, ""),
                    tool=data.get("name"),
                    error=data.get("error"),
                    duration_ms=data.get("duration_ms"),
                )
        else:
            agent = self._agents.pop(run_id, "")
            usage = data.get("usage") or {}
            fields = {
                "run_id": run_id,
                "agent": agent,
                "duration_ms": data.get("duration_ms"),
                "turns": data.get("turns"),
                "input_tokens": usage.get("input_tokens", 0),
                "output_tokens": usage.get("output_tokens", 0),
            }
            if event.type == ev.RUN_COMPLETED:
                self.log.info("run.completed", **fields)
            else:
                self.log.warning(
                    "run.failed", error=data.get("error"), message=data.get("message"), **fields
                )
