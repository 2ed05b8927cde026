"""Python SDK for the agentspec HTTP API: :class:`Client` (blocking) and :class:`AsyncClient`.

```python
from agentspec.sdk import Client

with Client("http://127.0.0.1:8080", api_key="ask_...") as client:
    result = client.invoke("assistant", "What is 2 + 3?")
```

Errors are :class:`APIError` subclasses named after the contract's error codes.
"""

from agentspec.sdk._errors import (
    APIError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    Forbidden,
    InternalError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    Unauthorized,
    Unavailable,
)
from agentspec.sdk._types import (
    DoneEvent,
    ErrorEvent,
    InvokeResult,
    RunPage,
    Session,
    StreamEvent,
    TextEvent,
    Tokens,
    ToolCall,
    ToolCallEnd,
    ToolCallStart,
    UnknownEvent,
)
from agentspec.sdk.async_client import AsyncClient
from agentspec.sdk.client import Client

__all__ = [
    "APIError",
    "AsyncClient",
    "BadRequest",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "DoneEvent",
    "ErrorEvent",
    "Forbidden",
    "InternalError",
    "InvokeResult",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RequestTimeout",
    "RunPage",
    "Session",
    "StreamEvent",
    "TextEvent",
    "Tokens",
    "ToolCall",
    "ToolCallEnd",
    "ToolCallStart",
    "Unauthorized",
    "Unavailable",
    "UnknownEvent",
]
