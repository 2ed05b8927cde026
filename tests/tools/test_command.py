from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from agentspec import ir
from agentspec.exceptions import ToolError
from agentspec.secrets.resolver import SecretResolver
from agentspec.tools.base import ToolContext
from agentspec.tools.command import CommandRunner

from . import wait_gone

SECRET = "s3cr3t-value-42"
CTX = ToolContext(run_id="run-1", call_id="call-7", agent="helper")

ECHO = """
import json, os, sys
data = json.load(sys.stdin)
keys = ["GREETING", "API_KEY", "LEAKY", "AGENTSPEC_RUN_ID", "AGENTSPEC_CALL_ID",
        "AGENTSPEC_IDEMPOTENCY_KEY", "AGENTSPEC_AGENT"]
env = {k: os.environ[k] for k in keys if k in os.environ}
print(json.dumps({"argv": sys.argv[1:], "stdin": data, "env": env, "cwd": os.getcwd()}))
"""


@pytest.fixture
def secrets() -> SecretResolver:
    declared = {"api": ir.Secret(name="api", source="env", key="TEST_API_KEY")}
    return SecretResolver(declared, environ={"TEST_API_KEY": SECRET})


def make(
    resolver: SecretResolver, base_dir: Path, code: str, *args: str, **spec: Any
) -> CommandRunner:
    tool = ir.CommandTool(binary=sys.executable, args=("-c", code, *args), **spec)
    skill = ir.Skill(name="cmd", description="a command", tool=tool)
    return CommandRunner(skill, tool, secrets=resolver, base_dir=base_dir)


async def test_args_are_templated_and_arguments_arrive_as_json_on_stdin(
    secrets: SecretResolver, tmp_path: Path
) -> None:
    tool = make(secrets, tmp_path, ECHO, "--city={{city}}", "{{n}}", "{{opts.unit}}")
    arguments = {"city": "Paris; rm -rf /", "n": 3, "opts": {"unit": "C"}}

    out = await tool.call(arguments, CTX)

    assert out["argv"] == ["--city=Paris; rm -rf /", "3", "C"]
    assert out["stdin"] == arguments
    assert tool.name == "cmd"
    assert tool.parameters == {"type": "object", "properties": {}}


async def test_missing_template_field_is_an_error_naming_it(
    secrets: SecretResolver, tmp_path: Path
) -> None:
    tool = make(secrets, tmp_path, ECHO, "{{city}}")
    with pytest.raises(ToolError, match="'city'"):
        await tool.call({}, CTX)


async def test_env_secrets_and_call_context_are_injected(
    secrets: SecretResolver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAKY", "parent-only")
    tool = make(
        secrets, tmp_path, ECHO, env={"GREETING": "hi {{name}}"}, secrets={"API_KEY": "api"}
    )

    out = await tool.call({"name": "Ada"}, CTX)

    assert out["env"] == {
        "GREETING": "hi Ada",
        "API_KEY": SECRET,
        "AGENTSPEC_RUN_ID": "run-1",
        "AGENTSPEC_CALL_ID": "call-7",
        "AGENTSPEC_IDEMPOTENCY_KEY": "run-1:call-7",
        "AGENTSPEC_AGENT": "helper",
    }


async def test_undeclared_secret_is_a_tool_error(secrets: SecretResolver, tmp_path: Path) -> None:
    tool = make(secrets, tmp_path, ECHO, secrets={"API_KEY": "nope"})
    with pytest.raises(ToolError, match="'nope' is not declared"):
        await tool.call({}, CTX)


async def test_secret_values_are_redacted_from_errors(
    secrets: SecretResolver, tmp_path: Path
) -> None:
    code = "import os, sys; sys.stderr.write('bad key ' + os.environ['API_KEY']); sys.exit(3)"
    tool = make(secrets, tmp_path, code, secrets={"API_KEY": "api"})

    with pytest.raises(ToolError) as info:
        await tool.call({}, CTX)

    assert "exited with code 3" in str(info.value)
    assert "bad key ***" in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("print('hello world')", "hello world"),
        ("print('not json {')", "not json {"),
        ("print('NaN')", "NaN"),
        ("print(42)", 42),
        ("print('[1, {\"a\": null}]')", [1, {"a": None}]),
        ("pass", ""),
    ],
)
async def test_stdout_is_json_when_it_parses_else_text(
    secrets: SecretResolver, tmp_path: Path, code: str, expected: Any
) -> None:
    assert await make(secrets, tmp_path, code).call({}, CTX) == expected


async def test_nonzero_exit_reports_code_and_stdout_when_stderr_is_empty(
    secrets: SecretResolver, tmp_path: Path
) -> None:
    code = "import sys; print('x' * 5000 + 'the end'); sys.exit(2)"
    with pytest.raises(ToolError, match=r"exited with code 2: x+the end$") as info:
        await make(secrets, tmp_path, code).call({}, CTX)
    assert len(str(info.value)) < 2200


async def test_hanging_command_is_killed_with_its_children(
    secrets: SecretResolver, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    code = f"""
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
time.sleep(60)
"""
    with pytest.raises(ToolError, match=r"command '.*' timed out after 1.0s"):
        await make(secrets, tmp_path, code, timeout=1.0).call({}, CTX)

    parent, child = (int(pid) for pid in pids.read_text().split())
    assert wait_gone(parent)
    assert wait_gone(child)


async def test_cancelled_call_kills_the_command(secrets: SecretResolver, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    code = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    task = asyncio.ensure_future(make(secrets, tmp_path, code, timeout=30).call({}, CTX))
    while not pidfile.exists() or not pidfile.read_text():
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert wait_gone(int(pidfile.read_text()))


async def test_processes_left_behind_are_killed_when_the_command_exits(
    secrets: SecretResolver, tmp_path: Path
) -> None:
    code = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid)
"""
    pid = await make(secrets, tmp_path, code, timeout=5).call({}, CTX)
    assert wait_gone(pid)


async def test_missing_binary_is_named(secrets: SecretResolver, tmp_path: Path) -> None:
    tool = ir.CommandTool(binary="no-such-binary-xyz")
    skill = ir.Skill(name="cmd", description="d", tool=tool)
    runner = CommandRunner(skill, tool, secrets=secrets, base_dir=tmp_path)
    with pytest.raises(ToolError, match="'no-such-binary-xyz' not found"):
        await runner.call({}, CTX)


async def test_relative_binary_resolves_against_base_dir_and_must_be_executable(
    secrets: SecretResolver, tmp_path: Path
) -> None:
    script = tmp_path / "bin" / "hello.sh"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\necho '{\"hello\": true}'\n")
    tool = ir.CommandTool(binary="bin/hello.sh")
    runner = CommandRunner(
        ir.Skill(name="h", description="d", tool=tool), tool, secrets=secrets, base_dir=tmp_path
    )

    with pytest.raises(ToolError, match="'bin/hello.sh' is not executable"):
        await runner.call({}, CTX)
    script.chmod(0o755)
    assert await runner.call({}, CTX) == {"hello": True}


async def test_runs_in_cwd_relative_to_base_dir(secrets: SecretResolver, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    out = await make(secrets, tmp_path, ECHO, cwd="work").call({}, CTX)
    assert Path(out["cwd"]) == tmp_path / "work"
    with pytest.raises(ToolError, match="does not exist"):
        await make(secrets, tmp_path, ECHO, cwd="missing").call({}, CTX)


async def test_large_output_is_capped(secrets: SecretResolver, tmp_path: Path) -> None:
    code = "import sys; sys.stdout.write('a' * (3 << 20))"
    out = await make(secrets, tmp_path, code).call({}, CTX)
    assert out.endswith("[truncated]")
    assert len(out) < (1 << 20) + 100


async def test_command_that_ignores_a_large_stdin_still_works(
    secrets: SecretResolver, tmp_path: Path
) -> None:
    big = {"blob": "x" * (1 << 20)}
    assert await make(secrets, tmp_path, "print(1)").call(big, CTX) == 1
