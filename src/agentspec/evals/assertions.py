"""Check one assertion against what a case's runs did.

Output assertions (``equals``, ``contains``, ``not_contains``, ``regex``, ``json_schema``,
``judge``) look at the last turn's output; ``status`` at the case's status (the first turn that
did not complete, else ``completed``); tool assertions, ``max_turns``, ``max_tokens`` and
``max_cost`` at all of the case's turns together.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from agentspec.engine.events import Event
from agentspec.engine.result import RunResult
from agentspec.evals.jsonschema import validate
from agentspec.evals.models import Assertion, AssertionResult, EvalCase
from agentspec.evals.pricing import UnknownPrice, cost
from agentspec.exceptions import AgentspecError
from agentspec.ir.models import ModelConfig
from agentspec.models.base import Message, Model, ModelRequest
from agentspec.secrets.resolver import SecretResolver

JUDGE_SYSTEM = (
    "You are a strict evaluator of an AI assistant's answer. Judge the answer only against "
    "the rubric. Reply with exactly one line: 'PASS: <reason>' if the answer meets the rubric, "
    "or 'FAIL: <reason>' if it does not."
)
_VERDICT = re.compile(r"(PASS|FAIL)\s*:\s*(\S.*)")


@dataclass(slots=True)
class Outcome:
    """A case's runs: one result and one event log per turn that ran."""

    case: EvalCase
    results: list[RunResult] = field(default_factory=list)
    events: list[list[Event]] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.results[-1].output if self.results else ""

    @property
    def status(self) -> str:
        for result in self.results:
            if result.status != "completed":
                return result.status
        return "completed" if self.results else "failed"

    @property
    def turns(self) -> int:
        return sum(r.turns for r in self.results)

    @property
    def tokens(self) -> int:
        return sum(r.usage.total for r in self.results)

    def cost(self) -> float:
        return sum(cost(events, self.case.prices) for events in self.events)


def parse_verdict(answer: str) -> tuple[bool, str]:
    """``(passed, reason)`` from a judge's answer ``PASS: reason`` / ``FAIL: reason``.

    Raises:
        ValueError: the answer is not exactly one such line.
    """
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    found = _VERDICT.fullmatch(lines[0]) if len(lines) == 1 else None
    if found is None:
        shown = answer.strip().replace("\n", " ")
        raise ValueError(
            "the judge did not answer in the form 'PASS: reason' or 'FAIL: reason' "
            f"(it said {shown[:120]!r})"
        )
    return found.group(1) == "PASS", found.group(2).strip()


class Judges:
    """Judge models, created once per configuration and shared by every case."""

    def __init__(self, secrets: SecretResolver) -> None:
        self._secrets = secrets
        self._models: dict[str, Model] = {}

    def model(self, config: ModelConfig) -> Model:
        key = config.model_dump_json()
        found = self._models.get(key)
        if found is None:
            from agentspec.models.registry import create_model

            found = self._models[key] = create_model(config, self._secrets)
        return found

    async def aclose(self) -> None:
        for model in self._models.values():
            await model.aclose()


def _tool_calls(outcome: Outcome) -> list[tuple[str, dict[str, Any] | None]]:
    return [(c.tool_name, c.input) for r in outcome.results for c in r.tool_calls]


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _subset(v, actual[k]) for k, v in expected.items()
        )
    if expected == actual:
        return True
    # YAML numbers match arguments a model sent as strings and vice versa ("12" == 12)
    scalar = (str, int, float)
    if isinstance(expected, scalar) and isinstance(actual, scalar):
        return not isinstance(expected, bool) and str(expected) == str(actual)
    return False


def _show(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def check(assertion: Assertion, outcome: Outcome, judges: Judges) -> AssertionResult:
    """The result of one assertion; never raises."""
    kind, value = assertion.kind, assertion.value
    try:
        passed, message = await _check(kind, value, outcome, judges)
    except AgentspecError as exc:
        passed, message = False, f"could not check: {exc}"
    return AssertionResult(kind, passed, message)


async def _check(kind: str, value: Any, outcome: Outcome, judges: Judges) -> tuple[bool, str]:
    output = outcome.output
    if kind == "equals":
        ok = output.strip() == str(value).strip()
        return ok, f"output is {_show(output)}" + ("" if ok else f", expected {_show(value)}")
    if kind in ("contains", "not_contains"):
        lowered = output.casefold()
        missing = [t for t in value if t.casefold() not in lowered]
        present = [t for t in value if t.casefold() in lowered]
        if kind == "contains":
            if missing:
                return False, f"output {_show(output)} lacks {_show(missing)}"
            return True, f"output contains {_show(value)}"
        if present:
            return False, f"output {_show(output)} contains {_show(present)}"
        return True, f"output has none of {_show(value)}"
    if kind == "regex":
        pattern: re.Pattern[str] = value
        ok = pattern.search(output) is not None
        verb = "matches" if ok else "does not match"
        return ok, f"output {_show(output)} {verb} /{pattern.pattern}/"
    if kind == "json_schema":
        try:
            data = json.loads(output)
        except json.JSONDecodeError as exc:
            return False, f"output is not JSON ({exc.msg} at character {exc.pos})"
        problems = validate(data, value)
        if problems:
            return False, "; ".join(problems[:5])
        return True, "output is valid JSON for the schema"
    if kind in ("tool_called", "tool_not_called"):
        name, arguments = value["name"], value.get("arguments")
        calls = [
            args
            for called, args in _tool_calls(outcome)
            if called == name and (arguments is None or _subset(arguments, args))
        ]
        what = name + (f" with {_show(arguments)}" if arguments else "")
        if kind == "tool_not_called":
            if calls:
                return False, f"{what} was called {len(calls)} time(s): {_show(calls[0])}"
            return True, f"{what} was not called"
        times = value.get("times")
        if times is not None:
            return len(calls) == times, f"{what} was called {len(calls)} time(s), expected {times}"
        if not calls:
            seen = [f"{n}({_show(a, 40)})" for n, a in _tool_calls(outcome)] or ["no tool"]
            return False, f"{what} was not called (called: {', '.join(seen)})"
        return True, f"{what} was called {len(calls)} time(s)"
    if kind == "status":
        status = outcome.status
        detail = ""
        failed = next((r for r in outcome.results if r.status != "completed"), None)
        if failed is not None and status != value:
            detail = f" ({failed.error}: {failed.error_message})"
        return status == value, f"status is {status}{detail}"
    if kind == "max_turns":
        return outcome.turns <= value, f"{outcome.turns} turn(s), at most {value}"
    if kind == "max_tokens":
        return outcome.tokens <= value, f"{outcome.tokens} token(s), at most {value}"
    if kind == "max_cost":
        try:
            spent = outcome.cost()
        except UnknownPrice as exc:
            return False, (
                f"no price is known for model {exc.args[0]!r}: give the case "
                "prices: {input: USD, output: USD} per million tokens"
            )
        return spent <= value, f"cost ${spent:.6f}, at most ${value:g}"
    if kind == "judge":
        return await _judge(value, outcome, judges)
    raise AssertionError(f"unknown assertion kind {kind}")  # pragma: no cover - loader checks


async def _judge(value: dict[str, Any], outcome: Outcome, judges: Judges) -> tuple[bool, str]:
    model = judges.model(value["model"])
    turns = "\n".join(f"User: {text}" for text in outcome.case.turns)
    prompt = (
        f"Rubric:\n{value['rubric']}\n\nConversation:\n{turns}\n\n"
        f"Answer to judge:\n{outcome.output}"
    )
    request = ModelRequest(JUDGE_SYSTEM, [Message("user", prompt)], stream=False, temperature=0)
    response = await model.request(request)
    try:
        passed, reason = parse_verdict(response.message.content)
    except ValueError as exc:
        return False, str(exc)
    return passed, f"judge ({model.label}): {'PASS' if passed else 'FAIL'}: {reason}"
