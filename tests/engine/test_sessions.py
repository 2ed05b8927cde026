"""Sessions: persisted messages, sliding window, per-session ordering, cross-session concurrency."""

from __future__ import annotations

import asyncio
import time

import pytest

from agentspec import ScriptedModel, tool
from agentspec.exceptions import ScriptMismatch, UsageError
from agentspec.models.base import ModelRequest
from agentspec.models.replay import ReplayModel
from tests.engine.helpers import package, runtime


async def test_messages_persist_and_form_the_next_runs_context() -> None:
    sizes: list[int] = []

    def model(request: ModelRequest) -> str:
        sizes.append(len(request.messages))
        return f"reply {len(sizes)}"

    pkg = package({"chat": {}})
    async with runtime(pkg, models={"chat": ScriptedModel(model)}) as rt:
        session = await rt.create_session("chat", metadata={"user": "ada"})
        await rt.run("chat", "one", session_id=session.id)
        await rt.run("chat", "two", session_id=session.id)
        messages = await rt.session_messages(session.id)
        stored = await rt.get_session(session.id)
    assert sizes == [1, 3]
    assert [(m.role, m.content) for m in messages] == [
        ("user", "one"),
        ("assistant", "reply 1"),
        ("user", "two"),
        ("assistant", "reply 2"),
    ]
    assert stored is not None and stored.message_count == 4 and stored.metadata == {"user": "ada"}


async def test_sliding_window_bounds_the_context_and_never_starts_with_a_tool_result() -> None:
    sent: list[list[str]] = []

    @tool
    async def noop() -> str:
        """Nothing."""
        return "x"

    def model(request: ModelRequest) -> dict[str, object]:
        sent.append([m.role for m in request.messages])
        if request.messages[-1].role == "user":
            return {"tool_calls": [{"name": "noop", "arguments": {}}]}
        return {"text": "done"}

    pkg = package({"chat": {"skills": ["noop"], "memory": {"max_messages": 5}}}, tools=[noop])
    async with runtime(pkg, tools=[noop], models={"chat": ScriptedModel(model)}) as rt:
        for i in range(6):
            await rt.run("chat", f"turn {i}", session_id="s1")
    # every run adds 4 messages (user, assistant+call, tool, assistant); the last 5 of the history
    # begin with a tool result, which the window drops so the context starts at a user turn
    for roles in sent[2:]:
        assert roles[0] == "user"
        assert len(roles) <= 5 + 3
    assert sent[-2] == ["user", "assistant", "tool", "assistant", "user"]


async def test_session_auto_created_by_run_and_agent_mismatch_rejected() -> None:
    pkg = package({"a": {}, "b": {}})
    async with runtime(pkg) as rt:
        await rt.run("a", "hi", session_id="shared")
        with pytest.raises(UsageError, match="belongs to agent 'a'"):
            await rt.run("b", "hi", session_id="shared")
        sessions = await rt.list_sessions()
        assert [s.id for s in sessions] == ["shared"]
        assert await rt.delete_session("shared") is True
        assert await rt.delete_session("shared") is False
        assert await rt.session_messages("shared") == []


async def test_one_session_serializes_in_arrival_order_other_sessions_overlap() -> None:
    log: list[tuple[str, str, float, float]] = []

    async def slow_reply(request: ModelRequest) -> str:  # noqa: RUF029 - used via wrapper
        raise AssertionError

    class Slow(ScriptedModel):
        async def request(self, request: ModelRequest):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            await asyncio.sleep(0.05)
            text = request.messages[-1].content
            log.append((text.split(":")[0], text, start, time.perf_counter()))
            return await super().request(request)

        async def stream(self, request: ModelRequest):  # type: ignore[no-untyped-def]
            yield await self.request(request)

    pkg = package({"chat": {"stream": False}})
    async with runtime(pkg, models={"chat": Slow()}) as rt:
        jobs = [rt.run("chat", f"s1:{i}", session_id="s1") for i in range(4)]
        jobs += [rt.run("chat", f"s2:{i}", session_id="s2") for i in range(4)]
        await asyncio.gather(*jobs)
        s1 = [m.content for m in await rt.session_messages("s1") if m.role == "user"]
    assert s1 == ["s1:0", "s1:1", "s1:2", "s1:3"], "arrival order kept"
    one = sorted((start, end) for sid, _, start, end in log if sid == "s1")
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(one, one[1:], strict=False))
    first_s1 = next(x for x in log if x[0] == "s1")
    first_s2 = next(x for x in log if x[0] == "s2")
    assert first_s2[2] < first_s1[3], "different sessions ran at the same time"


async def test_failed_run_leaves_the_session_unchanged() -> None:
    pkg = package(
        {"chat": {"script": [{"text": "ok"}, {"error": {"code": "bad_request", "message": "x"}}]}}
    )
    async with runtime(pkg) as rt:
        await rt.run("chat", "first", session_id="s")
        result = await rt.run("chat", "second", session_id="s", raise_on_failure=False)
        messages = await rt.session_messages("s")
    assert result.status == "failed"
    assert [m.content for m in messages] == ["first", "ok"]


async def test_replay_model_reproduces_a_recorded_run() -> None:
    script = [
        {
            "when": {"last": "user"},
            "tool_calls": [{"name": "add", "arguments": {"a": 20, "b": 22}}],
        },
        {"when": {"last": "tool"}, "text": "The answer is {{tool_result}}."},
    ]

    @tool
    async def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    pkg = package({"calc": {"script": script, "skills": ["add"]}}, tools=[add])
    async with runtime(pkg, tools=[add]) as rt:
        original = await rt.run("calc", "twenty plus twenty-two")
        recorded = await rt.get_events(original.run_id)
    replay = ReplayModel(recorded)
    async with runtime(pkg, tools=[add], models={"calc": replay}) as rt:
        again = await rt.run("calc", "twenty plus twenty-two")
        replayed = await rt.get_events(again.run_id)
    assert again.output == original.output == "The answer is 42."
    strip = lambda events: [  # noqa: E731
        (e.type, {k: v for k, v in e.data.items() if k not in ("duration_ms", "model")})
        for e in events
        if e.type not in ("run.started", "run.completed")
    ]
    assert strip(replayed) == strip(recorded)
    exhausted = ReplayModel(recorded)
    async with runtime(pkg, tools=[add], models={"calc": exhausted}) as rt:
        await rt.run("calc", "twenty plus twenty-two")
        diverged = await rt.run("calc", "twenty plus twenty-two", raise_on_failure=False)
    async with runtime(pkg, tools=[add], models={"calc": ReplayModel(recorded)}) as rt:
        asked = await rt.run("calc", "something else", raise_on_failure=False)
    assert diverged.status == "failed"
    assert "the recording has 2 model call(s) but call 3 was made" in diverged.error_message
    assert "this run asks 'something else'" in asked.error_message
    assert isinstance(ScriptMismatch("x"), Exception)


async def test_session_window_survives_a_new_runtime_and_resets_after_delete(tmp_path) -> None:
    sizes: list[int] = []

    def model(request: ModelRequest) -> str:
        sizes.append(len(request.messages))
        return "ok"

    from agentspec.store.sql import SQLStore

    url = f"sqlite:///{tmp_path / 's.db'}"
    pkg = package({"chat": {"memory": {"max_messages": 3}}})
    async with runtime(pkg, store=SQLStore(url), models={"chat": ScriptedModel(model)}) as rt:
        for text in ("a", "b", "c"):
            await rt.run("chat", text, session_id="s")
    async with runtime(pkg, store=SQLStore(url), models={"chat": ScriptedModel(model)}) as rt:
        await rt.run(
            "chat", "d", session_id="s"
        )  # history read from the store: last 3 -> starts at a user turn
        assert await rt.delete_session("s")
        await rt.run("chat", "e", session_id="s")
    assert sizes == [1, 3, 3, 3, 1]
