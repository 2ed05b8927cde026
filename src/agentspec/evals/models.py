"""Eval cases, assertions and results: plain data shared by the loader, runner and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ASSERTION_KINDS = (
    "equals",
    "contains",
    "not_contains",
    "regex",
    "json_schema",
    "tool_called",
    "tool_not_called",
    "status",
    "max_turns",
    "max_tokens",
    "max_cost",
    "judge",
)
"""Every assertion an eval case may declare under ``expect:``."""


@dataclass(slots=True)
class Assertion:
    """One expectation: its kind, its (validated) argument and where it was written."""

    kind: str
    value: Any
    where: str = ""
    """``file:line:col`` of the assertion."""


@dataclass(slots=True)
class EvalCase:
    """One eval case.

    Attributes:
        name: unique within the project.
        agent: the agent it runs.
        turns: the user messages, sent in order in one session (one for a single-turn case).
        variables: prompt variables.
        expect: the assertions; a case without any expects ``status: completed``.
        prices: USD per million tokens ``{"input": x, "output": y}`` for ``max_cost``.
        where: ``file:line`` of the case.
    """

    name: str
    agent: str
    turns: list[str]
    variables: dict[str, Any] = field(default_factory=dict)
    expect: list[Assertion] = field(default_factory=list)
    prices: dict[str, float] | None = None
    description: str = ""
    where: str = ""


@dataclass(slots=True)
class AssertionResult:
    kind: str
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "passed": self.passed, "message": self.message}


@dataclass(slots=True)
class CaseResult:
    """What one case did and which of its assertions held.

    ``status`` is ``passed``, ``failed`` (an assertion failed) or ``error`` (the case could not
    run, e.g. a missing prompt variable). ``score`` is the fraction of assertions that held.
    """

    name: str
    agent: str
    status: str
    score: float
    assertions: list[AssertionResult]
    output: str = ""
    run_status: str = ""
    run_ids: list[str] = field(default_factory=list)
    turns: int = 0
    tokens: int = 0
    cost: float | None = None
    duration_ms: float = 0.0
    error: str = ""
    where: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "agent": self.agent,
            "status": self.status,
            "score": round(self.score, 4),
            "assertions": [a.to_dict() for a in self.assertions],
            "output": self.output,
            "run_status": self.run_status,
            "run_ids": self.run_ids,
            "turns": self.turns,
            "tokens": self.tokens,
            "cost": self.cost,
            "duration_ms": round(self.duration_ms, 3),
            "error": self.error,
            "where": self.where,
        }


@dataclass(slots=True)
class Regression:
    """A case that got worse than in the baseline report."""

    name: str
    reason: str
    before: float
    after: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reason": self.reason,
            "before": self.before,
            "after": self.after,
        }


@dataclass(slots=True)
class EvalReport:
    """Every case's result, in declaration order, plus regressions against a baseline."""

    package: str
    ir_hash: str
    cases: list[CaseResult]
    duration_ms: float = 0.0
    regressions: list[Regression] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cases if c.status == "passed")

    @property
    def failed(self) -> int:
        return sum(1 for c in self.cases if c.status == "failed")

    @property
    def errors(self) -> int:
        return sum(1 for c in self.cases if c.status == "error")

    @property
    def ok(self) -> bool:
        return self.passed == len(self.cases) and not self.regressions

    @property
    def score(self) -> float:
        return sum(c.score for c in self.cases) / len(self.cases) if self.cases else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "package": self.package,
            "ir_hash": self.ir_hash,
            "summary": {
                "total": len(self.cases),
                "passed": self.passed,
                "failed": self.failed,
                "errors": self.errors,
                "score": round(self.score, 4),
                "duration_ms": round(self.duration_ms, 3),
            },
            "cases": [c.to_dict() for c in self.cases],
            "regressions": [r.to_dict() for r in self.regressions],
        }
