"""Static validation of workflows, state machines and trees: every error, at file:line:col."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agentspec.exceptions import SpecError
from agentspec.lang.project import load

HEADER = """\
package: v
agents:
  clf: {instructions: Classify., model: scripted}
skills:
  area:
    description: Area.
    input: {w: number}
    inline: {code: "print(1)"}
"""


def problems(tmp_path: Path, body: str) -> list[str]:
    """Load HEADER + body; every diagnostic as ``line:col: message``."""
    (tmp_path / "agentspec.yaml").write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load(tmp_path)
    return [f"{d.line}:{d.column}: {d.message}" for d in caught.value.diagnostics]


def loads(tmp_path: Path, body: str) -> None:
    (tmp_path / "agentspec.yaml").write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    load(tmp_path)


def test_no_start(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        workflows:
          w:
            nodes:
              a: {role: linear, next: e}
              e: {role: exit}
        """,
    )
    assert found == ['13:7: workflows.w.nodes: workflow "w" has no START node']


def test_two_starts_points_at_the_second(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        workflows:
          w:
            nodes:
              a: {role: start, next: e}
              b: {role: start, next: e}
              e: {role: exit}
        """,
    )
    assert found == [
        '14:17: workflows.w.nodes.b.role: workflow "w" has two START nodes: "a" and "b"'
    ]


def test_node_that_cannot_reach_an_exit_and_unbounded_cycle(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        workflows:
          w:
            nodes:
              a: {role: start, next: loop}
              loop: {role: linear, next: loop}
              e: {role: exit}
        """,
    )
    assert '14:13: workflows.w.nodes.loop: node "loop" can never reach an EXIT' in found
    assert "14:13: workflows.w.nodes.loop: cycle loop -> loop" in found
    assert '15:10: workflows.w.nodes.e: node "e" is unreachable from the start' in found


def test_cycle_through_max_visits_is_allowed(tmp_path: Path) -> None:
    loads(
        tmp_path,
        """
        workflows:
          w:
            nodes:
              a: {role: start, next: check}
              check:
                role: decision
                max_visits: 3
                next:
                  again: {to: fix, when: "n < 3"}
                  done: e
              fix: {role: linear, next: check}
              e: {role: exit}
        """,
    )


def test_unlabelled_decision_edge_and_bad_condition(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        workflows:
          w:
            nodes:
              a: {role: start, next: d}
              d:
                role: decision
                next:
                  - {to: e, when: "x >"}
                  - e
              e: {role: exit}
        """,
    )
    assert found == [
        '17:13: workflows.w.nodes.d.next[0]: DECISION node "d": the edge to "e" has no label',
        '17:27: workflows.w.nodes.d.next[0].when: DECISION node "d": invalid expression '
        "'x >': invalid syntax",
        '18:13: workflows.w.nodes.d.next[1]: DECISION node "d": the edge to "e" has no label',
    ]


def test_decision_that_cannot_choose(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        workflows:
          w:
            nodes:
              a: {role: start, next: d}
              d: {role: decision, next: {x: e, y: e}}
              e: {role: exit}
        """,
    )
    assert found == [
        '14:33: workflows.w.nodes.d.next: DECISION node "d" cannot choose: give its edges '
        "when: conditions, or the node an agent, function or tool that answers an edge label"
    ]


def test_unknown_references_with_suggestions(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        workflows:
          w:
            nodes:
              a: {role: start, agent: clff, next: b}
              b: {role: linear, tool: aera, next: ee}
              e: {role: exit}
              f: {role: linear, function: "nowhere_mod:fn", next: e}
        """,
    )
    assert '13:31: workflows.w.nodes.a.agent: START node "a": agent "clff" not found' in found
    assert '14:31: workflows.w.nodes.b.tool: LINEAR node "b": tool "aera" not found' in found
    assert '14:43: workflows.w.nodes.b.next: LINEAR node "b": edge to unknown node "ee"' in found
    assert any(
        p.startswith("16:35: workflows.w.nodes.f.function: cannot import function 'nowhere_mod:fn'")
        for p in found
    )
    (tmp_path / "agentspec.yaml").write_text(HEADER, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        (tmp_path / "agentspec.yaml").write_text(
            HEADER + "workflows:\n  w:\n    nodes:\n      a: {role: start, agent: clff, next: e}\n"
            "      e: {role: exit}\n",
            encoding="utf-8",
        )
        load(tmp_path)
    assert caught.value.diagnostics[0].hint == 'did you mean "clf"?'


def test_edge_counts_per_role(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        workflows:
          w:
            nodes:
              a: {role: start, next: [b, e]}
              b: {role: branch, next: c}
              c: {role: merge, next: e}
              e: {role: exit, next: a}
        """,
    )
    assert (
        '13:30: workflows.w.nodes.a.next: START node "a" needs exactly one outgoing edge, has '
        "2 outgoing edges"
    ) in found
    assert (
        '14:31: workflows.w.nodes.b.next: BRANCH node "b" needs at least two outgoing edges, has 1'
        in found
    )
    assert '16:29: workflows.w.nodes.e.next: EXIT node "e": an EXIT has no outgoing edges' in found


def test_branch_path_must_join_before_an_exit(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        workflows:
          w:
            nodes:
              a: {role: start, next: b}
              b: {role: branch, next: [x, y]}
              x: {role: linear, next: j}
              y: {role: linear, next: e}
              j: {role: merge, next: e}
              e: {role: exit}
        """,
    )
    assert found == [
        '14:31: workflows.w.nodes.b.next: a path from BRANCH "b" reaches EXIT "e" before a MERGE'
    ]


def test_split_and_merge_fields(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        workflows:
          w:
            nodes:
              a: {role: start, next: s, over: items}
              s: {role: split, over: "items[", next: x}
              x: {role: linear, next: j}
              j: {role: merge, merge: agent, next: e}
              e: {role: exit, rol: x}
        """,
    )
    assert '13:39: workflows.w.nodes.a.over: START node "a": only a SPLIT has over' in found
    assert any(
        p.startswith('14:30: workflows.w.nodes.s.over: SPLIT node "s": invalid expression')
        for p in found
    )
    assert (
        '16:31: workflows.w.nodes.j.merge: MERGE node "j": merge: agent needs agent: NAME' in found
    )
    assert '17:23: workflows.w.nodes.e.rol: unknown field "rol"' in found


def test_unknown_role_value(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        workflows:
          w:
            nodes:
              a: {role: begin, next: e}
              e: {role: exit}
        """,
    )
    assert '13:17: workflows.w.nodes.a.role: unknown value "begin"' in found


def test_nodes_as_a_list_with_names(tmp_path: Path) -> None:
    loads(
        tmp_path,
        """
        workflows:
          w:
            nodes:
              - {name: a, role: start, next: e}
              - {name: e, role: exit}
        """,
    )
    found = problems(
        tmp_path,
        """
        workflows:
          w:
            nodes: 3
        """,
    )
    assert found == [
        "12:12: workflows.w.nodes: must be a mapping of node name to node, got a number"
    ]


def test_state_machine_errors(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        state_machines:
          m:
            initial: strt
            states:
              start:
                transitions: [{to: stop, when: "a ==="}, stp, stop]
              stop: {final: true, transitions: start}
        """,
    )
    assert '12:14: state_machines.m.initial: initial state "strt" not found' in found
    assert any(
        p.startswith(
            '15:40: state_machines.m.states.start.transitions[0].when: state "start": invalid'
        )
        for p in found
    )
    assert (
        '15:50: state_machines.m.states.start.transitions[1]: state "start": transition to unknown state "stp"'
        in found
    )
    assert (
        '15:55: state_machines.m.states.start.transitions[2]: state "start": the transition to '
        '"stop" can never be taken'
    ) in found
    assert (
        '16:40: state_machines.m.states.stop.transitions: state "stop" is final but has transitions'
        in found
    )
    assert "15:9: state_machines.m.states.start: cycle start -> stop -> start" in found


def test_state_machine_loop_needs_max_visits_and_a_final_state(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        state_machines:
          m:
            states:
              a: {transitions: b}
              b: {transitions: a}
        """,
    )
    assert found == [
        '13:7: state_machines.m.states: state machine "m" has no final state',
        "13:10: state_machines.m.states.a: cycle a -> b -> a",
    ]


def test_behavior_tree_errors(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        behavior_trees:
          t:
            root:
              sequence:
                - condition: "x >"
                - {type: action}
                - selector: []
                - {agent: clff}
                - {parallel: [{function: "nowhere_mod:f"}], success_threshold: 2}
        """,
    )
    assert any(
        p.startswith(
            "14:22: behavior_trees.t.root.sequence[0].condition: condition: invalid expression"
        )
        for p in found
    )
    assert (
        "15:11: behavior_trees.t.root.sequence[1]: action needs one of agent, function or tool"
        in found
    )
    assert (
        "16:21: behavior_trees.t.root.sequence[2].selector: selector needs at least one child"
        in found
    )
    assert '17:19: behavior_trees.t.root.sequence[3].agent: action: agent "clff" not found' in found
    assert (
        "18:72: behavior_trees.t.root.sequence[4].success_threshold: parallel: success_threshold 2 "
        "is more than its 1 children"
    ) in found
    assert (
        "18:34: behavior_trees.t.root.sequence[4].parallel[0].function: cannot import function 'nowhere_mod:f': ModuleNotFoundError: No module named 'nowhere_mod'"
        in found
    )
    found = problems(
        tmp_path,
        """
        behavior_trees:
          t:
            root: {sequence: [{wait: 3}]}
        """,
    )
    assert found == [
        "12:23: behavior_trees.t.root.sequence[0]: a tree node needs a type",
        '12:24: behavior_trees.t.root.sequence[0].wait: unknown field "wait"',
    ]


def test_role_specific_fields_and_a_merge_without_fan_out(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        workflows:
          w:
            nodes:
              a: {role: start, status: failed, next: m}
              m: {role: merge, concurrency: 2, next: e}
              e: {role: exit, merge: list}
        """,
    )
    assert found == [
        '13:32: workflows.w.nodes.a.status: START node "a": status is for EXIT nodes only',
        '14:17: workflows.w.nodes.m.role: MERGE node "m" joins no BRANCH or SPLIT',
        '14:37: workflows.w.nodes.m.concurrency: MERGE node "m": concurrency is for BRANCH and '
        "SPLIT nodes only",
        '15:30: workflows.w.nodes.e.merge: EXIT node "e": merge is for MERGE nodes only',
    ]


def test_long_forms_lists_and_the_british_spelling_load(tmp_path: Path) -> None:
    (tmp_path / "agentspec.yaml").write_text(
        HEADER
        + textwrap.dedent(
            """
            state_machines:
              m:
                states:
                  - {name: a, transitions: [{to: b, when: "x > 1"}, b]}
                  - {name: b}
            behaviour_trees:
              t:
                root:
                  type: selector
                  children:
                    - {type: condition, when: "x > 1"}
                    - {type: action, agent: clf, output: y}
            """
        ),
        encoding="utf-8",
    )
    package = load(tmp_path).package
    assert [s.name for s in package.state_machines["m"].states] == ["a", "b"]
    root = package.behavior_trees["t"].root
    assert root.type == "selector" and [c.type for c in root.children] == ["condition", "action"]
    assert root.children[1].agent == "clf"
