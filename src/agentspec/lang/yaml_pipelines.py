"""The ``pipelines:`` section of the YAML front-end.

```yaml
pipelines:
  code-review:
    description: two analysts in parallel, then a summary
    steps:
      security:                      # a mapping of step name -> step (in order) ...
        agent: security-analyst
        input: "Find security issues:\\n{{trigger.code}}"
        output: security_report
        timeout: 30s
        retries: 1
      summary:
        agent: summarizer
        depends_on: [security]       # or a single name
        input: "{{security_report}}"
```

``steps`` may also be a list of mappings, each with a ``name``. Problems are reported at the
YAML position of the value in error, like every other section.
"""

from __future__ import annotations

from typing import Any

from agentspec.ir.pipeline import Pipeline, PipelineStep
from agentspec.lang.yaml_loader import describe
from agentspec.lang.yaml_report import IRPath, Reporter

PIPELINE_KEYS = ("description", "steps", "name")
STEP_KEYS = tuple(PipelineStep.model_fields)


def build_pipeline(
    reporter: Reporter,
    value: Any,
    path: IRPath,
    name: str,
    stubbed: set[IRPath] | None = None,
) -> Pipeline | None:
    """Build the pipeline ``name`` written at ``path``; report every problem on ``reporter``.

    Each step is built on its own, so one wrong step hides no problem of another: a step's
    wrong fields are dropped, and a step that cannot be built at all (no agent) is kept with a
    stub agent whose path is added to ``stubbed`` (cross-reference checks skip it).
    """
    data = reporter.fields(value, path, PIPELINE_KEYS, name=name)
    if data is None:
        return None
    if "steps" not in data:
        hint = "add steps: {STEP: {agent: AGENT, input: ...}}"
        reporter.report(path, 'missing required field "steps"', hint, key=True)
        return None
    items = _steps(reporter, data["steps"], (*path, "steps"))
    if items is None:
        return None
    if not items:
        reporter.report((*path, "steps"), "a pipeline needs at least one step")
        return None
    steps: list[PipelineStep] = []
    for index, item in enumerate(items):
        step_path = (*path, "steps", index)
        step = reporter.validate(PipelineStep, item, step_path)
        if step is None and isinstance(item.get("name"), str):
            step = PipelineStep.model_construct(name=item["name"], agent="_")
            if stubbed is not None:
                stubbed.add((*step_path, "agent"))
        if step is not None:
            steps.append(step)
    return reporter.validate(Pipeline, {**data, "steps": steps, "name": name}, path)


def _steps(reporter: Reporter, value: Any, path: IRPath) -> list[dict[str, Any]] | None:
    where = reporter.yaml_path(path)
    items: list[dict[str, Any]] = []
    if isinstance(value, dict):
        for index, (step_name, item) in enumerate(value.items()):
            item_path = (*path, index)
            reporter.trans[item_path] = (*where, step_name)
            reporter.trans[(*item_path, "name")] = (*where, step_name)
            if isinstance(item, str):
                reporter.trans[(*item_path, "agent")] = (*where, step_name)
                item = {"agent": item}
            known = reporter.fields(item, item_path, STEP_KEYS, name=str(step_name))
            if known is not None:
                items.append(_step({**known, "name": step_name}, reporter, item_path))
        return items
    if isinstance(value, list):
        for index, item in enumerate(value):
            item_path = (*path, index)
            if not isinstance(item, dict):
                reporter.report(item_path, f"a step must be a mapping, got {describe(item)}")
                continue
            known = reporter.fields(item, item_path, STEP_KEYS)
            if known is not None:
                if "name" not in known:
                    reporter.report(item_path, 'missing required field "name"', key=True)
                    continue
                items.append(_step(known, reporter, item_path))
        return items
    reporter.report(path, f"must be a mapping of step name to step, got {describe(value)}")
    return None


def _step(data: dict[str, Any], reporter: Reporter, path: IRPath) -> dict[str, Any]:
    depends = data.get("depends_on")
    if isinstance(depends, str):
        reporter.trans[(*path, "depends_on", 0)] = reporter.yaml_path((*path, "depends_on"))
        data["depends_on"] = [depends]
    return data
