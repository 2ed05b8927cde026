"""Child side of inline Python tools. Run as ``python -I -S _inline_runner.py``; stdlib only.

Reads ``{"code", "arguments", "result_fd", "limits"}`` as JSON on stdin, applies the resource
limits to itself, then runs the code. The outcome is written as one JSON line to ``result_fd``
(a pipe only the parent reads), so whatever the code prints cannot corrupt it:
``{"ok": true, "result": ...}`` or ``{"ok": false, "type", "error", "line", "traceback"}``.

Limits are applied here rather than in a ``preexec_fn`` because this runs single-threaded
before any user code, whereas ``preexec_fn`` is unsafe when the parent has threads.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import keyword
import linecache
import os
import sys
import traceback
from typing import Any

FILENAME = "<inline>"


def _limit(limits: dict[str, int]) -> None:
    try:
        import resource
    except ImportError:
        return
    pairs = {
        "cpu": ("RLIMIT_CPU", 1),
        "memory": ("RLIMIT_AS", 0),
        "nofile": ("RLIMIT_NOFILE", 0),
        "fsize": ("RLIMIT_FSIZE", 0),
        "core": ("RLIMIT_CORE", 0),
    }
    for key, (name, slack) in pairs.items():
        which = getattr(resource, name, None)
        if which is None or key not in limits:
            continue
        soft = limits[key]
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (soft, soft + slack))


def _failure(exc: BaseException, stage: str) -> dict[str, Any]:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == FILENAME]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    message = str(exc)
    return {
        "ok": False,
        "stage": stage,
        "type": type(exc).__name__,
        "error": f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
        "line": frames[-1].lineno if frames else None,
        "traceback": "".join(lines)[-4000:],
    }


def _call(fn: Any, arguments: dict[str, Any]) -> Any:
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        kwargs = dict(arguments)
    else:
        accepted = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        kwargs = {k: v for k, v in arguments.items() if k in accepted}
    value = fn(**kwargs)
    if inspect.iscoroutine(value):
        import asyncio

        value = asyncio.run(value)
    return value


def _execute(code: str, arguments: dict[str, Any]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__inline__", "__builtins__": __builtins__}
    namespace.update(
        {k: v for k, v in arguments.items() if k.isidentifier() and not keyword.iskeyword(k)}
    )
    namespace["args"] = arguments
    linecache.cache[FILENAME] = (len(code), None, code.splitlines(True), FILENAME)
    captured = io.StringIO()
    try:
        compiled = compile(code, FILENAME, "exec")
        with contextlib.redirect_stdout(captured):
            exec(compiled, namespace)
            entry = namespace.get("run") or namespace.get("main")
            if callable(entry):
                result = _call(entry, arguments)
            elif "result" in namespace:
                result = namespace["result"]
            else:
                result = captured.getvalue().rstrip("\n")
    except BaseException as exc:
        return _failure(exc, "code")
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return _failure(exc, "result")
    return {"ok": True, "result": result}


def main() -> None:
    request = json.loads(sys.stdin.read())
    sys.stdin = io.StringIO()
    out = os.fdopen(request["result_fd"], "w", encoding="utf-8")
    _limit(request.get("limits", {}))
    outcome = _execute(request["code"], request.get("arguments", {}))
    try:
        out.write(json.dumps(outcome, ensure_ascii=False, allow_nan=False) + "\n")
        out.flush()
    except MemoryError:
        out.write('{"ok": false, "stage": "code", "type": "MemoryError", "error": "MemoryError"}\n')
        out.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
