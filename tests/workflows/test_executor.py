"""The workflow executor: every node role, decisions, fan-out/merge lineage, failures."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from agentspec.engine import events as ev
from agentspec.engine.runtime import Runtime
from agentspec.engine.settings import Settings
from agentspec.engine.workflow import run_workflow, start_workflow
from agentspec.exceptions import UsageError
from agentspec.tools.function import tool
from tests.workflows.helpers import chain, of, package, run

LABEL_SCRIPT = [
    {"when": {"contains": "outage"}, "text": "urgent"},
    {"text": "Routine."},
]


def inc(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "n": data["n"] + 1}


def boom(data: Any) -> Any:
    raise ValueError("the disk is on fire")


FUNCS = {"m:inc": inc, "m:boom": boom, "m:double": lambda x: x * 2, "m:same": lambda x: x}


async def test_linear_chain_emits_each_transition_and_returns_the_data() -> None:
    pkg = package(
        workflows={
            "w": chain(
                {"name": "a", "role": "start", "function": "m:inc", "next": "b"},
                {"name": "b", "role": "linear", "function": "m:inc", "next": "c"},
                {"name": "c", "role": "exit", "function": "m:inc"},
            )
        }
    )
    result, events = await run(pkg, "w", {"n": 0}, functions=FUNCS)
    assert result.status == "completed"
    assert json.loads(result.output) == {"n": 3}
    types = [(e.type, e.data.get("node")) for e in events]
    assert types == [
        (ev.RUN_STARTED, None),
        (ev.NODE_STARTED, "a"),
        (ev.NODE_COMPLETED, "a"),
        (ev.NODE_STARTED, "b"),
        (ev.NODE_COMPLETED, "b"),
        (ev.NODE_STARTED, "c"),
        (ev.NODE_COMPLETED, "c"),
        (ev.TASK_EXITED, "c"),
        (ev.RUN_COMPLETED, None),
    ]
    assert events[0].data["kind"] == "workflow"
    assert [d["role"] for d in of(events, ev.NODE_STARTED)] == ["start", "linear", "exit"]
    assert of(events, ev.TASK_EXITED) == [{"node": "c", "task": "t", "status": "completed"}]


async def test_output_field_keeps_the_data_and_stores_the_result() -> None:
    pkg = package(
        workflows={
            "w": chain(
                {"name": "a", "role": "start", "function": "m:double", "output": "x", "next": "e"},
                {"name": "e", "role": "exit"},
            )
        }
    )
    functions = {"m:double": lambda data: data["v"] * 2}
    result, _ = await run(pkg, "w", {"v": 21}, functions=functions)
    assert json.loads(result.output) == {"v": 21, "x": 42}


def _decision(edges: list[dict[str, Any]], **node: Any) -> dict[str, Any]:
    return chain(
        {"name": "s", "role": "start", "function": "m:same", "next": "d"},
        {"name": "d", "role": "decision", "next": edges, **node},
        {"name": "hot", "role": "exit"},
        {"name": "cold", "role": "exit", "status": "completed"},
    )


async def test_decision_by_expression_takes_the_first_true_edge_or_the_default() -> None:
    edges = [
        {"to": "hot", "label": "hot", "when": "temp > 30 and 'sun' in tags"},
        {"to": "cold", "label": "cold"},
    ]
    pkg = package(workflows={"w": _decision(edges)})
    result, events = await run(pkg, "w", {"temp": 35, "tags": ["sun"]}, functions=FUNCS)
    assert result.status == "completed"
    [decision] = of(events, ev.DECISION)
    assert decision["to"] == "hot" and decision["label"] == "hot"
    assert "temp > 30" in decision["reason"]
    assert of(events, ev.TASK_EXITED)[0]["node"] == "hot"
    result, events = await run(pkg, "w", {"temp": 10, "tags": []}, functions=FUNCS)
    [decision] = of(events, ev.DECISION)
    assert decision["to"] == "cold" and decision["reason"] == "no condition held: default edge"


async def test_decision_with_no_true_condition_and_no_default_fails_naming_the_node() -> None:
    edges = [
        {"to": "hot", "label": "hot", "when": "temp > 30"},
        {"to": "cold", "label": "cold", "when": "temp < 0"},
    ]
    pkg = package(workflows={"w": _decision(edges)})
    result, events = await run(pkg, "w", {"temp": 10}, functions=FUNCS)
    assert result.status == "failed"
    assert 'node "d"' in result.error_message and "no condition held" in result.error_message
    assert of(events, ev.NODE_FAILED)[0]["node"] == "d"


async def test_condition_over_a_missing_field_fails_naming_node_and_field() -> None:
    edges = [
        {"to": "hot", "label": "hot", "when": "priority == 'high'"},
        {"to": "cold", "label": "c"},
    ]
    pkg = package(workflows={"w": _decision(edges)})
    result, events = await run(pkg, "w", {"prio": "high"}, functions=FUNCS)
    assert result.status == "failed"
    assert result.error == "invalid_request"
    assert 'node "d"' in result.error_message
    assert 'unknown field "priority"' in result.error_message
    assert "prio" in result.error_message  # what the data has
    [failed] = of(events, ev.NODE_FAILED)
    assert failed["node"] == "d" and failed["continued"] is False
    assert events[-1].type == ev.RUN_FAILED


async def test_decision_by_agent_follows_its_label() -> None:
    edges = [{"to": "hot", "label": "urgent"}, {"to": "cold", "label": "routine"}]
    pkg = package(workflows={"w": _decision(edges, agent="clf")}, agents={"clf": LABEL_SCRIPT})
    result, events = await run(pkg, "w", {"text": "total outage"}, functions=FUNCS)
    assert result.status == "completed"
    [decision] = of(events, ev.DECISION)
    assert decision["to"] == "hot" and decision["label"] == "urgent"
    assert decision["reason"] == "agent 'clf' answered 'urgent'"
    # the classification is a child run of the workflow run
    assert decision["run_id"].startswith("run_")
    # "Routine." matches the label "routine" (case and punctuation are ignored)
    result, events = await run(pkg, "w", {"text": "a question"}, functions=FUNCS)
    assert of(events, ev.DECISION)[0]["to"] == "cold"


async def test_decision_agent_with_an_invalid_label_is_retried_then_fails() -> None:
    edges = [{"to": "hot", "label": "urgent"}, {"to": "cold", "label": "routine"}]
    script_then_ok = [
        {"when": {"contains": "previous answer"}, "text": "routine"},
        {"text": "I am not sure"},
    ]
    pkg = package(
        workflows={"w": _decision(edges, agent="clf", max_retries=1)},
        agents={"clf": script_then_ok},
    )
    result, events = await run(pkg, "w", {"x": 1}, functions=FUNCS)
    assert result.status == "completed"
    [retry] = of(events, ev.DECISION_RETRY)
    assert retry["answer"] == "I am not sure" and retry["attempt"] == 1
    assert retry["labels"] == ["urgent", "routine"]
    assert of(events, ev.DECISION)[0]["to"] == "cold"

    never = [{"when": {"last": "user"}, "text": "maybe"}]
    pkg = package(
        workflows={"w": _decision(edges, agent="clf", max_retries=2)}, agents={"clf": never}
    )
    async with Runtime(pkg, settings=Settings(store="memory")) as rt:
        result = await run_workflow(rt, "w", {"x": 1}, functions=FUNCS)
        events = await rt.get_events(result.run_id)
        assert result.status == "failed"
        assert "agent 'clf' answered 'maybe', not one of the labels urgent, routine" in (
            result.error_message
        )
        assert "after 3 attempts" in result.error_message
        assert len(of(events, ev.DECISION_RETRY)) == 2
        assert of(events, ev.NODE_FAILED)[0]["node"] == "d"
        child_ids = [d["run_id"] for d in of(events, ev.DECISION_RETRY)]
        child_ids.append(of(events, ev.NODE_FAILED)[0]["run_id"])
        for child_id in child_ids:
            child = await rt.get_run(child_id)
            assert child is not None and child.parent_run_id == result.run_id


async def test_decision_by_function_answering_a_label() -> None:
    edges = [{"to": "hot", "label": "hot"}, {"to": "cold", "label": "cold"}]
    pkg = package(workflows={"w": _decision(edges, function="m:pick")})
    functions = {**FUNCS, "m:pick": lambda data: "cold" if data["t"] < 20 else "hot"}
    result, events = await run(pkg, "w", {"t": 5}, functions=functions)
    assert of(events, ev.DECISION)[0]["to"] == "cold"
    assert json.loads(result.output) == {"t": 5}  # a label answer does not replace the data
    functions["m:pick"] = lambda data: "lukewarm"
    result, _ = await run(pkg, "w", {"t": 5}, functions=functions)
    assert result.status == "failed" and "'lukewarm', not one of the labels" in result.error_message


def _fan(role: str, **extra: Any) -> dict[str, Any]:
    merge_node = extra.pop("merge_node", {})
    if role == "branch":
        fan = {"name": "fan", "role": "branch", "next": ["left", "right"], **extra}
        paths = [
            {"name": "left", "role": "linear", "function": "m:left", "next": "join"},
            {"name": "right", "role": "linear", "function": "m:right", "next": "join"},
        ]
    else:
        fan = {"name": "fan", "role": "split", "next": "work", **extra}
        paths = [{"name": "work", "role": "linear", "function": "m:work", "next": "join"}]
    return chain(
        {"name": "s", "role": "start", "function": "m:same", "next": "fan"},
        fan,
        *paths,
        {"name": "join", "role": "merge", "next": "e", **merge_node},
        {"name": "e", "role": "exit"},
    )


async def test_branch_clones_the_task_and_merges_by_mapping_with_lineage() -> None:
    def left(data: dict[str, Any]) -> dict[str, Any]:
        data["side"] = "left"  # mutates its clone only
        return data

    wf = _fan("branch", merge_node={"merge": "mapping"})
    pkg = package(workflows={"w": wf})
    functions = {**FUNCS, "m:left": left, "m:right": lambda d: {**d, "side": "right"}}
    result, events = await run(pkg, "w", {"v": 1}, functions=functions)
    assert result.status == "completed"
    assert json.loads(result.output) == {
        "left": {"v": 1, "side": "left"},
        "right": {"v": 1, "side": "right"},
    }
    [cloned] = of(events, ev.TASK_CLONED)
    assert cloned == {
        "node": "fan",
        "task": "t",
        "clones": [{"task": "t.b0", "to": "left"}, {"task": "t.b1", "to": "right"}],
    }
    [merged] = of(events, ev.TASK_MERGED)
    assert merged == {
        "node": "join",
        "task": "t",
        "children": ["t.b0", "t.b1"],
        "failed": [],
        "mode": "mapping",
    }
    tasks = {(d["node"], d["task"]) for d in of(events, ev.NODE_STARTED)}
    assert {("left", "t.b0"), ("right", "t.b1"), ("join", "t"), ("e", "t")} <= tasks
    # cloned before the clones start, merged after both finished
    seqs = {(e.type, e.data.get("node"), e.data.get("task")): e.seq for e in events}
    assert seqs[(ev.TASK_CLONED, "fan", "t")] < seqs[(ev.NODE_STARTED, "left", "t.b0")]
    assert seqs[(ev.NODE_COMPLETED, "right", "t.b1")] < seqs[(ev.TASK_MERGED, "join", "t")]


async def test_branch_paths_run_concurrently() -> None:
    async def slow(data: Any) -> Any:
        await asyncio.sleep(0.3)
        return data

    wf = _fan("branch")
    pkg = package(workflows={"w": wf})
    functions = {**FUNCS, "m:left": slow, "m:right": slow}
    started = time.perf_counter()
    result, _ = await run(pkg, "w", {"v": 1}, functions=functions)
    elapsed = time.perf_counter() - started
    assert result.status == "completed"
    assert json.loads(result.output) == [{"v": 1}, {"v": 1}]
    assert elapsed < 0.55, elapsed  # two 0.3 s paths overlapped


async def test_split_fans_out_over_a_list_and_merges_in_order() -> None:
    async def work(item: int) -> int:
        await asyncio.sleep(0.01 * (5 - item))  # finish in reverse order
        return item * 10

    wf = _fan("split", over="items", merge_node={"output": "results"})
    pkg = package(workflows={"w": wf})
    result, events = await run(pkg, "w", {"items": [1, 2, 3]}, functions={**FUNCS, "m:work": work})
    assert json.loads(result.output) == {"items": [1, 2, 3], "results": [10, 20, 30]}
    [split] = of(events, ev.TASK_SPLIT)
    assert split["count"] == 3
    assert [s["task"] for s in split["subtasks"]] == ["t.s0", "t.s1", "t.s2"]
    [merged] = of(events, ev.TASK_MERGED)
    assert merged["children"] == ["t.s0", "t.s1", "t.s2"] and merged["mode"] == "list"
    # an empty list merges nothing
    result, events = await run(pkg, "w", {"items": []}, functions={**FUNCS, "m:work": work})
    assert json.loads(result.output) == {"items": [], "results": []}


async def test_split_mapping_merge_is_keyed_by_index() -> None:
    wf = _fan("split", merge_node={"merge": "mapping"})
    pkg = package(workflows={"w": wf})
    result, _ = await run(pkg, "w", ["a", "b"], functions={**FUNCS, "m:work": str.upper})
    assert json.loads(result.output) == {"0": "A", "1": "B"}


async def test_split_over_something_not_a_list_fails_naming_the_node() -> None:
    wf = _fan("split", over="items")
    pkg = package(workflows={"w": wf})
    result, events = await run(pkg, "w", {"items": "abc"}, functions={**FUNCS, "m:work": str})
    assert result.status == "failed"
    assert result.error == "invalid_request"
    assert result.error_message == "node \"fan\": SPLIT needs a list, but over 'items' is str"
    assert of(events, ev.NODE_FAILED)[0]["node"] == "fan"
    assert not of(events, ev.TASK_SPLIT)


async def test_a_failed_subtask_fails_the_parent_unless_continue_on_failure() -> None:
    def work(item: int) -> int:
        if item == 2:
            raise RuntimeError("two is unlucky")
        return item

    functions = {**FUNCS, "m:work": work}
    pkg = package(workflows={"w": _fan("split")})
    result, events = await run(pkg, "w", [1, 2, 3], functions=functions)
    assert result.status == "failed"
    assert result.error_message.startswith('subtask t.s1 of SPLIT "fan" failed: node "work"')
    assert "RuntimeError: two is unlucky" in result.error_message
    failed = of(events, ev.NODE_FAILED)
    assert [(f["node"], f["task"]) for f in failed] == [("work", "t.s1"), ("join", "t")]
    assert of(events, ev.TASK_MERGED)[0]["failed"] == ["t.s1"]

    tolerant = package(workflows={"w": _fan("split", continue_on_failure=True)})
    result, events = await run(tolerant, "w", [1, 2, 3], functions=functions)
    assert result.status == "completed"
    assert json.loads(result.output) == [1, 3]
    assert of(events, ev.TASK_MERGED)[0]["failed"] == ["t.s1"]


async def test_continue_on_failure_on_an_action_node_keeps_the_data() -> None:
    pkg = package(
        workflows={
            "w": chain(
                {"name": "s", "role": "start", "function": "m:same", "next": "risky"},
                {
                    "name": "risky",
                    "role": "linear",
                    "function": "m:boom",
                    "continue_on_failure": True,
                    "next": "after",
                },
                {"name": "after", "role": "linear", "function": "m:inc", "next": "e"},
                {"name": "e", "role": "exit"},
            )
        }
    )
    result, events = await run(pkg, "w", {"n": 1}, functions=FUNCS)
    assert result.status == "completed" and json.loads(result.output) == {"n": 2}
    [failed] = of(events, ev.NODE_FAILED)
    assert failed["node"] == "risky" and failed["continued"] is True
    assert "the disk is on fire" in failed["message"]


async def test_a_raising_deterministic_node_fails_the_run_naming_it() -> None:
    pkg = package(
        workflows={
            "w": chain(
                {"name": "s", "role": "start", "function": "m:boom", "next": "e"},
                {"name": "e", "role": "exit"},
            )
        }
    )
    result, events = await run(pkg, "w", {}, functions=FUNCS)
    assert result.status == "failed"
    assert result.error_message == (
        "node \"s\": function 'm:boom' raised ValueError: the disk is on fire"
    )
    assert [e.type for e in events][-2:] == [ev.NODE_FAILED, ev.RUN_FAILED]


async def test_exit_with_failed_status_fails_the_run() -> None:
    pkg = package(
        workflows={
            "w": chain(
                {"name": "s", "role": "start", "next": "e"},
                {"name": "e", "role": "exit", "status": "failed"},
            )
        }
    )
    result, events = await run(pkg, "w", {"a": 1}, functions=FUNCS)
    assert result.status == "failed"
    assert result.error_message == 'workflow "w" ended at EXIT "e" with status failed'
    assert of(events, ev.TASK_EXITED) == [{"node": "e", "task": "t", "status": "failed"}]


async def test_agent_nodes_are_child_runs_with_templated_input() -> None:
    echo = [{"text": "echo: {{input}}"}]
    pkg = package(
        workflows={
            "w": chain(
                {
                    "name": "s",
                    "role": "start",
                    "agent": "echo",
                    "input": "Hello {{user.name}}",
                    "output": "greeting",
                    "next": "e",
                },
                {"name": "e", "role": "exit"},
            )
        },
        agents={"echo": echo},
    )
    async with Runtime(pkg, settings=Settings(store="memory")) as rt:
        result = await run_workflow(rt, "w", {"user": {"name": "Ada"}})
        assert json.loads(result.output) == {"user": {"name": "Ada"}, "greeting": "echo: Hello Ada"}
        events = await rt.get_events(result.run_id)
        completed = of(events, ev.NODE_COMPLETED)[0]
        child = await rt.get_run(completed["run_id"])
        assert child is not None and child.parent_run_id == result.run_id
        assert child.input == "Hello Ada"
        result = await run_workflow(rt, "w", {"usr": 1})
        assert result.status == "failed"
        assert "input references unknown field {{user.name}}" in result.error_message


async def test_merge_agent_combines_the_results() -> None:
    wf = _fan("split", merge_node={"merge": "agent", "agent": "joiner", "output": "summary"})
    pkg = package(workflows={"w": wf}, agents={"joiner": [{"text": "joined {{input}}"}]})
    result, events = await run(pkg, "w", ["x", "y"], functions={**FUNCS, "m:work": str.upper})
    assert result.status == "failed"  # output: needs mapping data; the data here is a list
    assert 'node "join": cannot store the result under' in result.error_message

    wf = _fan("split", merge_node={"merge": "agent", "agent": "joiner"})
    pkg = package(workflows={"w": wf}, agents={"joiner": [{"text": "joined {{input}}"}]})
    result, events = await run(pkg, "w", ["x", "y"], functions={**FUNCS, "m:work": str.upper})
    assert result.output == 'joined ["X", "Y"]'
    [joined] = [d for d in of(events, ev.NODE_COMPLETED) if d["node"] == "join"]
    assert joined["run_id"].startswith("run_") and joined["output"] == 'joined ["X", "Y"]'


async def test_tool_nodes_call_a_declared_skill_with_the_data() -> None:
    @tool
    def area(width: float, height: float) -> float:
        """Multiply."""
        return width * height

    pkg = package(
        workflows={
            "w": chain(
                {"name": "s", "role": "start", "tool": "area", "output": "area", "next": "e"},
                {"name": "e", "role": "exit"},
            )
        },
        tools=[area],
    )
    result, events = await run(pkg, "w", {"width": 2, "height": 3}, tools=[area])
    assert json.loads(result.output) == {"width": 2, "height": 3, "area": 6.0}
    assert of(events, ev.NODE_COMPLETED)[0]["output"] == 6.0
    result, _ = await run(pkg, "w", {"width": 2}, tools=[area])
    assert result.status == "failed" and "tool 'area' failed" in result.error_message


async def test_functions_are_imported_from_the_project_directory(tmp_path: Path) -> None:
    (tmp_path / "wfnodes_import.py").write_text(
        "async def shout(data):\n    return data.upper()\n", encoding="utf-8"
    )
    pkg = package(
        workflows={
            "w": chain(
                {"name": "s", "role": "start", "function": "wfnodes_import:shout", "next": "e"},
                {"name": "e", "role": "exit"},
            )
        }
    )
    result, _ = await run(pkg, "w", "quiet", base_dir=tmp_path)
    assert result.output == "QUIET"
    async with Runtime(pkg, settings=Settings(store="memory")) as rt:
        rt.base_dir = tmp_path / "nowhere"
        with pytest.raises(UsageError, match="cannot import function 'wfnodes_import:shout'"):
            import sys

            sys.modules.pop("wfnodes_import", None)
            await run_workflow(rt, "w", "x")


async def test_nested_branch_inside_a_split_keeps_lineage() -> None:
    wf = chain(
        {"name": "s", "role": "start", "next": "sp"},
        {"name": "sp", "role": "split", "next": "br"},
        {"name": "br", "role": "branch", "next": ["a", "b"]},
        {"name": "a", "role": "linear", "function": "m:double", "next": "j1"},
        {"name": "b", "role": "linear", "function": "m:same", "next": "j1"},
        {"name": "j1", "role": "merge", "next": "j2"},
        {"name": "j2", "role": "merge", "next": "e"},
        {"name": "e", "role": "exit"},
    )
    pkg = package(workflows={"w": wf})
    result, events = await run(pkg, "w", [1, 2], functions=FUNCS)
    assert json.loads(result.output) == [[2, 1], [4, 2]]
    clones = [c["task"] for d in of(events, ev.TASK_CLONED) for c in d["clones"]]
    assert sorted(clones) == ["t.s0.b0", "t.s0.b1", "t.s1.b0", "t.s1.b1"]


async def test_unknown_workflow_is_a_usage_error_with_a_suggestion() -> None:
    pkg = package(
        workflows={
            "triage": chain(
                {"name": "s", "role": "start", "next": "e"}, {"name": "e", "role": "exit"}
            )
        }
    )
    async with Runtime(pkg, settings=Settings(store="memory")) as rt:
        with pytest.raises(UsageError, match='did you mean "triage"'):
            await run_workflow(rt, "triag", {})


async def test_workflow_run_on_sqlite_streams_and_persists(tmp_path: Path) -> None:
    pkg = package(
        workflows={
            "w": chain(
                {"name": "s", "role": "start", "function": "m:inc", "next": "e"},
                {"name": "e", "role": "exit"},
            )
        }
    )
    settings = Settings(store=f"sqlite:///{tmp_path / 'wf.db'}")
    async with Runtime(pkg, settings=settings) as rt:
        handle = start_workflow(rt, "w", {"n": 1}, functions=FUNCS)
        live = [event.type async for event in handle]
        result = await handle.result()
        assert result.status == "completed" and json.loads(result.output) == {"n": 2}
        stored = await rt.get_events(result.run_id)
        assert [e.type for e in stored] == live
        record = await rt.get_run(result.run_id)
        assert record is not None and record.status == "completed" and record.agent == "w"


async def test_split_concurrency_bounds_the_subtasks_running_at_once() -> None:
    running = 0
    peak = 0

    async def work(item: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return item

    pkg = package(workflows={"w": _fan("split", concurrency=2)})
    result, _ = await run(pkg, "w", list(range(6)), functions={**FUNCS, "m:work": work})
    assert json.loads(result.output) == list(range(6))
    assert peak == 2
    pkg = package(workflows={"w": _fan("split")})
    peak = 0
    await run(pkg, "w", list(range(6)), functions={**FUNCS, "m:work": work})
    assert peak == 6
