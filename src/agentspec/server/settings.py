"""Server settings: plain values with defaults, overridable from ``agentspec serve`` flags."""

from __future__ import annotations

from dataclasses import dataclass, field

from agentspec.auth.ratelimit import RateLimit


def parse_rate(text: str) -> RateLimit | None:
    """``"10"`` (burst 2x), ``"10/20"`` (rate/burst) or ``"off"`` -> a :class:`RateLimit` or None."""
    text = text.strip().lower()
    if text in ("off", "none", "0"):
        return None
    rate_text, _, burst_text = text.partition("/")
    try:
        rate = float(rate_text)
        burst = int(burst_text) if burst_text else max(1, int(rate * 2))
    except ValueError:
        raise ValueError("use RATE or RATE/BURST (e.g. 10/20), or 'off'") from None
    if rate <= 0 or burst < 1:
        raise ValueError("rate must be > 0 and burst >= 1")
    return RateLimit(rate=rate, burst=burst)


@dataclass(slots=True)
class ServerSettings:
    """How ``agentspec serve`` behaves.

    Attributes:
        host, port: where to listen (default 127.0.0.1:8080).
        auth: require API keys (default on). ``dev=True`` turns auth off and is only allowed on a
            loopback host; the server logs a warning.
        cors_origins: allowed origins; never ``*`` together with credentials.
        max_body_bytes: larger request bodies get 413 ``payload_too_large``.
        key_rate / agent_rate: token buckets per API key and per agent (``None``: unlimited).
        keepalive_seconds: SSE comment sent while a run is quiet.
        cancel_on_disconnect: cancel a streamed run when its client disconnects (default: keep
            running; the run stays inspectable).
        shutdown_grace_seconds: on shutdown, in-flight runs get this long before being cancelled.
        auth_failure_limit: failed authentications allowed per client address (a token
            bucket on failures only; ``None``: unlimited). An address that exhausts it gets
            429 with ``Retry-After`` on every request that needs a key until a token is back.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    auth: bool = True
    dev: bool = False
    cors_origins: list[str] = field(default_factory=list)
    cors_credentials: bool = False
    max_body_bytes: int = 1_048_576
    key_rate: RateLimit | None = field(default_factory=lambda: RateLimit(rate=10.0, burst=20))
    agent_rate: RateLimit | None = None
    keepalive_seconds: float = 15.0
    cancel_on_disconnect: bool = False
    shutdown_grace_seconds: float = 10.0
    auth_failure_limit: RateLimit | None = field(
        default_factory=lambda: RateLimit(rate=0.2, burst=10)
    )
    log_json: bool = True

    @property
    def auth_enabled(self) -> bool:
        return self.auth and not self.dev

    @property
    def loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")
