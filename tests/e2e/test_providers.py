"""The example projects against local servers speaking the real OpenAI / Anthropic wire formats.

Full loop: YAML project -> runtime -> provider SDK over HTTP -> tool call -> tool result sent back
-> final answer, streamed and stored. Also via the CLI as a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import agentspec
from tests.conftest import EXAMPLES
from tests.models import test_anthropic as anth
from tests.models import test_openai as oai
from tests.models.wire_server import WireServer, anthropic_stream, openai_stream


@pytest.fixture
def server() -> Iterator[WireServer]:
    with WireServer(api_key="sk-test") as running:
        yield running


def openai_turns(server: WireServer) -> None:
    server.push(
        openai_stream(
            [
                oai.chunk(oai.tool_piece(0, '{"a": 17,', "call_1", "multiply")),
                oai.chunk(oai.tool_piece(0, ' "b": 23}')),
                oai.chunk(finish="tool_calls"),
                oai.chunk(usage={"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49}),
            ]
        ),
        openai_stream(
            [
                oai.chunk({"role": "assistant", "content": "17 × 23 "}),
                oai.chunk({"content": "= 391."}),
                oai.chunk(finish="stop"),
                oai.chunk(usage={"prompt_tokens": 60, "completion_tokens": 6, "total_tokens": 66}),
            ]
        ),
    )


def anthropic_turns(server: WireServer) -> None:
    server.push(
        anthropic_stream(
            [
                anth.message_start(input_tokens=40, cache_read=12),
                anth.tool_start(0, "toolu_1", "multiply"),
                anth.json_delta(0, '{"a": 17, '),
                anth.json_delta(0, '"b": 23}'),
                anth.block_stop(0),
                anth.message_delta("tool_use", 9),
                anth.MESSAGE_STOP,
            ]
        ),
        anthropic_stream(
            [
                anth.message_start(input_tokens=60),
                anth.text_start(0),
                anth.text_delta(0, "17 × 23 "),
                anth.text_delta(0, "= 391."),
                anth.block_stop(0),
                anth.message_delta("end_turn", 6),
                anth.MESSAGE_STOP,
            ]
        ),
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_example_project_runs_a_tool_loop_against_the_wire_format(
    provider: str, server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    upper = provider.upper()
    monkeypatch.setenv(f"{upper}_API_KEY", "sk-test")
    monkeypatch.setenv(f"{upper}_BASE_URL", server.url + ("/v1" if provider == "openai" else ""))
    (openai_turns if provider == "openai" else anthropic_turns)(server)

    project = agentspec.load(EXAMPLES / provider)
    try:
        handle = project.agent("assistant").start("What is 17 * 23?")
        events = [event async for event in handle]
        result = await handle.result()
    finally:
        await project.aclose()

    assert result.status == "completed", result.error_message
    assert result.output == "17 × 23 = 391."
    assert [e.data["text"] for e in events if e.type == "model.text"] == ["17 × 23 ", "= 391."]
    assert result.tool_calls[0].tool_name == "multiply"
    assert result.tool_calls[0].output == 391
    # the tool result went back to the provider in its own wire format
    second = server.requests[1].json
    if provider == "openai":
        tool_message = next(m for m in second["messages"] if m["role"] == "tool")
        assert tool_message == {"role": "tool", "tool_call_id": "call_1", "content": "391"}
        assert second["messages"][0]["role"] == "system"
    else:
        blocks = second["messages"][-1]["content"]
        assert blocks[0]["type"] == "tool_result" and blocks[0]["tool_use_id"] == "toolu_1"
        assert blocks[0]["content"] == "391"
        assert result.usage.cache_read_tokens == 12
    assert result.usage.input_tokens > 0 and result.usage.output_tokens == 15


def test_cli_against_openai_wire_format(server: WireServer, tmp_path: Path) -> None:
    openai_turns(server)
    env = {
        **os.environ,
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": server.url + "/v1",
        "AGENTSPEC_STORE": f"sqlite:///{tmp_path / 'e2e.db'}",
    }
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentspec.cli",
            "run",
            str(EXAMPLES / "openai"),
            "-i",
            "17*23?",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["output"] == "17 × 23 = 391."
    assert result["tokens"] == {"input": 100, "output": 15, "cache_read": 0, "total": 115}


async def test_provider_auth_failure_fails_the_run_with_the_providers_message(
    server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    project = agentspec.load(EXAMPLES / "openai")
    try:
        result = await project.default_runtime().run("assistant", "hi", raise_on_failure=False)
    finally:
        await project.aclose()
    assert result.status == "failed"
    assert result.error == "unauthorized"
    assert "openai: 401" in result.error_message
