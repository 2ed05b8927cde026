"""Command tools: run a binary as a subprocess, arguments as JSON on stdin.

The binary is started directly (never through a shell) in its own process group, with a minimal
environment: ``PATH``, ``HOME``, ``LANG``, ``LC_ALL``, ``TMPDIR`` and ``SYSTEMROOT`` when set,
then the skill's ``env`` (``{{field}}`` rendered), its ``secrets`` (``ENV_VAR: secret-name``,
resolved at call time) and ``AGENTSPEC_RUN_ID``, ``AGENTSPEC_CALL_ID``,
``AGENTSPEC_IDEMPOTENCY_KEY`` and ``AGENTSPEC_AGENT``.

A relative ``binary`` containing a ``/`` is resolved against the project directory; a bare name
is looked up on ``PATH``. When the command exits, or its timeout elapses, every process left in
its process group is killed with ``SIGKILL``. Processes that start their own session escape this.

stdout that parses as JSON is the result; any other stdout is returned as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

from agentspec import ir
from agentspec._template import render
from agentspec.exceptions import ConfigError, ToolError
from agentspec.secrets.resolver import SecretResolver
from agentspec.tools.base import Tool, ToolContext

DEFAULT_TIMEOUT = 30.0
OUTPUT_CAP = 1 << 20
ERROR_TAIL = 2048
TRUNCATED = "\n[truncated]"
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
_CHUNK = 1 << 16


async def read_capped(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """Read ``stream`` to EOF, keeping the first ``limit`` bytes; return (data, truncated)."""
    data = bytearray()
    truncated = False
    while chunk := await stream.read(_CHUNK):
        room = limit - len(data)
        if len(chunk) > room:
            truncated = True
        if room > 0:
            data += chunk[:room]
    return bytes(data), truncated


def kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL every process in ``proc``'s process group (or just ``proc`` without killpg)."""
    killpg = getattr(os, "killpg", None)
    try:
        if killpg is not None:
            killpg(proc.pid, signal.SIGKILL)
        elif proc.returncode is None:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def decode(data: bytes, truncated: bool) -> str:
    text = data.decode("utf-8", errors="replace")
    return text + TRUNCATED if truncated else text


def parse_output(text: str) -> Any:
    """Return ``text`` as JSON when it parses (``NaN`` and friends excluded), else as text."""
    stripped = text.rstrip("\r\n")
    if not stripped.strip():
        return stripped

    def reject(constant: str) -> Any:
        raise ValueError(constant)

    try:
        return json.loads(stripped, parse_constant=reject)
    except ValueError:
        return stripped


class CommandRunner(Tool):
    """A skill backed by a subprocess.

    Args:
        skill: the skill declaring this tool (name, description, input schema).
        spec: the ``command`` tool spec.
        secrets: resolves ``spec.secrets`` at call time and redacts them from errors.
        base_dir: the project directory; ``spec.cwd`` and relative binaries resolve against it.
    """

    enforces_timeout = True

    def __init__(
        self,
        skill: ir.Skill,
        spec: ir.CommandTool,
        *,
        secrets: SecretResolver,
        base_dir: Path,
    ) -> None:
        self.name = skill.name
        self.description = skill.description
        self.parameters = skill.input_schema or {"type": "object", "properties": {}}
        self.timeout = spec.timeout
        self.spec = spec
        self._secrets = secrets
        self._base_dir = base_dir
        self._limit = spec.timeout or DEFAULT_TIMEOUT

    def _render(self, template: str, arguments: dict[str, Any], where: str) -> str:
        def missing(field: str) -> str:
            raise ToolError(f"command {self.spec.binary!r}: {where} needs argument {field!r}")

        return render(template, arguments, missing=missing)

    def _environment(self, arguments: dict[str, Any], ctx: ToolContext) -> dict[str, str]:
        env = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
        env.setdefault("PATH", os.defpath)
        for key, template in self.spec.env.items():
            env[key] = self._render(template, arguments, f"env {key}")
        for key, secret in self.spec.secrets.items():
            try:
                env[key] = self._secrets.resolve_name(secret, purpose=f"skill {self.name}")
            except ConfigError as exc:
                raise ToolError(str(exc)) from None
        env.update(
            AGENTSPEC_RUN_ID=ctx.run_id,
            AGENTSPEC_CALL_ID=ctx.call_id,
            AGENTSPEC_IDEMPOTENCY_KEY=ctx.idempotency_key,
            AGENTSPEC_AGENT=ctx.agent,
        )
        return env

    def _executable(self, path: str) -> str:
        binary = self.spec.binary
        if os.sep not in binary and "/" not in binary:
            found = shutil.which(binary, path=path)
            if found is None:
                raise ToolError(f"command {binary!r} not found on PATH")
            return found
        candidate = Path(binary).expanduser()
        if not candidate.is_absolute():
            candidate = self._base_dir / candidate
        if not candidate.is_file():
            raise ToolError(f"command {binary!r} not found ({candidate})")
        if not os.access(candidate, os.X_OK):
            raise ToolError(f"command {binary!r} is not executable ({candidate})")
        return str(candidate)

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        argv = [self._render(arg, arguments, "args") for arg in self.spec.args]
        env = self._environment(arguments, ctx)
        executable = self._executable(env["PATH"])
        cwd = self._base_dir / self.spec.cwd if self.spec.cwd else self._base_dir
        if not cwd.is_dir():
            raise ToolError(f"command {self.spec.binary!r}: working directory {cwd} does not exist")
        payload = json.dumps(arguments, ensure_ascii=False).encode()
        try:
            proc = await asyncio.create_subprocess_exec(
                executable,
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ToolError(f"cannot run command {self.spec.binary!r}: {reason}") from None
        try:
            out, err = await self._communicate(proc, payload)
        finally:
            if proc.returncode is None:
                kill_group(proc)
                await proc.wait()
        return self._result(proc.returncode or 0, out, err)

    async def _communicate(
        self, proc: asyncio.subprocess.Process, payload: bytes
    ) -> tuple[str, str]:
        assert proc.stdin and proc.stdout and proc.stderr
        readers = (
            asyncio.ensure_future(read_capped(proc.stdout, OUTPUT_CAP)),
            asyncio.ensure_future(read_capped(proc.stderr, OUTPUT_CAP)),
        )
        try:
            async with asyncio.timeout(self._limit):
                await _feed(proc.stdin, payload)
                await proc.wait()
                kill_group(proc)
                (out, out_cut), (err, err_cut) = await asyncio.gather(*readers)
        except TimeoutError:
            raise ToolError(
                f"command {self.spec.binary!r} timed out after {self._limit}s"
            ) from None
        finally:
            for reader in readers:
                reader.cancel()
        return decode(out, out_cut), decode(err, err_cut)

    def _result(self, code: int, out: str, err: str) -> Any:
        if code == 0:
            return parse_output(out)
        if code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with code {code}"
        detail = (err.strip() or out.strip())[-ERROR_TAIL:]
        message = f"command {self.spec.binary!r} {how}"
        if detail:
            message = f"{message}: {detail}"
        raise ToolError(self._secrets.redact(message))


async def _feed(stdin: asyncio.StreamWriter, payload: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(payload)
        await stdin.drain()
    stdin.close()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        await stdin.wait_closed()
