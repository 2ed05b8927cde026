"""Behaviour trees: sequence, selector, parallel, condition and action, with deterministic ticks.

A tree run is a structured run (``Runtime.run_flow("behavior_tree", ...)``) that performs
**one tick**: the root is ticked, and each node returns ``success`` or ``failure``. Actions
are awaited, so no node is left ``running`` between ticks. The blackboard is the task data (a
mapping; any other input is wrapped as ``{"input": ...}``) and is the run's output.

Tick semantics:

* **sequence**: ticks its children left to right; the first ``failure`` stops it and is its
  result; otherwise ``success``.
* **selector** (fallback): ticks its children left to right; the first ``success`` stops it
  and is its result; otherwise ``failure``.
* **parallel**: ticks all children at once, each on a copy of the blackboard; when all are
  done their changes are written back in child order (so the result never depends on
  timing); ``success`` when at least ``success_threshold`` children succeeded (default all).
* **condition**: its ``when`` expression over the blackboard; true is ``success``. A field the
  blackboard does not have fails the run with an error naming the node.
* **action**: an agent, function or tool (see :mod:`agentspec.engine.workflow_actions`). It
  fails when it raises (or the agent run fails) or when a function returns ``False``. A
  result other than a boolean or ``None`` is stored under ``output`` when set (an agent's
  answer too). Functions may also update the blackboard they are given in place.

Each node emits ``node.started`` ``{node, type, task}`` and ``node.completed``
``{node, task, status}``; an action that fails also emits ``node.failed`` first. Nodes are
named by their ``name`` or ``TYPE@PATH`` (``sequence@root.1``).
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from agentspec.engine import events as ev
from agentspec.engine.workflow_actions import (
    Actions,
    NodeFailure,
    NodeFunction,
    WorkflowError,
    parse_answer,
)
from agentspec.ir.expr import Expr, ExprError, compile_expr
from agentspec.ir.workflow import BehaviorTree, TreeNode

if TYPE_CHECKING:
    from agentspec.engine.run import RunState
    from agentspec.engine.runtime import Runtime

SUCCESS = "success"
FAILURE = "failure"
TASK = "t"


class _Tree:
    __slots__ = ("children", "condition", "label", "spec")

    def __init__(self, spec: TreeNode, path: str) -> None:
        self.spec = spec
        self.label = spec.name or f"{spec.type}@{path}"
        self.condition: Expr | None = compile_expr(spec.when) if spec.when else None
        self.children = [_Tree(child, f"{path}.{i}") for i, child in enumerate(spec.children)]


class TreeRunner:
    """Ticks one behaviour tree on one runtime. Build once, run many times."""

    def __init__(
        self,
        runtime: Runtime,
        tree: BehaviorTree,
        *,
        functions: Mapping[str, NodeFunction] | None = None,
    ) -> None:
        """Args:
        runtime: the runtime whose agents and tools the actions use.
        tree: a validated behaviour tree.
        functions: callables by ``module:function`` reference, instead of importing them.
        """
        self.runtime = runtime
        self.tree = tree
        self.actions = Actions(runtime, functions)
        self.root = _Tree(tree.root, "root")
        self._prepare(self.root)

    def _prepare(self, node: _Tree) -> None:
        self.actions.prepare(node.spec)
        for child in node.children:
            self._prepare(child)

    def body(self, input: Any) -> Callable[[RunState], Awaitable[str]]:
        """The run body for ``input`` (the initial blackboard)."""

        async def run(state: RunState) -> str:
            board = copy.deepcopy(input) if isinstance(input, dict) else {"input": input}
            failures: list[str] = []
            status = await self._tick(state, self.root, board, failures)
            if status == FAILURE:
                last = f": {failures[-1]}" if failures else ""
                raise WorkflowError(f'behavior tree "{self.tree.name}" failed{last}')
            return json.dumps(board, ensure_ascii=False)

        return run

    async def _tick(
        self, state: RunState, node: _Tree, board: dict[str, Any], failures: list[str]
    ) -> str:
        spec = node.spec
        kind = spec.type
        state.emit(ev.NODE_STARTED, {"node": node.label, "type": kind, "task": TASK})
        status = SUCCESS
        extra: dict[str, Any] = {}
        if kind == "sequence":
            for child in node.children:
                if await self._tick(state, child, board, failures) == FAILURE:
                    status = FAILURE
                    break
        elif kind == "selector":
            status = FAILURE
            for child in node.children:
                if await self._tick(state, child, board, failures) == SUCCESS:
                    status = SUCCESS
                    break
        elif kind == "parallel":
            status = await self._parallel(state, node, board, failures)
        elif kind == "condition":
            assert node.condition is not None
            try:
                held = node.condition.test(board)
            except ExprError as exc:
                message = f'condition "{node.label}": {exc}'
                state.emit(
                    ev.NODE_FAILED,
                    {
                        "node": node.label,
                        "task": TASK,
                        "error": "invalid_request",
                        "message": message,
                        "continued": False,
                    },
                )
                raise WorkflowError(message, "invalid_request") from None
            status = SUCCESS if held else FAILURE
            if not held:
                failures.append(f'condition "{node.label}" ({spec.when}) was false')
        else:
            status, extra = await self._act(state, node, board, failures)
        state.emit(ev.NODE_COMPLETED, {"node": node.label, "task": TASK, "status": status, **extra})
        return status

    async def _parallel(
        self, state: RunState, node: _Tree, board: dict[str, Any], failures: list[str]
    ) -> str:
        boards = [copy.deepcopy(board) for _ in node.children]
        before = copy.deepcopy(board)
        results = await asyncio.gather(
            *(
                self._tick(state, child, child_board, failures)
                for child, child_board in zip(node.children, boards, strict=True)
            )
        )
        for child_board in boards:
            for key, value in child_board.items():
                if key not in before or before[key] != value:
                    board[key] = value
            for key in before:
                if key not in child_board:
                    board.pop(key, None)
        needed = node.spec.success_threshold or len(node.children)
        successes = sum(1 for result in results if result == SUCCESS)
        if successes >= needed:
            return SUCCESS
        failures.append(
            f'parallel "{node.label}": {successes} of {needed} needed children succeeded'
        )
        return FAILURE

    async def _act(
        self, state: RunState, node: _Tree, board: dict[str, Any], failures: list[str]
    ) -> tuple[str, dict[str, Any]]:
        spec = node.spec
        where = f'action "{node.label}"'
        try:
            extra: dict[str, Any] = {}
            if spec.function:
                result = await self.actions.call_function(spec.function, board, where)
            elif spec.tool:
                call_id = f"{node.label}:{state.seq}"
                result = await self.actions.call_tool(state, spec.tool, board, call_id, where)
                extra["output"] = result
            else:
                assert spec.agent is not None
                text = self.actions.agent_input(spec, board, where)
                output, run_id = await self.actions.run_agent(state, spec.agent, text, where)
                result = parse_answer(output)
                extra = {"run_id": run_id, "output": result}
        except NodeFailure as failure:
            state.emit(
                ev.NODE_FAILED,
                {
                    "node": node.label,
                    "task": TASK,
                    "error": failure.code,
                    "message": failure.message,
                    "continued": True,
                    **({"run_id": failure.run_id} if failure.run_id else {}),
                },
            )
            failures.append(failure.message)
            return FAILURE, {}
        if result is False:
            failures.append(f"{where} returned false")
            return FAILURE, extra
        if result is not True and result is not None and spec.output:
            board[spec.output] = result
        return SUCCESS, extra
