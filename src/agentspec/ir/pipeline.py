"""Pipelines: named DAGs of agent steps, run by :mod:`agentspec.engine.pipeline`.

A pipeline is a list of steps. Each step runs one agent on an ``input`` template and may
depend on earlier steps; independent steps run concurrently. Templates use ``{{...}}``:

* ``{{trigger}}`` (the whole trigger as JSON) and ``{{trigger.FIELD}}`` (dotted paths into it);
* ``{{STEP}}`` or ``{{OUTPUT}}`` (a step's output, by step name or by its ``output`` name), and
  ``{{STEP.FIELD}}`` when the output is a JSON object; ``{{steps.STEP.output}}`` is the long
  form.

A step may only read the outputs of steps it (transitively) depends on; the checks in
:mod:`agentspec.ir.check_pipeline` enforce that, and that the graph has no cycles.

This module must not import :mod:`agentspec.ir.models` (``Package`` imports it).
"""

from __future__ import annotations

import re

from pydantic import Field

from agentspec.ir._base import Duration, Int, Name, _Model

TEMPLATE_REFERENCE = re.compile(r"\{\{\s*([A-Za-z0-9_][\w.\-]*)\s*\}\}")
"""A ``{{name}}`` / ``{{a.b}}`` placeholder in a step's ``input`` or ``when`` template."""


class PipelineStep(_Model):
    """One step of a pipeline.

    Attributes:
        name: the step's name, unique in its pipeline.
        agent: the agent that runs the step.
        input: the message given to the agent, a template over the trigger and the outputs of
            the steps this one depends on. Empty: the trigger as JSON.
        output: a name for the step's output, usable in later templates (``{{summary}}``).
        depends_on: steps that must complete first.
        parallel: documentation only (steps without a dependency between them always run
            concurrently); kept so IntentLang's ``parallel true`` round-trips.
        when: a condition template; the step runs only when it renders to something other
            than ``""``, ``false``, ``no``, ``0`` or ``none``, or when ``A == B`` / ``A != B``
            holds. Otherwise the step is ``skipped`` (and so are its dependents).
        timeout: seconds one attempt may take (``"30s"``); the step fails with ``timeout``.
        retries: extra attempts after a failed or timed-out attempt.
    """

    name: Name
    agent: Name
    input: str = ""
    output: str = ""
    depends_on: tuple[Name, ...] = ()
    parallel: bool = False
    when: str = ""
    timeout: Duration | None = None
    retries: Int = Field(default=0, ge=0, le=20)


class Pipeline(_Model):
    """A named DAG of agent steps, in declaration order.

    Attributes:
        name: the pipeline's name.
        description: free text.
        steps: the steps; at least one.
    """

    name: Name
    description: str = ""
    steps: tuple[PipelineStep, ...] = Field(min_length=1)

    def step(self, name: str) -> PipelineStep | None:
        """The step called ``name``, or ``None``."""
        for step in self.steps:
            if step.name == name:
                return step
        return None


def template_references(template: str) -> list[str]:
    """The ``{{...}}`` references of a template, in order, duplicates kept."""
    if "{{" not in template:
        return []
    return TEMPLATE_REFERENCE.findall(template)


def reference_names(pipeline: Pipeline) -> dict[str, str]:
    """Every name a template may use for a step's output (step names, then ``output`` names
    not taken), mapped to the step's name."""
    names = {step.name: step.name for step in pipeline.steps}
    for step in pipeline.steps:
        if step.output:
            names.setdefault(step.output, step.name)
    return names


def split_reference(
    reference: str, pipeline: Pipeline, names: dict[str, str] | None = None
) -> tuple[str, str, tuple[str, ...]]:
    """Classify one template reference: ``(kind, step, path)``.

    ``kind`` is ``"trigger"`` (``path`` is the field path into the trigger), ``"step"``
    (``step`` names the step whose output is read, ``path`` the field path into it) or
    ``"unknown"`` (``step`` holds the first part, for messages). Step and output names that
    contain dots are matched whole (longest first). ``names`` is
    :func:`reference_names` of the pipeline, when the caller has it already.
    """
    parts = tuple(reference.split("."))
    if parts[0] == "trigger":
        return "trigger", "", parts[1:]
    if names is None:
        names = reference_names(pipeline)
    if parts[0] == "steps" and len(parts) > 1:
        for end in range(len(parts), 1, -1):
            name = ".".join(parts[1:end])
            if pipeline.step(name) is not None:
                rest = parts[end:]
                return "step", name, rest[1:] if rest[:1] == ("output",) else rest
        return "unknown", parts[1], ()
    for end in range(len(parts), 0, -1):
        found = names.get(".".join(parts[:end]))
        if found:
            return "step", found, parts[end:]
    return "unknown", parts[0], ()
