"""Read eval cases from a project: ``evals:`` in its YAML files and ``evals/*.yaml``.

Every problem of every file is collected and raised at once as a
:class:`~agentspec.exceptions.SpecError` whose diagnostics are ``file:line:col``, with
did-you-mean hints for unknown keys, assertion kinds, agents and tools.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from agentspec.evals.models import ASSERTION_KINDS, Assertion, EvalCase
from agentspec.exceptions import Diagnostic, SpecError, UsageError
from agentspec.ir.suggest import suggest
from agentspec.lang.yaml_loader import Document, YamlPath, compose_file, describe

if TYPE_CHECKING:
    from agentspec.lang.project import Project

CASE_KEYS = ("name", "agent", "input", "turns", "variables", "expect", "prices", "description")
RUN_STATUSES = ("completed", "failed", "cancelled")
TOOL_KEYS = ("name", "arguments", "times")
JUDGE_KEYS = ("model", "rubric")
PRICE_KEYS = ("input", "output")


def eval_files(project: Project) -> list[Path]:
    """The files that may hold cases: the project's YAML files, then ``evals/**/*.yaml``."""
    files = [f for f in project.files if f.suffix in (".yaml", ".yml")]
    folder = project.root / "evals"
    if folder.is_dir():
        found = [*folder.rglob("*.yaml"), *folder.rglob("*.yml")]
        files.extend(sorted(p for p in found if not p.name.startswith(".")))
    return files


def load_cases(project: Project, files: list[Path] | None = None) -> list[EvalCase]:
    """Every eval case of ``project`` (or of ``files``), validated against its package.

    Raises:
        SpecError: every problem found, each at ``file:line:col``.
    """
    reader = _Reader(project)
    spec_files = {f.resolve() for f in project.files}
    for path in files if files is not None else eval_files(project):
        reader.read(path, in_spec=path.resolve() in spec_files)
    if reader.diagnostics:
        raise SpecError(reader.diagnostics)
    return reader.cases


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _Reader:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.package = project.package
        self.cases: list[EvalCase] = []
        self.diagnostics: list[Diagnostic] = []
        self.names: dict[str, str] = {}
        self.doc = Document("")

    # -------------------------------------------------------------- positions and reports
    def where(self, path: YamlPath, *, key: bool = False) -> tuple[int, int]:
        doc = self.doc
        first, second = (doc.keys, doc.values) if key else (doc.values, doc.keys)
        found = first.get(path) or second.get(path)
        while found is None and path:
            path = path[:-1]
            found = doc.keys.get(path) or doc.values.get(path)
        return (found[1], found[2]) if found else (1, 1)

    def error(self, path: YamlPath, message: str, hint: str = "", *, key: bool = False) -> None:
        line, column = self.where(path, key=key)
        self.diagnostics.append(Diagnostic(self.doc.file, line, column, message, hint))

    def mapping(
        self, value: Any, path: YamlPath, allowed: Collection[str], what: str
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error(path, f"{what} must be a mapping, got {describe(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.error(
                    (*path, key), f'{what}: unknown field "{key}"', suggest(key, allowed), key=True
                )
        return {k: v for k, v in value.items() if k in allowed}

    # -------------------------------------------------------------- files and cases
    def read(self, path: Path, *, in_spec: bool) -> None:
        doc, diagnostics = compose_file(path, _display(path))
        self.doc = doc
        self.diagnostics.extend(diagnostics)
        data = doc.data
        if data is None:
            return
        if in_spec:
            if isinstance(data, dict) and "evals" in data:
                self.case_list(data["evals"], ("evals",))
            return
        if isinstance(data, dict) and set(data) == {"evals"}:
            self.case_list(data["evals"], ("evals",))
            return
        for key in data if isinstance(data, dict) else ():
            if key != "evals":
                self.error(
                    (key,), f'unknown top-level key "{key}"', suggest(key, ["evals"]), key=True
                )
        if isinstance(data, dict) and "evals" in data:
            self.case_list(data["evals"], ("evals",))

    def case_list(self, value: Any, path: YamlPath) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            self.error(path, f"evals must be a list of cases, got {describe(value)}")
            return
        for index, item in enumerate(value):
            case = self.case(item, (*path, index))
            if case is not None:
                self.cases.append(case)

    def case(self, value: Any, path: YamlPath) -> EvalCase | None:
        data = self.mapping(value, path, CASE_KEYS, "eval case")
        if data is None:
            return None
        ok = True
        name = data.get("name")
        line, _ = self.where(path)
        here = f"{self.doc.file}:{line}"
        if not isinstance(name, str) or not name.strip():
            self.error((*path, "name") if "name" in data else path, 'eval case: missing "name"')
            ok = False
            name = ""
        elif name in self.names:
            self.error(
                (*path, "name"),
                f'duplicate eval case "{name}"',
                f"first defined at {self.names[name]}",
            )
            ok = False
        else:
            self.names[name] = here
        label = f'eval "{name}"' if name else "eval case"
        agent = self.agent(data.get("agent"), (*path, "agent"), label)
        turns = self.turns(data, path, label)
        variables = data.get("variables") or {}
        if not isinstance(variables, dict):
            self.error(
                (*path, "variables"),
                f"{label}: variables must be a mapping, got {describe(variables)}",
            )
            variables = {}
        prices = self.prices(data.get("prices"), (*path, "prices"), label)
        expect_value = data.get("expect")
        expect: list[Assertion] = []
        if expect_value is not None and not isinstance(expect_value, list):
            self.error(
                (*path, "expect"),
                f"{label}: expect must be a list of assertions, got {describe(expect_value)}",
            )
        for index, item in enumerate(expect_value or () if isinstance(expect_value, list) else ()):
            assertion = self.assertion(item, (*path, "expect", index), label, agent)
            if assertion is None:
                ok = False
            else:
                expect.append(assertion)
        if agent is None or turns is None or not ok:
            return None
        description = data.get("description")
        return EvalCase(
            name,
            agent,
            turns,
            {str(k): v for k, v in variables.items()},
            expect,
            prices,
            description if isinstance(description, str) else "",
            here,
        )

    def agent(self, value: Any, path: YamlPath, label: str) -> str | None:
        agents = self.package.agents
        if value is None:
            if len(agents) == 1:
                return next(iter(agents))
            self.error(
                path,
                f'{label}: missing "agent" (the project has {len(agents)} agents)',
                ", ".join(sorted(agents)),
            )
            return None
        if not isinstance(value, str) or value not in agents:
            hint = suggest(str(value), agents)
            self.error(path, f'{label}: unknown agent "{value}"', hint)
            return None
        return value

    def turns(self, data: dict[str, Any], path: YamlPath, label: str) -> list[str] | None:
        if "input" in data and "turns" in data:
            self.error((*path, "turns"), f'{label}: give "input" or "turns", not both', key=True)
            return None
        if "input" in data:
            text = data["input"]
            if isinstance(text, str | int | float) and not isinstance(text, bool) and str(text):
                return [str(text)]
            self.error(
                (*path, "input"), f"{label}: input must be a non-empty string, got {describe(text)}"
            )
            return None
        if "turns" in data:
            turns = data["turns"]
            if not isinstance(turns, list) or not turns:
                self.error(
                    (*path, "turns"), f"{label}: turns must be a non-empty list of user messages"
                )
                return None
            bad = [i for i, t in enumerate(turns) if not isinstance(t, str) or not t]
            for i in bad:
                self.error((*path, "turns", i), f"{label}: turn {i + 1} must be a non-empty string")
            return None if bad else [str(t) for t in turns]
        self.error(path, f'{label}: missing "input" (or "turns" for a multi-turn case)')
        return None

    def prices(self, value: Any, path: YamlPath, label: str) -> dict[str, float] | None:
        if value is None:
            return None
        data = self.mapping(value, path, PRICE_KEYS, f"{label}: prices")
        if data is None:
            return None
        prices: dict[str, float] = {}
        for key in PRICE_KEYS:
            number = data.get(key, 0.0)
            if not _number(number) or number < 0:
                self.error(
                    (*path, key),
                    f"{label}: prices.{key} must be a number >= 0 (USD per million tokens)",
                )
                return None
            prices[key] = float(number)
        return prices

    # -------------------------------------------------------------- assertions
    def assertion(
        self, value: Any, path: YamlPath, label: str, agent: str | None
    ) -> Assertion | None:
        if not isinstance(value, dict) or len(value) != 1:
            self.error(
                path,
                f"{label}: an assertion is a mapping with one key (the kind), got {describe(value)}",
                'e.g. - contains: "42"',
            )
            return None
        kind, argument = next(iter(value.items()))
        kinds = list(ASSERTION_KINDS)
        where = (*path, kind)
        if kind not in kinds:
            self.error(
                where, f'{label}: unknown assertion "{kind}"', suggest(kind, kinds), key=True
            )
            return None
        check: Callable[[Any, YamlPath, str, str | None], Any] = getattr(self, f"_a_{kind}")
        checked = check(argument, where, f"{label}: {kind}", agent)
        if checked is _INVALID:
            return None
        line, column = self.where(where, key=True)
        return Assertion(kind, checked, f"{self.doc.file}:{line}:{column}")

    def _text(self, value: Any, where: YamlPath, label: str) -> Any:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        self.error(where, f"{label} needs a string, got {describe(value)}")
        return _INVALID

    def _a_equals(self, value: Any, where: YamlPath, label: str, agent: str | None) -> Any:
        return self._text(value, where, label)

    def _a_contains(self, value: Any, where: YamlPath, label: str, agent: str | None) -> Any:
        items = value if isinstance(value, list) else [value]
        texts = [self._text(item, where, label) for item in items]
        return _INVALID if _INVALID in texts or not texts else texts

    _a_not_contains = _a_contains

    def _a_regex(self, value: Any, where: YamlPath, label: str, agent: str | None) -> Any:
        if not isinstance(value, str):
            self.error(where, f"{label} needs a regular expression string, got {describe(value)}")
            return _INVALID
        try:
            return re.compile(value, re.DOTALL)
        except re.error as exc:
            self.error(where, f"{label}: invalid regular expression: {exc}")
            return _INVALID

    def _a_json_schema(self, value: Any, where: YamlPath, label: str, agent: str | None) -> Any:
        if isinstance(value, str):
            if value not in self.package.types:
                hint = suggest(value, self.package.types)
                self.error(
                    where,
                    f'{label}: unknown type "{value}" (give a JSON schema mapping or a type name)',
                    hint,
                )
                return _INVALID
            from agentspec.ir.schema import type_schema

            return type_schema(value, self.package.types)
        if not isinstance(value, dict):
            self.error(
                where, f"{label} needs a JSON schema mapping or a type name, got {describe(value)}"
            )
            return _INVALID
        from agentspec.evals.jsonschema import schema_problems

        problems = schema_problems(value)
        for problem in problems:
            self.error(where, f"{label}: {problem}")
        return _INVALID if problems else value

    def _tool(
        self, value: Any, where: YamlPath, label: str, agent: str | None, *, times: bool
    ) -> Any:
        if isinstance(value, str):
            value = {"name": value}
        data = self.mapping(value, where, TOOL_KEYS if times else TOOL_KEYS[:2], label)
        if data is None:
            return _INVALID
        name = data.get("name")
        skills = self.package.agents[agent].skills if agent in self.package.agents else ()
        if not isinstance(name, str) or not name:
            self.error(where, f'{label}: missing the tool "name"')
            return _INVALID
        if agent is not None and name not in skills:
            hint = suggest(name, skills)
            self.error(
                (*where, "name") if "name" in value else where,
                f'{label}: agent "{agent}" has no tool "{name}"',
                hint,
            )
            return _INVALID
        arguments = data.get("arguments")
        if arguments is not None and not isinstance(arguments, dict):
            self.error(
                (*where, "arguments"),
                f"{label}: arguments must be a mapping (a subset of the call's arguments)",
            )
            return _INVALID
        count = data.get("times")
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or count < 0
        ):
            self.error((*where, "times"), f"{label}: times must be an integer >= 0")
            return _INVALID
        return {"name": name, "arguments": arguments, "times": count}

    def _a_tool_called(self, value: Any, where: YamlPath, label: str, agent: str | None) -> Any:
        return self._tool(value, where, label, agent, times=True)

    def _a_tool_not_called(self, value: Any, where: YamlPath, label: str, agent: str | None) -> Any:
        return self._tool(value, where, label, agent, times=False)

    def _a_status(self, value: Any, where: YamlPath, label: str, agent: str | None) -> Any:
        if value not in RUN_STATUSES:
            self.error(
                where, f'{label}: unknown status "{value}"', suggest(str(value), RUN_STATUSES)
            )
            return _INVALID
        return value

    def _limit(self, value: Any, where: YamlPath, label: str, *, integer: bool) -> Any:
        ok = _number(value) and value >= 0 and (not integer or isinstance(value, int))
        if not ok:
            kind = "an integer" if integer else "a number"
            self.error(
                where,
                f"{label} must be {kind} >= 0, got {describe(value) if not _number(value) else value}",
            )
            return _INVALID
        return value

    def _a_max_turns(self, value: Any, where: YamlPath, label: str, agent: str | None) -> Any:
        return self._limit(value, where, label, integer=True)

    def _a_max_tokens(self, value: Any, where: YamlPath, label: str, agent: str | None) -> Any:
        return self._limit(value, where, label, integer=True)

    def _a_max_cost(self, value: Any, where: YamlPath, label: str, agent: str | None) -> Any:
        return self._limit(value, where, label, integer=False)

    def _a_judge(self, value: Any, where: YamlPath, label: str, agent: str | None) -> Any:
        data = self.mapping(value, where, JUDGE_KEYS, label)
        if data is None:
            return _INVALID
        rubric = data.get("rubric")
        if not isinstance(rubric, str) or not rubric.strip():
            self.error(
                (*where, "rubric") if "rubric" in data else where,
                f'{label}: missing "rubric" (what a good answer does)',
            )
            return _INVALID
        if "model" not in data:
            self.error(
                where,
                f'{label}: missing "model" (scripted, openai:NAME, anthropic:NAME or a model mapping)',
            )
            return _INVALID
        config = self.model(data["model"], (*where, "model"), label)
        return _INVALID if config is None else {"rubric": rubric, "model": config}

    def model(self, value: Any, where: YamlPath, label: str) -> Any:
        from agentspec.ir.models import ModelConfig
        from agentspec.models.registry import parse_model_override

        if isinstance(value, str):
            try:
                config = parse_model_override(value)
            except UsageError as exc:
                self.error(where, f"{label}: {str(exc).replace('--model ', 'model ')}")
                return None
        elif isinstance(value, dict):
            try:
                config = ModelConfig.model_validate(value)
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                loc = ".".join(str(p) for p in first["loc"])
                self.error(
                    where, f"{label}: invalid model{' ' + loc if loc else ''}: {first['msg']}"
                )
                return None
        else:
            self.error(
                where, f"{label}: model must be a string or a mapping, got {describe(value)}"
            )
            return None
        if config.provider == "replay":
            self.error(where, f"{label}: a replay model cannot judge; use scripted or a live model")
            return None
        return config


class _Invalid:
    pass


_INVALID = _Invalid()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
