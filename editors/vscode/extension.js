// Starts `agentspec lsp` over stdio for .ias files. No build step: plain CommonJS.
"use strict";
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("intentlang");
  const command = config.get("server.command", "agentspec");
  const args = config.get("server.args", ["lsp"]);
  const server = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient(
    "intentlang",
    "IntentLang",
    { run: server, debug: server },
    {
      documentSelector: [{ scheme: "file", language: "intentlang" }],
      synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.ias") },
    }
  );
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
