"""The pipeline executor: run a :class:`~agentspec.ir.pipeline.Pipeline` as one structured run.

A pipeline run is a run of kind ``pipeline`` (see :meth:`Runtime.run_flow`). Its log holds
``run.started``, one ``step.*`` event per step transition (each naming the step's child run
in ``run_id``), and ``run.completed`` whose output is the pipeline result JSON (the shape of
``CONTRACTS.md`` §1), or ``run.failed``. Each step runs its agent as a child run
(``parent_run_id`` = the pipeline run), so steps stream, persist and replay like any run.

Scheduling: a step starts as soon as every step it depends on has completed; steps that
become ready together start in name order and run concurrently. When a step fails (after its
retries), the steps still running are cancelled (``cancelled``) and every step that has not
started is ``skipped``: the pipeline fails fast. A step whose ``when`` condition is false is
``skipped``, and so are the steps that depend on it; that does not fail the pipeline.

Example:
    ```python
    async with Runtime(package) as runtime:
        result = await run_pipeline(runtime, "code-review", {"code": "eval(input())"})
        print(result.status, result.steps["summary"].output)
    ```
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentspec.engine import events as ev
from agentspec.engine.result import RunResult
from agentspec.engine.run import Listener, RunHandle, RunState
from agentspec.engine.runtime import Runtime, new_id
from agentspec.exceptions import AgentspecError, RunError, UsageError
from agentspec.ir.pipeline import (
    TEMPLATE_REFERENCE,
    Pipeline,
    PipelineStep,
    reference_names,
    split_reference,
)
from agentspec.ir.suggest import suggest
from agentspec.models.base import Usage

STATUSES = ("pending", "running", "completed", "failed", "skipped", "cancelled")
_FALSE = frozenset({"", "false", "no", "0", "none", "null"})


class PipelineFailed(RunError):
    """A step of a pipeline failed, so the pipeline run failed."""

    code = "step_failed"


class TriggerError(UsageError):
    """The trigger lacks a field a step's template needs. Names the step and the field."""

    def __init__(self, step: str, field: str, where: str) -> None:
        super().__init__(f'step "{step}": the trigger has no field "{field}" (used in its {where})')
        self.step = step
        self.field = field


@dataclass(slots=True)
class StepResult:
    """One step's outcome. ``output`` is the agent's answer, parsed when it is JSON."""

    agent: str
    status: str = "pending"
    output: Any = ""
    duration_ms: float = 0.0
    error: str = ""
    run_id: str = ""
    """The step's (last) child run."""
    attempts: int = 0
    usage: Usage = field(default_factory=Usage)
    text: str = ""
    """The agent's answer as text (what templates substitute)."""

    def to_dict(self) -> dict[str, Any]:
        """The step entry of the contract's pipeline result, plus ``run_id`` and ``attempts``."""
        return {
            "agent": self.agent,
            "output": self.output,
            "duration_ms": round(self.duration_ms, 3),
            "status": self.status,
            "error": self.error,
            "run_id": self.run_id,
            "attempts": self.attempts,
        }


@dataclass(slots=True)
class PipelineResult:
    """A pipeline run's outcome: the contract's pipeline result, as a typed object."""

    pipeline: str
    run_id: str
    status: str = "running"
    total_duration_ms: float = 0.0
    usage: Usage = field(default_factory=Usage)
    steps: dict[str, StepResult] = field(default_factory=dict)
    error: str = ""
    """Why the pipeline failed (the first failed step's error), else ``""``."""

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    def to_dict(self) -> dict[str, Any]:
        """The pipeline result of ``CONTRACTS.md`` §1 (plus ``run_id`` and ``error``)."""
        usage = self.usage
        return {
            "pipeline": self.pipeline,
            "status": self.status,
            "total_duration_ms": round(self.total_duration_ms, 3),
            "tokens": {
                "input": usage.input_tokens,
                "output": usage.output_tokens,
                "cache_read": usage.cache_read_tokens,
                "total": usage.total,
            },
            "steps": {name: step.to_dict() for name, step in self.steps.items()},
            "run_id": self.run_id,
            "error": self.error,
        }


def get_pipeline(runtime: Runtime, name: str) -> Pipeline:
    """The pipeline ``name`` of the runtime's package.

    Raises:
        UsageError: no such pipeline (with a suggestion).
    """
    pipeline = runtime.package.pipelines.get(name)
    if pipeline is None:
        hint = suggest(name, runtime.package.pipelines)
        raise UsageError(
            f"unknown pipeline {name!r} in {runtime.package.name}" + (f" ({hint})" if hint else "")
        )
    return pipeline


def check_trigger(pipeline: Pipeline, trigger: Mapping[str, Any]) -> None:
    """Check that ``trigger`` has every field the step templates read.

    Raises:
        TriggerError: naming the first step (in declaration order) and field missing.
    """
    for step, where, path in _plan(pipeline).trigger_fields:
        if _lookup(trigger, path) is _MISSING:
            raise TriggerError(step, ".".join(path), where)


@dataclass(slots=True)
class _Plan:
    """What a pipeline's runs share, computed once per pipeline object."""

    pipeline: Pipeline
    names: dict[str, str]
    trigger_fields: list[tuple[str, str, tuple[str, ...]]]
    refs: dict[str, tuple[str, str, tuple[str, ...]]]


_PLANS: dict[int, _Plan] = {}


def _plan(pipeline: Pipeline) -> _Plan:
    plan = _PLANS.get(id(pipeline))
    if plan is not None and plan.pipeline is pipeline:
        return plan
    names = reference_names(pipeline)
    refs: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    fields: list[tuple[str, str, tuple[str, ...]]] = []
    for step in pipeline.steps:
        for where, template in (("input", step.input), ("when", step.when)):
            for reference in TEMPLATE_REFERENCE.findall(template) if "{{" in template else ():
                found = refs[reference] = split_reference(reference, pipeline, names)
                if found[0] == "trigger":
                    fields.append((step.name, where, found[2]))
    if len(_PLANS) > 256:
        _PLANS.clear()
    plan = _PLANS[id(pipeline)] = _Plan(pipeline, names, fields, refs)
    return plan


async def run_pipeline(
    runtime: Runtime,
    name: str,
    trigger: Mapping[str, Any] | None = None,
    *,
    listener: Listener | None = None,
    parent_run_id: str = "",
) -> PipelineResult:
    """Run the pipeline ``name`` on ``trigger`` and return its result (never raises for a failed
    pipeline: check ``result.status``).

    Args:
        runtime: the runtime whose package declares the pipeline.
        name: the pipeline's name.
        trigger: the JSON object step templates read as ``{{trigger.FIELD}}``.
        listener: called with every event of the pipeline run (``step.*`` included).
        parent_run_id: makes the pipeline run a child of another run.

    Raises:
        UsageError: unknown pipeline, or a trigger that is not a JSON object.
    """
    pipeline = get_pipeline(runtime, name)
    data = _trigger(trigger)
    execution = _Execution(runtime, pipeline, data)
    run = await runtime.run_flow(
        "pipeline",
        name,
        data,
        execution.body,
        listener=listener,
        parent_run_id=parent_run_id,
    )
    return execution.finish(run)


def start_pipeline(
    runtime: Runtime,
    name: str,
    trigger: Mapping[str, Any] | None = None,
    *,
    parent_run_id: str = "",
) -> tuple[RunHandle, asyncio.Future[PipelineResult]]:
    """Start a pipeline in the background: a handle to stream its events, and its result.

    Raises:
        UsageError: unknown pipeline, or a trigger that is not a JSON object.
    """
    pipeline = get_pipeline(runtime, name)
    data = _trigger(trigger)
    execution = _Execution(runtime, pipeline, data)
    handle = runtime.start_flow("pipeline", name, data, execution.body, parent_run_id=parent_run_id)
    assert handle.task is not None
    future: asyncio.Future[PipelineResult] = asyncio.get_running_loop().create_future()

    def done(task: asyncio.Task[RunResult]) -> None:
        if future.done():
            return
        if task.cancelled():
            future.set_result(execution.finish(None))
        elif task.exception() is not None:
            future.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            future.set_result(execution.finish(task.result()))

    handle.task.add_done_callback(done)
    return handle, future


def _trigger(trigger: Mapping[str, Any] | None) -> dict[str, Any]:
    if trigger is None:
        return {}
    if not isinstance(trigger, Mapping):
        raise UsageError(f"a pipeline trigger must be a JSON object, got {type(trigger).__name__}")
    return dict(trigger)


class _Missing:
    pass


_MISSING: Any = _Missing()


def _lookup(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _parse_output(text: str) -> Any:
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def _truthy(text: str) -> bool:
    for operator in (" != ", " == "):
        left, found, right = text.partition(operator)
        if found:
            same = left.strip().strip("\"'") == right.strip().strip("\"'")
            return same if operator == " == " else not same
    return text.strip().lower() not in _FALSE


class _Execution:
    """The state of one pipeline run: step results, children, the scheduler."""

    def __init__(self, runtime: Runtime, pipeline: Pipeline, trigger: dict[str, Any]) -> None:
        self.runtime = runtime
        self.pipeline = pipeline
        self.trigger = trigger
        self.result = PipelineResult(pipeline.name, "")
        self.result.steps = {s.name: StepResult(s.agent) for s in pipeline.steps}
        plan = _plan(pipeline)
        self.names = plan.names
        self.steps: dict[str, PipelineStep] = {}
        self.waiting: dict[str, set[str]] = {}
        self.dependents: dict[str, list[str]] = {}
        self.workers: set[asyncio.Task[None]] = set()
        self.cancelled = False
        self.refs = plan.refs
        self.aborting = ""
        self.started = time.perf_counter()
        self.state: RunState | None = None

    # ------------------------------------------------------------------ result
    def finish(self, run: RunResult | None) -> PipelineResult:
        result = self.result
        if run is not None:
            result.run_id = run.run_id
            result.total_duration_ms = run.duration_ms
        else:
            result.total_duration_ms = (time.perf_counter() - self.started) * 1000.0
        statuses = [s.status for s in result.steps.values()]
        if run is None or run.status == "cancelled":
            result.status = "cancelled"
        elif "failed" in statuses or (run is not None and run.status == "failed"):
            result.status = "failed"
            if not result.error and run is not None:
                result.error = run.error_message
        else:
            result.status = "completed"
        return result

    # ------------------------------------------------------------------ run body
    async def body(self, state: RunState) -> str:
        self.state = state
        self.result.run_id = state.run_id
        self.started = time.perf_counter()
        steps = {s.name: s for s in self.pipeline.steps}
        persister = self.runtime.persister
        if persister is not None:  # the run is listed as running while its steps work
            await persister.flush()
        try:
            check_trigger(self.pipeline, self.trigger)
        except TriggerError as exc:
            self._fail_before_start(state, steps[exc.step], str(exc))
        else:
            await self._schedule(state, steps)
        usage = self.result.usage
        for step_result in self.result.steps.values():
            usage.add(step_result.usage)
        state.usage.add(usage)
        self.result.total_duration_ms = state.elapsed_ms()
        failed = [n for n, s in self.result.steps.items() if s.status == "failed"]
        if failed:
            self.result.status = "failed"
            raise PipelineFailed(self.result.error)
        self.result.status = "completed"
        return json.dumps(self.result.to_dict(), ensure_ascii=False)

    def _fail_before_start(self, state: RunState, step: PipelineStep, message: str) -> None:
        record = self.result.steps[step.name]
        record.status, record.error = "failed", message
        self.result.error = message
        state.emit(
            ev.STEP_FAILED,
            {
                "step": step.name,
                "agent": step.agent,
                "run_id": "",
                "attempt": 0,
                "error": "invalid_request",
                "message": message,
                "duration_ms": 0.0,
            },
        )
        for other in self.pipeline.steps:
            if other.name != step.name:
                self._skip(state, other.name, f'step "{step.name}" failed')

    def _skip(self, state: RunState, name: str, reason: str) -> None:
        record = self.result.steps[name]
        if record.status != "pending":
            return
        record.status = "skipped"
        state.emit(ev.STEP_SKIPPED, {"step": name, "agent": record.agent, "reason": reason})

    async def _schedule(self, state: RunState, steps: dict[str, PipelineStep]) -> None:
        """Run every step as soon as its dependencies completed.

        A worker task runs a step, then continues with one of the steps that became ready
        (a chain runs in one task, like a plain loop) and starts a new worker for each other.
        """
        self.steps = steps
        self.waiting = {name: set(step.depends_on) for name, step in steps.items()}
        self.dependents = {name: [] for name in steps}
        for name, step in steps.items():
            for dependency in step.depends_on:
                self.dependents[dependency].append(name)
        workers = self.workers
        try:
            for name in self._ready(state, [n for n, deps in self.waiting.items() if not deps]):
                self._spawn(state, name)
            while workers:
                await asyncio.wait(list(workers))
        except asyncio.CancelledError:
            self.cancelled = True
            for task in workers:
                task.cancel()
            while workers:
                await asyncio.wait(list(workers))
            for other in [n for n in steps if n in self.waiting]:
                self._skip(state, other, "the pipeline was cancelled")
            raise

    def _spawn(self, state: RunState, name: str) -> None:
        task = asyncio.ensure_future(self._worker(state, name))
        self.workers.add(task)
        task.add_done_callback(self.workers.discard)

    async def _worker(self, state: RunState, name: str | None) -> None:
        while name is not None:
            ok = await self._run_step(state, self.steps[name])
            if self.cancelled:
                return
            ready = self._finished(state, name, ok)
            name = ready[0] if ready else None
            for other in ready[1:]:
                self._spawn(state, other)

    def _finished(self, state: RunState, name: str, ok: bool) -> list[str]:
        """Record that ``name`` ended; the steps to start now, in name order."""
        if not ok:
            if not self.aborting:
                self.aborting = name
                self.result.error = f'step "{name}" failed: {self.result.steps[name].error}'
                current = asyncio.current_task()
                for task in self.workers:
                    if task is not current:
                        task.cancel()
                for other in [n for n in self.steps if n in self.waiting]:
                    del self.waiting[other]
                    self._skip(state, other, f'step "{name}" failed')
            return []
        ready: list[str] = []
        for dependent in self.dependents[name]:
            deps = self.waiting.get(dependent)
            if deps is not None:
                deps.discard(name)
                if not deps:
                    ready.append(dependent)
        return self._ready(state, ready)

    def _ready(self, state: RunState, names: list[str]) -> list[str]:
        """Of steps whose dependencies completed, those to run (name order); skip the others."""
        chosen: list[str] = []
        for name in sorted(names):
            del self.waiting[name]
            step = self.steps[name]
            if self.aborting:
                self._skip(state, name, f'step "{self.aborting}" failed')
            elif step.when and not _truthy(self._render(step.when)):
                self._skip(state, name, f"condition is false: {step.when}")
                self._skip_dependents(state, name)
            else:
                chosen.append(name)
        return chosen

    def _skip_dependents(self, state: RunState, name: str) -> None:
        for dependent in self.dependents[name]:
            if dependent in self.waiting:
                del self.waiting[dependent]
                self._skip(state, dependent, f'step "{name}" was skipped')
                self._skip_dependents(state, dependent)

    # ------------------------------------------------------------------ one step
    def _render(self, template: str) -> str:
        if "{{" not in template:
            return template
        refs = self.refs

        def replace(match: Any) -> str:
            reference = match.group(1)
            found = refs.get(reference)
            if found is None:
                found = refs[reference] = split_reference(reference, self.pipeline, self.names)
            kind, target, path = found
            if kind == "trigger":
                value = _lookup(self.trigger, path)
            elif kind == "step":
                record = self.result.steps[target]
                value = _lookup(record.output, path) if path else record.text
            else:
                value = _MISSING
            if value is _MISSING:
                raise UsageError(f"template reference {match.group(0)} has no value")
            return _as_text(value)

        return TEMPLATE_REFERENCE.sub(replace, template)

    async def _run_step(self, state: RunState, step: PipelineStep) -> bool:
        """Run one step (with its retries); True when it completed.

        Cancelling the task (fail-fast, or the pipeline run cancelled) cancels the child run
        and records the step as ``cancelled``.
        """
        record = self.result.steps[step.name]
        record.status = "running"
        began = time.perf_counter()
        attempts = step.retries + 1
        try:
            text = self._render(step.input) if step.input else json.dumps(self.trigger)
        except UsageError as exc:
            return self._step_failed(state, step, record, began, "invalid_request", str(exc))

        for attempt in range(1, attempts + 1):
            record.attempts = attempt
            # The step starts (an event) before its child run, synchronously and so in a
            # deterministic order: a resumed pipeline re-emits its steps in the logged order.
            # Resuming, the stored event (and the child it names) is what counts.
            started = state.emit(
                ev.STEP_STARTED,
                {
                    "step": step.name,
                    "agent": step.agent,
                    "run_id": new_id("run"),
                    "attempt": attempt,
                    "input": text,
                },
            )
            record.run_id = started.data["run_id"]
            try:
                if step.timeout is None:
                    run = await self.runtime.run(
                        step.agent,
                        text,
                        parent_run_id=state.run_id,
                        raise_on_failure=False,
                        run_id=record.run_id,
                    )
                else:
                    async with asyncio.timeout(step.timeout):
                        run = await self.runtime.run(
                            step.agent,
                            text,
                            parent_run_id=state.run_id,
                            raise_on_failure=False,
                            run_id=record.run_id,
                        )
                record.run_id = run.run_id
            except TimeoutError:
                code, message = "timeout", f"step timed out after {step.timeout:g}s"
            except asyncio.CancelledError:
                self._cancelled(state, step, record, began)
                return False
            except AgentspecError as exc:  # refused before a run existed (unknown model, ...)
                return self._step_failed(state, step, record, began, exc.code, str(exc))
            else:
                record.usage.add(run.usage)
                if run.status == "completed":
                    self._completed(state, step, record, began, run)
                    return True
                code = run.error or "internal_error"
                message = run.error_message or code
            if attempt < attempts:
                state.emit(
                    ev.STEP_RETRY,
                    {
                        "step": step.name,
                        "agent": step.agent,
                        "run_id": record.run_id,
                        "attempt": attempt,
                        "error": code,
                        "message": message,
                    },
                )
                continue
            return self._step_failed(state, step, record, began, code, message)
        raise AssertionError("unreachable")  # pragma: no cover

    def _completed(
        self, state: RunState, step: PipelineStep, record: StepResult, began: float, run: RunResult
    ) -> None:
        record.status = "completed"
        record.text = run.output
        record.output = _parse_output(run.output)
        record.duration_ms = (time.perf_counter() - began) * 1000.0
        state.emit(
            ev.STEP_COMPLETED,
            {
                "step": step.name,
                "agent": step.agent,
                "run_id": run.run_id,
                "attempt": record.attempts,
                "output": run.output,
                "duration_ms": round(record.duration_ms, 3),
                "tokens": run.usage.total,
            },
        )

    def _cancelled(
        self, state: RunState, step: PipelineStep, record: StepResult, began: float
    ) -> None:
        record.status = "cancelled"
        if self.aborting:
            record.error = f'cancelled: step "{self.aborting}" failed'
        else:
            record.error = "cancelled: the pipeline was cancelled"
        record.duration_ms = (time.perf_counter() - began) * 1000.0
        state.emit(
            ev.STEP_CANCELLED,
            {
                "step": step.name,
                "agent": step.agent,
                "run_id": record.run_id,
                "attempt": record.attempts,
                "reason": record.error,
                "duration_ms": round(record.duration_ms, 3),
            },
        )

    def _step_failed(
        self,
        state: RunState,
        step: PipelineStep,
        record: StepResult,
        began: float,
        code: str,
        message: str,
    ) -> bool:
        record.status = "failed"
        record.error = message
        record.duration_ms = (time.perf_counter() - began) * 1000.0
        state.emit(
            ev.STEP_FAILED,
            {
                "step": step.name,
                "agent": step.agent,
                "run_id": record.run_id,
                "attempt": record.attempts,
                "error": code,
                "message": message,
                "duration_ms": round(record.duration_ms, 3),
            },
        )
        return False
