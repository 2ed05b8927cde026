"""The ``workflows:``, ``state_machines:`` and ``behavior_trees:`` sections of the YAML front-end.

```yaml
workflows:
  triage:
    nodes:                              # a mapping of node name -> node, in order
      intake:   {role: start, function: nodes:normalize, next: classify}
      classify:
        role: decision
        agent: classifier               # answers one of the edge labels
        next: {urgent: escalate, routine: fanout}     # label -> node
      check:
        role: decision
        next:                           # label -> {to, when}; the edge without when is the default
          high: {to: escalate, when: "priority == 'high'"}
          normal: fanout
      ...

state_machines:
  review:
    initial: draft
    states:
      draft: {agent: writer, output: draft, transitions: check}
      check:
        function: nodes:score
        max_visits: 3
        transitions: [{to: done, when: "score >= 8"}, draft]
      done: {final: true}

behavior_trees:
  responder:
    root:
      sequence:                         # shorthand for {type: sequence, children: [...]}
        - condition: "len(message) > 0"
        - selector:
            - {function: nodes:cached_answer, output: answer}   # an action
            - {agent: writer, output: answer}
```

``nodes`` and ``states`` may also be lists of mappings with a ``name``. Every problem,
including the checks of :mod:`agentspec.ir.check_workflow` and ``module:function`` references
that cannot be imported, is reported at its YAML position.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentspec.ir.workflow import (
    TREE_TYPES,
    BehaviorTree,
    State,
    StateMachine,
    TreeNode,
    Workflow,
    WorkflowNode,
)
from agentspec.lang.yaml_loader import describe
from agentspec.lang.yaml_report import IRPath, Reporter

WORKFLOW_KEYS = ("name", "description", "nodes")
NODE_KEYS = tuple(WorkflowNode.model_fields)
FSM_KEYS = ("name", "description", "initial", "states")
STATE_KEYS = tuple(State.model_fields)
TREE_KEYS = ("name", "description", "root")
TREE_NODE_KEYS = (*TreeNode.model_fields, *TREE_TYPES)
COMPOSITES = ("sequence", "selector", "parallel")
Build = Callable[[Any, IRPath, str], Any]


def workflow_sections(builder: Any) -> dict[str, dict[str, Any]]:
    """Build the three sections with ``builder`` (the YAML front-end's ``_Builder``)."""
    return {
        "workflows": builder.collect("workflows", _bound(builder, build_workflow)),
        "state_machines": builder.collect("state_machines", _bound(builder, build_state_machine)),
        "behavior_trees": builder.collect("behavior_trees", _bound(builder, build_tree)),
    }


def _bound(reporter: Reporter, build: Callable[[Reporter, Any, IRPath, str], Any]) -> Build:
    return lambda value, path, name: build(reporter, value, path, name)


# --------------------------------------------------------------------------- workflows


def build_workflow(reporter: Reporter, value: Any, path: IRPath, name: str) -> Workflow | None:
    """Build the workflow ``name`` written at ``path``; report every problem on ``reporter``."""
    data = reporter.fields(value, path, WORKFLOW_KEYS, name=name)
    if data is None:
        return None
    if "nodes" not in data:
        hint = "add nodes: {NAME: {role: start, next: ...}, ...}"
        reporter.report(path, 'missing required field "nodes"', hint, key=True)
        return None
    nodes = _named_items(reporter, data["nodes"], (*path, "nodes"), NODE_KEYS, "node", _node)
    if nodes is None:
        return None
    if not nodes:
        reporter.report((*path, "nodes"), "a workflow needs at least one node")
        return None
    workflow = reporter.validate(Workflow, {**data, "nodes": nodes, "name": name}, path)
    if workflow is not None:
        for index, node in enumerate(workflow.nodes):
            _check_function(reporter, node.function, (*path, "nodes", index, "function"))
    return workflow


def _node(reporter: Reporter, data: dict[str, Any], path: IRPath) -> dict[str, Any]:
    edges = data.get("next")
    if isinstance(edges, dict):
        where = reporter.yaml_path((*path, "next"))
        converted: list[Any] = []
        for index, (label, target) in enumerate(edges.items()):
            reporter.trans[(*path, "next", index)] = (*where, label)
            reporter.trans[(*path, "next", index, "label")] = (*where, label)
            if isinstance(target, str):
                reporter.trans[(*path, "next", index, "to")] = (*where, label)
                converted.append({"to": target, "label": label})
            elif isinstance(target, dict):
                converted.append({**target, "label": label})
            else:
                converted.append(target)
        data["next"] = converted
    elif isinstance(edges, str):
        reporter.trans[(*path, "next", 0)] = reporter.yaml_path((*path, "next"))
        reporter.trans[(*path, "next", 0, "to")] = reporter.yaml_path((*path, "next"))
    elif isinstance(edges, list):
        for index, item in enumerate(edges):
            if isinstance(item, str):
                reporter.trans[(*path, "next", index, "to")] = reporter.yaml_path(
                    (*path, "next", index)
                )
    return data


# --------------------------------------------------------------------------- state machines


def build_state_machine(
    reporter: Reporter, value: Any, path: IRPath, name: str
) -> StateMachine | None:
    """Build the state machine ``name`` written at ``path``."""
    data = reporter.fields(value, path, FSM_KEYS, name=name)
    if data is None:
        return None
    if "states" not in data:
        hint = "add states: {NAME: {transitions: ...}, ...}"
        reporter.report(path, 'missing required field "states"', hint, key=True)
        return None
    states = _named_items(reporter, data["states"], (*path, "states"), STATE_KEYS, "state", _state)
    if states is None:
        return None
    if not states:
        reporter.report((*path, "states"), "a state machine needs at least one state")
        return None
    machine = reporter.validate(StateMachine, {**data, "states": states, "name": name}, path)
    if machine is not None:
        for index, state in enumerate(machine.states):
            _check_function(reporter, state.function, (*path, "states", index, "function"))
    return machine


def _state(reporter: Reporter, data: dict[str, Any], path: IRPath) -> dict[str, Any]:
    transitions = data.get("transitions")
    if isinstance(transitions, str):
        where = reporter.yaml_path((*path, "transitions"))
        reporter.trans[(*path, "transitions", 0)] = where
        reporter.trans[(*path, "transitions", 0, "to")] = where
    elif isinstance(transitions, list):
        for index, item in enumerate(transitions):
            if isinstance(item, str):
                reporter.trans[(*path, "transitions", index, "to")] = reporter.yaml_path(
                    (*path, "transitions", index)
                )
    return data


# --------------------------------------------------------------------------- behaviour trees


def build_tree(reporter: Reporter, value: Any, path: IRPath, name: str) -> BehaviorTree | None:
    """Build the behaviour tree ``name`` written at ``path``."""
    data = reporter.fields(value, path, TREE_KEYS, name=name)
    if data is None:
        return None
    if "root" not in data:
        hint = "add root: {sequence: [...]} (or selector, parallel, condition, an action)"
        reporter.report(path, 'missing required field "root"', hint, key=True)
        return None
    root = _tree_node(reporter, data["root"], (*path, "root"))
    if root is None:
        return None
    tree = reporter.validate(BehaviorTree, {**data, "root": root, "name": name}, path)
    if tree is not None:
        _tree_functions(reporter, tree.root, (*path, "root"))
    return tree


def _tree_node(reporter: Reporter, value: Any, path: IRPath) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        reporter.report(path, f"a tree node must be a mapping, got {describe(value)}")
        return None
    data = reporter.fields(value, path, TREE_NODE_KEYS)
    if data is None:
        return None
    where = reporter.yaml_path(path)
    short = [key for key in TREE_TYPES if key in data]
    for extra in short[1:]:
        reporter.report(
            (*path, extra), f'a tree node has one type; "{short[0]}" is already given', key=True
        )
    if short and "type" in data:
        reporter.report(
            (*path, short[0]), 'give either "type" or the shorthand, not both', key=True
        )
        return None
    if short:
        kind = short[0]
        body = data.pop(kind)
        for extra in short[1:]:
            data.pop(extra)
        data["type"] = kind
        reporter.trans[(*path, "type")] = (*where, kind)
        if kind in COMPOSITES:
            reporter.trans[(*path, "children")] = (*where, kind)
            data["children"] = body
        elif kind == "condition":
            reporter.trans[(*path, "when")] = (*where, kind)
            data["when"] = body
        elif isinstance(body, dict):
            action = reporter.fields(body, (*path, kind), TREE_NODE_KEYS)
            for key in action or {}:
                reporter.trans[(*path, key)] = (*where, kind, key)
            data.update(action or {})
        else:
            reporter.report(
                (*path, kind),
                f"must be a mapping with agent, function or tool, got {describe(body)}",
            )
            return None
    elif "type" not in data and any(data.get(k) for k in ("agent", "function", "tool")):
        data["type"] = "action"
    elif "type" not in data:
        hint = "use sequence:, selector:, parallel:, condition:, or agent/function/tool"
        reporter.report(path, "a tree node needs a type", hint, key=True)
        return None
    children = data.get("children")
    if isinstance(children, list):
        built = [
            _tree_node(reporter, child, (*path, "children", i)) for i, child in enumerate(children)
        ]
        if any(child is None for child in built):
            return None
        data["children"] = built
    return data


def _tree_functions(reporter: Reporter, node: TreeNode, path: IRPath) -> None:
    _check_function(reporter, node.function, (*path, "function"))
    for index, child in enumerate(node.children):
        _tree_functions(reporter, child, (*path, "children", index))


# --------------------------------------------------------------------------- shared


def _named_items(
    reporter: Reporter,
    value: Any,
    path: IRPath,
    allowed: tuple[str, ...],
    noun: str,
    shape: Callable[[Reporter, dict[str, Any], IRPath], dict[str, Any]],
) -> list[Any] | None:
    """``{name: item}`` (in order) or ``[{name, ...}]`` -> a list of item mappings."""
    where = reporter.yaml_path(path)
    items: list[Any] = []
    if isinstance(value, dict):
        for index, (item_name, item) in enumerate(value.items()):
            item_path = (*path, index)
            reporter.trans[item_path] = (*where, item_name)
            reporter.trans[(*item_path, "name")] = (*where, item_name)
            known = reporter.fields(item, item_path, allowed, name=str(item_name))
            if known is not None:
                items.append(shape(reporter, {**known, "name": item_name}, item_path))
        return items
    if isinstance(value, list):
        for index, item in enumerate(value):
            item_path = (*path, index)
            if not isinstance(item, dict):
                reporter.report(item_path, f"a {noun} must be a mapping, got {describe(item)}")
                continue
            known = reporter.fields(item, item_path, allowed)
            if known is None:
                continue
            if "name" not in known:
                reporter.report(item_path, 'missing required field "name"', key=True)
                continue
            items.append(shape(reporter, known, item_path))
        return items
    reporter.report(path, f"must be a mapping of {noun} name to {noun}, got {describe(value)}")
    return None


def _check_function(reporter: Reporter, ref: str | None, path: IRPath) -> None:
    """Report a ``module:function`` that cannot be imported from the project directory."""
    if not ref:
        return
    from agentspec.engine.workflow_actions import import_callable
    from agentspec.exceptions import UsageError

    try:
        import_callable(ref, reporter.s.root)
    except UsageError as exc:
        module = ref.partition(":")[0]
        hint = f"the module is looked up in {reporter.s.root}; e.g. {module}.py there"
        reporter.report(path, str(exc), hint)
