"""Rewrite IntentLang 1.0 files to 2.0 (``agentspec migrate --to-v2``).

What changes (``shared/INTENTLANG.md`` §10.2, without the original's losses):

* the header's ``lang`` becomes ``"2.0"`` (added when missing); name and version stay;
* ``execution command "x"`` becomes ``tool command { binary "x" }``, ``execution http "u"``
  becomes ``tool http { url "u" }``; any other kind becomes a command tool, with a comment
  naming the original kind. A skill that already has a ``tool`` keeps both (reported);
* a ``binding`` that describes message routing in agentspec's sense (an ``agent`` key plus
  ``channel``/``account``/``peer``/``guild``/``team``) is kept: 2.0 still accepts it and it
  lowers to an IR binding. Any other binding becomes ``deploy "N" target "T"`` (T = the
  adapter when it is ``docker``, ``docker-compose`` or ``kubernetes``, else ``process``),
  ``default`` is copied, ``port``/``replicas``/``namespace``/``image``/``cpu``/``memory``
  entries become deploy attributes, and every other entry is kept in a comment above the
  deploy (the original dropped them all);
* comments are kept; the result is printed by the canonical formatter.

Files whose ``lang`` is neither ``"1.0"`` nor missing are left alone.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

from agentspec.exceptions import Diagnostic
from agentspec.ir.models import BINDING_MATCH_FIELDS
from agentspec.lang.intentlang import ast
from agentspec.lang.intentlang.format import _Printer, parse_with_comments, quote

LEGACY_MESSAGE = "IntentLang 1.0 is no longer supported"
DEPLOY_TARGETS = ("docker", "docker-compose", "kubernetes")
_INT_KEYS = ("port", "replicas")
_STR_KEYS = ("namespace", "image")
_RESOURCE_KEYS = ("cpu", "memory")

Status = Literal["migrated", "current", "error"]


@dataclass
class Migration:
    """The outcome for one file.

    Attributes:
        path: the file.
        status: ``migrated`` (``text`` holds the 2.0 source), ``current`` (not a 1.0 file,
            left alone) or ``error`` (syntax errors in ``diagnostics``; nothing written).
        original: the source as read.
        text: the migrated source (``migrated`` only).
        notes: what was rewritten, one line each.
        diagnostics: syntax errors (``error`` only).
    """

    path: str
    status: Status
    original: str
    text: str = ""
    notes: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def diff(self) -> str:
        """A unified diff from the original to the migrated text (empty unless migrated)."""
        if self.status != "migrated":
            return ""
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(keepends=True),
                self.text.splitlines(keepends=True),
                fromfile=self.path,
                tofile=f"{self.path} (IntentLang 2.0)",
            )
        )


def migrate_source(text: str, file: str = "<string>") -> Migration:
    """Migrate one source text; see the module docstring for the rules."""
    tree, comments, tokens, errors = parse_with_comments(text, file)
    errors = [e for e in errors if e.message != LEGACY_MESSAGE]
    if errors:
        return Migration(file, "error", text, diagnostics=errors)
    header = tree.header
    if header is None:
        return Migration(file, "current", text)
    if header.lang not in ("1.0", ""):
        return Migration(file, "current", text)
    notes: list[str] = []
    previous = header.lang
    header.lang = "2.0"
    notes.append(f'lang "{previous}" -> "2.0"' if previous else 'added lang "2.0"')
    comments_before: dict[int, list[str]] = {}
    statements: list[ast.Statement] = []
    for index, statement in enumerate(tree.statements):
        if isinstance(statement, ast.Skill):
            _skill(statement, notes, comments_before.setdefault(index, []))
            statements.append(statement)
        elif isinstance(statement, ast.Binding) and not _is_routing(statement):
            statements.append(_deploy(statement, notes, comments_before.setdefault(index, [])))
        else:
            statements.append(statement)
    tree.statements = statements
    printer = _Printer()
    printer.file(tree)
    for index, extra in comments_before.items():
        if extra:
            line = printer.lines[printer.first[index]]
            line.before[:0] = extra
    result = printer.render(comments, tokens)
    again, _, _, problems = parse_with_comments(result, file)
    if problems:  # pragma: no cover - the formatter's output always parses
        return Migration(file, "error", text, diagnostics=problems)
    return Migration(file, "migrated", text, result, notes)


def _skill(node: ast.Skill, notes: list[str], comments: list[str]) -> None:
    execution = node.execution
    if execution is None:
        return
    if node.tool is not None:
        notes.append(
            f'skill "{node.name}": has both execution and tool; left as is (remove execution)'
        )
        return
    tool = ast.Tool("http" if execution.kind == "http" else "command", execution.pos)
    tool.attrs["url" if tool.kind == "http" else "binary"] = execution.value
    if execution.kind not in ("http", "command"):
        comments.append(f"# migrated: execution {execution.kind} {quote(execution.value)}")
    node.tool, node.execution = tool, None
    notes.append(f'skill "{node.name}": execution {execution.kind} -> tool {tool.kind}')


def _is_routing(node: ast.Binding) -> bool:
    """A binding agentspec lowers to an IR binding: keep it as is."""
    return "agent" in node.config and set(node.config) <= {"agent", *BINDING_MATCH_FIELDS}


def _deploy(node: ast.Binding, notes: list[str], comments: list[str]) -> ast.Deploy:
    target = node.adapter if node.adapter in DEPLOY_TARGETS else "process"
    deploy = ast.Deploy(node.pos, node.name, node.name_pos, target=target, default=node.default)
    kept: list[str] = []
    for key, value in node.config.items():
        if key in _INT_KEYS and value.lstrip("-").isdigit():
            deploy.config[key] = int(value)
        elif key in _STR_KEYS:
            deploy.config[key] = value
        elif key in _RESOURCE_KEYS:
            resources = deploy.config.setdefault("resources", {})
            assert isinstance(resources, dict)
            resources[key] = value
        else:
            kept.append(f"{key} {quote(value)}")
    origin = f'binding "{node.name}"' + (f' adapter "{node.adapter}"' if node.adapter else "")
    if kept:
        comments.append(f"# migrated from {origin}; entries with no deploy equivalent:")
        comments.extend(f"#   {entry}" for entry in kept)
    elif node.adapter and node.adapter != target:
        comments.append(f"# migrated from {origin}")
    notes.append(f"{origin} -> deploy target {quote(target)}")
    return deploy
