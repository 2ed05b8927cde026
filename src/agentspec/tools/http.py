"""HTTP tools: one request per call, built from the skill's ``http`` spec.

Templating rules (``{{field}}`` is a call argument, ``{{a.b}}`` a nested one):

* **url**: values are percent-encoded (``quote(value, safe="")``), so an argument can never add
  a path segment, query parameter or host.
* **headers**: values are inserted as text; a value containing a line break is refused.
* **body_template**: when the template (stripped) starts with ``{`` or ``[`` it is a *JSON
  template*: every placeholder is replaced by the JSON encoding of its value, strings included.
  Write ``{"name": {{name}}}``, not ``{"name": "{{name}}"}``. The rendered body must be valid
  JSON and is sent as ``application/json``. Any other template is text: strings are inserted
  as-is, other values as JSON, sent as ``text/plain``. A ``Content-Type`` header wins.
* ``{{secret.NAME}}`` anywhere resolves the declared secret ``NAME`` at call time; an argument
  called ``secret`` cannot shadow it. Secret values are redacted from error messages.

Without a ``body_template``, arguments not used in the URL become query parameters for
GET/DELETE/HEAD and a JSON object body for POST/PUT/PATCH. Every request carries
``Idempotency-Key: <run_id>:<call_id>`` and ``User-Agent: agentspec/<version>`` (the latter may
be overridden in ``headers``). Redirects are followed.

The response is returned as JSON when its content type is JSON or the body parses as JSON,
else as text (at most 1 MiB). HEAD requests and empty bodies return ``{"status": code}``
(plus ``headers`` for HEAD). A status of 400 or more raises :class:`ToolError`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from agentspec import ir
from agentspec._template import names, render
from agentspec._version import __version__
from agentspec.exceptions import ConfigError, ToolError
from agentspec.secrets.resolver import SecretResolver
from agentspec.tools.base import Tool, ToolContext
from agentspec.tools.command import OUTPUT_CAP, TRUNCATED, parse_output

DEFAULT_TIMEOUT = 30.0
USER_AGENT = f"agentspec/{__version__}"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_MISSING = object()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _query_value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value):
        return value
    return json.dumps(value, ensure_ascii=False)


def _lookup(arguments: Mapping[str, Any], name: str) -> Any:
    value: Any = arguments
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _header_value(text: str) -> str:
    if "\r" in text or "\n" in text:
        raise ToolError("a header value may not contain a line break")
    return text


def _json_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class HttpRequestTool(Tool):
    """A skill backed by one HTTP request.

    Args:
        skill: the skill declaring this tool (name, description, input schema).
        spec: the ``http`` tool spec.
        secrets: resolves ``{{secret.NAME}}`` placeholders and redacts them from errors.
        client: a shared client to use; when omitted the tool owns one, closed by ``aclose()``.
    """

    enforces_timeout = True

    def __init__(
        self,
        skill: ir.Skill,
        spec: ir.HttpTool,
        *,
        secrets: SecretResolver,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = skill.name
        self.description = skill.description
        self.parameters = skill.input_schema or {"type": "object", "properties": {}}
        self.timeout = spec.timeout
        self.spec = spec
        self._secrets = secrets
        self._client = client
        self._owns_client = client is None
        self._limit = spec.timeout or DEFAULT_TIMEOUT
        self._url_fields = {name.split(".")[0] for name in names(spec.url)}
        self._json_body = (spec.body_template or "").lstrip().startswith(("{", "["))

    def _renderer(
        self, arguments: Mapping[str, Any], used: list[str]
    ) -> Callable[[str, Callable[[Any], str], str], str]:
        def run(template: str, encode: Callable[[Any], str], where: str) -> str:
            def resolve(name: str) -> str:
                if name.startswith("secret."):
                    try:
                        value = self._secrets.resolve_name(name[7:], purpose=f"skill {self.name}")
                    except ConfigError as exc:
                        raise ToolError(str(exc)) from None
                    used.append(value)
                    return encode(value)
                value = _lookup(arguments, name)
                if value is _MISSING:
                    raise ToolError(f"{self.name}: {where} needs argument {name!r}")
                return encode(value)

            return render(template, {}, missing=resolve)

        return run

    def _build(
        self,
        client: httpx.AsyncClient,
        arguments: Mapping[str, Any],
        ctx: ToolContext,
        used: list[str],
    ) -> httpx.Request:
        spec = self.spec
        fill = self._renderer(arguments, used)
        url = fill(spec.url, lambda v: quote(_text(v), safe=""), "url")
        headers = httpx.Headers({"User-Agent": USER_AGENT})
        for key, template in spec.headers.items():
            headers[key] = fill(template, lambda v: _header_value(_text(v)), f"header {key}")
        headers["Idempotency-Key"] = ctx.idempotency_key
        rest = {k: v for k, v in arguments.items() if k not in self._url_fields}
        params: dict[str, Any] | None = None
        content: bytes | None = None
        if spec.body_template is not None:
            body = fill(spec.body_template, _json_value if self._json_body else _text, "body")
            if self._json_body:
                try:
                    json.loads(body)
                except ValueError as exc:
                    raise ToolError(
                        f"{self.name}: body_template did not render to valid JSON ({exc}); "
                        'write "key": {{field}}, not "key": "{{field}}"'
                    ) from None
                headers.setdefault("Content-Type", "application/json")
            else:
                headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            content = body.encode()
        elif spec.method in _BODY_METHODS:
            content = json.dumps(rest, ensure_ascii=False).encode()
            headers.setdefault("Content-Type", "application/json")
        elif rest:
            params = {k: _query_value(v) for k, v in rest.items()}
        try:
            return client.build_request(
                spec.method,
                url,
                params=params,
                headers=headers,
                content=content,
                timeout=self._limit,
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            raise ToolError(self._redact(f"{self.name}: invalid request: {exc}", used)) from None

    def _redact(self, text: str, used: list[str]) -> str:
        for value in used:
            text = text.replace(value, "***").replace(quote(value, safe=""), "***")
        return self._secrets.redact(text)

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=True)
        used: list[str] = []
        request = self._build(self._client, arguments, ctx, used)
        what = self._redact(f"{request.method} {request.url}", used)
        try:
            async with asyncio.timeout(self._limit):
                response = await self._client.send(request, stream=True)
                try:
                    body, truncated = await _read(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            raise ToolError(f"{what} timed out after {self._limit}s") from None
        except httpx.ConnectError as exc:
            raise ToolError(self._redact(f"{what} failed: cannot connect ({exc})", used)) from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise ToolError(self._redact(f"{what} failed: {reason}", used)) from None
        return self._result(response, body, truncated, what, used)

    def _result(
        self, response: httpx.Response, body: bytes, truncated: bool, what: str, used: list[str]
    ) -> Any:
        text = body.decode(response.encoding or "utf-8", errors="replace")
        if response.status_code >= 400:
            raise ToolError(
                self._redact(f"{what} returned {response.status_code}: {text[:500]}", used)
            )
        if self.spec.method == "HEAD":
            return {"status": response.status_code, "headers": dict(response.headers)}
        if not body:
            return {"status": response.status_code}
        if truncated:
            return text + TRUNCATED
        if "json" in response.headers.get("content-type", ""):
            try:
                return json.loads(text)
            except ValueError:
                return text
        return parse_output(text)

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None


async def _read(response: httpx.Response) -> tuple[bytes, bool]:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        room = OUTPUT_CAP - len(data)
        if len(chunk) > room:
            data += chunk[:room]
            return bytes(data), True
        data += chunk
    return bytes(data), False
