"""The HTTP/WebSocket server (``pip install 'agentspec[server]'``)."""
