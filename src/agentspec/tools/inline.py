"""Inline tools: short Python or JavaScript snippets run in a separate, resource-limited process.

Python runs as ``sys.executable -I -S _inline_runner.py`` (isolated mode, no site-packages: the
standard library only). The runner applies ``RLIMIT_CPU``, ``RLIMIT_AS``, ``RLIMIT_NOFILE``,
``RLIMIT_FSIZE`` and ``RLIMIT_CORE`` to itself before the code runs (see docs/tools.md,
"What the inline sandbox enforces"). JavaScript runs under ``node`` with only the wall clock
and ``--max-old-space-size`` applied.

Both run in a fresh temporary directory (removed afterwards, also ``HOME`` and ``TMPDIR``),
with no environment besides ``PATH`` and ``LANG``, in their own process group, which is killed
when the code finishes or its wall-clock timeout elapses. On Linux, when ``unshare -r -n`` or
``unshare -n`` works (probed once, in that order), the process also gets an empty network
namespace: no network at all. This contains mistakes; it is not a boundary for hostile code.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from agentspec import ir
from agentspec.exceptions import ToolError
from agentspec.tools.base import Tool, ToolContext
from agentspec.tools.command import OUTPUT_CAP, decode, kill_group, read_capped

DEFAULT_TIMEOUT = 10.0
DEFAULT_MEMORY = "256Mi"
MIN_MEMORY = 32 << 20
MAX_OPEN_FILES = 64
MAX_FILE_SIZE = 10 << 20
DIAGNOSTIC_CAP = 1 << 16
RUNNER = Path(__file__).with_name("_inline_runner.py")
_MEMORY = re.compile(r"^(\d+)(Ki|Mi|Gi|K|M|G|k|m|g)?$")
_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "k": 10**3, "m": 10**6, "g": 10**9}
_UNITS |= {unit.upper(): size for unit, size in _UNITS.items() if len(unit) == 1}

NODE_RUNNER = r"""
const fs = require("fs");
const req = JSON.parse(fs.readFileSync(0, "utf8"));
const send = (o) => { fs.writeSync(req.result_fd, JSON.stringify(o) + "\n"); process.exit(0); };
const fail = (stage, e) => {
  const type = (e && e.name) || "Error";
  const msg = e && e.message !== undefined ? e.message : String(e);
  send({ok: false, stage, type, error: msg ? `${type}: ${msg}` : type, line: null});
};
(async () => {
  let result;
  try {
    const AsyncFunction = (async () => {}).constructor;
    result = await new AsyncFunction("args", req.code)(req.arguments);
  } catch (e) { fail("code", e); }
  if (result === undefined) send({ok: true, stdout: true});
  let text;
  try { text = JSON.stringify(result); } catch (e) { fail("result", e); }
  fs.writeSync(req.result_fd, `{"ok":true,"result":${text}}\n`);
  process.exit(0);
})();
"""


def parse_memory(text: str) -> int:
    """``"256Mi"`` -> bytes. ``Ki/Mi/Gi`` are powers of 1024, ``K/M/G`` powers of 1000."""
    match = _MEMORY.match(text.strip())
    if not match:
        raise ToolError(f"invalid memory limit {text!r}: use e.g. 128Mi or 1Gi")
    number, unit = match.groups()
    return int(number) * _UNITS.get(unit, 1)


@functools.cache
def _unshare_prefix() -> tuple[str, ...]:
    """The ``unshare`` argv prefix that gives a child no network, or ``()`` (probed once)."""
    unshare = shutil.which("unshare")
    if not sys.platform.startswith("linux") or unshare is None:
        return ()
    for flags in (("-r", "-n"), ("-n",)):
        prefix = (unshare, *flags, "--")
        try:
            probe = subprocess.run(
                [*prefix, sys.executable, "-I", "-S", "-c", ""],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return prefix
    return ()


def sandbox_capabilities(language: str = "python") -> dict[str, bool]:
    """What the inline sandbox enforces on this machine for ``language``.

    Returns:
        ``network_isolated`` (empty network namespace via ``unshare``), ``cpu_limit``
        (``RLIMIT_CPU``), ``memory_limit`` (``RLIMIT_AS`` for Python; the V8 heap size for
        JavaScript) and ``wall_clock`` (always: the process group is killed).
    """
    python = language == "python"
    try:
        import resource
    except ImportError:
        has_rlimits = False
    else:
        has_rlimits = hasattr(resource, "RLIMIT_CPU")
    linux = sys.platform.startswith("linux")
    return {
        "network_isolated": bool(_unshare_prefix()),
        "cpu_limit": python and has_rlimits,
        "memory_limit": (python and has_rlimits and linux) or not python,
        "wall_clock": True,
    }


class InlineCodeTool(Tool):
    """A skill whose code is embedded in the spec and run in a sandboxed child process.

    Python code sees the arguments as the dict ``args`` and as variables of the same names. Its
    result is the return value of ``run(**arguments)`` (or ``main``) if it defines one, else the
    variable ``result`` if set, else what it printed. JavaScript code is the body of an async
    function receiving ``args``; its return value is the result (what it logged if undefined).

    Args:
        skill: the skill declaring this tool (name, description, input schema).
        spec: the ``inline`` tool spec.
        base_dir: the project directory (not visible to the code, which runs in a temp dir).
    """

    enforces_timeout = True

    def __init__(self, skill: ir.Skill, spec: ir.InlineTool, *, base_dir: Path) -> None:
        self.name = skill.name
        self.description = skill.description
        self.parameters = skill.input_schema or {"type": "object", "properties": {}}
        self.timeout = spec.timeout
        self.spec = spec
        self.base_dir = base_dir
        self._limit = spec.timeout or DEFAULT_TIMEOUT
        self._cpu = max(1, math.ceil(spec.cpu_time or self._limit))
        self._memory_label = spec.memory_limit or DEFAULT_MEMORY
        self._memory = parse_memory(self._memory_label)

    def _argv(self, result_fd: int) -> tuple[list[str], dict[str, Any]]:
        request: dict[str, Any] = {"code": self.spec.code, "result_fd": result_fd}
        if self.spec.language == "javascript":
            node = shutil.which("node")
            if node is None:
                raise ToolError("inline javascript needs node on PATH")
            heap = max(16, self._memory >> 20)
            return [node, f"--max-old-space-size={heap}", "-e", NODE_RUNNER], request
        if self._memory < MIN_MEMORY:
            raise ToolError(f"memory_limit {self._memory_label} is below the 32Mi minimum")
        request["limits"] = {
            "cpu": self._cpu,
            "memory": self._memory,
            "nofile": MAX_OPEN_FILES,
            "fsize": MAX_FILE_SIZE,
            "core": 0,
        }
        return [sys.executable, "-I", "-S", str(RUNNER)], request

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        if os.name != "posix":
            raise ToolError("inline tools need a POSIX system (Linux or macOS)")
        prefix = await asyncio.to_thread(_unshare_prefix)
        workdir = tempfile.mkdtemp(prefix="agentspec-inline-")
        read_fd, write_fd = os.pipe()
        result_pipe = os.fdopen(read_fd, "rb", 0)
        try:
            argv, request = self._argv(write_fd)
            request["arguments"] = arguments
            try:
                payload = json.dumps(request, ensure_ascii=False).encode()
            except (TypeError, ValueError) as exc:
                raise ToolError(f"inline {self.name}: arguments are not JSON: {exc}") from None
            env = {
                "PATH": os.environ.get("PATH", os.defpath),
                "LANG": os.environ.get("LANG", "C.UTF-8"),
                "HOME": workdir,
                "TMPDIR": workdir,
            }
            try:
                proc = await asyncio.create_subprocess_exec(
                    *prefix,
                    *argv,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    cwd=workdir,
                    env=env,
                    start_new_session=True,
                    pass_fds=(write_fd,),
                )
            except OSError as exc:
                raise ToolError(f"cannot start inline {self.spec.language}: {exc}") from None
            os.close(write_fd)
            write_fd = -1
            result, out, err = await self._communicate(proc, payload, result_pipe)
            return self._outcome(proc.returncode or 0, result, out, err)
        finally:
            result_pipe.close()
            if write_fd >= 0:
                os.close(write_fd)
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def _communicate(
        self, proc: asyncio.subprocess.Process, payload: bytes, result_pipe: BinaryIO
    ) -> tuple[tuple[bytes, bool], str, str]:
        assert proc.stdin and proc.stdout and proc.stderr
        loop = asyncio.get_running_loop()
        result_reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(result_reader), result_pipe
        )
        readers = (
            asyncio.ensure_future(read_capped(result_reader, OUTPUT_CAP)),
            asyncio.ensure_future(read_capped(proc.stdout, DIAGNOSTIC_CAP)),
            asyncio.ensure_future(read_capped(proc.stderr, DIAGNOSTIC_CAP)),
        )
        try:
            async with asyncio.timeout(self._limit):
                proc.stdin.write(payload)
                proc.stdin.close()
                await proc.wait()
                kill_group(proc)
                result, out, err = await asyncio.gather(*readers)
        except TimeoutError:
            raise ToolError(
                f"inline {self.spec.language} code timed out after {self._limit}s (wall clock)"
            ) from None
        finally:
            for reader in readers:
                reader.cancel()
            transport.close()
            if proc.returncode is None:
                kill_group(proc)
                await proc.wait()
        return result, decode(*out), decode(*err)

    def _outcome(self, code: int, result: tuple[bytes, bool], out: str, err: str) -> Any:
        data, truncated = result
        if truncated:
            raise ToolError(f"inline code returned more than {OUTPUT_CAP >> 20} MiB of JSON")
        lines = data.decode("utf-8", errors="replace").strip().splitlines()
        if lines:
            try:
                outcome = json.loads(lines[-1])
            except ValueError:
                outcome = None
            if isinstance(outcome, dict):
                return self._reported(outcome, out)
        memory = f"inline code exceeded its memory limit ({self._memory_label})"
        if code in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
            raise ToolError(f"inline code exceeded its cpu time limit ({self._cpu}s)")
        if "MemoryError" in err or "heap out of memory" in err:
            raise ToolError(memory)
        if code == -signal.SIGKILL:
            raise ToolError(f"inline code was killed (cpu time limit {self._cpu}s, or {memory})")
        detail = (err.strip() or out.strip())[-1000:]
        raise ToolError(f"inline code exited with code {code} without a result: {detail}")

    def _reported(self, outcome: dict[str, Any], out: str) -> Any:
        if outcome.get("ok"):
            if outcome.get("stdout"):
                return out.rstrip("\n")
            return outcome.get("result")
        error = outcome.get("error") or "unknown error"
        if outcome.get("type") == "MemoryError":
            raise ToolError(f"inline code exceeded its memory limit ({self._memory_label})")
        if outcome.get("stage") == "result":
            raise ToolError(f"inline code returned a value that is not JSON-serializable: {error}")
        line = outcome.get("line")
        where = f" (line {line})" if line else ""
        raise ToolError(f"inline code raised {error}{where}")
