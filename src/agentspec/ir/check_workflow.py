"""Static checks of workflow graphs, state machines and behaviour trees.

Called by :func:`agentspec.ir.check.check_package`. Each problem's ``path`` points into the
package (``("workflows", "triage", "nodes", 2, "next", 0, "to")``) so front-ends can place it at
``file:line:col``. What is checked:

* workflows: unique node names, exactly one START, known edge targets (did-you-mean), the
  edge count each role needs, labelled decision edges, conditions that parse, known agents and
  tools, every node reachable from START and able to reach an EXIT, no cycle unless it passes
  through a node with ``max_visits``, and every path out of a BRANCH/SPLIT joining one MERGE
  before any EXIT;
* state machines: the same for states and transitions (guards, loops through ``max_visits``,
  every state able to reach a final state);
* behaviour trees: composites have children, conditions parse, actions name one known agent,
  function or tool.

Functions (``module:function``) are imported by the front-ends, which know the project root.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from agentspec.ir.check import Problem
from agentspec.ir.expr import check_expr
from agentspec.ir.suggest import suggest
from agentspec.ir.workflow import (
    BehaviorTree,
    StateMachine,
    TreeNode,
    Workflow,
    WorkflowNode,
)

Path = tuple[str | int, ...]
FSM_START = "__start__"
"""The name of the START node a state machine compiles to (no state may use it)."""


def check_workflows(
    workflows: Mapping[str, Workflow],
    state_machines: Mapping[str, StateMachine],
    behavior_trees: Mapping[str, BehaviorTree],
    agents: Mapping[str, object],
    skills: Mapping[str, object],
) -> list[Problem]:
    """Every problem of every workflow, state machine and behaviour tree, in order.

    Args:
        workflows: the package's workflows by name.
        state_machines: the package's state machines by name.
        behavior_trees: the package's behaviour trees by name.
        agents: the package's agents (only the names are used).
        skills: the package's skills (only the names are used).
    """
    problems: list[Problem] = []
    for name, workflow in workflows.items():
        problems.extend(_check_workflow(("workflows", name), workflow, agents, skills))
    for name, machine in state_machines.items():
        problems.extend(_check_fsm(("state_machines", name), machine, agents, skills))
    for name, tree in behavior_trees.items():
        problems.extend(_check_tree(("behavior_trees", name, "root"), tree.root, agents, skills))
    return problems


def _action_refs(
    where: Path,
    node: WorkflowNode | TreeNode | object,
    agents: Mapping[str, object],
    skills: Mapping[str, object],
    label: str,
) -> Iterator[Problem]:
    agent = getattr(node, "agent", None)
    tool = getattr(node, "tool", None)
    if agent and agent not in agents:
        yield Problem(
            (*where, "agent"), f'{label}: agent "{agent}" not found', suggest(agent, agents)
        )
    if tool and tool not in skills:
        yield Problem((*where, "tool"), f'{label}: tool "{tool}" not found', suggest(tool, skills))


# --------------------------------------------------------------------------- workflows


@dataclass(slots=True)
class Joins:
    """Where the paths out of each BRANCH/SPLIT meet: fan-out node -> MERGE node."""

    merges: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    """``(node, message, hint)`` for fan-outs whose paths do not join properly."""


def find_joins(workflow: Workflow) -> Joins:
    """For each BRANCH/SPLIT, the MERGE its paths join at (nested fan-outs count depth)."""
    nodes = {node.name: node for node in workflow.nodes}
    joins = Joins()
    for node in workflow.nodes:
        if node.role not in ("branch", "split"):
            continue
        found: set[str] = set()
        exits: set[str] = set()
        seen: set[tuple[str, int]] = set()
        todo = [(edge.to, 0) for edge in node.next]
        while todo:
            name, depth = todo.pop()
            current = nodes.get(name)
            if current is None or (name, depth) in seen or depth > len(nodes):
                continue
            seen.add((name, depth))
            if current.role == "merge":
                if depth == 0:
                    found.add(name)
                    continue
                depth -= 1
            elif current.role in ("branch", "split"):
                depth += 1
            elif current.role == "exit":
                exits.add(name)
                continue
            todo.extend((edge.to, depth) for edge in current.next)
        if exits:
            first = sorted(exits)[0]
            joins.problems.append(
                (
                    node.name,
                    f'a path from {node.role.upper()} "{node.name}" reaches EXIT "{first}" '
                    "before a MERGE",
                    "every clone or subtask must reach the MERGE that joins them",
                )
            )
        if len(found) > 1:
            joins.problems.append(
                (
                    node.name,
                    f'the paths from {node.role.upper()} "{node.name}" join at different MERGE '
                    f"nodes: {', '.join(sorted(found))}",
                    "all of them must meet at one MERGE",
                )
            )
        elif found:
            joins.merges[node.name] = next(iter(found))
        elif not exits:
            joins.problems.append(
                (
                    node.name,
                    f'the paths from {node.role.upper()} "{node.name}" never reach a MERGE',
                    "",
                )
            )
    return joins


def _check_workflow(
    base: Path, workflow: Workflow, agents: Mapping[str, object], skills: Mapping[str, object]
) -> Iterator[Problem]:
    name = workflow.name
    index_of: dict[str, int] = {}
    for index, node in enumerate(workflow.nodes):
        if node.name in index_of:
            yield Problem(
                (*base, "nodes", index, "name"),
                f'duplicate node name "{node.name}" in workflow "{name}"',
                f"node {index_of[node.name] + 1} already has this name",
            )
        else:
            index_of[node.name] = index
    starts = [i for i, node in enumerate(workflow.nodes) if node.role == "start"]
    if not starts:
        yield Problem(
            (*base, "nodes"), f'workflow "{name}" has no START node', "give one node role: start"
        )
    for extra in starts[1:]:
        first = workflow.nodes[starts[0]].name
        yield Problem(
            (*base, "nodes", extra, "role"),
            f'workflow "{name}" has two START nodes: "{first}" and "{workflow.nodes[extra].name}"',
            "a workflow has exactly one START",
        )
    if not any(node.role == "exit" for node in workflow.nodes):
        yield Problem(
            (*base, "nodes"), f'workflow "{name}" has no EXIT node', "add a node with role: exit"
        )
    for index, node in enumerate(workflow.nodes):
        yield from _check_node((*base, "nodes", index), node, index_of, agents, skills)
    graph = {
        node.name: tuple(e.to for e in node.next if e.to in index_of) for node in workflow.nodes
    }
    bounded = {node.name for node in workflow.nodes if node.max_visits}
    exits = {node.name for node in workflow.nodes if node.role == "exit"}
    start = workflow.nodes[starts[0]].name if starts else None
    starts_names = {workflow.nodes[i].name for i in starts}
    yield from _graph_problems(
        base, "nodes", "node", graph, index_of, start, exits, bounded, starts_names
    )
    joins = find_joins(workflow)
    for node_name, message, hint in joins.problems:
        yield Problem((*base, "nodes", index_of[node_name], "next"), message, hint)
    joined = set(joins.merges.values())
    for index, node in enumerate(workflow.nodes):
        if node.role == "merge" and node.name not in joined and not joins.problems:
            yield Problem(
                (*base, "nodes", index, "role"),
                f'MERGE node "{node.name}" joins no BRANCH or SPLIT',
                "a MERGE waits for the clones or subtasks of a BRANCH or SPLIT; use LINEAR",
            )


def _check_node(
    where: Path,
    node: WorkflowNode,
    index_of: Mapping[str, int],
    agents: Mapping[str, object],
    skills: Mapping[str, object],
) -> Iterator[Problem]:
    role, label = node.role, f'{node.role.upper()} node "{node.name}"'
    count = len(node.next)
    for position, edge in enumerate(node.next):
        if edge.to not in index_of:
            yield Problem(
                (*where, "next", position, "to"),
                f'{label}: edge to unknown node "{edge.to}"',
                suggest(edge.to, [n for n in index_of if n != node.name]),
            )
        if edge.when:
            if role != "decision":
                yield Problem(
                    (*where, "next", position, "when"),
                    f"{label}: only DECISION edges have conditions",
                )
            else:
                error = check_expr(edge.when)
                if error:
                    yield Problem((*where, "next", position, "when"), f"{label}: {error}")
    if role in ("start", "linear", "split", "merge") and count != 1:
        what = "no outgoing edge" if not count else f"{count} outgoing edges"
        hint = (
            "use a BRANCH for parallel paths or a DECISION to choose" if count else "add next: NODE"
        )
        yield Problem(
            (*where, "next"), f"{label} needs exactly one outgoing edge, has {what}", hint
        )
    if role == "exit" and count:
        yield Problem((*where, "next"), f"{label}: an EXIT has no outgoing edges")
    if role == "branch" and count < 2:
        yield Problem(
            (*where, "next"),
            f"{label} needs at least two outgoing edges, has {count}",
            "a BRANCH clones the task onto each edge",
        )
    if role in ("branch", "split") and node.action_kind:
        yield Problem(
            (*where, node.action_kind),
            f"{label} does not run an action",
            "put it on a LINEAR node before",
        )
    if role == "merge":
        if node.merge == "agent" and not node.agent:
            yield Problem((*where, "merge"), f"{label}: merge: agent needs agent: NAME")
        elif node.merge != "agent" and node.action_kind:
            yield Problem(
                (*where, node.action_kind),
                f"{label}: a MERGE runs no action unless merge: agent",
            )
    if node.over:
        if role != "split":
            yield Problem((*where, "over"), f"{label}: only a SPLIT has over")
        else:
            error = check_expr(node.over)
            if error:
                yield Problem((*where, "over"), f"{label}: {error}")
    if role == "decision":
        yield from _check_decision(where, node, label)
    for name, roles in _ROLE_FIELDS.items():
        if name in node.model_fields_set and role not in roles:
            only = " and ".join(r.upper() for r in roles)
            yield Problem(
                (*where, name), f"{label}: {name} is for {only} nodes only", _role_hint(name)
            )
    yield from _action_refs(where, node, agents, skills, label)


_ROLE_FIELDS: dict[str, tuple[str, ...]] = {
    "status": ("exit",),
    "merge": ("merge",),
    "max_retries": ("decision",),
    "concurrency": ("branch", "split"),
}


def _role_hint(name: str) -> str:
    """Why a role-specific field is misplaced."""
    return {
        "status": "the status a task ends with belongs on an EXIT",
        "merge": "how children are combined belongs on their MERGE",
        "max_retries": "it bounds a deciding agent's retries",
        "concurrency": "it bounds the clones or subtasks running at once",
    }[name]


def _check_decision(where: Path, node: WorkflowNode, label: str) -> Iterator[Problem]:
    if not node.next:
        yield Problem(
            (*where, "next"), f"{label} has no outgoing edges", "a DECISION needs labelled edges"
        )
        return
    labels: dict[str, int] = {}
    for position, edge in enumerate(node.next):
        if not edge.label:
            yield Problem(
                (*where, "next", position),
                f'{label}: the edge to "{edge.to}" has no label',
                "every DECISION edge needs label: NAME",
            )
        elif edge.label in labels:
            yield Problem(
                (*where, "next", position, "label"),
                f'{label}: label "{edge.label}" is used twice',
            )
        labels.setdefault(edge.label, position)
    conditional = [e for e in node.next if e.when]
    if conditional:
        defaults = [i for i, e in enumerate(node.next) if not e.when]
        for extra in defaults[1:]:
            yield Problem(
                (*where, "next", extra),
                f"{label}: more than one edge without a condition",
                "at most one edge may omit when: (the default)",
            )
    elif not node.action_kind:
        yield Problem(
            (*where, "next"),
            f"{label} cannot choose: give its edges when: conditions, or the node an agent, "
            "function or tool that answers an edge label",
        )


def _graph_problems(
    base: Path,
    items: str,
    noun: str,
    graph: Mapping[str, tuple[str, ...]],
    index_of: Mapping[str, int],
    start: str | None,
    ends: set[str],
    bounded: set[str],
    entries: frozenset[str] | set[str] = frozenset(),
) -> Iterator[Problem]:
    """Reachability from ``start``, reaching an end, and cycles only through ``bounded``."""
    if start is not None:
        reached = _reach(start, graph)
        for node, index in index_of.items():
            if node not in reached and node not in entries:
                yield Problem(
                    (*base, items, index), f'{noun} "{node}" is unreachable from the start'
                )
    reverse: dict[str, list[str]] = {n: [] for n in graph}
    for source, targets in graph.items():
        for target in targets:
            reverse[target].append(source)
    can_end: set[str] = set()
    todo = list(ends)
    while todo:
        current = todo.pop()
        if current in can_end:
            continue
        can_end.add(current)
        todo.extend(reverse.get(current, ()))
    if ends:
        for node, index in index_of.items():
            if node not in can_end:
                what = "an EXIT" if noun == "node" else "a final state"
                yield Problem(
                    (*base, items, index),
                    f'{noun} "{node}" can never reach {what}',
                    "every path must end at " + what,
                )
    for cycle in _cycles(graph):
        if not bounded.intersection(cycle):
            closed = [*cycle, cycle[0]]
            yield Problem(
                (*base, items, index_of[cycle[0]]),
                f"cycle {' -> '.join(closed)}",
                "loops need max_visits: N on one of their "
                + ("nodes" if noun == "node" else "states"),
            )


def _reach(start: str, graph: Mapping[str, tuple[str, ...]]) -> set[str]:
    found: set[str] = set()
    todo = [start]
    while todo:
        current = todo.pop()
        if current in found or current not in graph:
            continue
        found.add(current)
        todo.extend(graph[current])
    return found


def _cycles(graph: Mapping[str, tuple[str, ...]]) -> list[list[str]]:
    """One representative cycle (a node list) per strongly connected component with a loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def connect(root: str) -> None:
        nonlocal counter
        work: list[tuple[str, int]] = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, position = work[-1]
            targets = graph.get(node, ())
            if position < len(targets):
                work[-1] = (node, position + 1)
                target = targets[position]
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    found.append(_cycle_path(component, graph))

    for node in graph:
        if node not in index:
            connect(node)
    return found


def _cycle_path(component: list[str], graph: Mapping[str, tuple[str, ...]]) -> list[str]:
    """A shortest cycle inside a strongly connected component, from its smallest member."""
    members = set(component)
    start = min(component)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for current in frontier:
            for target in graph.get(current, ()):
                if target == start:
                    path = [current]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return path[::-1]
                if target in members and target not in parents:
                    parents[target] = current
                    following.append(target)
        frontier = following
    return [start]


# --------------------------------------------------------------------------- state machines


def _check_fsm(
    base: Path, machine: StateMachine, agents: Mapping[str, object], skills: Mapping[str, object]
) -> Iterator[Problem]:
    name = machine.name
    index_of: dict[str, int] = {}
    for index, state in enumerate(machine.states):
        if state.name == FSM_START:
            yield Problem(
                (*base, "states", index, "name"), f'"{FSM_START}" is a reserved state name'
            )
        if state.name in index_of:
            yield Problem(
                (*base, "states", index, "name"),
                f'duplicate state "{state.name}" in state machine "{name}"',
            )
        else:
            index_of[state.name] = index
    if machine.initial is not None and machine.initial not in index_of:
        yield Problem(
            (*base, "initial"),
            f'initial state "{machine.initial}" not found',
            suggest(machine.initial, index_of),
        )
    finals = {s.name for s in machine.states if s.final or not s.transitions}
    if not finals:
        yield Problem(
            (*base, "states"),
            f'state machine "{name}" has no final state',
            "give a state final: true, or no transitions",
        )
    for index, state in enumerate(machine.states):
        where: Path = (*base, "states", index)
        label = f'state "{state.name}"'
        if state.final and state.transitions:
            yield Problem((*where, "transitions"), f"{label} is final but has transitions")
        unconditional = -1
        for position, transition in enumerate(state.transitions):
            at: Path = (*where, "transitions", position)
            if transition.to not in index_of:
                yield Problem(
                    (*at, "to"),
                    f'{label}: transition to unknown state "{transition.to}"',
                    suggest(transition.to, [s for s in index_of if s != state.name]),
                )
            if unconditional >= 0:
                yield Problem(
                    at,
                    f'{label}: the transition to "{transition.to}" can never be taken',
                    f"transition {unconditional + 1} has no guard and always wins",
                )
            if transition.when:
                error = check_expr(transition.when)
                if error:
                    yield Problem((*at, "when"), f"{label}: {error}")
            elif unconditional < 0:
                unconditional = position
        yield from _action_refs(where, state, agents, skills, label)
    graph = {s.name: tuple(t.to for t in s.transitions if t.to in index_of) for s in machine.states}
    bounded = {s.name for s in machine.states if s.max_visits}
    start = machine.initial_state if machine.initial_state in index_of else None
    yield from _graph_problems(base, "states", "state", graph, index_of, start, finals, bounded)


# --------------------------------------------------------------------------- behaviour trees


def _check_tree(
    where: Path, node: TreeNode, agents: Mapping[str, object], skills: Mapping[str, object]
) -> Iterator[Problem]:
    label = f'{node.type} "{node.name}"' if node.name else node.type
    composite = node.type in ("sequence", "selector", "parallel")
    if composite and not node.children:
        yield Problem((*where, "children"), f"{label} needs at least one child")
    if not composite and node.children:
        yield Problem((*where, "children"), f"{label} has no children")
    if node.type == "condition":
        if not node.when:
            yield Problem(where, f'{label} needs when: "EXPRESSION"')
        else:
            error = check_expr(node.when)
            if error:
                yield Problem((*where, "when"), f"{label}: {error}")
    elif node.when:
        yield Problem((*where, "when"), f"only a condition has when ({label})")
    if node.type == "action" and not node.action_kind:
        yield Problem(where, f"{label} needs one of agent, function or tool")
    if node.type != "action" and node.action_kind:
        yield Problem((*where, node.action_kind), f"{label} runs no action; use an action node")
    if node.success_threshold is not None:
        if node.type != "parallel":
            yield Problem(
                (*where, "success_threshold"), f"only a parallel has success_threshold ({label})"
            )
        elif node.success_threshold > len(node.children):
            yield Problem(
                (*where, "success_threshold"),
                f"{label}: success_threshold {node.success_threshold} is more than its "
                f"{len(node.children)} children",
            )
    yield from _action_refs(where, node, agents, skills, label)
    for index, child in enumerate(node.children):
        yield from _check_tree((*where, "children", index), child, agents, skills)
