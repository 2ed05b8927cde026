"""The IntentLang language server (``agentspec lsp``): diagnostics, completion, definitions.

Needs the ``lsp`` extra (``pip install 'agentspec[lsp]'``, which installs pygls).
"""
