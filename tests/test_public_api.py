"""The public API is pinned, and importing agentspec stays light."""

from __future__ import annotations

import subprocess
import sys

import agentspec

PUBLIC = {
    "Agent",
    "AgentspecError",
    "BudgetExceeded",
    "ConfigError",
    "Event",
    "ModelError",
    "PipelineResult",
    "Project",
    "ReplayModel",
    "RunError",
    "RunHandle",
    "RunResult",
    "Runtime",
    "ScriptedModel",
    "Settings",
    "SpecError",
    "StoreError",
    "ToolCallRecord",
    "ToolContext",
    "ToolError",
    "UsageError",
    "__version__",
    "load",
    "replay_run",
    "run_pipeline",
    "run_workflow",
    "start_pipeline",
    "start_workflow",
    "tool",
}


def test_exported_members_are_exactly_the_public_api() -> None:
    assert set(agentspec.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(agentspec, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        agentspec.Nope  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "Nope" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_import_does_not_load_heavy_dependencies() -> None:
    code = (
        "import sys, agentspec; heavy = [m for m in ('pydantic', 'sqlalchemy', 'openai', 'anthropic', "
        "'httpx', 'yaml', 'rich', 'typer') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_python_api_from_the_issue_runs_the_quickstart() -> None:
    code = (
        "import asyncio, agentspec\n"
        "async def main():\n"
        "    project = agentspec.load('examples/quickstart')\n"
        "    agent = project.agent('assistant')\n"
        "    result = await agent.run('what is 2 + 3?')\n"
        "    await project.aclose()\n"
        "    print(result.output)\n"
        "asyncio.run(main())\n"
    )
    from tests.conftest import REPO

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2 + 3 = 5."
