"""State machines (guards, max_visits loops) and behaviour trees (tick semantics)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from agentspec.engine import events as ev
from agentspec.engine.workflow_fsm import compile_fsm
from agentspec.ir.workflow import StateMachine
from tests.workflows.helpers import of, package, run


def bump(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "score": data.get("score", 0) + 3}


REVIEW = {
    "initial": "revise",
    "states": [
        {
            "name": "revise",
            "function": "m:bump",
            "max_visits": 4,
            "transitions": [{"to": "approved", "when": "score >= target"}, "revise"],
        },
        {"name": "approved", "final": True},
    ],
}


async def test_fsm_guards_loop_until_they_hold() -> None:
    pkg = package(state_machines={"review": REVIEW})
    result, events = await run(pkg, "review", {"target": 8}, functions={"m:bump": bump})
    assert result.status == "completed"
    assert json.loads(result.output) == {"target": 8, "score": 9}
    assert events[0].data["kind"] == "state_machine"
    decisions = of(events, ev.DECISION)
    assert [d["to"] for d in decisions] == ["revise", "revise", "approved"]
    assert decisions[-1]["reason"] == "when 'score >= target' held"
    assert of(events, ev.TASK_EXITED) == [{"node": "approved", "task": "t", "status": "completed"}]


async def test_fsm_loop_beyond_max_visits_fails_naming_the_state() -> None:
    pkg = package(state_machines={"review": REVIEW})
    result, events = await run(pkg, "review", {"target": 100}, functions={"m:bump": bump})
    assert result.status == "failed"
    assert result.error_message == 'state "revise" was entered more than max_visits=4 times'
    assert len([d for d in of(events, ev.NODE_STARTED) if d["node"] == "revise"]) == 4
    assert of(events, ev.NODE_FAILED)[-1]["error"] == "max_visits"


async def test_fsm_with_no_guard_holding_fails_and_failed_final_status() -> None:
    machine = {
        "states": [
            {
                "name": "check",
                "transitions": [{"to": "ok", "when": "x > 0"}, {"to": "bad", "when": "x < 0"}],
            },
            {"name": "ok", "final": True},
            {"name": "bad", "final": True, "status": "failed"},
        ]
    }
    pkg = package(state_machines={"m": machine})
    result, _ = await run(pkg, "m", {"x": 0})
    assert result.status == "failed"
    assert (
        result.error_message == 'state "check": no condition held (and no edge without a condition)'
    )
    result, _ = await run(pkg, "m", {"x": -1})
    assert result.status == "failed"
    assert result.error_message == 'state_machine "m" ended at EXIT "bad" with status failed'
    result, _ = await run(pkg, "m", {"x": 1})
    assert result.status == "completed"


async def test_fsm_with_an_agent_state_and_compiled_shape() -> None:
    machine = {
        "states": [
            {"name": "draft", "agent": "writer", "output": "text", "transitions": "done"},
            {"name": "done"},
        ]
    }
    pkg = package(state_machines={"m": machine}, agents={"writer": [{"text": "a draft"}]})
    result, events = await run(pkg, "m", {"topic": "x"})
    assert json.loads(result.output) == {"topic": "x", "text": "a draft"}
    compiled = compile_fsm(StateMachine.model_validate({**machine, "name": "m"}))
    assert [(n.name, n.role) for n in compiled.nodes] == [
        ("__start__", "start"),
        ("draft", "linear"),
        ("done", "exit"),
    ]


# --------------------------------------------------------------------------- behaviour trees


def tree(root: dict[str, Any]) -> dict[str, Any]:
    return {"root": root}


def cond(expr: str, name: str = "") -> dict[str, Any]:
    return {"type": "condition", "when": expr, **({"name": name} if name else {})}


def act(ref: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "action", "function": ref, "name": name, **extra}


def note(tag: str) -> Any:
    def action(board: dict[str, Any]) -> bool:
        board.setdefault("log", []).append(tag)
        return True

    return action


FUNCS = {
    "m:a": note("a"),
    "m:b": note("b"),
    "m:c": note("c"),
    "m:no": lambda board: False,
    "m:boom": lambda board: 1 / 0,
    "m:value": lambda board: 42,
}


def ticked(events: list[Any]) -> list[tuple[str, str]]:
    return [(d["node"], d["status"]) for d in of(events, ev.NODE_COMPLETED)]


async def test_sequence_stops_at_the_first_failure() -> None:
    root = {
        "type": "sequence",
        "name": "seq",
        "children": [act("m:a", "a"), act("m:no", "no"), act("m:b", "b")],
    }
    pkg = package(behavior_trees={"t": tree(root)})
    result, events = await run(pkg, "t", {}, functions=FUNCS)
    assert result.status == "failed"
    assert result.error_message == 'behavior tree "t" failed: action "no" returned false'
    assert ticked(events) == [("a", "success"), ("no", "failure"), ("seq", "failure")]
    assert events[0].data["kind"] == "behavior_tree"


async def test_selector_stops_at_the_first_success() -> None:
    root = {
        "type": "selector",
        "name": "sel",
        "children": [
            cond("vip", "is-vip"),
            act("m:boom", "boom"),
            act("m:a", "a"),
            act("m:b", "b"),
        ],
    }
    pkg = package(behavior_trees={"t": tree(root)})
    result, events = await run(pkg, "t", {"vip": False}, functions=FUNCS)
    assert result.status == "completed"
    assert json.loads(result.output) == {"vip": False, "log": ["a"]}
    assert ticked(events) == [
        ("is-vip", "failure"),
        ("boom", "failure"),
        ("a", "success"),
        ("sel", "success"),
    ]
    [failed] = of(events, ev.NODE_FAILED)
    assert failed["node"] == "boom" and "ZeroDivisionError" in failed["message"]


async def test_parallel_runs_children_concurrently_and_merges_in_child_order() -> None:
    async def slow_x(board: dict[str, Any]) -> bool:
        await asyncio.sleep(0.3)
        board["winner"] = "x"
        return True

    async def slow_y(board: dict[str, Any]) -> bool:
        await asyncio.sleep(0.2)
        board["winner"] = "y"
        return True

    root = {
        "type": "parallel",
        "children": [act("m:x", "x"), act("m:y", "y"), act("m:no", "no")],
        "success_threshold": 2,
    }
    pkg = package(behavior_trees={"t": tree(root)})
    started = time.perf_counter()
    result, events = await run(pkg, "t", {}, functions={**FUNCS, "m:x": slow_x, "m:y": slow_y})
    assert time.perf_counter() - started < 0.5
    assert result.status == "completed"
    # y finished first, but writes are applied in child order: the later child wins
    assert json.loads(result.output) == {"winner": "y"}
    assert ticked(events)[-1] == ("parallel@root", "success")
    root["success_threshold"] = 3
    pkg = package(behavior_trees={"t": tree(root)})
    result, _ = await run(pkg, "t", {}, functions={**FUNCS, "m:x": slow_x, "m:y": slow_y})
    assert result.status == "failed"
    assert "2 of 3 needed children succeeded" in result.error_message


async def test_conditions_and_action_outputs_use_the_blackboard() -> None:
    root = {
        "type": "sequence",
        "children": [
            cond("len(items) > 1 and user.name == 'ada'"),
            act("m:value", "answer", output="answer"),
            {"type": "action", "agent": "writer", "output": "reply", "input": "Hi {{user.name}}"},
        ],
    }
    pkg = package(behavior_trees={"t": tree(root)}, agents={"writer": [{"text": "echo {{input}}"}]})
    result, events = await run(
        pkg, "t", {"items": [1, 2], "user": {"name": "ada"}}, functions=FUNCS
    )
    assert result.status == "completed"
    board = json.loads(result.output)
    assert board["answer"] == 42 and board["reply"] == "echo Hi ada"
    agent_done = [d for d in of(events, ev.NODE_COMPLETED) if d.get("run_id")]
    assert agent_done and agent_done[0]["output"] == "echo Hi ada"


async def test_a_condition_over_a_missing_field_fails_the_run_naming_the_node() -> None:
    pkg = package(
        behavior_trees={"t": tree({"type": "sequence", "children": [cond("prio > 1", "urgent?")]})}
    )
    result, events = await run(pkg, "t", {"priority": 2})
    assert result.status == "failed"
    assert result.error_message.startswith('condition "urgent?": unknown field "prio"')
    assert of(events, ev.NODE_FAILED)[0]["node"] == "urgent?"


async def test_non_mapping_input_becomes_the_input_field() -> None:
    pkg = package(behavior_trees={"t": tree(cond("input == 'go'"))})
    result, _ = await run(pkg, "t", "go")
    assert json.loads(result.output) == {"input": "go"}
