"""Replay: re-execute a recorded run against its own log (or a changed spec) and compare.

Example:
    ```python
    from agentspec.replay import replay_run

    report = await replay_run("run_1a2b...", "examples/quickstart")
    assert report.identical, report.divergence
    ```
"""

from agentspec.replay.diff import Divergence, first_divergence, normalize
from agentspec.replay.recorded import Recording, ReplayStats
from agentspec.replay.replayer import ReplayError, ReplayReport, RunSide, replay_run

__all__ = [
    "Divergence",
    "Recording",
    "ReplayError",
    "ReplayReport",
    "ReplayStats",
    "RunSide",
    "first_divergence",
    "normalize",
    "replay_run",
]
