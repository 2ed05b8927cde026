"""Editor-independent analysis of an IntentLang package for the language server.

A document is analysed together with the package it belongs to: the other ``*.ias`` files
of its directory (same rule as :func:`agentspec.lang.intentlang.load_intentlang`) and the
files it imports. Open documents are read from the editor's buffers (``overlay``), the rest
from disk. Positions are 1-based code points, as everywhere in agentspec; the server
converts them to LSP positions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agentspec.exceptions import Diagnostic
from agentspec.lang.intentlang import ast
from agentspec.lang.intentlang.lexer import KEYWORDS
from agentspec.lang.intentlang.lower import Lowering, _resolve
from agentspec.lang.intentlang.parser import parse
from agentspec.lang.intentlang.validate import validate

RESOURCE_TYPES = (
    "agent",
    "prompt",
    "skill",
    "server",
    "client",
    "secret",
    "environment",
    "policy",
    "plugin",
    "deploy",
    "pipeline",
    "type",
    "import",
    "user",
    "guardrail",
    "state",
)
"""Top-level statement keywords (``binding`` is 1.0 legacy and not offered)."""

_KIND_OF = {
    ast.Agent: "agent",
    ast.Prompt: "prompt",
    ast.Skill: "skill",
    ast.Server: "server",
    ast.Client: "client",
    ast.Secret: "secret",
    ast.Guardrail: "guardrail",
    ast.TypeDef: "type",
    ast.Pipeline: "pipeline",
}

# What the text before the cursor says about the reference being typed.
_CONTEXTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern + r'\s+"?[^"\s]*$'), kind)
    for pattern, kind in (
        (r"\buses\s+prompt", "prompt"),
        (r"^\s*prompt", "prompt"),
        (r"\buses\s+skill", "skill"),
        (r"\bexposes(\s+skill)?", "skill"),
        (r"\buses\s+guardrail", "guardrail"),
        (r"\bconnects(\s+to)?\s+client", "client"),
        (r"\bconnects(\s+to)?\s+server", "server"),
        (r"\bfallback", "agent"),
        (r"\bdelegate(\s+to)?(\s+agent)?", "agent"),
        (r"^\s*agent", "agent"),
        (r"\bauth", "secret"),
    )
)


@dataclass
class Analysis:
    """Everything the server needs about one document.

    Attributes:
        diagnostics: problems located in the document (errors).
        notes: constructs accepted but not run (informational), in the document.
        names: kind -> name -> where it is declared (the whole package).
        refs: every reference in the package with the kind it points to.
    """

    diagnostics: list[Diagnostic] = field(default_factory=list)
    notes: list[Diagnostic] = field(default_factory=list)
    names: dict[str, dict[str, ast.Pos]] = field(default_factory=dict)
    refs: list[tuple[ast.Ref, str]] = field(default_factory=list)


def package_files(path: Path) -> list[Path]:
    """The document first, then the other ``*.ias`` files of its directory."""
    siblings = sorted(p for p in path.parent.glob("*.ias") if p.resolve() != path.resolve())
    return [path, *siblings]


def analyse(path: Path, overlay: Mapping[str, str]) -> Analysis:
    """Parse, validate and lower the package of ``path``; keep what concerns it."""
    result = Analysis()
    me = str(path)
    trees: list[ast.File] = []
    names_trees: list[ast.File] = []
    errors: list[Diagnostic] = []
    queue = package_files(path)
    seen: set[Path] = set()
    first_name: str | None = None
    while queue:
        current = queue.pop(0)
        if current.resolve() in seen:
            continue
        seen.add(current.resolve())
        text = overlay.get(str(current))
        if text is None:
            try:
                text = current.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
        tree, problems = parse(text, str(current))
        names_tree = tree
        if problems and not tree.statements and tree.header is None:
            names_tree = _tolerant(text, str(current), problems[0].line)
        header = tree.header
        if current != path and header is not None and first_name not in (None, header.name):
            continue  # another package in the same directory: not ours
        if tree.header is not None and first_name is None:
            first_name = tree.header.name
        errors.extend(problems)
        trees.append(tree)
        names_trees.append(names_tree)
        for statement in tree.statements:
            if isinstance(statement, ast.Import):
                found = _resolve(statement, current, [])
                if found is not None:
                    queue.append(found)
    for tree in names_trees:
        for statement in tree.statements:
            kind = _KIND_OF.get(type(statement))
            if kind and statement.name:
                result.names.setdefault(kind, {}).setdefault(statement.name, statement.name_pos)
            result.refs.extend(references(statement))
    if errors:  # validation needs every file of the package to parse
        result.diagnostics = [d for d in errors if d.file == me]
        return result
    merged = ast.File(me, trees[0].header if trees else None)
    for tree in trees:
        merged.statements.extend(s for s in tree.statements if not isinstance(s, ast.Import))
    problems = validate(merged)
    if not problems and merged.header is not None:
        lowering = Lowering(merged)
        lowering.run()
        problems = lowering.errors
        result.notes = [d for d in lowering.unsupported if d.file == me]
    result.diagnostics = [d for d in problems if d.file == me]
    return result


def _tolerant(text: str, file: str, bad_line: int) -> ast.File:
    """Parse with the line of a lexer error blanked (typing an open quote), for names only."""
    lines = text.split("\n")
    if 0 < bad_line <= len(lines):
        lines[bad_line - 1] = ""
    tree, _ = parse("\n".join(lines), file)
    return tree


def references(statement: ast.Statement) -> Iterator[tuple[ast.Ref, str]]:
    """Every reference a statement makes, with the kind of resource it names."""
    if isinstance(statement, ast.Agent):
        if statement.prompt:
            yield statement.prompt, "prompt"
        yield from ((ref, "skill") for ref in statement.skills)
        if statement.client:
            yield statement.client, "client"
        if statement.fallback:
            yield statement.fallback, "agent"
        yield from ((d.agent, "agent") for d in statement.delegates)
        yield from ((ref, "guardrail") for ref in statement.guardrails)
    elif isinstance(statement, ast.Server):
        if statement.auth:
            yield statement.auth, "secret"
        yield from ((ref, "skill") for ref in statement.exposes)
    elif isinstance(statement, ast.Client):
        yield from ((ref, "server") for ref in statement.servers)
    elif isinstance(statement, ast.Pipeline):
        yield from ((step.agent, "agent") for step in statement.steps if step.agent)


def context_kind(line_before_cursor: str) -> str | None:
    """The resource kind a reference typed at the cursor must name, if the line tells."""
    for pattern, kind in _CONTEXTS:
        if pattern.search(line_before_cursor):
            return kind
    return None


def completions(analysis: Analysis, line_before_cursor: str) -> list[tuple[str, str]]:
    """``(label, what)`` pairs: names of the expected kind, or keywords, types and names."""
    kind = context_kind(line_before_cursor)
    if kind is not None:
        return [(name, kind) for name in sorted(analysis.names.get(kind, {}))]
    items = [(word, "resource type") for word in RESOURCE_TYPES]
    items += [(word, "keyword") for word in sorted(KEYWORDS - set(RESOURCE_TYPES))]
    for what, names in sorted(analysis.names.items()):
        items += [(name, what) for name in sorted(names)]
    return items


def definition(analysis: Analysis, file: str, line: int, column: int) -> ast.Pos | None:
    """Where the resource named by the reference at ``file:line:column`` is declared."""
    for ref, kind in analysis.refs:
        where = ref.pos
        if where.file == file and where.line == line:
            width = len(ref.name) + 2  # the quotes
            if where.column <= column < where.column + width:
                return analysis.names.get(kind, {}).get(ref.name)
    return None
