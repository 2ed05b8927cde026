"""The durability half of :class:`~agentspec.engine.runtime.Runtime`: resume, leases, approvals.

:class:`DurableRuntime` is a mixin of ``Runtime``; the engine core calls its hooks
(:meth:`_attach`, :meth:`_detach`, :meth:`_parked`) around every agent run. See
``docs/durability.md`` for the user's view and :mod:`agentspec.engine.resume`,
:mod:`agentspec.engine.lease`, :mod:`agentspec.engine.approvals` for the mechanisms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, cast

from agentspec.engine import events as ev
from agentspec.engine.approvals import RunParked
from agentspec.engine.events import Event
from agentspec.engine.lease import LeaseKeeper, acquire, new_owner
from agentspec.engine.result import RunResult, fold
from agentspec.engine.resume import Durability, ResumeCursor, load_log
from agentspec.engine.run import Listener, RunHandle, RunState
from agentspec.exceptions import UsageError
from agentspec.store.base import RunRecord, RunStatus, RunUpdate

if TYPE_CHECKING:
    from agentspec.engine.runtime import Runtime

log = logging.getLogger("agentspec.durability")

Decision = Literal["approve", "deny"]


class DurableRuntime:
    """Resume, leases and approvals for :class:`~agentspec.engine.runtime.Runtime`."""

    owner: str
    """This runtime's lease owner id (``host:pid:nonce``)."""
    _leases: LeaseKeeper | None
    _driving: dict[str, tuple[RunState, asyncio.Task[Any] | None]]
    _approval_cache: dict[tuple[str, str], bool]
    _background: set[asyncio.Future[Any]]
    _timers: list[asyncio.TimerHandle]
    _deciding: asyncio.Lock

    @property
    def _rt(self) -> Runtime:
        """This object as the :class:`Runtime` it is a part of."""
        return cast("Runtime", self)

    def _durable_init(self) -> None:
        self.owner = new_owner()
        self._leases = None
        self._driving = {}
        self._approval_cache = {}
        self._background = set()
        self._timers = []
        self._deciding = asyncio.Lock()

    # ------------------------------------------------------------------ engine hooks
    def _durable_start(self) -> None:
        rt = self._rt
        rt._leases = LeaseKeeper(rt.store, rt.owner, rt.settings.lease_ttl, rt._lost)

    async def _durable_close(self) -> None:
        rt = self._rt
        for timer in rt._timers:
            timer.cancel()
        rt._timers.clear()
        for task in list(rt._background):
            task.cancel()
        for task in list(rt._background):
            with contextlib.suppress(BaseException):
                await task
        if rt._leases is not None:
            await rt._leases.close()
            rt._leases = None

    def _lease_fields(self) -> dict[str, Any]:
        """Lease columns of a new run's record: it starts held by its creator."""
        rt = self._rt
        return {"lease_owner": rt.owner, "lease_expires": time.time() + rt.settings.lease_ttl}

    def _attach(self, state: RunState, resume: ResumeCursor | None) -> None:
        """Give a run its durability state and keep its lease alive while it runs."""
        rt = self._rt
        state.durable = Durability(
            resume,
            rt._needs_approval,
            rt.settings.approval_timeout,
            rt.settings.approval_on_timeout,
        )
        if resume is not None:
            state.trace_id = resume.trace_id or state.trace_id
            persister = rt._persister
            run_id = state.run_id

            def live() -> None:
                assert persister is not None
                persister.add_update(RunUpdate(run_id, "running", time.time()))

            resume.on_live = live
            state.durable.children = resume.children
        rt._driving[state.run_id] = (state, asyncio.current_task())
        if rt._leases is not None:
            rt._leases.track(state.run_id)

    def _detach(self, run_id: str) -> None:
        self._driving.pop(run_id, None)
        if self._leases is not None:
            self._leases.untrack(run_id)

    def _lost(self, run_id: str) -> None:
        """Another process took ``run_id``'s lease: stop driving it, write nothing more."""
        entry = self._driving.get(run_id)
        if entry is None:
            return
        state, task = entry
        log.warning("lost the lease of run %s to another process; stopping it here", run_id)
        if state.durable is not None:
            state.durable.fenced = True
        state._sink = lambda event: None
        state.listeners = []
        if task is not None:
            task.cancel()

    def _needs_approval(self, agent: str, tool: str) -> bool:
        rt = self._rt
        key = (agent, tool)
        cached = rt._approval_cache.get(key)
        if cached is None:
            spec = rt.package.agents.get(agent)
            skill = rt.package.skills.get(tool)
            cached = (spec is not None and spec.approval == "required") or (
                skill is not None and skill.approval == "required"
            )
            rt._approval_cache[key] = cached
        return cached

    async def _parked(self, state: RunState, parked: RunParked) -> RunResult:
        """Park a run that waits for approval decisions: status ``waiting``, lease released."""
        rt = self._rt
        assert rt._persister is not None
        run_id = state.run_id
        duration = round(state.elapsed_ms(), 3)
        if state.durable is not None and state.durable.fenced:
            return state.result("cancelled", "", duration, "cancelled", "lease lost")
        u = state.usage
        rt._persister.add_update(
            RunUpdate(
                run_id,
                "waiting",
                time.time(),
                "",
                "",
                state.turns,
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_write_tokens,
            )  # fmt: skip
        )
        await rt._persister.flush()
        rt._detach(run_id)
        await rt.store.release_lease(run_id, rt.owner)
        rt._schedule_timeouts(run_id, state.events)
        log.info("run %s is waiting for approval of %s", run_id, ", ".join(parked.call_ids))
        return state.result("waiting", "", duration)

    # ------------------------------------------------------------------ resume
    def _check_run(self, record: RunRecord | None, run_id: str, action: str) -> RunRecord:
        rt = self._rt
        if record is None:
            raise UsageError(
                f"cannot {action} run {run_id!r}: no such run in {rt.store.url} "
                "(see 'agentspec runs list')"
            )
        if record.status in ("completed", "failed", "cancelled"):
            raise UsageError(
                f"cannot {action} run {run_id}: it already finished ({record.status}); "
                "only running or waiting runs can be resumed"
            )
        if record.package != rt.package.name or record.ir_hash != rt.ir_hash:
            raise UsageError(
                f"cannot {action} run {run_id}: it belongs to package {record.package!r} "
                f"({record.ir_hash[:19]}…), not to this project's {rt.package.name!r} "
                f"({rt.ir_hash[:19]}…); use the spec the run was started with"
            )
        return record

    async def resume(self, run_id: str, *, listener: Listener | None = None) -> RunResult:
        """Continue an unfinished run from its log (see :mod:`agentspec.engine.resume`).

        Recorded model responses and tool results are reused, never requested or executed
        again; new events continue after the last stored one, starting with ``run.resumed``.
        A ``waiting`` run whose approvals are still undecided stays parked (no new events).

        Returns:
            The run's result (``status`` may be ``waiting`` again).

        Raises:
            UsageError: Unknown, finished or foreign run (other package or spec hash), a
                structured run, or a run another live process is driving.
            ResumeError: The log is corrupted or does not match re-execution (nothing is
                appended in that case).
        """
        rt = self._rt
        if not rt._started:
            await rt.start_up()
        record = rt._check_run(await rt.store.get_run(run_id), run_id, "resume")
        if run_id in rt._driving:
            raise UsageError(f"cannot resume run {run_id}: this process is already driving it")
        if not await acquire(rt.store, run_id, rt.owner, rt.settings.lease_ttl):
            current = await rt.store.get_run(run_id)
            holder = current.lease_owner if current else record.lease_owner
            left = (current.lease_expires if current else record.lease_expires) - time.time()
            raise UsageError(
                f"cannot resume run {run_id}: process {holder} is driving it (its lease "
                f"expires in {max(left, 0):.0f}s unless renewed); stop it or wait"
            )
        try:
            try:
                stored = await rt.store.get_events(run_id)
            except Exception:  # unreadable: load_log below names the run and seq
                stored = []
            if stored and stored[-1].type in ev.TERMINAL:
                # the process died after the run's last event was durable but before its
                # record said so: the log is the truth, finish the record from it
                return await self._repair(run_id, stored)
            events = await load_log(rt.store, run_id)
            started = events[0].data
            if started.get("kind"):
                cursor = ResumeCursor(run_id, events)
                for child in await rt.store.child_runs(run_id):
                    cursor.children.setdefault((child.agent, child.input), []).append(child.id)
                kind, name = str(started["kind"]), str(started.get("agent", record.agent))
                data = _flow_input(str(started.get("input", record.input)))
                return await rt.run_flow(
                    kind,
                    name,
                    data,
                    _flow_body(rt, kind, name, data),
                    run_id=run_id,
                    listener=listener,
                    parent_run_id=str(started.get("parent_run_id") or ""),
                    session_id=str(started.get("session_id") or ""),
                    resume=cursor,
                )
            compiled = rt.agent(str(started.get("agent", record.agent)))
            variables = dict(started.get("variables") or {})
            system = compiled.system_prompt(variables)
            cursor = ResumeCursor(run_id, events)
            for child in await rt.store.child_runs(run_id):
                cursor.children.setdefault((child.agent, child.input), []).append(child.id)
            return await rt._execute(
                run_id,
                compiled,
                system,
                str(started.get("input", record.input)),
                str(started.get("session_id") or "") or None,
                variables,
                listener,
                str(started.get("parent_run_id") or ""),
                resume=cursor,
            )
        finally:
            with contextlib.suppress(Exception):
                await rt.store.release_lease(run_id, rt.owner)

    async def _repair(self, run_id: str, events: list[Event]) -> RunResult:
        """Bring a run record whose log already ended up to date with that log."""
        rt = self._rt
        result = fold(events)
        usage = result.usage
        assert rt._persister is not None
        rt._persister.add_update(
            RunUpdate(
                run_id,
                cast(RunStatus, result.status),
                time.time(),
                result.output,
                result.error_message if result.status != "completed" else "",
                result.turns,
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_tokens,
                usage.cache_write_tokens,
            )
        )
        await rt._persister.flush()
        log.info("run %s had ended in its log; its record now says %s", run_id, result.status)
        return result

    async def _reuse_child(self, parent_run_id: str, agent: str, input: str) -> RunResult | None:
        """For a run being resumed: the result of the child run its interrupted execution
        started for ``(agent, input)`` (resumed first if unfinished), instead of a new one."""
        rt = self._rt
        entry = rt._driving.get(parent_run_id)
        durable = entry[0].durable if entry is not None else None
        if durable is None or durable.children is None:
            return None
        queue = durable.children.get((agent, input))
        if not queue:
            return None
        child_id = queue.pop(0)
        record = await rt.store.get_run(child_id)
        if record is None:
            return None
        if record.status in ("running", "waiting"):
            return await rt.resume(child_id)
        return fold(await rt.store.get_events(child_id))

    def start_resume(self, run_id: str) -> RunHandle:
        """:meth:`resume` in the background; iterate the handle for the new events."""
        rt = self._rt
        handle = RunHandle(run_id)
        return rt._spawn(handle, rt.resume(run_id, listener=handle._push))

    async def recover(self) -> list[str]:
        """Resume, in the background, this package's runs left ``running`` by a dead process
        (lease expired, or its process on this host is gone), and re-arm approval timeouts of
        ``waiting`` runs. Called at start-up when ``Settings.resume_on_start`` is set.

        Returns:
            The ids of the runs being resumed.
        """
        rt = self._rt
        if not rt._started:
            await rt.start_up()
        resumed: list[str] = []
        for status in ("running", "waiting"):
            cursor: str | None = None
            while True:
                page = await rt.store.list_runs(status=status, limit=200, cursor=cursor)
                for record in page.runs:
                    if record.package != rt.package.name or record.ir_hash != rt.ir_hash:
                        continue
                    if status == "waiting":
                        events: list[Event] = []
                        with contextlib.suppress(Exception):
                            events = await rt.store.get_events(record.id)
                            rt._schedule_timeouts(record.id, events)
                        if not events or _waiting_calls(events):
                            continue  # still waiting for someone
                        # every call is decided but the process died before resuming
                    if record.id in rt._driving or record.parent_run_id:
                        continue  # child runs are resumed by their parent
                    if not await acquire(rt.store, record.id, rt.owner, rt.settings.lease_ttl):
                        continue
                    log.info("resuming run %s left running by %s", record.id, record.lease_owner)
                    rt._background_task(rt._recover_one(record.id))
                    resumed.append(record.id)
                cursor = page.next_cursor
                if cursor is None:
                    break
        return resumed

    async def _recover_one(self, run_id: str) -> None:
        rt = self._rt
        try:
            await rt.resume(run_id)
        except asyncio.CancelledError:
            raise
        except UsageError as exc:  # e.g. a structured run, or another process took it
            log.info("not resuming run %s: %s", run_id, exc)
        except Exception as exc:
            log.error("could not resume run %s: %s", run_id, exc)

    def _background_task(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ approvals
    async def approve(
        self,
        run_id: str,
        call_id: str,
        *,
        reason: str = "",
        by: str = "",
        wait: bool = True,
        listener: Listener | None = None,
    ) -> RunResult | None:
        """Approve a waiting tool call and resume the run (see :meth:`decide`)."""
        return await self.decide(
            run_id, call_id, "approve", reason=reason, by=by, wait=wait, listener=listener
        )

    async def deny(
        self,
        run_id: str,
        call_id: str,
        *,
        reason: str = "",
        by: str = "",
        wait: bool = True,
        listener: Listener | None = None,
    ) -> RunResult | None:
        """Deny a waiting tool call (the model sees ``denied by BY: REASON``) and resume."""
        return await self.decide(
            run_id, call_id, "deny", reason=reason, by=by, wait=wait, listener=listener
        )

    async def decide(
        self,
        run_id: str,
        call_id: str,
        decision: Decision,
        *,
        reason: str = "",
        by: str = "",
        wait: bool = True,
        listener: Listener | None = None,
    ) -> RunResult | None:
        """Record ``approval.decided`` for a waiting call, then resume the run.

        Args:
            run_id: A ``waiting`` run.
            call_id: One of its calls waiting for approval.
            decision: ``approve`` or ``deny``.
            reason: Shown to the model when denied, and kept in the log.
            by: Who decided (a user, ``cli:NAME``, an API key id, ``timeout``).
            wait: Return the resumed run's result; when false, resume in the background and
                return ``None`` once the decision is durable.
            listener: Sees the resumed run's new events.

        Raises:
            UsageError: Unknown, finished or foreign run, or a call that is not waiting.
        """
        rt = self._rt
        if decision not in ("approve", "deny"):
            raise UsageError(f"decision {decision!r}: use 'approve' or 'deny'")
        if not rt._started:
            await rt.start_up()
        async with rt._deciding:  # one decision at a time in this process (they are rare)
            return await rt._decide(run_id, call_id, decision, reason, by, wait, listener)

    async def _decide(
        self,
        run_id: str,
        call_id: str,
        decision: Decision,
        reason: str,
        by: str,
        wait: bool,
        listener: Listener | None,
    ) -> RunResult | None:
        rt = self._rt
        record = rt._check_run(await rt.store.get_run(run_id), run_id, decision)
        if record.status != "waiting":
            raise UsageError(
                f"call {call_id!r} of run {run_id} is not waiting for approval "
                f"(the run is {record.status})"
            )
        if not await acquire(rt.store, run_id, rt.owner, rt.settings.lease_ttl):
            raise UsageError(f"cannot {decision} run {run_id}: another process is driving it")
        try:
            record = rt._check_run(await rt.store.get_run(run_id), run_id, decision)
            events = await rt.store.get_events(run_id)
            waiting = _waiting_calls(events)
            if record.status != "waiting" or call_id not in waiting:
                listing = ", ".join(waiting) if record.status == "waiting" and waiting else ""
                hint = f"waiting calls: {listing}" if listing else f"the run is {record.status}"
                raise UsageError(
                    f"call {call_id!r} of run {run_id} is not waiting for approval ({hint})"
                )
            event = Event(
                run_id,
                events[-1].seq + 1,
                time.time(),
                ev.APPROVAL_DECIDED,
                {
                    "call_id": call_id,
                    "name": waiting[call_id].get("name", ""),
                    "decision": decision,
                    "reason": reason,
                    "by": by or "an operator",
                },
                events[0].trace_id,
            )
            assert rt._persister is not None
            rt._persister.add_event(event)
            for observer in rt._listeners:  # e.g. the audit log: same transaction
                with contextlib.suppress(Exception):
                    observer(event)
            await rt._persister.flush()
        except BaseException:
            with contextlib.suppress(Exception):
                await rt.store.release_lease(run_id, rt.owner)
            raise
        if wait:
            return await rt.resume(run_id, listener=listener)
        rt._background_task(rt._recover_one(run_id))
        return None

    def _schedule_timeouts(self, run_id: str, events: list[Event]) -> None:
        """Arm a timer for each undecided approval request that has a timeout."""
        rt = self._rt
        loop = asyncio.get_running_loop()
        for call_id, data in _waiting_calls(events).items():
            if data.get("timeout") is None:
                continue
            timeout = float(data["timeout"])
            due = float(data.get("\0ts", 0.0)) + timeout
            decision: Decision = "approve" if data.get("on_timeout") == "approve" else "deny"

            def fire(
                call_id: str = call_id, decision: Decision = decision, after: float = timeout
            ) -> None:
                rt._background_task(rt._decide_on_timeout(run_id, call_id, decision, after))

            rt._timers.append(loop.call_later(max(0.0, due - time.time()), fire))

    async def _decide_on_timeout(
        self, run_id: str, call_id: str, decision: Decision, after: float
    ) -> None:
        rt = self._rt
        try:
            await rt.decide(
                run_id, call_id, decision, reason=f"no decision within {after:g}s", by="timeout"
            )
        except UsageError:
            pass  # decided meanwhile, or resumed elsewhere
        except Exception as exc:
            log.error("approval timeout of run %s call %s failed: %s", run_id, call_id, exc)


def _waiting_calls(events: list[Event]) -> dict[str, dict[str, Any]]:
    """Approval requests of the log without a decision, by call id (payload plus ``\\0ts``)."""
    waiting: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.type == ev.APPROVAL_REQUESTED:
            waiting[str(event.data.get("call_id"))] = {**event.data, "\0ts": event.ts}
        elif event.type == ev.APPROVAL_DECIDED or event.type == ev.TOOL_RESULT:
            waiting.pop(str(event.data.get("call_id")), None)
    return waiting


def _flow_input(text: str) -> Any:
    """A structured run's input as it was given (stored as JSON text, or as the string)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _flow_body(
    rt: Runtime, kind: str, name: str, data: Any
) -> Callable[[RunState], Awaitable[str]]:
    """Rebuild the body of a structured run from the spec, to re-drive it against its log."""
    if kind == "pipeline":
        from agentspec.engine.pipeline import _Execution, _trigger, get_pipeline

        return _Execution(rt, get_pipeline(rt, name), _trigger(data)).body
    from agentspec.engine.workflow import prepare

    _, factory = prepare(rt, name, kind=kind)
    return factory(data)
