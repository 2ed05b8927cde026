"""``agentspec.load(path)``: read a project with the right front-end and run its agents.

Example:
    ```python
    project = agentspec.load("examples/quickstart")
    result = await project.agent("assistant").run("What is 2 + 3?")
    await project.aclose()
    ```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentspec.exceptions import Diagnostic, SpecError, UsageError

if TYPE_CHECKING:
    from agentspec.engine.result import RunResult
    from agentspec.engine.run import RunHandle
    from agentspec.engine.runtime import Runtime
    from agentspec.engine.settings import Settings
    from agentspec.ir.models import Package
    from agentspec.tools.function import FunctionTool

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class Project:
    """A loaded project: its IR package, where it lives, and the Python tools it imported."""

    package: Package
    root: Path
    files: list[Path]
    functions: dict[str, FunctionTool] = field(default_factory=dict)
    notes: list[Diagnostic] = field(default_factory=list)
    """Constructs the front-end accepted but ignored (IntentLang features with no IR yet)."""
    _runtime: Runtime | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.package.name

    @property
    def ir_hash(self) -> str:
        from agentspec.ir.canonical import ir_hash

        return ir_hash(self.package)

    def runtime(self, settings: Settings | None = None, **options: Any) -> Runtime:
        """A new :class:`Runtime` for this project."""
        from agentspec.engine.runtime import Runtime

        return Runtime(
            self.package, settings=settings, functions=self.functions, base_dir=self.root, **options
        )

    def default_runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = self.runtime()
        return self._runtime

    def agent(self, name: str) -> AgentHandle:
        if name not in self.package.agents:
            from agentspec.ir.suggest import suggest

            hint = suggest(name, self.package.agents)
            raise UsageError(
                f"unknown agent {name!r} in {self.name}" + (f" ({hint})" if hint else "")
            )
        return AgentHandle(self, name)

    async def aclose(self) -> None:
        if self._runtime is not None:
            await self._runtime.aclose()
            self._runtime = None

    async def __aenter__(self) -> Project:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@dataclass(frozen=True)
class AgentHandle:
    """One agent of a project, run on the project's default runtime."""

    project: Project
    name: str

    async def run(
        self,
        input: str,
        *,
        session_id: str | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> RunResult:
        return await self.project.default_runtime().run(
            self.name, input, session_id=session_id, variables=variables
        )

    def start(self, input: str, **kwargs: Any) -> RunHandle:
        return self.project.default_runtime().start(self.name, input, **kwargs)


def load(path: str | Path) -> Project:
    """Load a project: a directory with ``agentspec.yaml`` or ``*.ias`` files, a YAML file or
    an IntentLang (``.ias``) file.

    Raises:
        SpecError: with every problem found, each located as ``file:line:col``.
    """
    target = Path(path)
    if not target.exists():
        raise SpecError([Diagnostic(str(target), 0, 0, "no such file or directory")])
    if _is_intentlang(target):
        from agentspec.lang.intentlang import load_intentlang

        loaded_ias = load_intentlang(target)
        return Project(
            loaded_ias.package,
            loaded_ias.root,
            list(loaded_ias.files),
            notes=list(loaded_ias.unsupported),
        )
    if target.is_file() and target.suffix not in YAML_SUFFIXES:
        raise SpecError(
            [
                Diagnostic(
                    str(target),
                    0,
                    0,
                    f"unsupported spec file type {target.suffix!r}; use .yaml or .ias",
                )
            ]
        )
    from agentspec.lang.yaml_spec import load_yaml_project

    loaded = load_yaml_project(target)
    return Project(loaded.package, loaded.root, list(loaded.files), dict(loaded.functions))


def _is_intentlang(target: Path) -> bool:
    """A ``.ias`` file, or a directory with ``*.ias`` files and no ``agentspec.yaml``."""
    if target.is_file():
        return target.suffix == ".ias"
    if not target.is_dir() or not any(target.glob("*.ias")):
        return False
    yaml_files = [target / f"agentspec{suffix}" for suffix in YAML_SUFFIXES]
    found = [p for p in yaml_files if p.is_file()]
    if found:
        raise SpecError(
            [
                Diagnostic(
                    str(target),
                    0,
                    0,
                    f"{target} holds both {found[0].name} and .ias files",
                    "keep one front-end per directory, or pass the file to load explicitly",
                )
            ]
        )
    return True
