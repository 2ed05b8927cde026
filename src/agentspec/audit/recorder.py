"""Turning runs and security-relevant actions into audit-log entries.

:class:`AuditRecorder` is a runtime listener (see ``docs/architecture.md``: listeners observe
every event synchronously, must be cheap and must never raise). Per event it does a dict
lookup; for the few audited types it builds one :class:`~agentspec.store.base.AuditRecord`:

==================  ===============================================================
event               entry (``subject`` is the run id, ``actor`` ``agent:NAME``)
==================  ===============================================================
``run.started``     ``run.started``: agent, fqn, package, ir_hash, model, strategy,
                    session_id, parent_run_id, ``input_sha256``
``tool.call``       ``tool.call``: name, call_id, turn, ``arguments_sha256`` (the
                    SHA-256 of the canonical JSON of the arguments, never the
                    arguments themselves)
``tool.result``     ``tool.result``: name, call_id, turn, ``outcome`` (``ok`` or
                    ``error``)
``run.completed``   ``run.completed``: turns, usage, duration_ms, ``output_sha256``
``run.failed``      ``run.failed``: error (the reason code), turns, usage,
                    duration_ms (no message: it may quote user data)
``approval.         ``approval.requested``: name, call_id, turn, ``arguments_sha256``,
requested``         timeout (if any)
``approval.         ``approval.decided`` (``actor`` is who decided): name, call_id,
decided``           decision (``approve``/``deny``), by, reason
==================  ===============================================================

Run entries carry the run's tenant (:func:`agentspec.engine.runtime.current_tenant` when the
run starts).

Other actions (key changes, auth failures, configuration changes, approvals) are recorded with
:meth:`AuditRecorder.record`, which appends at once.

Durability. Attached to a runtime with :meth:`AuditRecorder.attach`, a run's entries ride on
the runtime's group commit: they join the pending :class:`~agentspec.store.base.WriteBatch`
of the run's own events and are written *in the same transaction*. A run's entries are thus
durable exactly when its events are: at the latest when the run returns (it awaits its
flush); a failed write loses the events and the entries together, and the chain has no gap.
Used as a plain listener (``runtime.add_listener(recorder)``), the recorder writes its entries
itself, in one append per burst, shortly after they happen; :meth:`AuditRecorder.flush` waits
for them.

Chaining and several processes. ``seq``, ``prev_hash`` and ``hash`` are assigned by the store
inside the write transaction from the log's current tail (SQLite: under ``BEGIN IMMEDIATE``;
PostgreSQL: under a transaction-scoped advisory lock), not from a hash kept in memory. So
several processes writing to one database interleave their entries into one valid chain and
cannot fork it, and a failed transaction leaves no gap to repair. The price is one indexed
read of the tail per write that carries audit entries. (Should a backend ever chain outside
such a lock, two writers would produce two entries with the same ``seq``: the primary key
refuses the second, and :func:`~agentspec.audit.chain.verify` reports any fork that slipped
through as a ``prev_hash`` mismatch.)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from agentspec.audit.chain import canonical_json, digest, micros, new_audit_id
from agentspec.engine import events as ev
from agentspec.engine.events import Event
from agentspec.engine.runtime import current_tenant
from agentspec.exceptions import StoreError
from agentspec.store.base import AuditRecord, Store

if TYPE_CHECKING:
    from agentspec.engine.runtime import Runtime

log = logging.getLogger("agentspec.audit")

RUN_KINDS = frozenset(
    {
        ev.RUN_STARTED,
        ev.TOOL_CALL,
        ev.TOOL_RESULT,
        ev.RUN_COMPLETED,
        ev.RUN_FAILED,
        ev.APPROVAL_REQUESTED,
        ev.APPROVAL_DECIDED,
    }
)
"""The event types that become audit entries (of the same kind)."""


MAX_TRACKED_RUNS = 10_000
"""Runs whose last recorded seq is remembered, to record a redelivered event only once."""


def _sha256(text: Any) -> str:
    return hashlib.sha256(str(text).encode()).hexdigest()


class AuditRecorder:
    """Records runs (as a runtime listener) and other actions in the store's audit log.

    Args:
        store: The store holding the log (set up before the first entry is written).
        tenant: The tenant of run entries.
        clock: Epoch seconds for :meth:`record` (injectable for tests).

    Usage::

        recorder = AuditRecorder(runtime.store)
        recorder.attach(runtime)          # run entries ride on the runtime's group commit
        await recorder.record("config.changed", "agentspec.yaml", {"ir_hash": ...}, actor="cli")

    Attributes:
        dropped: Entries that could not be built or written (logged; never raised into a run).
    """

    def __init__(
        self, store: Store, *, tenant: str = "default", clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.tenant = tenant
        self._clock = clock
        self._runtime: Runtime | None = None
        self._agents: dict[str, tuple[str, str]] = {}
        """``(agent:NAME, tenant)`` by run id, for runs in progress."""
        self._pending: list[AuditRecord] = []
        self._seen: OrderedDict[str, int] = OrderedDict()
        """The last recorded seq by run id (the most recent runs only)."""
        self._writer: asyncio.Task[None] | None = None
        self.dropped = 0

    # ------------------------------------------------------------------ runs
    def attach(self, runtime: Runtime) -> Callable[[], None]:
        """Listen to ``runtime``'s runs, writing entries with their events. Returns the
        unsubscribe function."""
        self._runtime = runtime
        remove = runtime.add_listener(self)

        def detach() -> None:
            remove()
            self._runtime = None

        return detach

    def __call__(self, event: Event) -> None:
        """The listener: cheap, and never raises. An event delivered twice (same run, a seq
        not above the last one recorded) is recorded once."""
        if event.type not in RUN_KINDS:
            return
        seen = self._seen
        run_id = event.run_id
        if seen.get(run_id, 0) >= event.seq:
            return
        seen[run_id] = event.seq
        seen.move_to_end(run_id)
        if len(seen) > MAX_TRACKED_RUNS:
            seen.popitem(last=False)
        try:
            record = self._entry(event)
        except Exception as exc:  # a payload we cannot digest must not break the run
            self.dropped += 1
            log.error("audit: could not record %s of run %s: %s", event.type, event.run_id, exc)
            return
        self._add(record)

    def _entry(self, event: Event) -> AuditRecord:
        data = event.data
        kind = event.type
        run_id = event.run_id
        payload: dict[str, Any]
        actor, tenant = self._agents.get(run_id) or ("agent:", self._run_tenant())
        if kind == ev.TOOL_CALL:
            payload = {
                "name": data.get("name", ""),
                "call_id": data.get("call_id", ""),
                "turn": data.get("turn", 0),
                "arguments_sha256": digest(data.get("arguments")),
            }
        elif kind == ev.TOOL_RESULT:
            payload = {
                "name": data.get("name", ""),
                "call_id": data.get("call_id", ""),
                "turn": data.get("turn", 0),
                "outcome": "error" if data.get("error") else "ok",
            }
        elif kind == ev.APPROVAL_REQUESTED:
            payload = {
                "name": data.get("name", ""),
                "call_id": data.get("call_id", ""),
                "turn": data.get("turn", 0),
                "arguments_sha256": digest(data.get("arguments")),
            }
            if "timeout" in data:
                payload["timeout"] = data["timeout"]
        elif kind == ev.APPROVAL_DECIDED:
            by = str(data.get("by", ""))
            payload = {
                "name": data.get("name", ""),
                "call_id": data.get("call_id", ""),
                "decision": data.get("decision", ""),
                "by": by,
                "reason": data.get("reason", ""),
            }
            actor = by or "operator"
        elif kind == ev.RUN_STARTED:
            actor, tenant = "agent:" + str(data.get("agent", "")), self._run_tenant()
            self._agents[run_id] = (actor, tenant)
            payload = {
                key: data[key]
                for key in (
                    "agent",
                    "fqn",
                    "package",
                    "ir_hash",
                    "model",
                    "strategy",
                    "session_id",
                    "parent_run_id",
                )  # fmt: skip
                if key in data
            }
            payload["input_sha256"] = _sha256(data.get("input", ""))
        else:
            payload = {
                "turns": data.get("turns", 0),
                "usage": data.get("usage", {}),
                "duration_ms": data.get("duration_ms", 0.0),
            }
            if kind == ev.RUN_COMPLETED:
                payload["output_sha256"] = _sha256(data.get("output", ""))
            else:
                payload["error"] = data.get("error", "")
            self._agents.pop(run_id, None)
        return AuditRecord(
            new_audit_id(), micros(event.ts), kind, actor, run_id, canonical_json(payload), tenant
        )

    def _run_tenant(self) -> str:
        """The tenant of the run emitting the event being recorded (listeners run in the
        run's task); the recorder's own tenant for runs of the default tenant."""
        tenant = current_tenant()
        return self.tenant if tenant == "default" else tenant

    def _add(self, record: AuditRecord) -> None:
        runtime = self._runtime
        persister = None if runtime is None else runtime.persister
        if persister is not None:
            # the runtime's group commit, whose pending batch holds this event already
            persister.add_audit(record)
            return
        self._pending.append(record)
        if self._writer is None or self._writer.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop: flush() writes it
            self._writer = loop.create_task(self._write_pending(), name="agentspec-audit")

    async def _write_pending(self) -> None:
        await asyncio.sleep(0)  # let the burst of events of this loop iteration gather
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self.store.append_audit(batch)
            except StoreError as exc:
                self.dropped += len(batch)
                log.error("audit: could not write %d entries: %s", len(batch), exc)

    async def flush(self) -> None:
        """Wait until every run entry recorded so far by this recorder's own writer is
        written (entries riding on a runtime's group commit are written by its flush)."""
        writer = self._writer
        if writer is not None and not writer.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(writer)
        if self._pending:
            await self._write_pending()

    async def append(self, entries: list[AuditRecord]) -> None:
        """Append entries built elsewhere (key changes ...) in one transaction.

        Raises:
            StoreError: The store failed; nothing was appended.
        """
        if entries:
            await self.store.append_audit(entries)

    # ------------------------------------------------------------------ other actions
    async def record(
        self,
        kind: str,
        subject: str,
        data: Mapping[str, Any] | None = None,
        *,
        actor: str = "system",
        tenant: str | None = None,
    ) -> AuditRecord:
        """Append one entry now; it is durable when this returns.

        Args:
            kind: ``key.created``, ``key.revoked``, ``key.rotated``, ``auth.failed``,
                ``config.changed``, ``approval.granted`` ...
            subject: What the action was about (a key id, a file, a run id ...).
            data: A JSON-compatible payload. Never put secrets here; digest them.
            actor: Who did it.
            tenant: Defaults to the recorder's tenant.

        Returns:
            The entry with its ``seq`` and ``hash``.

        Raises:
            StoreError: The store failed; nothing was appended.
        """
        entry = AuditRecord(
            new_audit_id(),
            micros(self._clock()),
            kind,
            actor,
            subject,
            canonical_json(dict(data or {})),
            self.tenant if tenant is None else tenant,
        )
        await self.store.append_audit([entry])
        return entry


AUDIT_ENV = "AGENTSPEC_AUDIT"
"""``off`` (or ``0``, ``false``, ``no``) stops ``agentspec run`` writing run entries."""


def audit_enabled() -> bool:
    """Whether CLI runs are audited: yes unless ``$AGENTSPEC_AUDIT`` is off/0/false/no."""
    return os.environ.get(AUDIT_ENV, "").strip().lower() not in ("off", "0", "false", "no")


async def audit_runs(runtime: Runtime) -> AuditRecorder | None:
    """Start ``runtime`` and attach a recorder writing its runs' entries to its own store
    (what ``agentspec run`` does), unless :func:`audit_enabled` says no.

    Returns:
        The attached recorder, or ``None`` when auditing is off.
    """
    if not audit_enabled():
        return None
    await runtime.start_up()
    recorder = AuditRecorder(runtime.store)
    recorder.attach(runtime)
    return recorder
