"""The language server over stdio, built on pygls.

Features:

* ``textDocument/publishDiagnostics`` on open, change and save: every syntax, validation and
  IR problem of the document (the package it belongs to is analysed as a whole), plus
  "not supported yet" notes as information;
* ``textDocument/completion``: after ``uses prompt``, ``uses skill``, ``fallback``,
  ``delegate to``, ``connects to client``, ``auth``, ... the names of that kind declared
  anywhere in the package; elsewhere keywords, resource types and every declared name;
* ``textDocument/definition``: from a reference to its declaration, across the files of
  the package;
* ``textDocument/hover`` on a reference: what it names and where it is declared.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path

from agentspec._version import __version__
from agentspec.exceptions import Diagnostic
from agentspec.lang.intentlang import ast
from agentspec.lsp.analysis import Analysis, analyse, completions, definition

server = LanguageServer(
    "agentspec-intentlang", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full
)

_KINDS = {
    "keyword": types.CompletionItemKind.Keyword,
    "resource type": types.CompletionItemKind.Class,
}


def uri_to_path(uri: str) -> Path:
    """``file:///a/b.ias`` -> ``/a/b.ias``."""
    return Path(unquote(urlparse(uri).path))


def _overlay(ls: LanguageServer) -> dict[str, str]:
    return {
        str(uri_to_path(uri)): document.source
        for uri, document in ls.workspace.text_documents.items()
    }


def _analyse(ls: LanguageServer, uri: str) -> Analysis:
    return analyse(uri_to_path(uri), _overlay(ls))


def _utf16(line: str, column: int) -> int:
    """LSP character offset (UTF-16 units) of the 1-based code-point ``column``."""
    return len(line[: max(column - 1, 0)].encode("utf-16-le")) // 2


def _range(lines: list[str], line: int, column: int) -> types.Range:
    """The range of the token starting at ``line:column`` (1-based) in the document."""
    index = max(line - 1, 0)
    text = lines[index] if index < len(lines) else ""
    start = max(column - 1, 0)
    end = start + 1
    if start < len(text) and text[start] == '"':
        close = text.find('"', start + 1)
        end = close + 1 if close > 0 else len(text)
    else:
        while end < len(text) and (text[end].isalnum() or text[end] in "_-."):
            end += 1
    end = min(max(end, start + 1), max(len(text), start + 1))
    return types.Range(
        types.Position(index, _utf16(text, start + 1)), types.Position(index, _utf16(text, end + 1))
    )


def _lsp_diagnostic(
    lines: list[str], diagnostic: Diagnostic, severity: types.DiagnosticSeverity
) -> types.Diagnostic:
    message = diagnostic.message + (f"\n{diagnostic.hint}" if diagnostic.hint else "")
    return types.Diagnostic(
        range=_range(lines, diagnostic.line or 1, diagnostic.column or 1),
        message=message,
        severity=severity,
        source="agentspec",
    )


def publish(ls: LanguageServer, uri: str) -> None:
    """Analyse ``uri`` and publish its diagnostics."""
    document = ls.workspace.get_text_document(uri)
    lines = document.source.splitlines()
    analysis = _analyse(ls, uri)
    found = [
        _lsp_diagnostic(lines, d, types.DiagnosticSeverity.Error) for d in analysis.diagnostics
    ]
    found += [
        _lsp_diagnostic(lines, d, types.DiagnosticSeverity.Information) for d in analysis.notes
    ]
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=uri, diagnostics=found, version=document.version)
    )


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: LanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    publish(ls, params.text_document.uri)


def publish_package(ls: LanguageServer, uri: str) -> None:
    """Republish ``uri`` and every other open document of its directory (same package)."""
    publish(ls, uri)
    folder = uri_to_path(uri).parent
    for other in list(ls.workspace.text_documents):
        if other != uri and uri_to_path(other).parent == folder:
            publish(ls, other)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: LanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    publish_package(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: LanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    publish_package(ls, params.text_document.uri)


def _line_before(ls: LanguageServer, uri: str, position: types.Position) -> tuple[str, int]:
    """The text of the cursor's line before it, and the cursor's 1-based code-point column."""
    lines = ls.workspace.get_text_document(uri).source.splitlines()
    text = lines[position.line] if position.line < len(lines) else ""
    units = 0
    for index, char in enumerate(text):
        if units >= position.character:
            return text[:index], index + 1
        units += 2 if ord(char) > 0xFFFF else 1
    return text, len(text) + 1


@server.feature(
    types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=['"', " "])
)
def completion(ls: LanguageServer, params: types.CompletionParams) -> types.CompletionList:
    uri = params.text_document.uri
    before, _ = _line_before(ls, uri, params.position)
    items = [
        types.CompletionItem(
            label=label,
            kind=_KINDS.get(what, types.CompletionItemKind.Reference),
            detail=what,
        )
        for label, what in completions(_analyse(ls, uri), before)
    ]
    return types.CompletionList(is_incomplete=False, items=items)


def _location(where: ast.Pos) -> types.Location:
    try:
        lines = Path(where.file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    uri = from_fs_path(where.file) or where.file
    return types.Location(uri=uri, range=_range(lines, where.line, where.column))


def _target(ls: LanguageServer, uri: str, position: types.Position) -> ast.Pos | None:
    _, column = _line_before(ls, uri, position)
    return definition(_analyse(ls, uri), str(uri_to_path(uri)), position.line + 1, column)


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def goto_definition(ls: LanguageServer, params: types.DefinitionParams) -> types.Location | None:
    where = _target(ls, params.text_document.uri, params.position)
    return _location(where) if where else None


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: LanguageServer, params: types.HoverParams) -> types.Hover | None:
    where = _target(ls, params.text_document.uri, params.position)
    if where is None:
        return None
    text = f"declared at `{Path(where.file).name}:{where.line}:{where.column}`"
    return types.Hover(contents=types.MarkupContent(types.MarkupKind.Markdown, text))


def serve() -> None:
    """Run the server on stdin/stdout until the client disconnects."""
    server.start_io()
