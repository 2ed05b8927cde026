"""The executor: ordering, concurrency, data flow, fail-fast, retries, timeouts, conditions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentspec.engine import events as ev
from agentspec.engine.pipeline import run_pipeline, start_pipeline
from agentspec.engine.runtime import Runtime
from agentspec.engine.settings import Settings
from agentspec.exceptions import UsageError
from tests.pipelines.helpers import load_package, run, steps_of, write_project

REVIEW = """\
review:
  steps:
    left: {agent: slow, input: "L {{trigger.code}}", output: left_report}
    right: {agent: slow2, input: "R {{trigger.code}}"}
    summary:
      agent: fast
      depends_on: [left, right]
      input: "{{left_report}} + {{right}}"
"""


async def test_steps_run_in_dependency_order_and_pass_outputs(tmp_path: Path) -> None:
    package = load_package(write_project(tmp_path, REVIEW))
    result, events, _ = await run(package, "review", {"code": "x=1"})
    assert result.status == "completed"
    assert result.steps["summary"].output == "fast(slow(L x=1) + slow(R x=1))"
    started = steps_of(events, ev.STEP_STARTED)
    completed = steps_of(events, ev.STEP_COMPLETED)
    assert started[:2] == ["left", "right"]  # ready together: started in name order
    assert started[2] == "summary"
    assert set(completed[:2]) == {"left", "right"} and completed[2] == "summary"
    first_summary = next(i for i, e in enumerate(events) if e.data.get("step") == "summary")
    last_analyst = max(
        i
        for i, e in enumerate(events)
        if e.type == ev.STEP_COMPLETED and e.data["step"] != "summary"
    )
    assert first_summary > last_analyst
    body = result.to_dict()
    assert set(body) >= {"pipeline", "status", "total_duration_ms", "tokens", "steps"}
    assert set(body["steps"]["left"]) >= {"agent", "output", "duration_ms", "status", "error"}
    assert body["tokens"]["total"] == sum(s.usage.total for s in result.steps.values()) > 0
    assert events[-1].type == ev.RUN_COMPLETED
    assert json.loads(events[-1].data["output"])["steps"]["summary"]["status"] == "completed"


async def test_independent_steps_overlap_in_time(tmp_path: Path) -> None:
    package = load_package(write_project(tmp_path, REVIEW))
    result, events, _ = await run(package, "review", {"code": "x"})
    window = {}
    for event in events:
        if event.type in (ev.STEP_STARTED, ev.STEP_COMPLETED):
            window.setdefault(event.data["step"], []).append(event.ts)
    (left_start, left_end), (right_start, right_end) = window["left"], window["right"]
    overlap = min(left_end, right_end) - max(left_start, right_start)
    assert overlap > 0.2, f"the 0.3 s analysts overlapped only {overlap:.3f}s"
    # Sequential would take >= 0.6 s for the analysts alone.
    assert result.total_duration_ms < 550


async def test_fail_fast_cancels_running_siblings_and_skips_dependents(tmp_path: Path) -> None:
    pipelines = """\
    review:
      steps:
        crash: {agent: boom, input: "{{trigger.code}}"}
        long: {agent: sleepy, input: "{{trigger.code}}"}
        after: {agent: fast, depends_on: [crash, long]}
        later: {agent: fast, depends_on: [long]}
    """
    package = load_package(write_project(tmp_path, pipelines))
    result, events, _ = await run(package, "review", {"code": "x"})
    assert result.status == "failed"
    statuses = {name: step.status for name, step in result.steps.items()}
    assert statuses == {
        "crash": "failed",
        "long": "cancelled",
        "after": "skipped",
        "later": "skipped",
    }
    assert "analyst exploded" in result.steps["crash"].error
    assert result.error.startswith('step "crash" failed')
    assert result.total_duration_ms < 1500, "the 2 s sibling was not cancelled"
    assert steps_of(events, ev.STEP_CANCELLED) == ["long"]
    assert sorted(steps_of(events, ev.STEP_SKIPPED)) == ["after", "later"]
    assert events[-1].type == ev.RUN_FAILED
    assert events[-1].data["error"] == "step_failed"


async def test_retries_then_success_and_retries_exhausted(tmp_path: Path) -> None:
    agents = """\
package: flaky
models:
  flaky:
    provider: scripted
    script:
      - error: {code: bad_request, message: first try fails}
      - error: {code: bad_request, message: second try fails}
      - text: third time lucky
agents:
  flaky: {model: flaky, instructions: Try.}
"""
    pipelines = """\
    lucky:
      steps:
        only: {agent: flaky, retries: 2}
    """
    package = load_package(write_project(tmp_path / "a", pipelines, agents))
    result, events, _ = await run(package, "lucky")
    step = result.steps["only"]
    assert (result.status, step.status, step.attempts) == ("completed", "completed", 3)
    assert step.output == "third time lucky"
    retries = [e.data for e in events if e.type == ev.STEP_RETRY]
    assert [r["attempt"] for r in retries] == [1, 2]
    assert "first try fails" in retries[0]["message"]
    starts = [e.data["run_id"] for e in events if e.type == ev.STEP_STARTED]
    assert len(set(starts)) == 3  # one child run per attempt

    unlucky = pipelines.replace("retries: 2", "retries: 1")
    package = load_package(write_project(tmp_path / "b", unlucky, agents))
    result, events, _ = await run(package, "lucky")
    assert result.status == "failed"
    assert result.steps["only"].attempts == 2
    assert "second try fails" in result.steps["only"].error


async def test_step_timeout_fails_the_step_after_each_attempt(tmp_path: Path) -> None:
    pipelines = """\
    slowpoke:
      steps:
        nap: {agent: sleepy, timeout: 0.1s, retries: 1}
    """
    package = load_package(write_project(tmp_path, pipelines))
    result, events, _ = await run(package, "slowpoke")
    step = result.steps["nap"]
    assert (result.status, step.status, step.attempts) == ("failed", "failed", 2)
    assert step.error == "step timed out after 0.1s"
    failed = [e.data for e in events if e.type == ev.STEP_FAILED]
    assert failed[0]["error"] == "timeout"
    assert [e.data["error"] for e in events if e.type == ev.STEP_RETRY] == ["timeout"]
    assert result.total_duration_ms < 1000


async def test_trigger_missing_a_field_fails_naming_step_and_field(tmp_path: Path) -> None:
    package = load_package(write_project(tmp_path, REVIEW))
    result, events, _ = await run(package, "review", {"cod": "x"})
    assert result.status == "failed"
    assert result.steps["left"].status == "failed"
    assert result.steps["left"].error == (
        'step "left": the trigger has no field "code" (used in its input)'
    )
    assert {result.steps[n].status for n in ("right", "summary")} == {"skipped"}
    failed = [e.data for e in events if e.type == ev.STEP_FAILED]
    assert failed[0]["step"] == "left" and "code" in failed[0]["message"]
    assert not steps_of(events, ev.STEP_STARTED)


async def test_conditions_json_fields_and_default_input(tmp_path: Path) -> None:
    pipelines = """\
    gate:
      steps:
        grade: {agent: json, output: grade}
        praise: {agent: fast, depends_on: [grade], when: "{{grade.verdict}} == ok", input: "score {{grade.score}}"}
        blame: {agent: fast, depends_on: [grade], when: "{{grade.verdict}} != ok"}
        after_blame: {agent: fast, depends_on: [blame]}
        echo: {agent: fast, when: "{{trigger.enabled}}"}
    """
    package = load_package(write_project(tmp_path, pipelines))
    result, events, _ = await run(package, "gate", {"enabled": False})
    assert result.status == "completed"
    assert result.steps["grade"].output == {"verdict": "ok", "score": 7}
    assert result.steps["praise"].output == "fast(score 7)"
    assert {n: result.steps[n].status for n in ("blame", "after_blame", "echo")} == {
        "blame": "skipped",
        "after_blame": "skipped",
        "echo": "skipped",
    }
    started = [e.data for e in events if e.type == ev.STEP_STARTED]
    assert started[0]["input"] == '{"enabled": false}'  # no input template: the trigger


async def test_log_has_every_step_with_child_runs_in_the_store(tmp_path: Path) -> None:
    package = load_package(write_project(tmp_path / "p", REVIEW))
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    result, _, _ = await run(package, "review", {"code": "y"}, store=url)
    async with Runtime(package, settings=Settings(store=url)) as runtime:
        events = await runtime.get_events(result.run_id)
        record = await runtime.get_run(result.run_id)
        assert record is not None and record.status == "completed"
        assert events[0].data["kind"] == "pipeline"
        for name in ("left", "right", "summary"):
            kinds = [e.type for e in events if e.data.get("step") == name]
            assert kinds == [ev.STEP_STARTED, ev.STEP_COMPLETED]
            child_id = result.steps[name].run_id
            assert all(e.data["run_id"] == child_id for e in events if e.data.get("step") == name)
            child = await runtime.get_run(child_id)
            assert child is not None
            assert child.parent_run_id == result.run_id
            assert child.status == "completed"
            child_events = await runtime.get_events(child_id)
            assert child_events[-1].data["output"] == result.steps[name].text


async def test_start_pipeline_streams_and_unknown_names_are_usage_errors(tmp_path: Path) -> None:
    package = load_package(write_project(tmp_path, REVIEW))
    async with Runtime(package, settings=Settings(store="memory")) as runtime:
        handle, future = start_pipeline(runtime, "review", {"code": "z"})
        seen = [event.type async for event in handle]
        result = await future
        assert result.status == "completed" and result.run_id == handle.run_id
        assert seen.count(ev.STEP_COMPLETED) == 3 and seen[-1] == ev.RUN_COMPLETED
        with pytest.raises(UsageError, match='unknown pipeline .*did you mean "review"'):
            await run_pipeline(runtime, "reviw", {})
        with pytest.raises(UsageError, match="must be a JSON object"):
            await run_pipeline(runtime, "review", ["not", "an", "object"])  # type: ignore[arg-type]


async def test_cancelling_the_pipeline_cancels_its_steps(tmp_path: Path) -> None:
    import asyncio

    package = load_package(write_project(tmp_path, REVIEW.replace("slow2", "sleepy")))
    async with Runtime(package, settings=Settings(store="memory")) as runtime:
        handle, future = start_pipeline(runtime, "review", {"code": "z"})
        await asyncio.sleep(0.1)
        handle.cancel()
        result = await future
        assert result.status == "cancelled"
        assert {result.steps[n].status for n in ("left", "right")} == {"cancelled"}
        assert result.steps["summary"].status == "skipped"
        assert handle.events[-1].type == ev.RUN_FAILED
        assert handle.events[-1].data["error"] == "cancelled"
