"""Human approval: a run parks before a tool that needs approval, and continues (or is told
"denied") when someone decides: from Python, the CLI, the HTTP API, or a timeout."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from agentspec.engine import events as ev
from agentspec.engine.settings import Settings
from agentspec.exceptions import UsageError
from agentspec.lang.project import Project, load
from agentspec.store.sql import SQLStore

from ..engine.helpers import package, runtime
from ..server.conftest import KEY_ALL, KEY_READ, start_server
from .project import effects, write_project
from .test_resume import step

ASK = "please approve this"


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj")


@pytest.fixture
def project(project_root: Path) -> Project:
    return load(str(project_root))


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'approvals.db'}"


async def _park(project: Project, url: str, **settings: Any) -> str:
    async with project.runtime(Settings(store=url, **settings)) as rt:
        result = await rt.run("worker", ASK)
        assert result.status == "waiting"
        return result.run_id


async def test_a_run_parks_before_a_tool_that_needs_approval(
    project: Project, project_root: Path, tmp_path: Path
) -> None:
    run_id = await _park(project, _url(tmp_path))
    async with project.runtime(Settings(store=_url(tmp_path))) as rt:
        record = await rt.get_run(run_id)
        events = await rt.get_events(run_id)
        waiting = await rt.list_runs(status="waiting")
    assert record is not None and record.status == "waiting" and record.lease_owner == ""
    assert [r.id for r in waiting.runs] == [run_id]
    assert events[-1].type == ev.APPROVAL_REQUESTED
    assert events[-1].data == {
        "turn": 1, "call_id": "g1", "name": "guarded", "arguments": {"key": "g1"},
    }  # fmt: skip
    assert not any(e.type in ev.TERMINAL or e.type == ev.TOOL_RESULT for e in events)
    assert effects(project_root) == []  # nothing of the turn ran, not even the ungated call


async def test_approve_runs_the_tool_once_and_the_run_completes(
    project: Project, project_root: Path, tmp_path: Path
) -> None:
    run_id = await _park(project, _url(tmp_path))
    async with project.runtime(Settings(store=_url(tmp_path))) as rt:  # survives a restart
        result = await rt.approve(run_id, "g1", reason="looks fine", by="alice")
        assert result is not None
        events = await rt.get_events(run_id)
        record = await rt.get_run(run_id)
    assert result.status == "completed" and result.output == "guarded said: ok g1, ok x"
    assert record is not None and record.status == "completed"
    decided = [e for e in events if e.type == ev.APPROVAL_DECIDED]
    assert [e.data for e in decided] == [
        {"call_id": "g1", "name": "guarded", "decision": "approve", "reason": "looks fine",
         "by": "alice"},
    ]  # fmt: skip
    assert sorted(line.split(" ")[1] for line in effects(project_root)) == ["g1", "x"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_deny_shows_the_model_who_denied_and_why(
    project: Project, project_root: Path, tmp_path: Path
) -> None:
    run_id = await _park(project, _url(tmp_path))
    async with project.runtime(Settings(store=_url(tmp_path))) as rt:
        result = await rt.deny(run_id, "g1", reason="not today", by="bob")
        events = await rt.get_events(run_id)
    assert result is not None and result.status == "completed"
    assert result.output == "guarded said: error: denied by bob: not today, ok x"
    denied = next(e for e in events if e.type == ev.TOOL_RESULT and e.data["call_id"] == "g1")
    assert denied.data["error"] == "denied by bob: not today"
    assert [line.split(" ")[1] for line in effects(project_root)] == ["x"]  # g1 never ran


async def test_deciding_a_call_that_is_not_waiting_is_a_clear_error(
    project: Project, tmp_path: Path
) -> None:
    run_id = await _park(project, _url(tmp_path))
    async with project.runtime(Settings(store=_url(tmp_path))) as rt:
        with pytest.raises(
            UsageError,
            match=r"call 'g2' of run .* is not waiting for approval \(waiting calls: g1\)",
        ):
            await rt.approve(run_id, "g2")
        with pytest.raises(UsageError, match="no such run"):
            await rt.approve("run_missing", "g1")
        with pytest.raises(UsageError, match="use 'approve' or 'deny'"):
            await rt.decide(run_id, "g1", "maybe")  # type: ignore[arg-type]
        assert (await rt.approve(run_id, "g1")) is not None
        with pytest.raises(UsageError, match=r"already finished \(completed\)"):
            await rt.approve(run_id, "g1")
        done = await rt.run("worker", "go")
        with pytest.raises(UsageError, match="already finished"):
            await rt.deny(done.run_id, "c1")


async def test_a_timeout_decides(project: Project, project_root: Path, tmp_path: Path) -> None:
    url = _url(tmp_path)
    async with project.runtime(
        Settings(store=url, approval_timeout=0.3, approval_on_timeout="deny")
    ) as rt:
        result = await rt.run("worker", ASK)
        assert result.status == "waiting"
        request = (await rt.get_events(result.run_id))[-1]
        assert request.data["timeout"] == 0.3 and request.data["on_timeout"] == "deny"
        record = await _until_finished(rt, result.run_id)
    assert record.output == "guarded said: error: denied by timeout: no decision within 0.3s, ok x"


async def test_a_timeout_survives_a_restart(project: Project, tmp_path: Path) -> None:
    url = _url(tmp_path)
    run_id = await _park(project, url, approval_timeout=0.3, approval_on_timeout="approve")
    await asyncio.sleep(0.4)  # nobody was running when it expired
    async with project.runtime(Settings(store=url, resume_on_start=True)) as rt:
        record = await _until_finished(rt, run_id)
    assert record.output == "guarded said: ok g1, ok x"


async def _until_finished(rt: Any, run_id: str) -> Any:
    for _ in range(200):
        record = await rt.get_run(run_id)
        if record is not None and record.status not in ("running", "waiting"):
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


async def test_an_agent_can_require_approval_for_every_tool(tmp_path: Path) -> None:
    script = [
        {"when": {"last": "user"}, "tool_calls": [{"id": "s1", "name": "step", "arguments": {"key": "k"}}]},
        {"text": "{{tool_result}}"},
    ]  # fmt: skip
    pkg = package(
        {"boss": {"script": script, "skills": ("step",), "approval": "required"}}, tools=[step]
    )
    store = SQLStore(_url(tmp_path))
    async with runtime(pkg, tools=[step], store=store) as rt:
        parked = await rt.run("boss", "go")
        assert parked.status == "waiting"
        result = await rt.approve(parked.run_id, "s1")
    assert result is not None and result.output == "ok k"


# ---------------------------------------------------------------------------- CLI


def _cli(root: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentspec.cli", *args, "--store", url],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_run_list_approve_deny_and_resume(project_root: Path, tmp_path: Path) -> None:
    url = _url(tmp_path)
    parked = _cli(project_root, url, "run", ".", "worker", "--input", ASK, "--json")
    assert parked.returncode == 0, parked.stderr
    run_id = json.loads(parked.stdout)["run_id"]
    assert f"agentspec runs approve {run_id} CALL_ID" in parked.stderr
    listed = _cli(project_root, url, "runs", "list", "--status", "waiting", "--json")
    assert [r["id"] for r in json.loads(listed.stdout)["runs"]] == [run_id]

    wrong = _cli(project_root, url, "runs", "approve", run_id, "nope")
    assert wrong.returncode == 2
    assert "call 'nope' of run" in wrong.stderr and "waiting calls: g1" in wrong.stderr

    approved = _cli(project_root, url, "runs", "approve", run_id, "g1", "--reason", "ok", "--json")
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["output"] == "guarded said: ok g1, ok x"

    second = _cli(project_root, url, "run", ".", "worker", "--input", ASK, "--json")
    second_id = json.loads(second.stdout)["run_id"]
    denied = _cli(project_root, url, "runs", "deny", second_id, "g1", "-r", "no", "--by", "carol")
    assert denied.returncode == 0, denied.stderr
    assert "denied by carol: no" in denied.stdout

    again = _cli(project_root, url, "runs", "resume", run_id)
    assert again.returncode == 2 and "already finished (completed)" in again.stderr
    unknown = _cli(project_root, url, "runs", "resume", "run_nope")
    assert unknown.returncode == 2 and "no such run" in unknown.stderr
    assert "Traceback" not in unknown.stderr + again.stderr + wrong.stderr

    # the CLI's approvals and the runs they resumed are in the audit log, which verifies
    exported = _cli(project_root, url, "audit", "export")
    assert exported.returncode == 0, exported.stderr
    entries = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    decided = [e for e in entries if e["kind"] == "approval.decided"]
    assert [(e["subject"], e["actor"]) for e in decided][-1] == (second_id, "carol")
    assert any(e["subject"] == run_id and e["kind"] == "run.completed" for e in entries)
    verified = _cli(project_root, url, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_cli_resume_of_a_foreign_run(project_root: Path, tmp_path: Path) -> None:
    url = _url(tmp_path)
    parked = _cli(project_root, url, "run", ".", "worker", "--input", ASK, "--json")
    run_id = json.loads(parked.stdout)["run_id"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "agentspec.yaml").write_text(
        (project_root / "agentspec.yaml").read_text().replace("package: durable", "package: other")
    )
    foreign = _cli(other, url, "runs", "resume", run_id)
    assert foreign.returncode == 2
    assert "belongs to package 'durable'" in foreign.stderr


# ---------------------------------------------------------------------------- HTTP


@pytest.fixture
def served(project_root: Path, tmp_path: Path) -> Iterator[Any]:
    with ExitStack() as stack:
        yield start_server(stack, tmp_path, project_root, store="sqlite")


def test_http_approval(served: Any, project_root: Path) -> None:
    with served.client() as http, served.client(KEY_READ) as reader:
        started = http.post("/v1/agents/worker/invoke", json={"message": ASK})
        assert started.status_code == 202, started.text
        assert started.json()["status"] == "waiting"
        run_id = started.json()["run_id"]
        assert http.get(f"/v1/runs/{run_id}").json()["status"] == "waiting"
        path = f"/v1/runs/{run_id}/approvals/g1"
        assert reader.post(path, json={"decision": "approve"}).status_code == 403
        bad = http.post(path, json={"decision": "perhaps"})
        assert bad.status_code in (400, 422) and "decision" in bad.text
        wrong = http.post(f"/v1/runs/{run_id}/approvals/zz", json={"decision": "approve"})
        assert wrong.status_code == 409 and "not waiting for approval" in wrong.text
        assert (
            http.post("/v1/runs/run_nope/approvals/g1", json={"decision": "deny"}).status_code
            == 404
        )
        accepted = http.post(path, json={"decision": "deny", "reason": "policy"})
        assert accepted.status_code == 202, accepted.text
        assert accepted.json() == {
            "run_id": run_id, "call_id": "g1", "decision": "deny", "status": "resuming",
        }  # fmt: skip
        for _ in range(200):
            run = http.get(f"/v1/runs/{run_id}").json()
            if run["status"] == "completed":
                break
            import time

            time.sleep(0.05)
        assert run["output"] == "guarded said: error: denied by key:key_all: policy, ok x"
    assert KEY_ALL


async def test_a_decided_run_whose_resume_died_is_resumed_at_start_up(
    project: Project, tmp_path: Path
) -> None:
    url = _url(tmp_path)
    run_id = await _park(project, url)
    async with project.runtime(Settings(store=url)) as rt:
        events = await rt.get_events(run_id)
        # what a process that recorded the decision and died before resuming leaves behind
        from agentspec.engine.events import Event
        from agentspec.store.base import WriteBatch

        decided = Event(
            run_id, len(events) + 1, 0.0, ev.APPROVAL_DECIDED,
            {"call_id": "g1", "name": "guarded", "decision": "approve", "reason": "", "by": "x"},
        )  # fmt: skip
        await rt.store.write(WriteBatch(events=[decided]))
    async with project.runtime(Settings(store=url, resume_on_start=True)) as rt:
        record = await _until_finished(rt, run_id)
    assert record.status == "completed" and record.output == "guarded said: ok g1, ok x"


def test_http_stream_of_a_parked_run_says_how_to_continue(served: Any) -> None:
    with served.client() as http:
        response = http.post("/v1/agents/worker/stream", json={"message": ASK})
        run_id = response.headers["x-run-id"]
    body = response.text
    assert "event: tool_call_start" in body and body.rstrip().split("\n\n")[-1].startswith(
        "event: done"
    )
    assert f"/v1/runs/{run_id}/approvals/CALL_ID" in body and '"error":"conflict"' in body


async def test_a_python_agent_can_require_approval(tmp_path: Path) -> None:
    import agentspec

    agent = agentspec.Agent(
        "py",
        instructions="You run steps.",
        model={
            "provider": "scripted",
            "script": [
                {
                    "when": {"last": "user"},
                    "tool_calls": [{"id": "p1", "name": "step", "arguments": {"key": "py"}}],
                },
                {"text": "{{tool_result}}"},
            ],
        },
        tools=[step],
        approval="required",
    )
    assert agent.to_package().agents["py"].approval == "required"
    async with agent.runtime(store=f"sqlite:///{tmp_path / 'py.db'}") as rt:
        parked = await rt.run("py", "go")
        assert parked.status == "waiting"
        done = await rt.approve(parked.run_id, "p1")
    assert done is not None and done.output == "ok py"


async def test_runtime_listeners_see_each_event_of_an_approved_run_once(
    project: Project, tmp_path: Path
) -> None:
    run_id = await _park(project, _url(tmp_path))
    async with project.runtime(Settings(store=_url(tmp_path))) as rt:
        seen: list[int] = []
        rt.add_listener(lambda event: seen.append(event.seq))
        result = await rt.approve(run_id, "g1")
        assert result is not None and result.status == "completed"
        events = await rt.get_events(run_id)
    assert seen == [e.seq for e in events if e.seq >= seen[0]]
    assert len(seen) == len(set(seen))
