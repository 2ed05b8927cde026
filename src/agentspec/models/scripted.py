"""The ``scripted`` model: deterministic responses for demos, tests and offline runs.

A script is a list of steps. Each step may give:

- ``text``: the answer (``{{input}}``, ``{{tool_result}}``, regex groups ``{{1}}``/``{{name}}``
  are substituted); ``chunks``: explicit streamed deltas instead of splitting ``text``;
- ``tool_calls``: ``[{name, arguments, id?}]`` (string argument values are templated too);
  ``{name, raw_arguments: "..."}`` sends arguments that are not JSON (for testing);
- ``usage``: ``{input_tokens, output_tokens, cache_read_tokens, cache_write_tokens}``
  (default: an estimate of 1 token per 4 characters);
- ``error``: ``{code: rate_limit|timeout|unavailable|auth|bad_request, message, retry_after}``
  raises that provider error; ``delay``: seconds to wait first.

**Rules mode** (any step has ``when``): every call picks the first step whose ``when`` matches:
``last: user|tool`` (role of the last message), ``contains: "text"`` and ``regex: "..."``
(tested on the latest user message), ``tool: name`` or ``[names]`` (the latest tool results
include these tools; their outputs are ``{{tool.NAME}}``). Steps without ``when`` match anything. No match is an
error. Rules are stateless, so one model serves any number of concurrent runs.

**Sequence mode** (no ``when``): call *n* gets step *n*; ``expect: {contains, last, tools}``
asserts what the call looks like. Calling past the end, or a failed expectation, raises
:class:`~agentspec.exceptions.ScriptMismatch`.

With no script at all the model echoes the latest user message (a demo model).
A Python callable ``fn(request) -> str | dict | ModelResponse`` may be given instead of a script.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from agentspec._template import render
from agentspec.exceptions import (
    ModelAuthError,
    ModelBadRequest,
    ModelError,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
    ScriptMismatch,
)
from agentspec.models.base import (
    Message,
    Model,
    ModelRequest,
    ModelResponse,
    StreamItem,
    TextDelta,
    ToolCall,
    Usage,
)

ScriptFn = Callable[[ModelRequest], "str | dict[str, Any] | ModelResponse"]
_ERRORS: dict[str, type[ModelError]] = {
    "rate_limit": ModelRateLimited,
    "rate_limited": ModelRateLimited,
    "timeout": ModelTimeout,
    "unavailable": ModelUnavailable,
    "auth": ModelAuthError,
    "unauthorized": ModelAuthError,
    "bad_request": ModelBadRequest,
}
_WORDS = re.compile(r"\S+\s*|\s+")
_STEP_KEYS = frozenset(
    {"when", "text", "chunks", "tool_calls", "usage", "error", "delay", "expect", "stop_reason"}
)


def _blank(name: str) -> str:
    return ""


def _last(messages: Sequence[Message], role: str) -> Message | None:
    for message in reversed(messages):
        if message.role == role:
            return message
    return None


def _trailing_tools(messages: Sequence[Message]) -> list[Message]:
    """The tool results that answer the latest assistant turn, in order."""
    found: list[Message] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        found.append(message)
    found.reverse()
    return found


class _Rule:
    __slots__ = ("contains", "last", "regex", "step", "tools")

    def __init__(self, step: dict[str, Any]) -> None:
        when = step.get("when") or {}
        unknown = set(when) - {"last", "contains", "regex", "tool"}
        if unknown:
            raise ScriptMismatch(
                f"scripted model: unknown 'when' key(s) {sorted(unknown)}; allowed: contains, last, regex, tool",
                provider="scripted",
            )
        self.step = step
        self.last: str | None = when.get("last")
        self.contains: str | None = when.get("contains")
        tools = when.get("tool")
        self.tools: frozenset[str] = frozenset([tools] if isinstance(tools, str) else tools or ())
        try:
            self.regex = (
                re.compile(when["regex"], re.IGNORECASE | re.DOTALL) if when.get("regex") else None
            )
        except re.error as exc:
            raise ScriptMismatch(
                f"scripted model: bad regex {when['regex']!r}: {exc}", provider="scripted"
            ) from None

    def match(self, request: ModelRequest, user_text: str) -> dict[str, Any] | None:
        if self.last and (not request.messages or request.messages[-1].role != self.last):
            return None
        if self.tools:
            answered = {m.name for m in _trailing_tools(request.messages)}
            if not self.tools <= answered:
                return None
        if self.contains and self.contains.lower() not in user_text.lower():
            return None
        groups: dict[str, Any] = {}
        if self.regex:
            found = self.regex.search(user_text)
            if not found:
                return None
            groups = {str(i): g for i, g in enumerate(found.groups(), 1) if g is not None}
            groups.update({k: v for k, v in found.groupdict().items() if v is not None})
        return groups


class ScriptedModel(Model):
    """Deterministic model driven by a script or a function (see the module docstring)."""

    provider = "scripted"

    def __init__(
        self,
        script: Sequence[dict[str, Any]] | ScriptFn | None = None,
        *,
        name: str = "",
        chunk_text: bool = True,
    ) -> None:
        self.name = name
        self._fn: ScriptFn | None = None
        self._steps: list[dict[str, Any]] = []
        self._rules: list[_Rule] | None = None
        self._cursor = 0
        self._chunk_text = chunk_text
        if callable(script):
            self._fn = script
        elif script:
            self._steps = [self._check_step(i, dict(s)) for i, s in enumerate(script)]
            if any("when" in step for step in self._steps):
                self._rules = [_Rule(step) for step in self._steps]

    @staticmethod
    def _check_step(index: int, step: dict[str, Any]) -> dict[str, Any]:
        unknown = set(step) - _STEP_KEYS
        if unknown:
            raise ScriptMismatch(
                f"scripted model: step {index + 1} has unknown key(s) {sorted(unknown)}; "
                f"allowed: {sorted(_STEP_KEYS)}",
                provider="scripted",
            )
        return step

    @property
    def is_echo(self) -> bool:
        return self._fn is None and not self._steps

    def reset(self) -> None:
        """Start a sequence script from its first step again."""
        self._cursor = 0

    @property
    def remaining(self) -> int:
        return max(0, len(self._steps) - self._cursor) if self._rules is None else 0

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        response = await self._respond(request)
        text = response.message.content
        if request.stream and text:
            chunks = getattr(response, "_chunks", None) or (
                _WORDS.findall(text) if self._chunk_text else [text]
            )
            for chunk in chunks:
                yield TextDelta(chunk)
        yield response

    async def request(self, request: ModelRequest) -> ModelResponse:
        return await self._respond(request)

    async def _respond(self, request: ModelRequest) -> ModelResponse:
        user = _last(request.messages, "user")
        user_text = user.content if user else ""
        if self._fn is not None:
            return self._from_value(self._fn(request), request)
        if not self._steps:
            return self._build({"text": user_text}, request, {"input": user_text})
        values: dict[str, Any] = {"input": user_text}
        if request.messages and request.messages[-1].role == "tool":
            trailing = _trailing_tools(request.messages)
            values["tool_result"] = ", ".join(m.content for m in trailing)
            values["tool"] = {m.name: m.content for m in trailing}
        if self._rules is not None:
            for rule in self._rules:
                groups = rule.match(request, user_text)
                if groups is not None:
                    values.update(groups)
                    return await self._run_step(rule.step, request, values)
            last_role = request.messages[-1].role if request.messages else "none"
            raise ScriptMismatch(
                f"scripted model: no rule matches the call (last message from {last_role}: "
                f"{user_text[:80]!r})",
                provider="scripted",
            )
        if self._cursor >= len(self._steps):
            raise ScriptMismatch(
                f"scripted model: the script has {len(self._steps)} step(s) but call "
                f"{self._cursor + 1} was made",
                provider="scripted",
            )
        step = self._steps[self._cursor]
        self._cursor += 1
        self._expect(step.get("expect"), request, user_text)
        return await self._run_step(step, request, values)

    def _expect(self, expect: dict[str, Any] | None, request: ModelRequest, user_text: str) -> None:
        if not expect:
            return
        call = self._cursor
        problems: list[str] = []
        last = request.messages[-1].role if request.messages else "none"
        if "last" in expect and expect["last"] != last:
            problems.append(f"expected the last message from {expect['last']}, got {last}")
        if "contains" in expect:
            haystack = request.messages[-1].content if request.messages else ""
            if str(expect["contains"]) not in haystack:
                problems.append(
                    f"expected the last message to contain {expect['contains']!r}, got {haystack[:80]!r}"
                )
        if "tools" in expect:
            offered = sorted(t.name for t in request.tools)
            if sorted(expect["tools"]) != offered:
                problems.append(f"expected tools {sorted(expect['tools'])}, got {offered}")
        if problems:
            raise ScriptMismatch(
                f"scripted model: call {call}: " + "; ".join(problems), provider="scripted"
            )

    async def _run_step(
        self, step: dict[str, Any], request: ModelRequest, values: dict[str, Any]
    ) -> ModelResponse:
        if step.get("delay"):
            await asyncio.sleep(float(step["delay"]))
        error = step.get("error")
        if error:
            cls = _ERRORS.get(str(error.get("code", "unavailable")), ModelError)
            raise cls(
                str(error.get("message", f"scripted {error.get('code', 'error')}")),
                provider="scripted",
                retry_after=error.get("retry_after"),
            )
        return self._build(step, request, values)

    def _build(
        self, step: dict[str, Any], request: ModelRequest, values: dict[str, Any]
    ) -> ModelResponse:
        def fill(text: str) -> str:
            return render(text, values, missing=_blank) if "{{" in text else text

        raw_text = step.get("text")
        text = "" if raw_text is None else fill(str(raw_text))
        calls: list[ToolCall] = []
        specs = step.get("tool_calls")
        if specs:
            turn = len(request.messages)
            for index, spec in enumerate(specs, 1):
                call_id = str(spec.get("id") or f"tc_{turn}_{index}")
                if "raw_arguments" in spec:
                    raw = str(spec["raw_arguments"])
                    calls.append(
                        ToolCall(call_id, spec["name"], None, raw, "arguments are not valid JSON")
                    )
                    continue
                args = {
                    key: fill(value) if isinstance(value, str) else value
                    for key, value in (spec.get("arguments") or {}).items()
                }
                calls.append(ToolCall(call_id, str(spec["name"]), args))
        usage = step.get("usage")
        if usage:
            used = Usage.from_dict(usage)
        else:
            size = len(request.system)
            for message in request.messages:
                size += len(message.content)
            used = Usage(size // 4 + 1, len(text) // 4 + 1)
        response = ModelResponse(
            Message("assistant", text, calls),
            used,
            step.get("stop_reason") or ("tool_use" if calls else "end_turn"),
            self.name or "scripted",
        )
        if step.get("chunks"):
            response = _ChunkedResponse(response, [str(c) for c in step["chunks"]])
        return response

    def _from_value(self, value: Any, request: ModelRequest) -> ModelResponse:
        if isinstance(value, ModelResponse):
            return value
        if isinstance(value, str):
            return self._build({"text": value}, request, {})
        if isinstance(value, dict):
            return self._build(value, request, {})
        raise ScriptMismatch(
            f"scripted model function returned {type(value).__name__}; expected str, dict or ModelResponse",
            provider="scripted",
        )


class _ChunkedResponse(ModelResponse):
    """A response that carries explicit stream chunks (``chunks:`` in a step)."""

    __slots__ = ("_chunks",)

    def __init__(self, response: ModelResponse, chunks: list[str]) -> None:
        super().__init__(response.message, response.usage, response.stop_reason, response.model)
        joined = "".join(chunks)
        if not response.message.content:
            self.message.content = joined
        self._chunks = chunks


def parse_script(value: Any) -> list[dict[str, Any]]:
    """Accept a JSON/YAML-loaded script (list of mappings) and return it as a list."""
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, list) or not all(isinstance(s, dict) for s in value):
        raise ScriptMismatch("a script must be a list of mappings", provider="scripted")
    return value
