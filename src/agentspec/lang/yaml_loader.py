"""Read YAML project files into plain data plus the source position of every key and value.

PyYAML's constructors lose positions and silently keep the last of two equal mapping keys, so
files are composed into nodes (``yaml.compose`` with the safe resolver) and walked here:
scalars are resolved with the safe constructors, every mapping key becomes a string (``on:``
stays ``"on"``), duplicate keys are reported, and positions are recorded per path
(``("agents", "triage", "skills", 1)``). :func:`read_sources` merges the files of a project
directory into one set of sections, keyed by resource name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from agentspec.exceptions import Diagnostic
from agentspec.ir.suggest import suggest

YamlPath = tuple[str | int, ...]
T = TypeVar("T")
Loc = tuple[str, int, int]

MAIN_FILES = ("agentspec.yaml", "agentspec.yml")
HEADER_KEYS = ("package", "version", "description")
SECTIONS = (
    "models",
    "secrets",
    "prompts",
    "types",
    "skills",
    "mcp_servers",
    "agents",
    "bindings",
    "pipelines",
    "workflows",
    "state_machines",
    "behavior_trees",
)
SECTION_ALIASES = {"tools": "skills", "servers": "mcp_servers", "behaviour_trees": "behavior_trees"}
NON_IR_KEYS = ("evals",)
"""Top-level keys read by other tools (eval cases, see agentspec.evals), never part of the IR."""
TOP_KEYS = (*HEADER_KEYS, *SECTIONS, *SECTION_ALIASES, *NON_IR_KEYS)
MAX_NODES = 200_000
MAX_DEPTH = 100
_FAST_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


def describe(value: Any) -> str:
    """``"a mapping"``, ``"a list"``, ``"a number"``... for error messages."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else type(value).__name__


@dataclass(slots=True)
class Document:
    """One composed file: its data and where each path of it was written."""

    file: str
    data: Any = None
    values: dict[YamlPath, Loc] = field(default_factory=dict)
    keys: dict[YamlPath, Loc] = field(default_factory=dict)
    raw: dict[YamlPath, str] = field(default_factory=dict)
    """Source text of the scalars that did not resolve to a string (``1.10``, ``yes``)."""


class _TooLarge(Exception):
    pass


class _TooDeep(Exception):
    pass


class _Walker:
    def __init__(self, doc: Document, diagnostics: list[Diagnostic]) -> None:
        self.doc = doc
        self.diagnostics = diagnostics
        self.constructor = SafeConstructor()
        self.active: set[int] = set()
        self.count = 0

    def loc(self, node: Node) -> Loc:
        return (self.doc.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def error(self, node: Node, message: str, hint: str = "") -> None:
        _, line, column = self.loc(node)
        self.diagnostics.append(Diagnostic(self.doc.file, line, column, message, hint))

    def walk(self, node: Node, path: YamlPath) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooLarge
        if len(path) > MAX_DEPTH:
            raise _TooDeep(node)
        self.doc.values[path] = self.loc(node)
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            self.error(node, "invalid YAML: an alias refers to the node that contains it")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                if node.tag != _MAP:
                    self.error(node, f'unsupported YAML tag "{node.tag}"')
                return self.mapping(node, path)
            if node.tag != _SEQ:
                self.error(node, f'unsupported YAML tag "{node.tag}"')
            return [self.walk(child, (*path, i)) for i, child in enumerate(node.value)]
        finally:
            self.active.discard(id(node))

    def scalar(self, node: ScalarNode, path: YamlPath) -> Any:
        if node.tag == _STR:
            return node.value
        if node.tag == _TIMESTAMP:
            return node.value
        construct = self.constructor.yaml_constructors.get(node.tag)
        if construct is None:
            self.error(node, f'unsupported YAML tag "{node.tag}"')
            return node.value
        value = construct(self.constructor, node)
        self.doc.raw[path] = node.value
        return value

    def mapping(self, node: MappingNode, path: YamlPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merges = [value for key, value in node.value if key.tag == _MERGE]
        for source in reversed(merges):
            parts = source.value if isinstance(source, SequenceNode) else [source]
            for part in reversed(parts):
                if isinstance(part, MappingNode):
                    result.update(self.walk(part, path))
                else:
                    self.error(
                        part, "invalid YAML: a merge key '<<' needs a mapping or a list of mappings"
                    )
        if merges:
            self.doc.values[path] = self.loc(node)
        explicit: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            if not isinstance(key_node, ScalarNode):
                self.error(key_node, "mapping keys must be plain strings")
                continue
            key = str(key_node.value)
            key_path = (*path, key)
            if key in explicit:
                _, line, column = self.doc.keys[key_path]
                self.error(
                    key_node,
                    f'{display_path(key_path)}: duplicate key "{key}"',
                    f"first defined at line {line}, column {column}",
                )
                continue
            explicit.add(key)
            self.doc.keys[key_path] = self.loc(key_node)
            result[key] = self.walk(value_node, key_path)
        return result


def display_path(path: YamlPath) -> str:
    """``agents.triage.skills[1]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def compose_file(path: Path, file: str) -> tuple[Document, list[Diagnostic]]:
    """Compose one YAML file. ``doc.data`` stays ``None`` when the file cannot be used."""
    doc = Document(file)
    diagnostics: list[Diagnostic] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        return doc, [Diagnostic(file, 0, 0, f"cannot read file: not valid UTF-8 ({exc.reason})")]
    except OSError as exc:
        return doc, [Diagnostic(file, 0, 0, f"cannot read file: {exc.strerror or exc}")]
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        return doc, [_syntax_error(file, exc)]
    except yaml.YAMLError as exc:
        position = getattr(exc, "position", 0)
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        return doc, [Diagnostic(file, line, column, f"invalid YAML: {exc}".split("\n")[0])]
    except RecursionError:
        return doc, [Diagnostic(file, 1, 1, "invalid YAML: nested too deeply")]
    if node is None:
        return doc, [Diagnostic(file, 1, 1, "file is empty")]
    try:
        data = _Walker(doc, diagnostics).walk(node, ())
    except _TooLarge:
        return doc, [Diagnostic(file, 1, 1, f"document too large (over {MAX_NODES} nodes)")]
    except _TooDeep as exc:
        mark = exc.args[0].start_mark
        message = f"nested too deeply (over {MAX_DEPTH} levels)"
        return doc, [Diagnostic(file, mark.line + 1, mark.column + 1, message)]
    if not isinstance(data, dict):
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        message = f"the top level must be a mapping of sections, got {describe(data)}"
        return doc, [*diagnostics, Diagnostic(file, line, column, message)]
    doc.data = data
    return doc, diagnostics


def _compose(text: str) -> Node | None:
    """Compose with libyaml when available; errors come from the pure parser, whose words are
    clearer and do not depend on how PyYAML was built."""
    if _FAST_LOADER is not yaml.SafeLoader:
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _syntax_error(file: str, exc: yaml.MarkedYAMLError) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    problem, context, hint = exc.problem or "syntax error", exc.context, ""
    if context and problem.startswith("but "):
        problem = f"{context}, {problem}"
    elif context:
        where = exc.context_mark
        hint = (
            f"{context} at line {where.line + 1}" if where and where.line + 1 != line else context
        )
    return Diagnostic(file, line, column, f"invalid YAML: {problem}", hint)


@dataclass(slots=True)
class Sources:
    """Every file of a project merged: header, sections by resource name, positions.

    Paths start with the canonical section name (``skills`` for ``tools:``); ``labels``
    remembers which spelling each resource was written under, for messages.
    """

    root: Path
    main: str
    files: list[Path] = field(default_factory=list)
    header: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, dict[str, Any]] = field(default_factory=lambda: {s: {} for s in SECTIONS})
    values: dict[YamlPath, Loc] = field(default_factory=dict)
    keys: dict[YamlPath, Loc] = field(default_factory=dict)
    raw: dict[YamlPath, str] = field(default_factory=dict)
    labels: dict[tuple[str, str], str] = field(default_factory=dict)
    main_ok: bool = False
    """The main file (with the package header) was read and parsed."""
    broken: bool = False
    """A file could not be read or parsed, so some resources may be missing."""
    diagnostics: list[Diagnostic] = field(default_factory=list)


def read_sources(path: str | Path) -> Sources:
    """Find, compose and merge the YAML files of a project (a directory or one file)."""
    given = Path(path)
    if given.is_dir():
        found = [given / name for name in MAIN_FILES if (given / name).is_file()]
        sources = Sources(root=given.resolve(), main=str(found[0] if found else given))
        if not found:
            message = f'no agentspec.yaml in directory "{given}"'
            sources.diagnostics.append(Diagnostic(str(given), 0, 0, message))
            return sources
        if len(found) > 1:
            message = "both agentspec.yaml and agentspec.yml exist; keep one"
            sources.diagnostics.append(Diagnostic(str(given), 0, 0, message))
            return sources
        others = sorted(
            p
            for p in given.iterdir()
            if p.suffix in (".yaml", ".yml")
            and p.name not in MAIN_FILES
            and not p.name.startswith(".")
            and p.is_file()
        )
        paths = [found[0], *others]
    elif given.is_file():
        sources = Sources(root=given.resolve().parent, main=str(given))
        paths = [given]
    else:
        sources = Sources(root=given.absolute(), main=str(given))
        sources.diagnostics.append(Diagnostic(str(given), 0, 0, "no such file or directory"))
        return sources
    sources.files = [p.resolve() for p in paths]
    for index, file_path in enumerate(paths):
        doc, diagnostics = compose_file(file_path, str(file_path))
        sources.diagnostics.extend(diagnostics)
        if doc.data is None:
            sources.broken = True
            continue
        sources.main_ok = sources.main_ok or index == 0
        _merge(sources, doc, main=index == 0)
    return sources


def _merge(sources: Sources, doc: Document, *, main: bool) -> None:
    data: dict[str, Any] = doc.data
    renamed: dict[str, str] = {}
    dropped: set[YamlPath] = set()

    def report(path: YamlPath, message: str, hint: str = "") -> None:
        _, line, column = doc.keys.get(path) or doc.values.get(path) or (doc.file, 1, 1)
        sources.diagnostics.append(Diagnostic(doc.file, line, column, message, hint))

    for key, value in data.items():
        if key.startswith("x-") or key in NON_IR_KEYS:
            continue
        if key in HEADER_KEYS:
            if main:
                sources.header[key] = value
                renamed[key] = key
            elif key == "package":
                name = value.get("name") if isinstance(value, dict) else value
                declared = _package_name(sources.header.get("package"))
                if declared is not None and name != declared:
                    report(
                        (key,), f'package "{name}" does not match "{declared}" of {sources.main}'
                    )
            else:
                report((key,), f"{key}: the package header belongs in {Path(sources.main).name}")
            continue
        section = SECTION_ALIASES.get(key, key)
        if section not in SECTIONS:
            report((key,), f'unknown top-level key "{key}"', suggest(key, TOP_KEYS))
            continue
        if section in renamed.values():
            other = next(k for k, s in renamed.items() if s == section)
            report((key,), f'{key}: "{key}" and "{other}" are the same section; use one of them')
            continue
        renamed[key] = section
        if value is None:
            continue
        if not isinstance(value, dict):
            noun = _NOUNS[section]
            report((key,), f"{key}: must be a mapping of name to {noun}, got {describe(value)}")
            continue
        merged = sources.sections[section]
        for name, resource in value.items():
            first = sources.keys.get((section, name))
            if first is not None:
                file, line, column = first
                message = f'{key}.{name}: duplicate {_NOUNS[section]} "{name}"'
                report((key, name), message, f"first defined at {file}:{line}:{column}")
                dropped.add((key, name))
                continue
            merged[name] = resource
            sources.labels[(section, name)] = key
            sources.keys[(section, name)] = doc.keys[(key, name)]
    as_written = (
        not dropped and len(renamed) == len(data) and all(k == v for k, v in renamed.items())
    )
    for table, target in ((doc.values, sources.values), (doc.keys, sources.keys)):
        _rekey(table, target, renamed, dropped, as_written)
    _rekey(doc.raw, sources.raw, renamed, dropped, as_written)


def _rekey(
    table: dict[YamlPath, T],
    target: dict[YamlPath, T],
    renamed: dict[str, str],
    dropped: set[YamlPath],
    as_written: bool,
) -> None:
    if as_written:
        target.update(table)
        target.pop((), None)
        return
    for path, value in table.items():
        if path and path[0] in renamed and path[:2] not in dropped:
            target[(renamed[str(path[0])], *path[1:])] = value


_NOUNS = {
    "models": "model",
    "secrets": "secret",
    "prompts": "prompt",
    "types": "type",
    "skills": "skill",
    "mcp_servers": "MCP server",
    "agents": "agent",
    "bindings": "binding",
    "pipelines": "pipeline",
    "workflows": "workflow",
    "state_machines": "state machine",
    "behavior_trees": "behaviour tree",
}


def _package_name(header: Any) -> Any:
    return header.get("name") if isinstance(header, dict) else header
