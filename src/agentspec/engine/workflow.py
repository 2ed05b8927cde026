"""The workflow executor: runs a workflow graph (or a compiled state machine) as a structured run.

A workflow run is a run like any other (``Runtime.run_flow("workflow", ...)``): its log holds
``run.started``, one event per transition, then ``run.completed`` (the final task data as
text, JSON unless it is a string) or ``run.failed`` (naming the node). Agent nodes are child
runs (``parent_run_id`` = the workflow run).

Tasks carry JSON data and a deterministic id that records their lineage: the root task is
``t``, the clones of a BRANCH are ``t.b0``, ``t.b1``, ..., the subtasks of a SPLIT ``t.s0``,
``t.s1``, ... (nested: ``t.b1.s0``). Every transition is an event, emitted before the
executor acts on it:

============== ===============================================================
``node.started``   a task enters a node ``{node, role, task}``
``node.completed`` its action finished ``{node, task}`` (+ ``run_id`` of an agent, the
                   ``output`` of agents and tools)
``node.failed``    its action failed ``{node, task, error, message, continued}``; this is
                   the workflow's ``step.failed``
``decision``       a DECISION chose an edge ``{node, task, to, label, reason}``
``decision.retry`` a deciding agent answered no valid label and is asked again
``task.cloned``    a BRANCH cloned the task ``{node, task, clones: [{task, to}]}``
``task.split``     a SPLIT fanned out ``{node, task, subtasks: [{task, to}], count}``
``task.merged``    a MERGE combined the children ``{node, task, children, failed, mode}``
``task.exited``    a task reached an EXIT ``{node, task, status}``
============== ===============================================================

Status propagates: a failed clone or subtask fails its parent at the MERGE unless the BRANCH,
SPLIT or MERGE node sets ``continue_on_failure`` (failed children are then left out of the
merge). A failing action node with ``continue_on_failure`` leaves the data unchanged and goes
on. The root task failing, or reaching an EXIT with ``status: failed``, fails the run.

Usage:
    ```python
    result = await run_workflow(runtime, "triage", {"tickets": [...]})
    handle = start_workflow(runtime, "triage", {...})   # stream events live
    ```
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from agentspec.engine import events as ev
from agentspec.engine.workflow_actions import (
    Actions,
    NodeFailure,
    NodeFunction,
    WorkflowError,
    parse_answer,
    store,
)
from agentspec.exceptions import UsageError
from agentspec.ir.check_workflow import find_joins
from agentspec.ir.expr import Expr, ExprError, compile_expr
from agentspec.ir.suggest import suggest
from agentspec.ir.workflow import Workflow, WorkflowNode

if TYPE_CHECKING:
    from agentspec.engine.result import RunResult
    from agentspec.engine.run import Listener, RunHandle, RunState
    from agentspec.engine.runtime import Runtime

Kind = Literal["workflow", "state_machine", "behavior_tree"]
KINDS: tuple[str, ...] = ("workflow", "state_machine", "behavior_tree")


@dataclass(slots=True)
class Task:
    """A unit of work moving through the graph: its id (lineage), data and node visits."""

    id: str
    data: Any
    visits: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    """How a path ended: at its MERGE (``arrived``), at an EXIT, or failed at ``node``."""

    task: Task
    status: Literal["arrived", "completed", "failed"]
    node: str
    message: str = ""
    code: str = ""


class _Node:
    """A workflow node prepared for execution (compiled conditions, resolved action)."""

    __slots__ = (
        "action",
        "conditions",
        "default",
        "fn",
        "fn_async",
        "labels",
        "merge_at",
        "name",
        "next",
        "over",
        "spec",
        "where",
    )

    def __init__(self, spec: WorkflowNode, kind: str) -> None:
        self.spec = spec
        self.name = spec.name
        self.action = spec.action_kind
        self.next = spec.next[0].to if len(spec.next) == 1 else ""
        self.where = f'{kind or "node"} "{spec.name}"'
        self.conditions: list[tuple[Expr, str, str]] = []
        self.default: tuple[str, str] | None = None
        self.labels = {edge.label.strip().lower(): (edge.to, edge.label) for edge in spec.next}
        self.over: Expr | None = compile_expr(spec.over) if spec.over else None
        self.merge_at = ""
        self.fn: NodeFunction | None = None
        self.fn_async = False
        if spec.role == "decision":
            for edge in spec.next:
                if edge.when:
                    self.conditions.append((compile_expr(edge.when), edge.to, edge.label))
                elif self.default is None:
                    self.default = (edge.to, edge.label)


class WorkflowRunner:
    """Executes one workflow on one runtime. Build once, run many times (it is stateless)."""

    def __init__(
        self,
        runtime: Runtime,
        workflow: Workflow,
        *,
        kind: str = "workflow",
        actions: Actions | None = None,
        functions: Mapping[str, NodeFunction] | None = None,
    ) -> None:
        """Args:
        runtime: the runtime whose agents, tools and store the run uses.
        workflow: a validated workflow (``check_package`` found no problem).
        kind: ``workflow`` or ``state_machine`` (the run's kind and the wording of errors).
        actions: shared action resolver (default: a new one).
        functions: callables by ``module:function`` reference, instead of importing them.
        """
        self.runtime = runtime
        self.workflow = workflow
        self.kind = kind
        self.actions = actions or Actions(runtime, functions)
        noun = "state" if kind == "state_machine" else ""
        self.nodes = {spec.name: _Node(spec, noun) for spec in workflow.nodes}
        start = [spec.name for spec in workflow.nodes if spec.role == "start"]
        if len(start) != 1:
            raise UsageError(f'{kind} "{workflow.name}" needs exactly one START node')
        self.start = start[0]
        joins = find_joins(workflow)
        if joins.problems:
            raise UsageError(joins.problems[0][1])
        for fanout, merge in joins.merges.items():
            self.nodes[fanout].merge_at = merge
        for spec in workflow.nodes:
            self.actions.prepare(spec)
            if spec.function:
                node = self.nodes[spec.name]
                node.fn = self.actions.function(spec.function)
                call = type(node.fn).__call__ if not inspect.isroutine(node.fn) else None
                node.fn_async = inspect.iscoroutinefunction(node.fn) or (
                    call is not None and inspect.iscoroutinefunction(call)
                )

    def body(self, input: Any) -> Callable[[RunState], Awaitable[str]]:
        """The run body for ``input`` (the root task's data)."""

        async def run(state: RunState) -> str:
            root = Task("t", copy.deepcopy(input))  # nodes may change it in place
            outcome = await self._walk(state, root, self.start, "")
            if outcome.status == "failed":
                raise WorkflowError(outcome.message, outcome.code or "internal_error")
            data = outcome.task.data
            return data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)

        return run

    # ------------------------------------------------------------------ the walk
    async def _walk(self, state: RunState, task: Task, name: str, stop: str) -> Outcome:
        """Move ``task`` from node ``name`` until it reaches ``stop`` (a MERGE) or an EXIT."""
        emit = state.emit
        nodes = self.nodes
        while True:
            if name == stop:
                return Outcome(task, "arrived", name)
            node = nodes[name]
            spec = node.spec
            role = spec.role
            if spec.max_visits is not None:
                count = task.visits.get(name, 0) + 1
                task.visits[name] = count
                if count > spec.max_visits:
                    message = (
                        f"{node.where} was entered more than max_visits={spec.max_visits} times"
                    )
                    emit(
                        ev.NODE_FAILED,
                        {
                            "node": name,
                            "task": task.id,
                            "error": "max_visits",
                            "message": message,
                            "continued": False,
                        },
                    )
                    return Outcome(task, "failed", name, message, "internal_error")
            if role == "branch" or role == "split":
                fanned = await self._fan_out(state, task, node)
                if isinstance(fanned, Outcome):
                    return fanned
                merge = nodes[node.merge_at]
                failed = await self._merge(state, task, merge, node, *fanned)
                if failed is not None:
                    return failed
                name = merge.next
                continue
            emit(ev.NODE_STARTED, {"node": name, "role": role, "task": task.id})
            result: Any = None
            child_run = ""
            survived = False
            if node.action:
                try:
                    fn = node.fn
                    if fn is None:
                        result, child_run = await self._act(state, task, node)
                    else:  # the fast path: a deterministic function
                        try:
                            result = fn(task.data)
                            if node.fn_async:
                                result = await result
                        except Exception as exc:
                            raise NodeFailure(
                                f"{node.where}: function {spec.function!r} raised "
                                f"{type(exc).__name__}: {exc}"
                            ) from None
                        if role != "decision" or node.conditions:
                            task.data = (
                                store(task.data, spec.output, result, node.where)
                                if spec.output
                                else result
                            )
                except NodeFailure as failure:
                    survived = spec.continue_on_failure and role != "decision"
                    emit(
                        ev.NODE_FAILED,
                        {
                            "node": name,
                            "task": task.id,
                            "error": failure.code,
                            "message": failure.message,
                            "continued": survived,
                            **({"run_id": failure.run_id} if failure.run_id else {}),
                        },
                    )
                    if not survived:
                        return Outcome(task, "failed", name, failure.message, failure.code)
            if role == "decision":
                try:
                    target = await self._decide(state, task, node, result, child_run)
                except NodeFailure as failure:
                    emit(
                        ev.NODE_FAILED,
                        {
                            "node": name,
                            "task": task.id,
                            "error": failure.code,
                            "message": failure.message,
                            "continued": False,
                            **({"run_id": failure.run_id} if failure.run_id else {}),
                        },
                    )
                    return Outcome(task, "failed", name, failure.message, failure.code)
                name = target
                continue
            if survived:
                pass
            elif child_run:
                emit(
                    ev.NODE_COMPLETED,
                    {"node": name, "task": task.id, "run_id": child_run, "output": result},
                )
            elif node.action == "tool":
                emit(ev.NODE_COMPLETED, {"node": name, "task": task.id, "output": result})
            else:
                emit(ev.NODE_COMPLETED, {"node": name, "task": task.id})
            if role == "exit":
                status = spec.status
                emit(ev.TASK_EXITED, {"node": name, "task": task.id, "status": status})
                if status == "failed":
                    message = (
                        f'{self.kind} "{self.workflow.name}" ended at EXIT "{name}" '
                        "with status failed"
                    )
                    return Outcome(task, "failed", name, message, "internal_error")
                return Outcome(task, "completed", name)
            if role == "merge":  # reached without its BRANCH/SPLIT: refused by validation
                message = f"{node.where} was reached without a BRANCH or SPLIT to join"
                return Outcome(task, "failed", name, message, "internal_error")
            name = node.next

    async def _act(self, state: RunState, task: Task, node: _Node) -> tuple[Any, str]:
        """Run an agent or tool action (functions run inline in :meth:`_walk`); what to log as
        its output (or the decision answer) and the child run's id."""
        spec = node.spec
        kind = node.action
        if kind == "tool":
            assert spec.tool is not None
            call_id = f"{node.name}:{task.id}:{state.seq}"
            result = await self.actions.call_tool(state, spec.tool, task.data, call_id, node.where)
            if spec.role == "decision" and not node.conditions:
                return result, ""
            task.data = store(task.data, spec.output, result, node.where)
            return copy.deepcopy(result), ""  # logged in node.completed: keep it unshared
        assert spec.agent is not None
        if spec.role == "decision" and not node.conditions:
            return "", ""  # the agent classifies in _decide
        text = self.actions.agent_input(spec, task.data, node.where)
        output, run_id = await self.actions.run_agent(state, spec.agent, text, node.where)
        task.data = store(task.data, spec.output, parse_answer(output), node.where)
        return output, run_id

    # ------------------------------------------------------------------ decisions
    async def _decide(
        self, state: RunState, task: Task, node: _Node, result: Any, child_run: str
    ) -> str:
        """Choose the DECISION's edge, emit ``decision``, return the target node."""
        emit = state.emit
        if node.conditions:
            chosen: tuple[str, str] | None = None
            reason = "no condition held: default edge"
            for expr, to, edge_label in node.conditions:
                try:
                    held = expr.test(task.data)
                except ExprError as exc:
                    raise NodeFailure(
                        f"{node.where}: condition {expr.source!r}: {exc}", "invalid_request"
                    ) from None
                if held:
                    chosen, reason = (to, edge_label), f"when {expr.source!r} held"
                    break
            chosen = chosen or node.default
            if chosen is None:
                raise NodeFailure(
                    f"{node.where}: no condition held (and no edge without a condition)",
                    "invalid_request",
                )
            target, label = chosen
            emit(ev.NODE_COMPLETED, {"node": node.name, "task": task.id})
            emit(
                ev.DECISION,
                {
                    "node": node.name,
                    "task": task.id,
                    "to": target,
                    "label": label,
                    "reason": reason,
                },
            )
            return target
        if node.action == "agent":
            return await self._agent_decides(state, task, node)
        answer = result if isinstance(result, str) else json.dumps(result)
        found = node.labels.get(answer.strip().lower())
        if found is None:
            raise NodeFailure(
                f"{node.where}: {node.action} answered {answer!r}, not one of the labels "
                f"{', '.join(label for _, label in node.labels.values())}",
                "invalid_request",
            )
        target, label = found
        emit(ev.NODE_COMPLETED, {"node": node.name, "task": task.id, "output": result})
        emit(
            ev.DECISION,
            {
                "node": node.name,
                "task": task.id,
                "to": target,
                "label": label,
                "reason": f"{node.action} answered {answer!r}",
            },
        )
        return target

    async def _agent_decides(self, state: RunState, task: Task, node: _Node) -> str:
        spec = node.spec
        assert spec.agent is not None
        labels = [label for _, label in node.labels.values()]
        choices = ", ".join(labels)
        base = self.actions.agent_input(spec, task.data, node.where)
        text = f"{base}\n\nAnswer with exactly one of: {choices}"
        attempts = spec.max_retries + 1
        answer = run_id = ""
        for attempt in range(1, attempts + 1):
            output, run_id = await self.actions.run_agent(state, spec.agent, text, node.where)
            answer = output.strip()
            found = node.labels.get(answer.strip(" \t\n.!\"'`*").lower())
            if found is not None:
                target, label = found
                state.emit(
                    ev.NODE_COMPLETED,
                    {"node": node.name, "task": task.id, "run_id": run_id, "output": answer},
                )
                state.emit(
                    ev.DECISION,
                    {
                        "node": node.name,
                        "task": task.id,
                        "to": target,
                        "label": label,
                        "reason": f"agent {spec.agent!r} answered {answer!r}",
                        "run_id": run_id,
                    },
                )
                return target
            if attempt < attempts:
                state.emit(
                    ev.DECISION_RETRY,
                    {
                        "node": node.name,
                        "task": task.id,
                        "answer": answer,
                        "attempt": attempt,
                        "labels": labels,
                        "run_id": run_id,
                    },
                )
                text = (
                    f"{base}\n\nYour previous answer {answer!r} is not one of the allowed "
                    f"labels. Answer with exactly one of: {choices}"
                )
        raise NodeFailure(
            f"{node.where}: agent {spec.agent!r} answered {answer!r}, not one of the labels "
            f"{choices} (after {attempts} attempt{'s' if attempts != 1 else ''})",
            "invalid_request",
            run_id,
        )

    # ------------------------------------------------------------------ fan-out and merge
    async def _fan_out(
        self, state: RunState, task: Task, node: _Node
    ) -> Outcome | tuple[list[Outcome], list[str]]:
        """Clone or split ``task`` and run the children to the MERGE: their outcomes and the
        node each started at, or the failed outcome of ``task``."""
        spec = node.spec
        name = node.name
        state.emit(ev.NODE_STARTED, {"node": name, "role": spec.role, "task": task.id})
        if spec.role == "branch":
            children = [
                (Task(f"{task.id}.b{i}", copy.deepcopy(task.data)), edge.to)
                for i, edge in enumerate(spec.next)
            ]
            state.emit(
                ev.TASK_CLONED,
                {
                    "node": name,
                    "task": task.id,
                    "clones": [{"task": child.id, "to": to} for child, to in children],
                },
            )
        else:
            try:
                items = node.over.evaluate(task.data) if node.over is not None else task.data
            except ExprError as exc:
                return self._fail(
                    state, task, node, f"{node.where}: over: {exc}", "invalid_request"
                )
            if not isinstance(items, list):
                what = f"over {spec.over!r}" if spec.over else "the task data"
                return self._fail(
                    state,
                    task,
                    node,
                    f"{node.where}: SPLIT needs a list, but {what} is {type(items).__name__}",
                    "invalid_request",
                )
            children = [
                (Task(f"{task.id}.s{i}", copy.deepcopy(item)), node.next)
                for i, item in enumerate(items)
            ]
            state.emit(
                ev.TASK_SPLIT,
                {
                    "node": name,
                    "task": task.id,
                    "subtasks": [{"task": child.id, "to": to} for child, to in children],
                    "count": len(children),
                },
            )
        state.emit(ev.NODE_COMPLETED, {"node": name, "task": task.id})
        stop = node.merge_at
        if len(children) == 1:
            child, to = children[0]
            outcomes = [await self._walk(state, child, to, stop)]
        elif spec.concurrency is not None and spec.concurrency < len(children):
            gate = asyncio.Semaphore(spec.concurrency)

            async def gated(child: Task, to: str) -> Outcome:
                async with gate:
                    return await self._walk(state, child, to, stop)

            outcomes = list(await asyncio.gather(*(gated(c, to) for c, to in children)))
        else:
            outcomes = list(
                await asyncio.gather(*(self._walk(state, c, to, stop) for c, to in children))
            )
        return outcomes, [to for _, to in children]

    def _fail(self, state: RunState, task: Task, node: _Node, message: str, code: str) -> Outcome:
        state.emit(
            ev.NODE_FAILED,
            {
                "node": node.name,
                "task": task.id,
                "error": code,
                "message": message,
                "continued": False,
            },
        )
        return Outcome(task, "failed", node.name, message, code)

    async def _merge(
        self,
        state: RunState,
        task: Task,
        merge: _Node,
        fanout: _Node,
        outcomes: list[Outcome],
        targets: list[str],
    ) -> Outcome | None:
        """Combine the children at ``merge`` into ``task``; an outcome when the task fails."""
        spec = merge.spec
        name = merge.name
        state.emit(ev.NODE_STARTED, {"node": name, "role": "merge", "task": task.id})
        failed = [o for o in outcomes if o.status == "failed"]
        tolerant = fanout.spec.continue_on_failure or spec.continue_on_failure
        state.emit(
            ev.TASK_MERGED,
            {
                "node": name,
                "task": task.id,
                "children": [o.task.id for o in outcomes],
                "failed": [o.task.id for o in failed],
                "mode": spec.merge,
            },
        )
        if failed and not tolerant:
            first = failed[0]
            noun = "clone" if fanout.spec.role == "branch" else "subtask"
            message = (
                f'{noun} {first.task.id} of {fanout.spec.role.upper()} "{fanout.name}" failed: '
                f"{first.message}"
            )
            return self._fail(state, task, merge, message, first.code or "internal_error")
        kept = [(o, to) for o, to in zip(outcomes, targets, strict=True) if o.status != "failed"]
        if spec.merge == "mapping":
            if fanout.spec.role == "branch":
                combined: Any = {to: o.task.data for o, to in kept}
            else:
                combined = {o.task.id.rsplit(".s", 1)[1]: o.task.data for o, _ in kept}
        else:
            combined = [o.task.data for o, _ in kept]
        child_run = ""
        if spec.merge == "agent":
            assert spec.agent is not None
            values = {"results": combined, "data": task.data}
            text = (
                self.actions.agent_input(spec, values, merge.where)
                if spec.input
                else json.dumps(combined, ensure_ascii=False)
            )
            try:
                output, child_run = await self.actions.run_agent(
                    state, spec.agent, text, merge.where
                )
            except NodeFailure as failure:
                return self._fail(state, task, merge, failure.message, failure.code)
            combined = parse_answer(output)
        try:
            task.data = store(task.data, spec.output, combined, merge.where)
        except NodeFailure as failure:
            return self._fail(state, task, merge, failure.message, failure.code)
        if child_run:
            state.emit(
                ev.NODE_COMPLETED,
                {"node": name, "task": task.id, "run_id": child_run, "output": combined},
            )
        else:
            state.emit(ev.NODE_COMPLETED, {"node": name, "task": task.id})
        return None


# --------------------------------------------------------------------------- public API


def find_structure(runtime: Runtime, name: str, kind: str = "") -> tuple[str, Any]:
    """``(kind, IR)`` of the workflow, state machine or behaviour tree called ``name``.

    Raises:
        UsageError: no such structure (with a did-you-mean), or the name is ambiguous.
    """
    package = runtime.package
    tables: dict[str, Mapping[str, Any]] = {
        "workflow": package.workflows,
        "state_machine": package.state_machines,
        "behavior_tree": package.behavior_trees,
    }
    if kind and kind not in tables:
        raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    found = [
        (k, table[name]) for k, table in tables.items() if (not kind or k == kind) and name in table
    ]
    if len(found) > 1:
        kinds = ", ".join(k for k, _ in found)
        raise UsageError(f"{name!r} names a {kinds}; say which with kind=")
    if not found:
        names = [n for k, table in tables.items() if not kind or k == kind for n in table]
        what = kind.replace("_", " ") if kind else "workflow, state machine or behaviour tree"
        hint = suggest(name, names)
        raise UsageError(f"unknown {what} {name!r}" + (f" ({hint})" if hint else ""))
    return found[0]


def prepare(
    runtime: Runtime,
    name: str,
    *,
    kind: str = "",
    functions: Mapping[str, NodeFunction] | None = None,
) -> tuple[str, Callable[[Any], Callable[[RunState], Awaitable[str]]]]:
    """Build the executor of ``name``: ``(kind, input -> run body)``."""
    kind, spec = find_structure(runtime, name, kind)
    if kind == "behavior_tree":
        from agentspec.engine.workflow_tree import TreeRunner

        tree = TreeRunner(runtime, spec, functions=functions)
        return kind, tree.body
    if kind == "state_machine":
        from agentspec.engine.workflow_fsm import compile_fsm

        spec = compile_fsm(spec)
    return kind, WorkflowRunner(runtime, spec, kind=kind, functions=functions).body


async def run_workflow(
    runtime: Runtime,
    name: str,
    input: Any,
    *,
    kind: str = "",
    functions: Mapping[str, NodeFunction] | None = None,
    listener: Listener | None = None,
    parent_run_id: str = "",
) -> RunResult:
    """Run the workflow, state machine or behaviour tree ``name`` on ``input`` (JSON data).

    Never raises for a failed run (check ``result.status``); raises :class:`UsageError` for
    an unknown name or a function that cannot be imported, before any run is created.
    """
    kind, body = prepare(runtime, name, kind=kind, functions=functions)
    return await runtime.run_flow(
        kind, name, input, body(input), listener=listener, parent_run_id=parent_run_id
    )


def start_workflow(
    runtime: Runtime,
    name: str,
    input: Any,
    *,
    kind: str = "",
    functions: Mapping[str, NodeFunction] | None = None,
    parent_run_id: str = "",
) -> RunHandle:
    """:func:`run_workflow` in the background; iterate the handle for live events."""
    kind, body = prepare(runtime, name, kind=kind, functions=functions)
    return runtime.start_flow(kind, name, input, body(input), parent_run_id=parent_run_id)
