"""Replay against the recorded spec, divergence reports, refusal of a changed spec, ``--with``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from agentspec.engine.settings import Settings
from agentspec.lang.project import load
from agentspec.replay import ReplayError, replay_run
from tests.replay.project import SPEC, write_project


async def _run(root: Path, url: str, *runs: tuple[str, str], session: bool = False) -> list[str]:
    project = load(root)
    ids: list[str] = []
    async with project.runtime(Settings(store=url)) as runtime:
        session_id = (await runtime.create_session(runs[0][0])).id if session else None
        for agent, text in runs:
            result = await runtime.run(agent, text, session_id=session_id, raise_on_failure=False)
            ids.append(result.run_id)
    return ids


@pytest.fixture
def lab(tmp_path: Path) -> tuple[Path, str]:
    return write_project(tmp_path / "proj"), f"sqlite:///{tmp_path / 'runs.db'}"


async def test_a_session_run_replays_with_the_history_it_saw(lab: tuple[Path, str]) -> None:
    root, url = lab
    ids = await _run(
        root,
        url,
        ("lab", "sum 1 2"),
        ("lab", "this is broken"),
        ("lab", "roll please"),
        ("lab", "sum 3 4"),
        session=True,
    )
    for run_id in ids:
        report = await replay_run(run_id, root, store=url)
        assert report.identical, report.divergence
    last = await replay_run(ids[-1], root, store=url)
    assert last.recorded.output == last.replayed.output == "The tools said: 7."
    failed = await replay_run(ids[1], root, store=url)
    assert failed.replayed.status == "failed" and "refused" in failed.replayed.error


async def test_an_edited_log_is_reported_at_the_first_diverging_event(
    lab: tuple[Path, str], tmp_path: Path
) -> None:
    root, url = lab
    (run_id,) = await _run(root, url, ("lab", "sum 20 22"))
    db = sqlite3.connect(tmp_path / "runs.db")
    seq, data = db.execute(
        "SELECT seq, data FROM run_events WHERE run_id = ? AND type = 'run.completed'", (run_id,)
    ).fetchone()
    payload = json.loads(data)
    payload["output"] = "The tools said: 43."
    db.execute(
        "UPDATE run_events SET data = ? WHERE run_id = ? AND seq = ?",
        (json.dumps(payload), run_id, seq),
    )
    db.commit()
    db.close()
    report = await replay_run(run_id, root, store=url)
    assert not report.identical
    divergence = report.divergence
    assert divergence is not None
    assert (divergence.seq, divergence.type) == (seq, "run.completed")
    assert divergence.differences == ['data.output: "The tools said: 43." -> "The tools said: 42."']
    assert '-    "output": "The tools said: 43."' in divergence.diff
    assert '+    "output": "The tools said: 42."' in divergence.diff


async def test_a_changed_spec_is_refused_and_with_shows_what_the_change_does(
    lab: tuple[Path, str],
) -> None:
    root, url = lab
    (run_id,) = await _run(root, url, ("lab", "sum 2 3"))
    write_project(
        root,
        SPEC.replace('text: "The tools said: {{tool_result}}."', 'text: "Result: {{tool_result}}"'),
    )
    with pytest.raises(ReplayError) as refused:
        await replay_run(run_id, root, store=url)
    message = str(refused.value)
    assert "the recorded spec no longer exists" in message
    assert f"agentspec replay {run_id} --with" in message
    # recorded answers are reused while the conversation is the recorded one
    reused = await replay_run(run_id, store=url, with_spec=root)
    assert reused.identical and reused.changed_spec
    assert reused.stats.recorded_model_calls == 2 and reused.stats.live_model_calls == 0
    # --fresh-model: the changed spec's model answers; the matching tool call is not re-run
    fresh = await replay_run(run_id, store=url, with_spec=root, fresh_model=True)
    assert not fresh.identical
    assert fresh.recorded.output == "The tools said: 5." and fresh.replayed.output == "Result: 5"
    assert fresh.stats.recorded_tool_calls == 1 and fresh.stats.live_tool_calls == 0
    assert fresh.divergence is not None and fresh.divergence.type == "model.text"


async def test_with_hands_over_to_the_live_model_where_the_conversation_diverges(
    lab: tuple[Path, str], tmp_path: Path
) -> None:
    root, url = lab
    (run_id,) = await _run(root, url, ("lab", "sum 2 3"))
    changed = write_project(
        tmp_path / "changed", SPEC.replace("skills: [add, roll, clock, boom]", "skills: [roll]")
    )
    report = await replay_run(run_id, store=url, with_spec=changed)
    assert report.stats.recorded_model_calls == 1 and report.stats.live_model_calls == 1
    assert report.stats.diverged_at_call == 2
    assert report.replayed.tool_calls == ['add({"a": "2", "b": "3"})']
    assert "unknown tool 'add'" in report.replayed.output
    assert report.divergence is not None and report.divergence.type == "model.request"
    assert report.divergence.differences[0].startswith("data.tools")
    # a call the recording does not have runs the changed spec's tool, unless told not to
    swapped = write_project(
        tmp_path / "swapped",
        SPEC.replace('arguments: {a: "{{1}}", b: "{{2}}"}', 'arguments: {a: "{{2}}", b: "{{1}}"}'),
    )
    live = await replay_run(run_id, store=url, with_spec=swapped, fresh_model=True)
    assert live.stats.live_tool_calls == 1 and live.stats.recorded_tool_calls == 0
    assert live.replayed.output == "The tools said: 5."
    assert live.divergence is not None and live.divergence.type == "model.response"
    offline = await replay_run(
        run_id, store=url, with_spec=swapped, fresh_model=True, live_tools=False
    )
    assert offline.stats.live_tool_calls == 0
    assert "arguments the recording never used" in offline.replayed.output


async def test_runs_that_cannot_be_replayed_are_refused_clearly(lab: tuple[Path, str]) -> None:
    root, url = lab
    with pytest.raises(ReplayError, match="no run 'run_nope' in sqlite"):
        await replay_run("run_nope", root, store=url)
    (run_id,) = await _run(root, url, ("lab", "hello"))
    other = write_project(root.parent / "other", SPEC.replace("  lab:\n", "  labs:\n"))
    with pytest.raises(ReplayError, match="ran agent 'lab', which .* does not define .*labs"):
        await replay_run(run_id, store=url, with_spec=other)


async def test_corrupted_unfinished_and_flow_runs_are_refused(
    lab: tuple[Path, str], tmp_path: Path
) -> None:
    root, url = lab
    gap, cut = await _run(root, url, ("lab", "sum 1 1"), ("lab", "sum 2 2"))
    with sqlite3.connect(tmp_path / "runs.db") as db:
        db.execute("DELETE FROM run_events WHERE run_id = ? AND seq = 3", (gap,))
        db.execute("DELETE FROM run_events WHERE run_id = ? AND type = 'run.completed'", (cut,))
    with pytest.raises(ReplayError, match=f"run {gap}: the event log is corrupted at seq 3"):
        await replay_run(gap, root, store=url)
    with pytest.raises(ReplayError, match=f"run {cut} has not finished"):
        await replay_run(cut, root, store=url)
    project = load(root)
    async with project.runtime(Settings(store=url)) as runtime:

        async def body(state: object) -> str:
            return "done"

        flow = await runtime.run_flow("pipeline", "nightly", {"x": 1}, body)  # type: ignore[arg-type]
    with pytest.raises(ReplayError, match="is a pipeline run; replay re-executes agent runs"):
        await replay_run(flow.run_id, root, store=url)
