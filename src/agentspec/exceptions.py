"""The agentspec error tree. Every error we raise derives from :class:`AgentspecError`.

```
AgentspecError
├── SpecError                 the user's spec is wrong; carries every Diagnostic (file:line:col)
├── UsageError                a command or API was called wrongly (unknown agent, bad --var, ...)
│   └── MissingDependency     an optional extra is not installed; names the pip extra
├── ConfigError               settings or secrets are missing or wrong (names the variable)
├── RunError                  a run could not complete; ``code`` is the contract error code
│   ├── ModelError            a model provider failed; ``retryable`` / ``retry_after`` ride along
│   │   ├── ModelAuthError        401/403 from the provider, or no API key
│   │   ├── ModelRateLimited      429; retryable, honours Retry-After
│   │   ├── ModelTimeout          the provider did not answer in time; retryable
│   │   ├── ModelBadRequest       the provider rejected the request
│   │   ├── ModelUnavailable      5xx / connection failure; retryable
│   │   └── ScriptMismatch        the scripted model's script and the calls disagree
│   ├── ToolError             a tool failed (becomes an error result the model sees)
│   ├── BudgetExceeded        a token budget would be exceeded by the next call
│   ├── MaxTurnsExceeded      the agent used all its turns without a final answer
│   ├── RunTimeout            the run's wall-clock timeout elapsed
│   └── RunCancelled          the run was cancelled
└── StoreError                the run/session store failed (locked, unwritable, ...)
```

Third-party exceptions are mapped to these at the boundary (model adapters, tools,
stores) and never reach the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class AgentspecError(Exception):
    """Root of every error agentspec raises."""

    code: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in a spec, located at ``file:line:col`` (1-based; 0 when unknown)."""

    file: str
    line: int
    column: int
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where = f"{where}:{self.line}:{self.column or 1}"
        text = f"{where}: {self.message}"
        if self.hint:
            text = f"{text} ({self.hint})"
        return text

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }
        if self.hint:
            data["hint"] = self.hint
        return data


class SpecError(AgentspecError):
    """The spec is invalid. ``diagnostics`` lists every problem found, in file order."""

    code = "invalid_request"

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.file, d.line, d.column))
        count = len(self.diagnostics)
        head = f"{count} problem{'s' if count != 1 else ''} in spec"
        super().__init__(head + ":\n" + "\n".join(str(d) for d in self.diagnostics))


class UsageError(AgentspecError):
    """A command, argument or API was used wrongly."""

    code = "invalid_request"


class MissingDependency(UsageError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package: pip install 'agentspec[{extra}]'"
        )
        self.package = package
        self.extra = extra


class ConfigError(AgentspecError):
    """Settings or secrets are missing or wrong."""

    code = "invalid_request"


class RunError(AgentspecError):
    """A run could not complete."""

    code = "internal_error"
    retryable: bool = False
    retry_after: float | None = None
    run_id: str = ""
    """Set when the error ended a recorded run."""
    result: Any = None
    """The failed run's :class:`~agentspec.engine.result.RunResult`, when there is one."""


class ModelError(RunError):
    """A model provider call failed."""

    code = "unavailable"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after


class ModelAuthError(ModelError):
    code = "unauthorized"


class ModelRateLimited(ModelError):
    code = "rate_limited"
    retryable = True


class ModelTimeout(ModelError):
    code = "timeout"
    retryable = True


class ModelBadRequest(ModelError):
    code = "invalid_request"


class ModelUnavailable(ModelError):
    code = "unavailable"
    retryable = True


class ScriptMismatch(ModelError):
    """The scripted model was called in a way its script did not foresee."""

    code = "internal_error"


class ToolError(RunError):
    """A tool failed. Raised inside tools; the engine turns it into an error result."""

    code = "internal_error"


class BudgetExceeded(RunError):
    code = "rate_limited"

    def __init__(self, scope: str, used: int, limit: int, needed: int = 0) -> None:
        super().__init__(f"token budget exceeded ({scope}: {used}/{limit})")
        self.scope = scope
        self.used = used
        self.limit = limit
        self.needed = needed


class MaxTurnsExceeded(RunError):
    code = "internal_error"


class RunTimeout(RunError):
    code = "timeout"


class RunCancelled(RunError):
    code = "conflict"


class StoreError(AgentspecError):
    """The store failed: locked, unwritable, corrupt or unreachable."""

    code = "unavailable"
