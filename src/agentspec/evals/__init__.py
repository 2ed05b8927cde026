"""Evals: declare cases next to the agents, run them, report pass/fail (see docs/evals.md).

Example:
    ```python
    import agentspec
    from agentspec.evals import load_cases, run_evals

    project = agentspec.load("examples/quickstart")
    report = await run_evals(project, load_cases(project), concurrency=4)
    assert report.ok
    ```
"""

from agentspec.evals.assertions import parse_verdict
from agentspec.evals.from_run import case_from_run, case_yaml
from agentspec.evals.loader import eval_files, load_cases
from agentspec.evals.models import (
    ASSERTION_KINDS,
    Assertion,
    AssertionResult,
    CaseResult,
    EvalCase,
    EvalReport,
    Regression,
)
from agentspec.evals.pricing import PRICES
from agentspec.evals.reports import load_baseline, regressions, to_json, to_junit
from agentspec.evals.runner import run_evals, select

__all__ = [
    "ASSERTION_KINDS",
    "PRICES",
    "Assertion",
    "AssertionResult",
    "CaseResult",
    "EvalCase",
    "EvalReport",
    "Regression",
    "case_from_run",
    "case_yaml",
    "eval_files",
    "load_baseline",
    "load_cases",
    "parse_verdict",
    "regressions",
    "run_evals",
    "select",
    "to_json",
    "to_junit",
]
