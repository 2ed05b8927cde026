"""Run eval cases concurrently (with a limit) on one runtime and check their assertions."""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from agentspec.evals.assertions import Judges, Outcome, check
from agentspec.evals.models import Assertion, CaseResult, EvalCase, EvalReport
from agentspec.exceptions import AgentspecError

if TYPE_CHECKING:
    from agentspec.engine.runtime import Runtime
    from agentspec.lang.project import Project

DEFAULT_EXPECT = Assertion("status", "completed", "(default)")


def select(cases: Sequence[EvalCase], pattern: str | None) -> list[EvalCase]:
    """Cases whose name matches ``pattern``: a glob (``add-*``) or a substring."""
    if not pattern:
        return list(cases)
    if any(ch in pattern for ch in "*?["):
        return [c for c in cases if fnmatch.fnmatchcase(c.name, pattern)]
    return [c for c in cases if pattern in c.name]


async def run_case(runtime: Runtime, case: EvalCase, judges: Judges) -> CaseResult:
    """Run one case's turns (one session when there are several) and check its assertions."""
    started = time.perf_counter()
    outcome = Outcome(case)
    try:
        session_id = None
        if len(case.turns) > 1:
            session_id = (await runtime.create_session(case.agent)).id
        for text in case.turns:
            result = await runtime.run(
                case.agent,
                text,
                session_id=session_id,
                variables=case.variables or None,
                raise_on_failure=False,
            )
            outcome.results.append(result)
            outcome.events.append(await runtime.get_events(result.run_id))
            if result.status != "completed":
                break
    except AgentspecError as exc:
        return CaseResult(
            case.name,
            case.agent,
            "error",
            0.0,
            [],
            run_ids=[r.run_id for r in outcome.results],
            duration_ms=(time.perf_counter() - started) * 1000,
            error=str(exc),
            where=case.where,
        )
    expect = case.expect or [DEFAULT_EXPECT]
    checks = [await check(a, outcome, judges) for a in expect]
    held = sum(1 for c in checks if c.passed)
    cost: float | None
    try:
        cost = outcome.cost()
    except Exception:
        cost = None
    return CaseResult(
        case.name,
        case.agent,
        "passed" if held == len(checks) else "failed",
        held / len(checks),
        checks,
        output=outcome.output,
        run_status=outcome.status,
        run_ids=[r.run_id for r in outcome.results],
        turns=outcome.turns,
        tokens=outcome.tokens,
        cost=cost,
        duration_ms=(time.perf_counter() - started) * 1000,
        where=case.where,
    )


async def run_evals(
    project: Project,
    cases: Sequence[EvalCase],
    *,
    concurrency: int = 4,
    settings: Any = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> EvalReport:
    """Run ``cases`` against ``project``, at most ``concurrency`` at a time.

    Args:
        project: the loaded project.
        cases: from :func:`agentspec.evals.load_cases`.
        concurrency: cases running at once (>= 1).
        settings: runtime :class:`~agentspec.engine.settings.Settings` (store, model
            override); default: a throwaway in-memory store.
        on_result: called as each case finishes (progress bars).
    """
    from agentspec.engine.settings import Settings
    from agentspec.secrets.resolver import SecretResolver

    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    settings = settings or Settings(store="memory")
    runtime = project.runtime(settings)
    judges = Judges(SecretResolver(project.package.secrets, base_dir=project.root))
    gate = asyncio.Semaphore(concurrency)
    started = time.perf_counter()

    async def one(case: EvalCase) -> CaseResult:
        async with gate:
            result = await run_case(runtime, case, judges)
        if on_result is not None:
            on_result(result)
        return result

    try:
        await runtime.start_up()
        results = await asyncio.gather(*(one(case) for case in cases))
    finally:
        await judges.aclose()
        await runtime.aclose()
    return EvalReport(
        project.package.name,
        project.ir_hash,
        list(results),
        (time.perf_counter() - started) * 1000,
    )
