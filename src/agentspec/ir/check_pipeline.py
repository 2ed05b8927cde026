"""Static checks of pipelines: agents and steps exist, the graph is acyclic, templates resolve.

Called by :func:`agentspec.ir.check.check_package`. Each problem's ``path`` points into the
package (``("pipelines", "review", "steps", 1, "depends_on", 0)``) so front-ends can place it
at ``file:line:col``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from agentspec.ir.check import Problem
from agentspec.ir.pipeline import Pipeline, split_reference, template_references
from agentspec.ir.suggest import suggest

Path = tuple[str | int, ...]


def check_pipelines(
    pipelines: Mapping[str, Pipeline], agents: Mapping[str, object]
) -> list[Problem]:
    """Every problem of every pipeline, in declaration order.

    Args:
        pipelines: the package's pipelines by name.
        agents: the package's agents by name (only the names are used).
    """
    problems: list[Problem] = []
    for name, pipeline in pipelines.items():
        problems.extend(_check(name, pipeline, agents))
    return problems


def find_cycle(graph: Mapping[str, tuple[str, ...]]) -> list[str]:
    """One dependency cycle of ``graph`` (step -> the steps it depends on) as a closed path
    ``[a, b, a]`` in dependency direction, or ``[]``. Unknown nodes are ignored."""
    state: dict[str, int] = {}
    for root in graph:
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        trail: list[str] = [root]
        state[root] = 1
        while stack:
            node, index = stack[-1]
            edges = [d for d in graph.get(node, ()) if d in graph]
            if index < len(edges):
                stack[-1] = (node, index + 1)
                nxt = edges[index]
                if state.get(nxt) == 1:
                    return [*trail[trail.index(nxt) :], nxt]
                if not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, 0))
                    trail.append(nxt)
            else:
                state[node] = 2
                stack.pop()
                trail.pop()
    return []


def _check(name: str, pipeline: Pipeline, agents: Mapping[str, object]) -> Iterator[Problem]:
    base: Path = ("pipelines", name)
    seen: dict[str, int] = {}
    outputs: dict[str, str] = {}
    steps = {step.name for step in pipeline.steps}
    for index, step in enumerate(pipeline.steps):
        where: Path = (*base, "steps", index)
        if step.name in seen:
            yield Problem(
                (*where, "name"),
                f'duplicate step name "{step.name}" in pipeline "{name}"',
                f"step {seen[step.name] + 1} already has this name",
            )
        seen.setdefault(step.name, index)
        if step.agent not in agents:
            yield Problem(
                (*where, "agent"),
                f'step "{step.name}": agent "{step.agent}" not found',
                suggest(step.agent, agents),
            )
        if step.output:
            clash = outputs.get(step.output)
            if clash is not None:
                yield Problem(
                    (*where, "output"),
                    f'step "{step.name}": output name "{step.output}" is already the output of '
                    f'step "{clash}"',
                )
            elif step.output in steps and step.output != step.name:
                yield Problem(
                    (*where, "output"),
                    f'step "{step.name}": output name "{step.output}" is the name of another step',
                    "use a name no step has",
                )
            outputs.setdefault(step.output, step.name)
        for position, dependency in enumerate(step.depends_on):
            if dependency == step.name:
                yield Problem(
                    (*where, "depends_on", position),
                    f'step "{step.name}" cannot depend on itself',
                )
            elif dependency not in steps:
                yield Problem(
                    (*where, "depends_on", position),
                    f'step "{step.name}" depends on unknown step "{dependency}"',
                    suggest(dependency, steps - {step.name}),
                )
    graph = {s.name: tuple(d for d in s.depends_on if d != s.name) for s in pipeline.steps}
    cycle = find_cycle(graph)
    if cycle:
        first = next(i for i, s in enumerate(pipeline.steps) if s.name == cycle[0])
        yield Problem(
            (*base, "steps", first, "depends_on"),
            f'pipeline "{name}" has a dependency cycle: {" -> ".join(cycle)}',
            "each step depends on the next; remove one of these dependencies",
        )
    yield from _unreachable(base, pipeline, graph, set(cycle))
    yield from _templates(base, pipeline, graph)


def _unreachable(
    base: Path, pipeline: Pipeline, graph: Mapping[str, tuple[str, ...]], cycle: set[str]
) -> Iterator[Problem]:
    """Steps that can never start: they wait, directly or not, on a cycle or an unknown step."""
    blocked: dict[str, str] = {}

    def why(step: str, trail: frozenset[str]) -> str:
        if step in blocked:
            return blocked[step]
        reason = ""
        for dependency in graph.get(step, ()):
            if dependency not in graph:
                reason = f'it depends on unknown step "{dependency}"'
            elif dependency in cycle:
                reason = f'it waits on step "{dependency}", which is in a dependency cycle'
            elif dependency not in trail and why(dependency, trail | {dependency}):
                reason = f'it waits on step "{dependency}", which can never run'
            if reason:
                break
        blocked[step] = reason
        return reason

    for index, step in enumerate(pipeline.steps):
        if step.name in cycle:
            continue
        reason = why(step.name, frozenset({step.name}))
        if reason and all(d in graph for d in step.depends_on):
            yield Problem(
                (*base, "steps", index, "name"),
                f'step "{step.name}" is unreachable: {reason}',
            )


def _ancestors(step: str, graph: Mapping[str, tuple[str, ...]]) -> set[str]:
    found: set[str] = set()
    todo = list(graph.get(step, ()))
    while todo:
        current = todo.pop()
        if current in found or current not in graph:
            continue
        found.add(current)
        todo.extend(graph[current])
    return found


def _templates(
    base: Path, pipeline: Pipeline, graph: Mapping[str, tuple[str, ...]]
) -> Iterator[Problem]:
    names = [s.name for s in pipeline.steps] + [s.output for s in pipeline.steps if s.output]
    for index, step in enumerate(pipeline.steps):
        ancestors = _ancestors(step.name, graph)
        for field, template in (("input", step.input), ("when", step.when)):
            for reference in template_references(template):
                kind, target, _ = split_reference(reference, pipeline)
                where: Path = (*base, "steps", index, field)
                if kind == "unknown":
                    yield Problem(
                        where,
                        f'step "{step.name}": {field} references unknown "{{{{{reference}}}}}"',
                        suggest(target, [*names, "trigger"], close_only=True)
                        or "use {{trigger.FIELD}}, {{STEP}} or {{OUTPUT}}",
                    )
                elif kind == "step" and target == step.name:
                    yield Problem(
                        where,
                        f'step "{step.name}": {field} references its own output '
                        f'"{{{{{reference}}}}}"',
                    )
                elif kind == "step" and target not in ancestors:
                    yield Problem(
                        where,
                        f'step "{step.name}": {field} reads the output of step "{target}" but '
                        "does not depend on it",
                        f'add "{target}" to depends_on',
                    )
