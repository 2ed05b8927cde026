"""State machines lower to workflow graphs and run on the workflow executor.

:func:`compile_fsm` maps a :class:`~agentspec.ir.workflow.StateMachine` onto a
:class:`~agentspec.ir.workflow.Workflow`:

* a START node ``__start__`` leads to the initial state;
* a state with no transitions (or ``final: true``) becomes an EXIT with the state's
  ``status`` (its action, if any, runs first);
* a state with one unguarded transition becomes a LINEAR node;
* any other state becomes a DECISION whose edges are its transitions in order (label: the
  target state, ``when``: the guard; an unguarded transition is the default edge). No guard
  holding and no unguarded transition is a clear failure naming the state.

Actions (``agent``, ``function``, ``tool``, ``input``, ``output``) and ``max_visits`` carry over
unchanged, so a loop runs at most ``max_visits`` times per state before the run fails. Events
are the workflow's (``node.started`` ... with ``node`` = the state's name, ``decision`` for each
guarded transition taken).
"""

from __future__ import annotations

from typing import Any

from agentspec.ir.check_workflow import FSM_START
from agentspec.ir.workflow import Edge, State, StateMachine, Workflow, WorkflowNode


def compile_fsm(machine: StateMachine) -> Workflow:
    """The workflow graph that runs ``machine`` (validated beforehand)."""
    nodes = [
        WorkflowNode(name=FSM_START, role="start", next=(Edge(to=machine.initial_state),)),
    ]
    nodes.extend(_node(state) for state in machine.states)
    return Workflow(name=machine.name, description=machine.description, nodes=tuple(nodes))


def _node(state: State) -> WorkflowNode:
    common: dict[str, Any] = {
        "name": state.name,
        "description": state.description,
        "agent": state.agent,
        "function": state.function,
        "tool": state.tool,
        "input": state.input,
        "output": state.output,
        "max_visits": state.max_visits,
    }
    if state.final or not state.transitions:
        return WorkflowNode(role="exit", status=state.status, **common)
    if len(state.transitions) == 1 and not state.transitions[0].when:
        return WorkflowNode(role="linear", next=(Edge(to=state.transitions[0].to),), **common)
    edges: list[Edge] = []
    used: dict[str, int] = {}
    for transition in state.transitions:
        count = used.get(transition.to, 0) + 1
        used[transition.to] = count
        label = transition.to if count == 1 else f"{transition.to}#{count}"
        edges.append(Edge(to=transition.to, label=label, when=transition.when or ""))
    # The guards decide in order; an unguarded transition is the default edge.
    return WorkflowNode(role="decision", next=tuple(edges), **common)
