"""The :class:`Runtime`: built from an IR package, it executes runs and owns sessions and stores.

Usage:
    ```python
    async with Runtime(package, settings=Settings(store="memory")) as runtime:
        result = await runtime.run("assistant", "What is 2 + 3?")
        handle = runtime.start("assistant", "Hello")   # stream events live
        async for event in handle: ...
    ```
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from agentspec.engine import events as ev
from agentspec.engine.approvals import RunParked
from agentspec.engine.compile import CompiledAgent, compile_agent
from agentspec.engine.deadlines import Deadlines
from agentspec.engine.durable import DurableRuntime
from agentspec.engine.persist import Persister
from agentspec.engine.result import RunResult
from agentspec.engine.resume import ResumeCursor, ResumeError
from agentspec.engine.run import Listener, RunHandle, RunState
from agentspec.engine.sessions import SessionCache, SessionWindow, window
from agentspec.engine.settings import Settings
from agentspec.engine.strategies import STRATEGIES, StrategyContext
from agentspec.exceptions import (
    AgentspecError,
    RunCancelled,
    RunError,
    RunTimeout,
    StoreError,
    UsageError,
)
from agentspec.ir.canonical import ir_hash
from agentspec.ir.models import Package
from agentspec.models.base import Message, Model
from agentspec.secrets.resolver import SecretResolver
from agentspec.store.base import (
    MessageRecord,
    RunPage,
    RunRecord,
    RunStatus,
    RunUpdate,
    SessionRecord,
    Store,
)
from agentspec.tools.base import Tool
from agentspec.tools.function import FunctionTool

FlowBody = Callable[[RunState], Awaitable[str]]
"""The body of a structured run: emits its own events on the state, returns the output."""

_TENANT: ContextVar[str] = ContextVar("agentspec_tenant", default="default")
"""The tenant of the runs (and sessions) being started: set by ``run``/``start(tenant=)``,
inherited by child runs started from inside a run."""


def current_tenant() -> str:
    """The tenant of the run whose code is executing (listeners see their run's tenant)."""
    return _TENANT.get()


def new_id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(10).hex()}"


class Runtime(DurableRuntime):
    """Executes runs of a package's agents. One per process is typical; it is cheap to share.

    Resume, leases and approvals (``resume``, ``approve``, ``deny``, ``recover``) come from
    :class:`~agentspec.engine.durable.DurableRuntime`.
    """

    def __init__(
        self,
        package: Package,
        *,
        settings: Settings | None = None,
        store: Store | None = None,
        functions: Mapping[str, FunctionTool] | None = None,
        base_dir: Path | str | None = None,
        secrets: SecretResolver | None = None,
        models: Mapping[str, Model] | None = None,
        tools: Mapping[str, Tool] | None = None,
    ) -> None:
        """Args:
        package: the validated IR package.
        settings: store URL, tool timeout, model override.
        store: an opened-or-not store instance (overrides ``settings.store``).
        functions: Python tools by skill name (front-ends pass what they imported).
        base_dir: the project directory (relative paths of tools and secrets).
        secrets: a resolver (default: environment and files, per the package's secrets).
        models: model instances by agent name, replacing what the spec declares (tests,
            Python-defined models such as ``ScriptedModel(fn)``).
        tools: tool instances by skill name, replacing what the spec builds (replay answers
            tool calls from recorded results this way).
        """
        self.package = package
        self.settings = settings or Settings()
        self.base_dir = Path(base_dir) if base_dir else Path.cwd()
        self.secrets = secrets or SecretResolver(package.secrets, base_dir=self.base_dir)
        self.ir_hash = ir_hash(package)
        self._functions = dict(functions or {})
        self._models = dict(models or {})
        self._tool_overrides = dict(tools or {})
        self._recordings: dict[str, list[ev.Event]] = {}
        self._deadlines = Deadlines()
        self._store = store
        self._persister: Persister | None = None
        self._compiled: dict[str, CompiledAgent] = {}
        self._listeners: list[Listener] = []
        self._session_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._windows = SessionCache(self.settings.session_cache_size)
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[RunResult]] = set()
        self._durable_init()

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Runtime:
        await self.start_up()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start_up(self) -> None:
        """Open and migrate the store. Called automatically by the first run."""
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            if self._store is None:
                from agentspec.store import open_store

                self._store = open_store(self.settings.store)
            await self._store.setup()
            await self._load_recordings()
            from agentspec.engine import faults

            faults.install(self._store)  # tests only: $AGENTSPEC_FAULT_KILL_AFTER_SEQ
            self._persister = Persister(self._store)
            self._persister.start()
            self._durable_start()
            self._started = True
        if self.settings.resume_on_start:
            await self.recover()

    async def _load_recordings(self) -> None:
        """Read the runs that ``replay`` models answer from (``--model replay:RUN_ID``)."""
        configs = [a.model for a in self.package.agents.values()]
        if self.settings.model_override is not None:
            configs.append(self.settings.model_override)
        assert self._store is not None
        for config in configs:
            if config.provider != "replay" or config.name in self._recordings:
                continue
            if not config.name:
                raise UsageError("a replay model needs the id of a recorded run: replay:RUN_ID")
            events = await self._store.get_events(config.name)
            if not events:
                raise UsageError(f"no recorded run {config.name!r} to replay in {self._store.url}")
            self._recordings[config.name] = events

    async def aclose(self) -> None:
        await self._durable_close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._persister is not None:
            await self._persister.close()
        for compiled in self._compiled.values():
            with contextlib.suppress(Exception):
                await compiled.model.aclose()
            for tool in compiled.tools.values():
                with contextlib.suppress(Exception):
                    await tool.aclose()
        self._compiled.clear()
        if self._store is not None:
            await self._store.close()
        self._started = False

    @property
    def store(self) -> Store:
        if self._store is None:
            raise UsageError(
                "the runtime is not started: use 'async with Runtime(...)' or await start_up()"
            )
        return self._store

    @property
    def persister(self) -> Persister | None:
        """The group-commit writer (``None`` until the runtime has started)."""
        return self._persister

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Observe every event of every run (telemetry, audit). Returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def agent(self, name: str) -> CompiledAgent:
        compiled = self._compiled.get(name)
        if compiled is None:
            model = self._models.get(name) or self._replay_model(name)
            compiled = compile_agent(
                self.package,
                name,
                functions=self._functions,
                secrets=self.secrets,
                base_dir=self.base_dir,
                model_override=self.settings.model_override,
                model=model,
                tools=self._tool_overrides,
            )
            self._compiled[name] = compiled
        return compiled

    def _replay_model(self, name: str) -> Model | None:
        override = self.settings.model_override
        spec = self.package.agents.get(name)
        if spec is None:
            return None
        config = override if override is not None else spec.model
        if config.provider != "replay":
            return None
        if config.name not in self._recordings:
            raise UsageError(
                "a replay model reads its run when the runtime starts: await start_up() first"
            )
        from agentspec.models.replay import ReplayModel

        return ReplayModel(self._recordings[config.name], name=config.name)

    # ------------------------------------------------------------------ runs
    async def run(
        self,
        agent: str,
        input: str,
        *,
        session_id: str | None = None,
        variables: Mapping[str, Any] | None = None,
        listener: Listener | None = None,
        raise_on_failure: bool = True,
        parent_run_id: str = "",
        tenant: str | None = None,
        run_id: str | None = None,
    ) -> RunResult:
        """Run ``agent`` on ``input`` and return its result.

        ``tenant`` is recorded on the run (and on a session it creates); by default the
        caller's (a child run inherits its parent's), else ``"default"``. ``run_id`` lets a
        caller name the run before it starts (a structured run records its child's id first);
        when a resumed parent reuses an earlier child, the result carries that child's id.

        Raises the run's error (a :class:`RunError` carrying ``run_id`` and ``result``) when the
        run fails, unless ``raise_on_failure`` is false. Usage problems (unknown agent, missing
        prompt variable) raise :class:`UsageError` before any run is created.
        """
        if not self._started:
            await self.start_up()
        compiled = self.agent(agent)
        system = compiled.system_prompt(variables)
        run_id = run_id or new_id("run")
        token = None if tenant is None else _TENANT.set(tenant)
        try:
            reused = await self._reuse_child(parent_run_id, agent, input) if parent_run_id else None
            result = reused or await self._execute(
                run_id,
                compiled,
                system,
                input,
                session_id,
                dict(variables or {}),
                listener,
                parent_run_id,
            )
        finally:
            if token is not None:
                _TENANT.reset(token)
        if raise_on_failure and result.status not in ("completed", "waiting"):
            raise _error_for(result)
        return result

    def start(
        self,
        agent: str,
        input: str,
        *,
        session_id: str | None = None,
        variables: Mapping[str, Any] | None = None,
        parent_run_id: str = "",
        tenant: str | None = None,
    ) -> RunHandle:
        """Start a run in the background and return a handle to stream its events.

        ``tenant`` as for :meth:`run`."""
        compiled = self.agent(agent)
        system = compiled.system_prompt(variables)
        handle = RunHandle(new_id("run"))

        async def go() -> RunResult:
            if tenant is not None:
                _TENANT.set(tenant)  # the task's own context
            if not self._started:
                await self.start_up()
            return await self._execute(
                handle.run_id,
                compiled,
                system,
                input,
                session_id,
                dict(variables or {}),
                handle._push,
                parent_run_id,
            )

        return self._spawn(handle, go())

    def _spawn(self, handle: RunHandle, coro: Coroutine[Any, Any, RunResult]) -> RunHandle:
        task = asyncio.get_running_loop().create_task(coro, name=f"agentspec-{handle.run_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        handle.task = task
        return handle

    # ------------------------------------------------------------------ structured runs
    async def run_flow(
        self,
        kind: str,
        name: str,
        input: Any,
        body: FlowBody,
        *,
        run_id: str | None = None,
        listener: Listener | None = None,
        parent_run_id: str = "",
        session_id: str = "",
        resume: ResumeCursor | None = None,
    ) -> RunResult:
        """Execute a structured run (a pipeline, workflow, state machine, behaviour tree).

        The run gets its own log like an agent run: ``run.started`` (with ``kind`` and the
        structure's ``name`` in place of an agent), whatever ``body`` emits on the
        :class:`RunState` it is given (steps, nodes, child run ids), then ``run.completed``
        with the text ``body`` returns, or ``run.failed``. Child agent runs are started with
        ``runtime.run(..., parent_run_id=state.run_id)``. ``input`` is JSON-serialisable; the
        stored run's ``input`` is its JSON text. Never raises for a failed run.
        """
        if not self._started:
            await self.start_up()
        assert self._persister is not None
        persister = self._persister
        run_id = run_id or new_id("run")
        text = input if isinstance(input, str) else json.dumps(input, ensure_ascii=False)
        now = time.time()
        listeners = self._listeners if listener is None else [*self._listeners, listener]
        state = RunState(run_id, name, os.urandom(16).hex(), persister, listeners, session_id)
        self._attach(state, resume)  # durability: resume cursor, lease heartbeat
        try:
            return await self._run_flow_attached(
                state, kind, name, text, body, parent_run_id, session_id, now, resume
            )
        finally:
            self._detach(run_id)

    async def _run_flow_attached(
        self,
        state: RunState,
        kind: str,
        name: str,
        text: str,
        body: FlowBody,
        parent_run_id: str,
        session_id: str,
        now: float,
        resume: ResumeCursor | None,
    ) -> RunResult:
        assert self._persister is not None
        persister = self._persister
        run_id = state.run_id
        if resume is None:  # a resumed run's record exists already
            persister.add_run(
                RunRecord(
                    run_id,
                    name,
                    self.package.name,
                    self.ir_hash,
                    "running",
                    session_id,
                    text,
                    created_at=now,
                    updated_at=now,
                    parent_run_id=parent_run_id,
                    tenant=_TENANT.get(),
                    **self._lease_fields(),
                )
            )
        started: dict[str, Any] = {
            "agent": name,
            "kind": kind,
            "fqn": self.package.fqn(kind.capitalize(), name),
            "package": self.package.name,
            "ir_hash": self.ir_hash,
            "input": text,
            "session_id": session_id,
        }
        if parent_run_id:
            started["parent_run_id"] = parent_run_id
        state.emit(ev.RUN_STARTED, started)
        status: RunStatus = "completed"
        output = ""
        error_code = error_text = ""
        cancelled = False
        try:
            output = await body(state)
        except ResumeError:  # the log does not match re-execution: nothing was appended
            raise
        except asyncio.CancelledError:
            cancelled = True
            status, error_code, error_text = "cancelled", "cancelled", "the run was cancelled"
        except AgentspecError as exc:
            status, error_code, error_text = "failed", exc.code, str(exc)
        except Exception as exc:  # a bug must still leave a consistent log
            status, error_code, error_text = (
                "failed",
                "internal_error",
                f"{type(exc).__name__}: {exc}",
            )
        error_text, duration = self._finish(state, status, output, error_code, error_text)
        try:
            await persister.flush()
        except StoreError:
            if cancelled:
                raise asyncio.CancelledError() from None
            raise
        if cancelled:
            raise asyncio.CancelledError()
        if status == "completed":
            return state.result(status, output, round(duration, 3))
        return state.result(status, "", round(duration, 3), error_code, error_text)

    def start_flow(
        self,
        kind: str,
        name: str,
        input: Any,
        body: FlowBody,
        *,
        parent_run_id: str = "",
        session_id: str = "",
    ) -> RunHandle:
        """:meth:`run_flow` in the background; iterate the handle for live events."""
        handle = RunHandle(new_id("run"))
        return self._spawn(
            handle,
            self.run_flow(
                kind,
                name,
                input,
                body,
                run_id=handle.run_id,
                listener=handle._push,
                parent_run_id=parent_run_id,
                session_id=session_id,
            ),
        )

    async def _execute(
        self,
        run_id: str,
        compiled: CompiledAgent,
        system: str,
        input: str,
        session_id: str | None,
        variables: dict[str, Any],
        listener: Listener | None,
        parent_run_id: str = "",
        *,
        resume: ResumeCursor | None = None,
    ) -> RunResult:
        try:
            if session_id is None:
                return await self._execute_locked(
                    run_id, compiled, system, input, "", variables, listener, parent_run_id, resume
                )
            lock = self._acquire_session_lock(session_id)
            try:
                async with lock:
                    return await self._execute_locked(
                        run_id,
                        compiled,
                        system,
                        input,
                        session_id,
                        variables,
                        listener,
                        parent_run_id,
                        resume,
                    )
            finally:
                self._release_session_lock(session_id)
        finally:
            self._detach(run_id)

    async def _execute_locked(
        self,
        run_id: str,
        compiled: CompiledAgent,
        system: str,
        input: str,
        session_id: str,
        variables: dict[str, Any],
        listener: Listener | None,
        parent_run_id: str = "",
        resume: ResumeCursor | None = None,
    ) -> RunResult:
        assert self._persister is not None
        persister = self._persister
        spec = compiled.agent
        now = time.time()
        session: SessionWindow | None = None
        history: list[Message] = []
        if session_id:
            limit = spec.memory.max_messages
            session = self._windows.get(session_id, limit)
            if session is None:
                record = await self.store.get_session(session_id)
                if record is None:
                    record = SessionRecord(session_id, spec.name, now, now, tenant=_TENANT.get())
                    session = SessionWindow(record, [], limit)
                else:
                    stored = []
                    if record.message_count:
                        stored = await self.store.get_messages(session_id, last=limit)
                    session = SessionWindow(
                        record, [Message.from_dict(r.message) for r in stored], limit
                    )
            if session.record.agent != spec.name:
                raise UsageError(
                    f"session {session_id!r} belongs to agent {session.record.agent!r}, not {spec.name!r}"
                )
            history = window(session.messages, limit)
        listeners = self._listeners if listener is None else [*self._listeners, listener]
        state = RunState(run_id, spec.name, os.urandom(16).hex(), persister, listeners, session_id)
        self._attach(state, resume)  # durability: resume cursor, approvals, lease heartbeat
        if resume is None:  # a resumed run's record exists already
            persister.add_run(
                RunRecord(
                    run_id,
                    spec.name,
                    self.package.name,
                    self.ir_hash,
                    "running",
                    session_id,
                    input,
                    created_at=now,
                    updated_at=now,
                    parent_run_id=parent_run_id,
                    tenant=_TENANT.get(),
                    **self._lease_fields(),
                )
            )
        started: dict[str, Any] = {
            "agent": spec.name,
            "fqn": compiled.fqn,
            "package": self.package.name,
            "ir_hash": self.ir_hash,
            "input": input,
            "variables": variables,
            "session_id": session_id,
            "model": compiled.model.label,
            "strategy": spec.strategy,
        }
        if parent_run_id:
            started["parent_run_id"] = parent_run_id
        state.emit(ev.RUN_STARTED, started)
        messages = [*history, Message("user", input)]
        first_new = len(history)
        status: RunStatus = "completed"
        output = ""
        error_code = ""
        error_text = ""
        cancelled = False
        try:
            output, compiled, messages, first_new = await self._drive(
                state, compiled, system, messages, first_new, history, input
            )
        except RunParked as parked:  # waiting for approval: no terminal event
            return await self._parked(state, parked)
        except ResumeError:  # the log does not match re-execution: nothing was appended
            raise
        except asyncio.CancelledError:
            cancelled = True
            status, error_code, error_text = "cancelled", "cancelled", "the run was cancelled"
        except RunError as exc:
            status, error_code, error_text = "failed", exc.code, str(exc)
        except AgentspecError as exc:
            status, error_code, error_text = "failed", exc.code, str(exc)
        except Exception as exc:  # a bug must still leave a consistent log
            status, error_code, error_text = (
                "failed",
                "internal_error",
                f"{type(exc).__name__}: {exc}",
            )
        error_text, duration = self._finish(state, status, output, error_code, error_text)
        if session is not None and status == "completed":
            new = messages[first_new:]
            record = session.record
            base = record.message_count
            stamp = time.time()
            persister.add_messages(
                [
                    MessageRecord(session_id, base + i + 1, m.to_dict(), run_id, stamp)
                    for i, m in enumerate(new)
                ]
            )
            record.message_count = base + len(new)
            record.updated_at = stamp
            persister.add_session(record)
            session.extend(new)
            self._windows.put(session)
        elif session is not None and session.record.message_count == 0:
            persister.add_session(session.record)
        try:
            await persister.flush()
        except StoreError:
            if cancelled:
                raise asyncio.CancelledError() from None
            raise
        if cancelled:
            raise asyncio.CancelledError()
        if status == "completed":
            return state.result(status, output, round(duration, 3))
        return state.result(status, "", round(duration, 3), error_code, error_text)

    def _finish(
        self, state: RunState, status: RunStatus, output: str, error_code: str, error_text: str
    ) -> tuple[str, float]:
        """Emit the terminal event and queue the run's final record; returns the redacted error
        text and the duration in ms."""
        assert self._persister is not None
        persister = self._persister
        run_id = state.run_id
        duration = state.elapsed_ms()
        usage = state.usage.to_dict()
        error_text = self.secrets.redact(error_text) if error_text else ""
        if state.durable is not None and state.durable.fenced:  # another process drives it
            return error_text, duration
        if status == "completed":
            state.emit(
                ev.RUN_COMPLETED,
                {
                    "output": output,
                    "turns": state.turns,
                    "usage": usage,
                    "duration_ms": round(duration, 3),
                },
            )
        else:
            state.emit(
                ev.RUN_FAILED,
                {
                    "error": error_code,
                    "message": error_text,
                    "turns": state.turns,
                    "usage": usage,
                    "duration_ms": round(duration, 3),
                },
            )
        u = state.usage
        persister.add_update(
            RunUpdate(
                run_id,
                status,
                time.time(),
                output,
                error_text if status != "completed" else "",
                state.turns,
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_write_tokens,
            )
        )
        return error_text, duration

    async def _drive(
        self,
        state: RunState,
        compiled: CompiledAgent,
        system: str,
        messages: list[Message],
        first_new: int,
        history: list[Message],
        input: str,
    ) -> tuple[str, CompiledAgent, list[Message], int]:
        """Run the strategy under the agent's timeout; hand over to the fallback agent on failure."""
        seen = {compiled.agent.name}
        while True:
            spec = compiled.agent
            try:
                if spec.timeout is not None:
                    try:
                        async with self._deadlines.limit(spec.timeout):
                            output = await self._strategy(state, compiled, system, messages)
                    except TimeoutError:
                        raise RunTimeout(f"run timed out after {spec.timeout:g}s") from None
                else:
                    output = await self._strategy(state, compiled, system, messages)
                return output, compiled, messages, first_new
            except RunError as exc:
                target = spec.fallback if spec.on_error == "fallback" else None
                if target is None or target in seen:
                    raise
                seen.add(target)
                state.emit(
                    ev.RUN_FALLBACK,
                    {"from": spec.name, "to": target, "error": exc.code, "message": str(exc)},
                )
                compiled = self.agent(target)
                system = compiled.system_prompt(None)
                messages = [*history, Message("user", input)]
                first_new = len(history)

    async def _strategy(
        self, state: RunState, compiled: CompiledAgent, system: str, messages: list[Message]
    ) -> str:
        strategy = compiled.agent.strategy
        fn = STRATEGIES.get(strategy)
        if fn is None:
            raise UsageError(
                f"agent {compiled.agent.name!r}: strategy {strategy!r} is not available in this "
                f"release (available: {', '.join(sorted(STRATEGIES))})"
            )
        return await fn(
            StrategyContext(
                self,
                state,
                compiled,
                system,
                messages,
                self.settings.tool_timeout,
                self._deadlines,
            )
        )

    # ------------------------------------------------------------------ sessions
    def _acquire_session_lock(self, session_id: str) -> asyncio.Lock:
        lock, users = self._session_locks.get(session_id, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._session_locks[session_id] = (lock, users + 1)
        return lock

    def _release_session_lock(self, session_id: str) -> None:
        lock, users = self._session_locks[session_id]
        if users <= 1:
            del self._session_locks[session_id]
        else:
            self._session_locks[session_id] = (lock, users - 1)

    async def create_session(
        self,
        agent: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        tenant: str = "default",
    ) -> SessionRecord:
        if agent not in self.package.agents:
            self.agent(agent)  # raises UsageError with a suggestion
        if not self._started:
            await self.start_up()
        assert self._persister is not None
        now = time.time()
        session = SessionRecord(
            session_id or new_id("sess"), agent, now, now, dict(metadata or {}), tenant=tenant
        )
        self._persister.add_session(session)
        await self._persister.flush()
        limit = self.package.agents[agent].memory.max_messages
        self._windows.put(SessionWindow(session, [], limit))
        return session

    async def get_session(self, session_id: str) -> SessionRecord | None:
        if not self._started:
            await self.start_up()
        return await self.store.get_session(session_id)

    async def list_sessions(
        self, *, agent: str | None = None, limit: int = 100, tenant: str | None = None
    ) -> list[SessionRecord]:
        if not self._started:
            await self.start_up()
        return await self.store.list_sessions(agent=agent, limit=limit, tenant=tenant)

    async def delete_session(self, session_id: str) -> bool:
        if not self._started:
            await self.start_up()
        assert self._persister is not None
        await self._persister.flush()
        self._windows.drop(session_id)
        return await self.store.delete_session(session_id)

    async def session_messages(self, session_id: str, *, last: int | None = None) -> list[Message]:
        if not self._started:
            await self.start_up()
        return [
            Message.from_dict(r.message)
            for r in await self.store.get_messages(session_id, last=last)
        ]

    # ------------------------------------------------------------------ stored runs
    async def get_run(self, run_id: str) -> RunRecord | None:
        if not self._started:
            await self.start_up()
        return await self.store.get_run(run_id)

    async def list_runs(self, **filters: Any) -> RunPage:
        if not self._started:
            await self.start_up()
        return await self.store.list_runs(**filters)

    async def get_events(self, run_id: str, *, after: int = 0) -> list[ev.Event]:
        if not self._started:
            await self.start_up()
        return await self.store.get_events(run_id, after=after)


_ERROR_TYPES: dict[str, type[RunError]] = {"timeout": RunTimeout, "cancelled": RunCancelled}


def _error_for(result: RunResult) -> RunError:
    error = _ERROR_TYPES.get(result.error, RunError)(result.error_message or result.error)
    error.code = result.error or "internal_error"
    error.run_id = result.run_id
    error.result = result
    return error
