"""The Python front-end: ``agentspec.Agent(...)`` objects that lower to the same IR as YAML.

Example:
    ```python
    import agentspec

    @agentspec.tool
    async def add(a: int, b: int) -> int:
        \"\"\"Add two integers.\"\"\"
        return a + b

    agent = agentspec.Agent("calc", instructions="You add numbers.", model="openai:gpt-4o-mini",
                            tools=[add], max_turns=4)
    result = await agent.run("What is 2 + 3?")
    ```

Construction only stores the arguments; the IR is built (and validated) on first use, so
building agents is cheap and a mistake is reported as a :class:`SpecError` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentspec.exceptions import Diagnostic, SpecError

if TYPE_CHECKING:
    from agentspec.engine.result import RunResult
    from agentspec.engine.run import RunHandle
    from agentspec.engine.runtime import Runtime
    from agentspec.ir.models import Package
    from agentspec.tools.function import FunctionTool

_AGENT_FIELDS = frozenset(
    {
        "strategy",
        "max_turns",
        "timeout",
        "token_budget",
        "temperature",
        "stream",
        "on_error",
        "max_retries",
        "memory",
        "metadata",
        "strategy_options",
        "approval",
    }
)


def model_from_value(value: Any) -> Any:
    """``"openai:gpt-4o"``, ``"scripted"``, a mapping or a ModelConfig -> ModelConfig."""
    from agentspec.ir.models import ModelConfig
    from agentspec.models.registry import parse_model_override

    if isinstance(value, ModelConfig):
        return value
    from agentspec.models.base import Model

    if isinstance(value, Model):
        return ModelConfig(provider="scripted", name=f"python:{type(value).__name__}")
    if isinstance(value, str):
        return parse_model_override(value)
    return ModelConfig.model_validate(value)


class Agent:
    """An agent declared in Python. See the module docstring."""

    __slots__ = (
        "_fn_map",
        "_kwargs",
        "_package",
        "_runtime",
        "_tools",
        "description",
        "instructions",
        "model",
        "name",
        "variables",
    )

    def __init__(
        self,
        name: str,
        *,
        instructions: str,
        model: Any = "scripted",
        tools: Iterable[Callable[..., Any]] = (),
        description: str = "",
        variables: Mapping[str, str] | None = None,
        **settings: Any,
    ) -> None:
        self.name = name
        self.instructions = instructions
        self.model = model
        self.description = description
        self.variables = variables
        self._tools = tools
        self._kwargs = settings
        self._package: Package | None = None
        self._fn_map: dict[str, FunctionTool] | None = None
        self._runtime: Runtime | None = None

    def __repr__(self) -> str:
        return f"Agent({self.name!r})"

    def _functions(self) -> dict[str, FunctionTool]:
        if self._fn_map is None:
            from agentspec.tools.function import FunctionTool

            found: dict[str, FunctionTool] = {}
            for item in self._tools:
                function = item if isinstance(item, FunctionTool) else FunctionTool(item)
                found[function.name] = function
            self._fn_map = found
        return self._fn_map

    def to_package(self) -> Package:
        """Lower to IR (cached). Raises :class:`SpecError` naming every bad field."""
        if self._package is not None:
            return self._package
        from pydantic import ValidationError

        from agentspec.ir import Agent as IRAgent
        from agentspec.ir import Package, Prompt, PythonTool, Skill, check_package

        where = f"Agent({self.name!r})"
        problems: list[Diagnostic] = []
        unknown = sorted(set(self._kwargs) - _AGENT_FIELDS)
        if unknown:
            from agentspec.ir.suggest import suggest

            for key in unknown:
                hint = suggest(key, _AGENT_FIELDS)
                problems.append(Diagnostic(where, 0, 0, f"unknown argument {key!r}", hint))
            raise SpecError(problems)
        try:
            functions = self._functions()
            skills = {
                name: Skill(
                    name=name,
                    description=fn.description,
                    input_schema=fn.parameters,
                    tool=PythonTool(
                        function=f"{fn.fn.__module__}:{fn.fn.__qualname__}".replace("<locals>.", "")
                    ),
                )
                for name, fn in functions.items()
            }
            package = Package(
                name="python",
                prompts={self.name: Prompt(name=self.name, content=self.instructions)},
                skills=skills,
                agents={
                    self.name: IRAgent(
                        name=self.name,
                        description=self.description,
                        prompt=self.name,
                        model=model_from_value(self.model),
                        skills=tuple(skills),
                        variables=dict(self.variables or {}),
                        **self._kwargs,
                    )
                },
            )
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                problems.append(
                    Diagnostic(where, 0, 0, f"{loc}: {err['msg']}" if loc else err["msg"])
                )
            raise SpecError(problems) from None
        except Exception as exc:
            raise SpecError([Diagnostic(where, 0, 0, str(exc))]) from None
        bad = check_package(package)
        if bad:
            raise SpecError([Diagnostic(where, 0, 0, p.message, p.hint) for p in bad])
        self._package = package
        return package

    def runtime(self, *, store: str | None = None, settings: Any = None, **options: Any) -> Runtime:
        """A new :class:`Runtime` for this agent (``store="memory"`` keeps nothing on disk)."""
        from agentspec.engine.runtime import Runtime
        from agentspec.engine.settings import Settings

        settings = settings or Settings()
        if store is not None:
            settings.store = store
        from agentspec.models.base import Model

        if isinstance(self.model, Model):
            options.setdefault("models", {self.name: self.model})
        return Runtime(self.to_package(), settings=settings, functions=self._functions(), **options)

    def _default_runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = self.runtime()
        return self._runtime

    async def run(self, input: str, **kwargs: Any) -> RunResult:
        """Run once (see :meth:`Runtime.run` for ``session_id``, ``variables``)."""
        return await self._default_runtime().run(self.name, input, **kwargs)

    def start(self, input: str, **kwargs: Any) -> RunHandle:
        """Start a run and stream its events: ``async for event in agent.start("hi")``."""
        return self._default_runtime().start(self.name, input, **kwargs)

    async def aclose(self) -> None:
        if self._runtime is not None:
            await self._runtime.aclose()
            self._runtime = None


def project_root(path: str | Path) -> Path:
    target = Path(path)
    return target if target.is_dir() else target.parent
