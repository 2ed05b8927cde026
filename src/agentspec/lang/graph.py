"""Diagrams of a package's structures: pure functions from IR to Mermaid or Graphviz DOT text.

Each structure is first turned into a small :class:`Diagram` (nodes with a shape, edges with a
label and a style), which :func:`to_mermaid` and :func:`to_dot` print:

* pipelines (:func:`pipeline_diagram`): steps, dependency arrows;
* workflow graphs (:func:`workflow_diagram`): one shape per role, labelled decision edges;
* state machines (:func:`fsm_diagram`): a start dot, guarded transitions, final states;
* behaviour trees (:func:`tree_diagram`): composites with their children in tick order;
* delegation maps (:func:`delegation_diagram`): agents, ``delegates`` and fallbacks.

Example:
    ```python
    print(to_mermaid(workflow_diagram(package.workflows["triage"])))
    ```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agentspec.ir.pipeline import Pipeline
from agentspec.ir.workflow import BehaviorTree, StateMachine, TreeNode, Workflow

Shape = Literal[
    "box", "round", "stadium", "diamond", "hexagon", "subroutine", "trapezoid", "circle", "double"
]
KINDS: tuple[str, ...] = ("pipeline", "workflow", "state_machine", "behavior_tree", "agents")

_MERMAID_SHAPES: dict[str, tuple[str, str]] = {
    "box": ("[", "]"),
    "round": ("(", ")"),
    "stadium": ("([", "])"),
    "diamond": ("{", "}"),
    "hexagon": ("{{", "}}"),
    "subroutine": ("[[", "]]"),
    "trapezoid": ("[/", "\\]"),
    "circle": ("((", "))"),
    "double": ("(((", ")))"),
}
_DOT_SHAPES: dict[str, str] = {
    "box": "box",
    "round": "box",
    "stadium": "box",
    "diamond": "diamond",
    "hexagon": "hexagon",
    "subroutine": "box",
    "trapezoid": "invtrapezium",
    "circle": "circle",
    "double": "doublecircle",
}


@dataclass(slots=True)
class DiagramNode:
    id: str
    label: str
    shape: Shape = "box"


@dataclass(slots=True)
class DiagramEdge:
    source: str
    target: str
    label: str = ""
    style: Literal["solid", "dotted", "thick"] = "solid"


@dataclass(slots=True)
class Diagram:
    """A directed diagram: ``direction`` is ``TD`` (top-down) or ``LR`` (left-right)."""

    title: str
    direction: Literal["TD", "LR"] = "TD"
    nodes: list[DiagramNode] = field(default_factory=list)
    edges: list[DiagramEdge] = field(default_factory=list)
    _ids: dict[str, str] = field(default_factory=dict)

    def node(self, key: str, label: str, shape: Shape = "box") -> str:
        """Add a node for ``key`` (once) and return its diagram id."""
        found = self._ids.get(key)
        if found is None:
            found = f"n{len(self._ids)}"
            self._ids[key] = found
            self.nodes.append(DiagramNode(found, label, shape))
        return found

    def id(self, key: str) -> str:
        """The id of ``key``, adding a plain node for an unknown reference."""
        return self._ids.get(key) or self.node(key, key)

    def edge(self, source: str, target: str, label: str = "", style: str = "solid") -> None:
        self.edges.append(DiagramEdge(source, target, label, style))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- builders


def _action(node: Any) -> str:
    if getattr(node, "agent", None):
        return f"agent: {node.agent}"
    if getattr(node, "function", None):
        return f"fn: {node.function}"
    if getattr(node, "tool", None):
        return f"tool: {node.tool}"
    return ""


def _label(*lines: str) -> str:
    return "\n".join(line for line in lines if line)


def pipeline_diagram(pipeline: Pipeline) -> Diagram:
    """Steps (name and agent) and an arrow from each dependency to its dependent."""
    diagram = Diagram(f"pipeline {pipeline.name}", "TD")
    for step in pipeline.steps:
        diagram.node(step.name, _label(step.name, f"agent: {step.agent}"), "round")
    for step in pipeline.steps:
        for dependency in step.depends_on:
            diagram.edge(diagram.id(dependency), diagram.id(step.name))
    return diagram


_ROLE_SHAPES: dict[str, Shape] = {
    "start": "stadium",
    "linear": "box",
    "decision": "diamond",
    "branch": "subroutine",
    "split": "hexagon",
    "merge": "trapezoid",
    "exit": "stadium",
}


def workflow_diagram(workflow: Workflow) -> Diagram:
    """Nodes shaped by role (label: name, ROLE, action); edges labelled with label/condition."""
    diagram = Diagram(f"workflow {workflow.name}", "TD")
    for node in workflow.nodes:
        role = node.role.upper()
        if node.role == "exit":
            role = f"EXIT {node.status}"
        elif node.role == "merge":
            role = f"MERGE {node.merge}"
        elif node.role == "split" and node.over:
            role = f"SPLIT over {node.over}"
        diagram.node(node.name, _label(node.name, role, _action(node)), _ROLE_SHAPES[node.role])
    for node in workflow.nodes:
        for edge in node.next:
            text = edge.label
            if edge.when:
                text = f"{text}: {edge.when}" if text else edge.when
            style = "thick" if node.role in ("branch", "split") else "solid"
            diagram.edge(diagram.id(node.name), diagram.id(edge.to), text, style)
    return diagram


def fsm_diagram(machine: StateMachine) -> Diagram:
    """A start dot to the initial state, guarded transitions, double circles for final states."""
    diagram = Diagram(f"state machine {machine.name}", "TD")
    start = diagram.node("\0start", "start", "circle")
    for state in machine.states:
        final = state.final or not state.transitions
        visits = f"max_visits {state.max_visits}" if state.max_visits else ""
        status = f"final: {state.status}" if final else ""
        label = _label(state.name, _action(state), visits, status)
        diagram.node(state.name, label, "double" if final else "round")
    diagram.edge(start, diagram.id(machine.initial_state))
    for state in machine.states:
        for transition in state.transitions:
            diagram.edge(diagram.id(state.name), diagram.id(transition.to), transition.when)
    return diagram


_TREE_MARKS = {"sequence": "→ sequence", "selector": "? selector", "parallel": "⇉ parallel"}


def tree_diagram(tree: BehaviorTree) -> Diagram:
    """Composites (→ sequence, ? selector, ⇉ parallel), conditions and actions, children in
    tick order (edges numbered)."""
    diagram = Diagram(f"behavior tree {tree.name}", "TD")

    def add(node: TreeNode, path: str) -> str:
        name = node.name or f"{node.type}@{path}"
        if node.type in _TREE_MARKS:
            threshold = f"succeeds at {node.success_threshold}" if node.success_threshold else ""
            ident = diagram.node(path, _label(_TREE_MARKS[node.type], node.name, threshold))
        elif node.type == "condition":
            ident = diagram.node(path, _label(node.when, node.name), "hexagon")
        else:
            ident = diagram.node(path, _label(name, _action(node)), "stadium")
        for index, child in enumerate(node.children):
            diagram.edge(ident, add(child, f"{path}.{index}"), str(index + 1))
        return ident

    add(tree.root, "root")
    return diagram


def delegation_diagram(agents: Mapping[str, Any]) -> Diagram:
    """Agents, ``delegates`` arrows (labelled with their condition) and dotted fallbacks."""
    diagram = Diagram("delegation", "LR")
    for name, agent in agents.items():
        strategy = getattr(agent, "strategy", "react")
        diagram.node(name, _label(name, "" if strategy == "react" else strategy), "round")
    for name, agent in agents.items():
        for delegate in getattr(agent, "delegates", ()):
            condition = getattr(delegate, "condition", "")
            diagram.edge(diagram.id(name), diagram.id(delegate.agent), condition)
        fallback = getattr(agent, "fallback", None)
        if fallback:
            diagram.edge(diagram.id(name), diagram.id(fallback), "fallback", "dotted")
    return diagram


# --------------------------------------------------------------------------- printers


def _mermaid_text(text: str) -> str:
    escaped = text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
    return escaped.replace(">", "#gt;").replace("|", "#124;").replace("\n", "<br/>")


def to_mermaid(diagram: Diagram) -> str:
    """Mermaid ``flowchart`` text (ends with a newline)."""
    lines = [f"%% {diagram.title}", f"flowchart {diagram.direction}"]
    for node in diagram.nodes:
        opening, closing = _MERMAID_SHAPES[node.shape]
        lines.append(f'    {node.id}{opening}"{_mermaid_text(node.label)}"{closing}')
    arrows = {"solid": "-->", "dotted": "-.->", "thick": "==>"}
    for edge in diagram.edges:
        arrow = arrows[edge.style]
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"    {edge.source} {arrow}{label} {edge.target}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(diagram: Diagram) -> str:
    """Graphviz DOT text (``dot -Tsvg``)."""
    rank = "TB" if diagram.direction == "TD" else "LR"
    lines = [
        f'digraph "{_dot_text(diagram.title)}" {{',
        f"    rankdir={rank};",
        '    node [fontname="Helvetica", fontsize=11];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    for node in diagram.nodes:
        extra = ', style="rounded"' if node.shape in ("round", "stadium", "subroutine") else ""
        lines.append(
            f'    {node.id} [label="{_dot_text(node.label)}", shape={_DOT_SHAPES[node.shape]}{extra}];'
        )
    styles = {"solid": "", "dotted": ", style=dashed", "thick": ", penwidth=2"}
    for edge in diagram.edges:
        label = f'label="{_dot_text(edge.label)}"' if edge.label else 'label=""'
        lines.append(f"    {edge.source} -> {edge.target} [{label}{styles[edge.style]}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def structures(package: Any) -> dict[str, dict[str, Any]]:
    """The package's diagrammable structures by kind, then name."""
    return {
        "pipeline": dict(getattr(package, "pipelines", {})),
        "workflow": dict(package.workflows),
        "state_machine": dict(package.state_machines),
        "behavior_tree": dict(package.behavior_trees),
    }


def diagram_for(package: Any, name: str | None = None, kind: str = "") -> Diagram:
    """The diagram of ``name`` (any kind, or the given ``kind``); the delegation map for
    ``kind="agents"`` or, when the package has no other structure, for no name.

    Raises:
        LookupError: with a message naming what exists (no such name, ambiguous name, several
            structures and no name).
    """
    from agentspec.ir.suggest import suggest

    if kind and kind not in KINDS:
        raise LookupError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "agents":
        return delegation_diagram(package.agents)
    tables = structures(package)
    if kind:
        tables = {kind: tables[kind]}
    builders: dict[str, Callable[[Any], Diagram]] = {
        "pipeline": pipeline_diagram,
        "workflow": workflow_diagram,
        "state_machine": fsm_diagram,
        "behavior_tree": tree_diagram,
    }
    everything = [(k, n) for k, table in tables.items() for n in table]
    if name is None:
        if len(everything) == 1:
            found_kind, found_name = everything[0]
            return builders[found_kind](tables[found_kind][found_name])
        if not everything:
            return delegation_diagram(package.agents)
        listing = ", ".join(f"{n} ({k.replace('_', ' ')})" for k, n in everything)
        raise LookupError(f"name one structure: {listing}; or --kind agents for the delegation map")
    matches = [(k, n) for k, n in everything if n == name]
    if not matches:
        hint = suggest(name, [n for _, n in everything])
        raise LookupError(
            f"no pipeline, workflow, state machine or behaviour tree named {name!r}"
            + (f" ({hint})" if hint else "")
        )
    if len(matches) > 1:
        kinds = ", ".join(k for k, _ in matches)
        raise LookupError(f"{name!r} names a {kinds}; pick one with --kind")
    found_kind, found_name = matches[0]
    return builders[found_kind](tables[found_kind][found_name])
