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


def _templated(step: dict[str, Any]) -> bool:
    """Whether a step's text or tool arguments contain ``{{...}}`` (cached on the step)."""
    cached = step.get("\0templated")
    if cached is None:
        text = str(step.get("text") or "")
        args = [
            v
            for call in step.get("tool_calls") or ()
            for v in (call.get("arguments") or {}).values()
            if isinstance(v, str)
        ]
        cached = "{{" in text or any("{{" in v for v in args)
        step["\0templated"] = cached
    return bool(cached)


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
    __slots__ = ("contains", "last", "needs_text", "regex", "step", "tools")

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
        self.needs_text = bool(self.contains or self.regex)

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

    def _chunks(self, response: ModelResponse) -> list[str]:
        explicit: list[str] | None = getattr(response, "_chunks", None)
        if explicit:
            return explicit
        text = response.message.content
        return _WORDS.findall(text) if self._chunk_text else [text]

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        response = await self.request(request)
        if request.stream and response.message.content:
            for chunk in self._chunks(response):
                yield TextDelta(chunk)
        yield response

    async def generate(
        self, request: ModelRequest, on_delta: Callable[[str], None] | None
    ) -> ModelResponse:
        response = await self.request(request)
        if on_delta is not None and request.stream and response.message.content:
            for chunk in self._chunks(response):
                on_delta(chunk)
        return response

    async def request(self, request: ModelRequest) -> ModelResponse:
        if self._fn is not None:
            value = self._fn(request)
            if asyncio.iscoroutine(value):
                value = await value
            return self._from_value(value, request)
        step, values = self._select(request)
        if "delay" in step:
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

    def _select(self, request: ModelRequest) -> tuple[dict[str, Any], dict[str, Any]]:
        """Pick the step answering ``request`` and the values its templates may use."""
        messages = request.messages
        if not self._steps:
            user = _last(messages, "user")
            return {"text": user.content if user else ""}, {}
        values: dict[str, Any] = {}
        user_text: str | None = None
        if self._rules is not None:
            for rule in self._rules:
                if rule.needs_text and user_text is None:
                    user = _last(messages, "user")
                    user_text = user.content if user else ""
                groups = rule.match(request, user_text or "")
                if groups is not None:
                    values = groups
                    step = rule.step
                    break
            else:
                if user_text is None:
                    user = _last(messages, "user")
                    user_text = user.content if user else ""
                last_role = messages[-1].role if messages else "none"
                raise ScriptMismatch(
                    f"scripted model: no rule matches the call (last message from {last_role}: "
                    f"{user_text[:80]!r})",
                    provider="scripted",
                )
        else:
            if self._cursor >= len(self._steps):
                raise ScriptMismatch(
                    f"scripted model: the script has {len(self._steps)} step(s) but call "
                    f"{self._cursor + 1} was made",
                    provider="scripted",
                )
            step = self._steps[self._cursor]
            self._cursor += 1
            self._expect(step.get("expect"), request)
        if _templated(step):
            if user_text is None:
                user = _last(messages, "user")
                user_text = user.content if user else ""
            values["input"] = user_text
            if messages and messages[-1].role == "tool":
                trailing = _trailing_tools(messages)
                values["tool_result"] = ", ".join(m.content for m in trailing)
                values["tool"] = {m.name: m.content for m in trailing}
        return step, values

    def _expect(self, expect: dict[str, Any] | None, request: ModelRequest) -> None:
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
