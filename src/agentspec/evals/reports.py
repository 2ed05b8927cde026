"""Eval reports: JSON (also the ``--baseline`` format), JUnit XML, and baseline regressions."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from agentspec.evals.models import EvalReport, Regression
from agentspec.exceptions import UsageError


def to_json(report: EvalReport) -> str:
    """The report as indented JSON (``agentspec eval --json FILE``)."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def to_junit(report: EvalReport) -> str:
    """The report as JUnit XML: one ``testsuite`` per package, one ``testcase`` per case."""
    suite = ET.Element(
        "testsuite",
        {
            "name": f"agentspec.eval.{report.package}",
            "tests": str(len(report.cases)),
            "failures": str(report.failed),
            "errors": str(report.errors),
            "skipped": "0",
            "time": f"{report.duration_ms / 1000:.3f}",
        },
    )
    for case in report.cases:
        element = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"{report.package}.{case.agent}",
                "name": case.name,
                "time": f"{case.duration_ms / 1000:.3f}",
                "file": case.where.rsplit(":", 1)[0],
            },
        )
        if case.status == "error":
            ET.SubElement(element, "error", {"message": case.error}).text = case.error
        elif case.status == "failed":
            failed = [a for a in case.assertions if not a.passed]
            message = "; ".join(f"{a.kind}: {a.message}" for a in failed)
            body = "\n".join(
                f"{'PASS' if a.passed else 'FAIL'} {a.kind}: {a.message}" for a in case.assertions
            )
            ET.SubElement(element, "failure", {"message": message}).text = body
        ET.SubElement(element, "system-out").text = case.output
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def load_baseline(path: str | Path) -> dict[str, Any]:
    """A JSON report written earlier by ``agentspec eval --json``.

    Raises:
        UsageError: the file is missing or is not such a report.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--baseline {file}: cannot read it: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"--baseline {file}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise UsageError(f"--baseline {file}: not an eval report (no 'cases' list)")
    return data


def regressions(report: EvalReport, baseline: dict[str, Any]) -> list[Regression]:
    """Cases that passed in ``baseline`` and fail now, and cases whose score dropped."""
    before = {str(c.get("name")): c for c in baseline.get("cases", []) if isinstance(c, dict)}
    found: list[Regression] = []
    for case in report.cases:
        old = before.get(case.name)
        if old is None:
            continue
        old_score = float(old.get("score", 0.0) or 0.0)
        if old.get("status") == "passed" and not case.passed:
            found.append(
                Regression(case.name, "passed in the baseline, fails now", old_score, case.score)
            )
        elif case.score < old_score - 1e-9:
            found.append(Regression(case.name, "score dropped", old_score, case.score))
    return found
