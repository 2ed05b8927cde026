"""The language server, driven as a real subprocess by pygls' LSP client over stdio."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

COMMON = 'package "desk" version "1" lang "2.0"\nprompt "sys" { content "hi" }\nagent "helper" { uses prompt "sys" model "gpt-4o" }\n'
MAIN = (
    'package "desk" version "1" lang "2.0"\n'
    'agent "main" {\n'
    '  uses prompt "sys"\n'
    '  model "gpt-4o"\n'
    '  fallback "helpr"\n'
    "}\n"
)


class Session:
    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.diagnostics: asyncio.Queue[types.PublishDiagnosticsParams] = asyncio.Queue()

    async def next_diagnostics(self, uri: str) -> types.PublishDiagnosticsParams:
        while True:
            params = await asyncio.wait_for(self.diagnostics.get(), 60)
            if params.uri == uri:
                return params

    def open(self, path: Path, text: str) -> str:
        uri = from_fs_path(str(path))
        assert uri
        item = types.TextDocumentItem(uri=uri, language_id="intentlang", version=1, text=text)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
        return uri


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[Session]:
    client = LanguageClient("agentspec-tests", "1")
    state = Session(client)

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
        state.diagnostics.put_nowait(params)

    await client.start_io(sys.executable, "-m", "agentspec.cli", "lsp")
    result = await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=from_fs_path(str(tmp_path))
        )
    )
    assert result.capabilities.completion_provider is not None
    assert result.capabilities.definition_provider
    client.initialized(types.InitializedParams())
    yield state
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


async def test_diagnostics_on_open_change_and_save(session: Session, tmp_path: Path) -> None:
    (tmp_path / "common.ias").write_text(COMMON, encoding="utf-8")
    path = tmp_path / "main.ias"
    path.write_text(MAIN, encoding="utf-8")
    uri = session.open(path, MAIN)
    published = await session.next_diagnostics(uri)
    [problem] = published.diagnostics
    assert problem.message.startswith('fallback agent "helpr" not found')
    assert 'did you mean "helper"?' in problem.message
    assert problem.severity == types.DiagnosticSeverity.Error
    assert (problem.range.start.line, problem.range.start.character) == (4, 11)
    assert (problem.range.end.line, problem.range.end.character) == (4, 18)

    broken = MAIN.replace('model "gpt-4o"', "model = 1")
    session.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=broken)],
        )
    )
    published = await session.next_diagnostics(uri)
    assert [d.message.split("\n")[0] for d in published.diagnostics] == ["unexpected character '='"]
    assert published.diagnostics[0].range.start == types.Position(3, 8)

    fixed = MAIN.replace('"helpr"', '"helper"')
    session.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=3),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)],
        )
    )
    assert list((await session.next_diagnostics(uri)).diagnostics) == []
    session.client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert list((await session.next_diagnostics(uri)).diagnostics) == []


async def test_completion_of_references_keywords_and_types(
    session: Session, tmp_path: Path
) -> None:
    (tmp_path / "common.ias").write_text(COMMON, encoding="utf-8")
    text = MAIN.replace('  fallback "helpr"\n', '  fallback "\n')
    uri = session.open(tmp_path / "main.ias", text)
    await session.next_diagnostics(uri)
    document = types.TextDocumentIdentifier(uri=uri)

    async def labels(line: int, character: int) -> list[str]:
        result = await session.client.text_document_completion_async(
            types.CompletionParams(text_document=document, position=types.Position(line, character))
        )
        assert isinstance(result, types.CompletionList)
        return [item.label for item in result.items]

    assert await labels(4, 12) == ["helper", "main"]  # agents, one declared in another file
    assert await labels(2, 15) == ["sys"]  # after 'uses prompt "'
    anywhere = await labels(5, 0)
    for expected in ("agent", "skill", "pipeline", "max_turns", "temperature", "sys", "helper"):
        assert expected in anywhere


async def test_definition_across_files_and_hover(session: Session, tmp_path: Path) -> None:
    common = tmp_path / "common.ias"
    common.write_text(COMMON, encoding="utf-8")
    text = MAIN.replace('"helpr"', '"helper"')
    uri = session.open(tmp_path / "main.ias", text)
    await session.next_diagnostics(uri)
    document = types.TextDocumentIdentifier(uri=uri)
    found = await session.client.text_document_definition_async(
        types.DefinitionParams(text_document=document, position=types.Position(2, 16))
    )
    assert isinstance(found, types.Location)
    assert found.uri == from_fs_path(str(common))
    assert found.range.start == types.Position(1, 7)
    found = await session.client.text_document_definition_async(
        types.DefinitionParams(text_document=document, position=types.Position(4, 13))
    )
    assert isinstance(found, types.Location) and found.range.start == types.Position(2, 6)
    nothing = await session.client.text_document_definition_async(
        types.DefinitionParams(text_document=document, position=types.Position(3, 3))
    )
    assert nothing is None
    hover = await session.client.text_document_hover_async(
        types.HoverParams(text_document=document, position=types.Position(2, 16))
    )
    assert hover is not None and "common.ias:2:8" in str(hover.contents)


async def test_fixing_another_file_clears_the_diagnostics(session: Session, tmp_path: Path) -> None:
    common = tmp_path / "common.ias"
    broken_common = COMMON.replace('agent "helper"', 'agent "helpr"')
    common.write_text(broken_common, encoding="utf-8")
    main = tmp_path / "main.ias"
    text = MAIN.replace('"helpr"', '"helper"')
    main.write_text(text, encoding="utf-8")
    main_uri = session.open(main, text)
    [problem] = (await session.next_diagnostics(main_uri)).diagnostics
    assert problem.message.startswith('fallback agent "helper" not found')
    common_uri = session.open(common, broken_common)
    await session.next_diagnostics(common_uri)
    session.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=common_uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=COMMON)],
        )
    )
    assert list((await session.next_diagnostics(main_uri)).diagnostics) == []
