"""Workflow graphs, finite-state machines and behaviour trees (the deterministic structures).

A **workflow** is a graph of nodes with roles (from the Agent Engine seed):

* ``start``: where the task enters (exactly one); ``linear``: one outgoing edge;
* ``decision``: picks exactly one outgoing edge, by the edges' ``when`` conditions (an
  expression over the task data, see :mod:`agentspec.ir.expr`) or, when no edge has a
  condition, by the node's action answering one of the edge labels (an agent's
  classification, or a function/tool returning the label);
* ``branch``: clones the task onto every outgoing edge, run concurrently;
* ``split``: fans subtasks out over a list (``over``, an expression; default the task data);
* ``merge``: waits for every clone or subtask of the matching branch/split and combines
  them (``merge: list | mapping | agent``);
* ``exit``: ends the task with ``status`` (``completed`` or ``failed``).

A node's action is an ``agent`` (a child run), a ``function`` (``module:function``, called
with the task data) or a ``tool`` (a declared skill, called with the task data as
arguments). The result replaces the task data, or is stored under ``output`` when set.

A **state machine** (:class:`StateMachine`) lowers to a workflow
(:func:`agentspec.engine.workflow_fsm.compile_fsm`); loops are allowed only through states
with an explicit ``max_visits``. A **behaviour tree** (:class:`BehaviorTree`) has sequence,
selector, parallel, condition and action nodes.

This module must not import :mod:`agentspec.ir.models` (``Package`` imports it).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from agentspec.ir._base import Int, Name, _Model

ROLES: tuple[str, ...] = ("start", "linear", "decision", "branch", "split", "merge", "exit")
Role = Literal["start", "linear", "decision", "branch", "split", "merge", "exit"]
FUNCTION_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"
TREE_TYPES: tuple[str, ...] = ("sequence", "selector", "parallel", "condition", "action")


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _edges(value: Any) -> Any:
    """``"b"`` -> ``({"to": "b"},)``; ``["b", {...}]`` -> edges."""
    if isinstance(value, str):
        return ({"to": value},)
    if isinstance(value, list | tuple):
        return tuple({"to": item} if isinstance(item, str) else item for item in value)
    return value


class Edge(_Model):
    """An outgoing edge of a node.

    Attributes:
        to: the target node.
        label: the edge's name; required on decision edges (an agent deciding answers one).
        when: a condition over the task data (decision nodes); empty on at most one edge of a
            decision, the default taken when no condition holds.
    """

    to: Name
    label: str = ""
    when: str = ""


class _Action(_Model):
    """What a node or state does: at most one of ``agent``, ``function`` or ``tool``."""

    agent: Name | None = None
    function: str | None = Field(default=None, pattern=FUNCTION_PATTERN)
    tool: Name | None = None
    input: str = ""
    """Agent input template (``{{field}}`` over the task data); default the data (JSON)."""
    output: str = ""
    """Store the action's result under this field of the task data instead of replacing it."""

    @model_validator(mode="after")
    def _one_action(self) -> _Action:
        given = [k for k in ("agent", "function", "tool") if getattr(self, k)]
        if len(given) > 1:
            raise ValueError(f"a node has at most one of agent, function, tool; got {given}")
        return self

    @property
    def action_kind(self) -> str:
        """``agent``, ``function``, ``tool`` or ``""``."""
        if self.agent:
            return "agent"
        if self.function:
            return "function"
        return "tool" if self.tool else ""


class WorkflowNode(_Action):
    """One node of a workflow graph (see the module docstring for the roles).

    Attributes:
        name: unique in the workflow.
        role: start, linear, decision, branch, split, merge or exit.
        next: outgoing edges (``"b"``, ``["b", "c"]`` or ``[{to, label, when}]``).
        over: split only: an expression giving the list to fan out over (default the data).
        merge: merge only: ``list`` (results in order), ``mapping`` (by branch target or
            subtask index) or ``agent`` (the node's agent combines the list).
        continue_on_failure: an action node: a failure is recorded and the task goes on
            unchanged; a branch/split/merge: failed children are left out of the merge.
        status: exit only: the status the task ends with.
        max_visits: how many times one task may enter this node (loops need it).
        max_retries: a deciding agent that answers no valid label is asked again this often.
        concurrency: branch/split only: most clones or subtasks running at once (default: all).
    """

    name: Name
    role: Annotated[Role, BeforeValidator(_lower)]
    description: str = ""
    next: Annotated[tuple[Edge, ...], BeforeValidator(_edges)] = ()
    over: str = ""
    merge: Literal["list", "mapping", "agent"] = "list"
    continue_on_failure: bool = False
    status: Literal["completed", "failed"] = "completed"
    max_visits: Int | None = Field(default=None, gt=0, le=100_000)
    max_retries: Int = Field(default=2, ge=0, le=20)
    concurrency: Int | None = Field(default=None, gt=0, le=10_000)


class Workflow(_Model):
    """A named workflow graph; ``nodes`` in declaration order."""

    name: Name
    description: str = ""
    nodes: tuple[WorkflowNode, ...] = Field(min_length=1)

    def node(self, name: str) -> WorkflowNode | None:
        """The node called ``name``, or ``None``."""
        for node in self.nodes:
            if node.name == name:
                return node
        return None


# --------------------------------------------------------------------------- state machines


class Transition(_Model):
    """A transition of a state: taken when its guard ``when`` holds (empty: always)."""

    to: Name
    when: str = ""


class State(_Action):
    """A state: an optional action, then the first transition whose guard holds.

    A state with no transitions, or ``final: true``, ends the machine with ``status``.
    """

    name: Name
    description: str = ""
    transitions: Annotated[tuple[Transition, ...], BeforeValidator(_edges)] = ()
    final: bool = False
    status: Literal["completed", "failed"] = "completed"
    max_visits: Int | None = Field(default=None, gt=0, le=100_000)


class StateMachine(_Model):
    """A finite-state machine; ``initial`` names the first state (default: the first one)."""

    name: Name
    description: str = ""
    initial: Name | None = None
    states: tuple[State, ...] = Field(min_length=1)

    @property
    def initial_state(self) -> str:
        return self.initial or self.states[0].name


# --------------------------------------------------------------------------- behaviour trees


class TreeNode(_Action):
    """A behaviour-tree node.

    Attributes:
        type: ``sequence`` / ``selector`` / ``parallel`` (composites with ``children``),
            ``condition`` (``when``, an expression over the blackboard) or ``action``
            (``agent``, ``function`` or ``tool``).
        name: shown in events and diagrams (default: the type and position).
        success_threshold: parallel only: children that must succeed (default: all).
    """

    type: Annotated[
        Literal["sequence", "selector", "parallel", "condition", "action"],
        BeforeValidator(_lower),
    ]
    name: str = ""
    description: str = ""
    children: tuple[TreeNode, ...] = ()
    when: str = ""
    success_threshold: Int | None = Field(default=None, gt=0)


class BehaviorTree(_Model):
    """A named behaviour tree; the blackboard is the task data (a mapping)."""

    name: Name
    description: str = ""
    root: TreeNode


TreeNode.model_rebuild()
