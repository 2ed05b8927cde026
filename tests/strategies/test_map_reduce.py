"""map-reduce: chunking, concurrent map (measured), reduce, failing chunks, mapper agent."""

from __future__ import annotations

from typing import Any

from agentspec.engine.strategies.map_reduce import split_chunks
from tests.engine.helpers import package, runtime
from tests.strategies.helpers import check_log, data_of, structure

TEXT = "alpha one\n\nbeta two\n\ngamma BOOM three"
MAP_RULES: list[dict[str, Any]] = [
    {"when": {"contains": "Combine them"}, "text": "merged"},
    {"when": {"contains": "BOOM"}, "error": {"code": "bad_request", "message": "cannot read"}},
    {"when": {"regex": r"Part (\d) of (\d)"}, "text": "summary {{1}}/{{2}}", "delay": 0.2},
]


def _agent(**options: Any) -> dict[str, Any]:
    return {
        "script": MAP_RULES,
        "strategy": "map-reduce",
        "strategy_options": {"chunk_size": 12, **options},
    }


async def test_chunks_map_concurrently_and_reduce() -> None:
    text = "alpha one\n\nbeta two\n\ngamma three"
    async with runtime(package({"summ": _agent(concurrency=3)})) as rt:
        result = await rt.run("summ", text)
        events = await rt.get_events(result.run_id)
    assert result.output == "merged"
    (chunks,) = data_of(events, "map.chunks")
    assert chunks["chunks"] == ["alpha one", "beta two", "gamma three"]
    assert chunks["count"] == 3
    finished = {d["index"]: d for d in data_of(events, "map.chunk.finished")}
    assert {i: d["output"] for i, d in finished.items()} == {
        1: "summary 1/3",
        2: "summary 2/3",
        3: "summary 3/3",
    }
    assert data_of(events, "map.reduce") == [{"parts": [1, 2, 3], "failed": []}]
    # real concurrency: every chunk started before any finished (each takes 0.2 s)
    seq = structure(events, ("map.",))
    assert seq[:4] == ["map.chunks", "map.chunk.started", "map.chunk.started", "map.chunk.started"]
    started = [e.ts for e in events if e.type == "map.chunk.started"]
    ended = [e.ts for e in events if e.type == "map.chunk.finished"]
    assert max(started) < min(ended)
    assert max(ended) - min(started) < 0.5
    # the merge request carries every part, in order
    merge = [e for e in events if e.type == "model.request"][-1]
    assert merge.data["messages"] == 1
    check_log(events, result)


async def test_concurrency_limit_is_respected() -> None:
    text = "alpha one\n\nbeta two\n\ngamma three"
    async with runtime(package({"summ": _agent(concurrency=1)})) as rt:
        result = await rt.run("summ", text)
        events = await rt.get_events(result.run_id)
    seq = [(e.type, e.data.get("index")) for e in events if e.type.startswith("map.chunk.")]
    assert seq == [
        ("map.chunk.started", 1),
        ("map.chunk.finished", 1),
        ("map.chunk.started", 2),
        ("map.chunk.finished", 2),
        ("map.chunk.started", 3),
        ("map.chunk.finished", 3),
    ]
    check_log(events, result)


async def test_failing_chunk_fails_the_run_and_cancels_siblings() -> None:
    text = "gamma BOOM three\n\nalpha one\n\nbeta two"
    async with runtime(package({"summ": _agent(concurrency=3, chunk_size=16)})) as rt:
        result = await rt.run("summ", text, raise_on_failure=False)
        events = await rt.get_events(result.run_id)
    assert result.status == "failed" and result.error == "invalid_request"
    assert "chunk 1 of 3 failed: cannot read" in result.error_message
    finished = {d["index"]: d["status"] for d in data_of(events, "map.chunk.finished")}
    assert finished == {1: "failed", 2: "cancelled", 3: "cancelled"}
    assert not data_of(events, "map.reduce")
    check_log(events, result)


async def test_continue_on_failure_merges_what_succeeded() -> None:
    options = {"continue_on_failure": True, "chunk_size": 16}
    async with runtime(package({"summ": _agent(**options)})) as rt:
        result = await rt.run("summ", TEXT)
        events = await rt.get_events(result.run_id)
    assert result.output == "merged"
    assert data_of(events, "map.reduce") == [{"parts": [1, 2], "failed": [3]}]
    check_log(events, result)


async def test_mapper_agent_processes_chunks_as_child_runs() -> None:
    agents = {
        "summ": {**_agent(mapper="reader", concurrency=2)},
        "reader": {"script": [{"when": {"regex": r"Part (\d)"}, "text": "read {{1}}"}]},
    }
    async with runtime(package(agents)) as rt:
        result = await rt.run("summ", "alpha one\n\nbeta two")
        events = await rt.get_events(result.run_id)
        finished = data_of(events, "map.chunk.finished")
        children = [await rt.get_run(d["child_run_id"]) for d in finished]
    assert result.output == "merged"
    assert sorted(d["output"] for d in finished) == ["read 1", "read 2"]
    assert all(c is not None and c.parent_run_id == result.run_id for c in children)
    check_log(events, result)


async def test_single_chunk_needs_no_merge() -> None:
    async with runtime(package({"summ": _agent(chunk_size=1000)})) as rt:
        result = await rt.run("summ", "short text")
        events = await rt.get_events(result.run_id)
    assert result.output == "summary 1/1"
    assert result.turns == 1
    check_log(events, result)


async def test_empty_input_is_a_clear_failure() -> None:
    async with runtime(package({"summ": _agent()})) as rt:
        result = await rt.run("summ", "  \n\n ", raise_on_failure=False)
    assert result.status == "failed" and "the input is empty" in result.error_message


def test_split_chunks_packs_pieces_and_cuts_long_ones() -> None:
    assert split_chunks("a\n\nb\n\nc", 4, "\n\n") == ["a\n\nb", "c"]
    assert split_chunks("abcdefghij", 4, "\n\n") == ["abcd", "efgh", "ij"]
    assert split_chunks("x\n\n\n\nabcdef", 3, "\n\n") == ["x", "abc", "def"]
    assert split_chunks("a,b,c", 100, ",") == ["a,b,c"]
    assert split_chunks("", 10, "\n\n") == []
