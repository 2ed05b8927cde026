from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from agentspec import ir
from agentspec.exceptions import ToolError
from agentspec.tools.base import ToolContext
from agentspec.tools.inline import InlineCodeTool, parse_memory, sandbox_capabilities

from . import wait_gone

CTX = ToolContext(run_id="run-1", call_id="call-7", agent="helper")
CAPS = sandbox_capabilities()


def make(code: str, **spec: Any) -> InlineCodeTool:
    inline = ir.InlineTool(code=code, **spec)
    skill = ir.Skill(name="snippet", description="inline code", tool=inline)
    return InlineCodeTool(skill, inline, base_dir=Path.cwd())


async def test_run_function_gets_its_arguments_and_prints_do_not_corrupt_the_result() -> None:
    code = """
def run(x, y=1):
    print('{"ok": false, "error": "forged"}')
    print("noise", x)
    return {"product": x * y, "args": sorted(args)}
"""
    out = await make(code).call({"x": 6, "y": 7, "extra": True}, CTX)
    assert out == {"product": 42, "args": ["extra", "x", "y"]}


async def test_main_with_kwargs_and_async_run() -> None:
    assert await make("def main(**kw): return kw").call({"a": 1}, CTX) == {"a": 1}
    code = "import asyncio\nasync def run(n):\n    await asyncio.sleep(0)\n    return n + 1"
    assert await make(code).call({"n": 1}, CTX) == 2


async def test_result_variable_and_arguments_as_variables() -> None:
    code = "result = {'total': sum(numbers), 'same': args['numbers'] is numbers}"
    assert await make(code).call({"numbers": [1, 2, 3]}, CTX) == {"total": 6, "same": True}


async def test_printed_output_is_the_result_without_run_or_result() -> None:
    assert await make("print('hello', name)").call({"name": "Ada"}, CTX) == "hello Ada"


async def test_exception_in_user_code_names_type_message_and_line() -> None:
    code = "def run():\n    helper()\n\ndef helper():\n    raise ValueError('bad input')\n"
    with pytest.raises(ToolError) as info:
        await make(code).call({}, CTX)
    assert str(info.value) == "inline code raised ValueError: bad input (line 5)"


async def test_syntax_error_is_reported() -> None:
    with pytest.raises(ToolError, match="SyntaxError"):
        await make("def run(:\n  pass").call({}, CTX)


async def test_only_the_standard_library_is_importable() -> None:
    with pytest.raises(ToolError, match="ModuleNotFoundError: No module named 'pydantic'"):
        await make("import pydantic").call({}, CTX)


async def test_non_json_result_is_an_error() -> None:
    with pytest.raises(ToolError, match="not JSON-serializable: TypeError: .*set"):
        await make("result = {1, 2}").call({}, CTX)
    with pytest.raises(ToolError, match="not JSON-serializable"):
        await make("result = float('nan')").call({}, CTX)


async def test_infinite_loop_is_killed_by_the_wall_clock(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    code = "import os, time\nopen(args['pidfile'], 'w').write(str(os.getpid()))\n"
    code += "while True:\n    time.sleep(0.01)"
    with pytest.raises(ToolError, match=r"timed out after 0.8s \(wall clock\)"):
        await make(code, timeout=0.8, cpu_time=30).call({"pidfile": str(pidfile)}, CTX)
    assert wait_gone(int(pidfile.read_text()))


async def test_cancelled_call_kills_the_child(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    code = "import os, time\nopen(args['pidfile'], 'w').write(str(os.getpid()))\ntime.sleep(60)"
    task = asyncio.ensure_future(make(code, timeout=30).call({"pidfile": str(pidfile)}, CTX))
    while not pidfile.exists() or not pidfile.read_text():
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert wait_gone(int(pidfile.read_text()))


@pytest.mark.skipif(not CAPS["cpu_limit"], reason="RLIMIT_CPU not available")
async def test_busy_loop_is_stopped_by_the_cpu_limit() -> None:
    with pytest.raises(ToolError, match="cpu time limit"):
        await make("while True:\n    pass", timeout=5, cpu_time=1).call({}, CTX)


@pytest.mark.skipif(not CAPS["memory_limit"], reason="RLIMIT_AS not enforced here")
async def test_memory_hog_is_stopped_by_the_memory_limit() -> None:
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))"
    with pytest.raises(ToolError, match=r"exceeded its memory limit \(64Mi\)"):
        await make(code, memory_limit="64Mi").call({}, CTX)
    assert await make("result = len(bytearray(32 << 20))", memory_limit="64Mi").call({}, CTX)


async def test_file_size_is_limited() -> None:
    code = "open('big', 'wb').write(b'x' * (11 << 20))"
    with pytest.raises(ToolError, match="File too large"):
        await make(code).call({}, CTX)


@pytest.mark.skipif(not CAPS["network_isolated"], reason="no network namespace available")
async def test_network_is_blocked() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = "import socket\nsocket.create_connection(('127.0.0.1', port), timeout=2).close()"
        with pytest.raises(ToolError, match="Network is unreachable|Connection refused"):
            await make(code).call({"port": port}, CTX)


async def test_runs_in_a_fresh_temp_dir_with_an_almost_empty_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEAKY_SECRET", "parent-only")
    code = "import os\nopen('scratch.txt', 'w').write('x')\n"
    code += "result = {'cwd': os.getcwd(), 'env': sorted(os.environ), 'files': os.listdir()}"
    out = await make(code).call({}, CTX)
    assert out["files"] == ["scratch.txt"]
    assert set(out["env"]) <= {"PATH", "LANG", "HOME", "TMPDIR", "LC_CTYPE"}
    assert not Path(out["cwd"]).exists()


def test_capabilities_and_memory_units() -> None:
    assert set(CAPS) == {"network_isolated", "cpu_limit", "memory_limit", "wall_clock"}
    assert CAPS["wall_clock"] is True
    assert parse_memory("256Mi") == 256 << 20
    assert parse_memory("1G") == 10**9
    assert parse_memory("2Gi") == 2 << 30
    assert parse_memory("512") == 512


async def test_too_small_memory_limit_is_refused() -> None:
    with pytest.raises(ToolError, match="below the 32Mi minimum"):
        await make("result = 1", memory_limit="1Mi").call({}, CTX)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_javascript_function_body() -> None:
    code = "console.log('noise'); return {double: args.x * 2};"
    assert await make(code, language="javascript").call({"x": 21}, CTX) == {"double": 42}
    logged = make("console.log('hi ' + args.name)", language="javascript")
    assert await logged.call({"name": "Ada"}, CTX) == "hi Ada"
    with pytest.raises(ToolError, match="raised TypeError: nope"):
        await make("throw new TypeError('nope')", language="javascript").call({}, CTX)


async def test_javascript_without_node_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match="inline javascript needs node on PATH"):
        await make("return 1", language="javascript").call({}, CTX)
