"""Re-execute a stored run against its own log, or against a changed spec.

:func:`replay_run` loads the run's events, builds a :class:`~agentspec.engine.runtime.Runtime`
on a throwaway in-memory store whose models and tools answer from the recording (nothing is
executed, nothing leaves the process), runs the same agent on the same input, variables and
session history, and compares the new log with the recorded one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentspec.engine import events as ev
from agentspec.engine.result import RunResult, fold
from agentspec.exceptions import UsageError
from agentspec.replay.diff import Divergence, first_divergence
from agentspec.replay.recorded import (
    MatchingTool,
    RecordedModel,
    RecordedTool,
    Recording,
    ReplayStats,
    recorded_by_call,
)
from agentspec.store.base import MessageRecord, SessionRecord, Store, WriteBatch
from agentspec.tools.base import Tool

if TYPE_CHECKING:
    from agentspec.lang.project import Project
    from agentspec.models.base import Model


class ReplayError(UsageError):
    """A run cannot be replayed (unknown run, unfinished run, spec no longer the recorded one)."""


@dataclass(slots=True)
class RunSide:
    """One side of a comparison: what a run did, in numbers a reader can compare."""

    run_id: str
    status: str
    output: str
    error: str
    turns: int
    tool_calls: list[str]
    input_tokens: int
    output_tokens: int
    events: int

    @classmethod
    def of(cls, events: list[ev.Event]) -> RunSide:
        result: RunResult = fold(events)
        calls = [
            f"{c.tool_name}({json.dumps(c.input, sort_keys=True, ensure_ascii=False)})"
            for c in result.tool_calls
        ]
        return cls(
            result.run_id,
            result.status,
            result.output,
            result.error_message or result.error,
            result.turns,
            calls,
            result.usage.input_tokens,
            result.usage.output_tokens,
            len(events),
        )

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "turns": self.turns,
            "tool_calls": self.tool_calls,
            "tokens": {"input": self.input_tokens, "output": self.output_tokens},
            "events": self.events,
        }


@dataclass(slots=True)
class ReplayReport:
    """The outcome of a replay.

    Attributes:
        run_id: the recorded run.
        replay_run_id: the run executed in the throwaway store.
        identical: every event payload matched (timing and run ids aside).
        divergence: the first differing event, when not identical.
        recorded / replayed: the two runs side by side.
        changed_spec: the replay ran against another spec (``--with``).
        ir_hash: the recorded spec's hash; ``replay_ir_hash`` the spec replayed against.
        stats: how many calls the recording answered and how many ran live.
    """

    run_id: str
    replay_run_id: str
    identical: bool
    divergence: Divergence | None
    recorded: RunSide
    replayed: RunSide
    changed_spec: bool = False
    ir_hash: str = ""
    replay_ir_hash: str = ""
    stats: ReplayStats = field(default_factory=ReplayStats)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "replay_run_id": self.replay_run_id,
            "identical": self.identical,
            "divergence": self.divergence.to_dict() if self.divergence else None,
            "recorded": self.recorded.to_dict(),
            "replayed": self.replayed.to_dict(),
            "changed_spec": self.changed_spec,
            "ir_hash": self.ir_hash,
            "replay_ir_hash": self.replay_ir_hash,
            "stats": self.stats.to_dict(),
        }


async def load_recording(store: Store, run_id: str) -> Recording:
    """The recording of a finished agent run, or a :class:`ReplayError` saying why not."""
    if run_id in ("latest", "last"):
        page = await store.list_runs(limit=1)
        if not page.runs:
            raise ReplayError(f"no runs in {store.url} to replay")
        run_id = page.runs[0].id
    record = await store.get_run(run_id)
    if record is None:
        raise ReplayError(f"no run {run_id!r} in {store.url} (see 'agentspec runs list')")
    events = await store.get_events(run_id)
    if not events:
        raise ReplayError(f"run {run_id} has no recorded events to replay")
    for expected, event in enumerate(events, start=1):
        if event.seq != expected:
            raise ReplayError(
                f"run {run_id}: the event log is corrupted at seq {expected} "
                f"(found seq {event.seq}); it cannot be replayed"
            )
    try:
        recording = Recording(events)
    except ValueError as exc:
        raise ReplayError(f"run {run_id}: {exc}; it cannot be replayed") from None
    kind = recording.started.get("kind")
    if kind:
        raise ReplayError(
            f"run {run_id} is a {kind} run; replay re-executes agent runs (replay its child "
            "agent runs one by one)"
        )
    if recording.terminal is None:
        raise ReplayError(
            f"run {run_id} has not finished (status {record.status}); replay needs a finished "
            "run (resume it first with 'agentspec runs resume')"
        )
    return recording


async def _session_prefix(
    store: Store, recording: Recording
) -> tuple[SessionRecord, list[MessageRecord]] | None:
    """The session and the messages stored before the recorded run (what its context saw)."""
    session_id = str(recording.started.get("session_id") or "")
    if not session_id:
        return None
    session = await store.get_session(session_id)
    if session is None:
        raise ReplayError(
            f"run {recording.run_id} belongs to session {session_id!r}, which is no longer in "
            f"{store.url}; its history cannot be reconstructed"
        )
    messages = await store.get_messages(session_id)
    own = [i for i, m in enumerate(messages) if m.run_id == recording.run_id]
    if own:
        prefix = messages[: own[0]]
    else:  # the run failed, so it stored no messages: keep those of runs started before it
        record = await store.get_run(recording.run_id)
        started_at = record.created_at if record else 0.0
        created: dict[str, float] = {}
        for message in messages:
            if message.run_id and message.run_id not in created:
                other = await store.get_run(message.run_id)
                created[message.run_id] = other.created_at if other else 0.0
        prefix = [m for m in messages if created.get(m.run_id, 0.0) < started_at]
    copy = SessionRecord(
        session.id,
        session.agent,
        session.created_at,
        session.updated_at,
        dict(session.metadata),
        len(prefix),
        session.tenant,
    )
    return copy, prefix


def _load(project: Project | str | Path) -> Project:
    if isinstance(project, str | Path):
        from agentspec.lang.project import load

        return load(project)
    return project


async def replay_run(
    run_id: str,
    project: Project | str | Path = ".",
    *,
    store: Store | str | None = None,
    with_spec: Project | str | Path | None = None,
    model: str | None = None,
    live_tools: bool = True,
    fresh_model: bool = False,
) -> ReplayReport:
    """Replay a stored run and compare it with its recording.

    Args:
        run_id: the run to replay (``latest`` for the newest run).
        project: the project the run was recorded with (a path or a loaded project); its IR
            hash must be the recorded one.
        store: where the run is stored (a store or its URL; default: the configured store).
        with_spec: replay against this changed project instead: recorded tool results where
            a call has the same name and arguments, recorded model responses while the
            conversation is the recorded one, then the changed spec's own model.
        model: with ``with_spec``, the model answering once the recording no longer applies
            (``PROVIDER[:NAME]``, default: each agent's model in the changed spec).
        live_tools: with ``with_spec``, run the changed spec's tool for calls the recording
            does not have (otherwise they get an error result).
        fresh_model: with ``with_spec``, never reuse recorded model responses.

    Raises:
        ReplayError: unknown or unfinished run, or the project's hash is not the recorded one.
    """
    from agentspec.store import open_store

    if isinstance(store, Store):
        backend, owned = store, False
    else:
        from agentspec.engine.settings import Settings

        backend, owned = open_store(store or Settings().store), True
    try:
        await backend.setup()
        recording = await load_recording(backend, run_id)
        session = await _session_prefix(backend, recording)
        target = _load(with_spec if with_spec is not None else project)
        return await _replay(
            recording,
            session,
            target,
            changed=with_spec is not None,
            model=model,
            live_tools=live_tools,
            fresh_model=fresh_model,
        )
    finally:
        if owned:
            await backend.close()


async def _replay(
    recording: Recording,
    session: tuple[SessionRecord, list[MessageRecord]] | None,
    project: Project,
    *,
    changed: bool,
    model: str | None,
    live_tools: bool,
    fresh_model: bool,
) -> ReplayReport:
    from agentspec.engine.runtime import Runtime
    from agentspec.store.memory import MemoryStore

    started = recording.started
    recorded_hash = str(started.get("ir_hash", ""))
    package = project.package
    agent = str(started.get("agent", ""))
    if not changed and project.ir_hash != recorded_hash:
        raise ReplayError(
            f"run {recording.run_id} was recorded with spec {recorded_hash[:19]}… of package "
            f"{started.get('package')!r}, but {project.root} is now {project.ir_hash[:19]}…: "
            "the recorded spec no longer exists. To see what the change does, replay against "
            f"it: agentspec replay {recording.run_id} --with {project.root}"
        )
    if agent not in package.agents:
        from agentspec.ir.suggest import suggest

        hint = suggest(agent, package.agents)
        raise ReplayError(
            f"run {recording.run_id} ran agent {agent!r}, which {project.root} does not define"
            + (f" ({hint})" if hint else "")
        )
    stats = ReplayStats()
    models: dict[str, Model] = {}
    tools: dict[str, Tool] = {}
    if not changed:
        core = RecordedModel(recording, stats=stats)
        for name, spec in package.agents.items():
            models[name] = core.view(name, recording.labels.get(name) or spec.model.label)
        for name in package.skills:
            description, parameters = _tool_shape(project, name)
            tools[name] = RecordedTool(name, description, parameters, recording.calls, stats)
    else:
        live = _live_factory(project, model)
        core = RecordedModel(recording, stats=stats, live=live, fresh=fresh_model)
        for name in package.agents:
            models[name] = core.view(name, _label(project, name, model))
        grouped = recorded_by_call(recording)
        for name in package.skills:
            description, parameters = _tool_shape(project, name)
            tools[name] = MatchingTool(
                name,
                description,
                parameters,
                grouped,
                stats,
                _tool_factory(project, name) if live_tools else None,
            )
    memory = MemoryStore()
    await memory.setup()
    session_id: str | None = None
    if session is not None:
        record, prefix = session
        await memory.write(WriteBatch(sessions=[record], messages=list(prefix)))
        session_id = record.id
    runtime = Runtime(
        package,
        store=memory,
        functions=project.functions,
        base_dir=project.root,
        models=models,
        tools=tools,
    )
    try:
        result = await runtime.run(
            agent,
            str(started.get("input", "")),
            session_id=session_id,
            variables=_variables(started.get("variables")),
            raise_on_failure=False,
            parent_run_id=str(started.get("parent_run_id", "")),
        )
        replayed = await runtime.get_events(result.run_id)
    finally:
        await runtime.aclose()
    ignore = frozenset({"ir_hash"}) if changed else frozenset()
    divergence = first_divergence(recording.events, replayed, ignore=ignore)
    return ReplayReport(
        recording.run_id,
        result.run_id,
        divergence is None,
        divergence,
        RunSide.of(recording.events),
        RunSide.of(replayed),
        changed,
        recorded_hash,
        project.ir_hash,
        stats,
    )


def _variables(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _tool_shape(project: Project, name: str) -> tuple[str, dict[str, Any]]:
    """The description and input schema the model is shown for a skill."""
    skill = project.package.skills[name]
    function = project.functions.get(name)
    if function is not None:
        return skill.description or function.description, function.parameters
    return skill.description, skill.input_schema or {"type": "object", "properties": {}}


def _label(project: Project, agent: str, model: str | None) -> str:
    if model:
        from agentspec.models.registry import parse_model_override

        config = parse_model_override(model)
        return f"{config.provider}:{config.name}" if config.name else config.provider
    return project.package.agents[agent].model.label


def _live_factory(project: Project, model: str | None) -> Any:
    from agentspec.models.registry import create_model, parse_model_override
    from agentspec.secrets.resolver import SecretResolver

    override = parse_model_override(model) if model else None
    if override is not None and override.provider == "replay":
        raise ReplayError("--model replay:... cannot answer a replay; use a live or scripted model")
    secrets = SecretResolver(project.package.secrets, base_dir=project.root)

    def live(agent: str) -> Model:
        config = project.package.agents[agent].model
        if override is not None:
            keep = override.provider == "scripted" and config.provider == "scripted"
            config = config if keep else override
        return create_model(config, secrets)

    return live


def _tool_factory(project: Project, name: str) -> Any:
    from agentspec.engine.compile import build_tool
    from agentspec.secrets.resolver import SecretResolver

    def build() -> Tool:
        return build_tool(
            project.package.skills[name],
            functions=project.functions,
            secrets=SecretResolver(project.package.secrets, base_dir=project.root),
            base_dir=project.root,
        )

    return build
