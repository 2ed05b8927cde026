"""IntentLang front-end benchmark: parse + validate + lower a generated 5,000-line package.

Generates a ``.ias`` package of about 5,000 lines (prompts, skills of every tool kind,
agents with delegates, a pipeline) in a temporary directory, then times
:func:`agentspec.lang.intentlang.load_intentlang` end to end (read, lex, parse, validate,
lower to the IR, ``check_package``), best of 5, and each phase separately; then
``agentspec fmt``'s :func:`~agentspec.lang.intentlang.format.format_source` on the same text
(lex with comments, parse, print, and the re-parse that proves the output means the same).
Target: < 0.5 s for the whole load (fmt is reported, not gated).

Usage: python benchmarks/intentlang.py [--lines N]
Exit code 0, or 1 if the target is missed.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from agentspec.lang.intentlang import load_intentlang
from agentspec.lang.intentlang.format import format_source
from agentspec.lang.intentlang.lower import Lowering
from agentspec.lang.intentlang.parser import parse
from agentspec.lang.intentlang.validate import validate

TARGET = 0.5


def generate(lines: int) -> str:
    """A valid package of roughly ``lines`` lines (one group of resources is ~25 lines)."""
    out = ['package "bench" version "1.0.0" lang "2.0"', ""]
    groups = max(1, lines // 25)
    for i in range(groups):
        out += [
            f'prompt "p{i}" {{',
            f'  content "You are agent {i} helping {{{{user}}}}."',
            "  variables {",
            '    user string default "someone"',
            "  }",
            "}",
            f'skill "s{i}" {{',
            f'  description "Skill number {i}"',
            "  input { text string required  count int }",
            "  output { result string }",
            f'  tool command {{ binary "tool{i}" args ["--n", "{i}"] timeout "5s" }}',
            "}",
            f'skill "h{i}" {{',
            '  description "HTTP skill"',
            "  input { q string }",
            "  output { body string }",
            '  tool http { method "GET" url "https://example.com/{{q}}" }',
            "}",
            f'agent "a{i}" {{',
            f'  uses prompt "p{i}"',
            f'  uses skill "s{i}"',
            f'  uses skill "h{i}"',
            '  model "openai/gpt-4o-mini"',
            (  # a chain, not a cycle: delegation cycles are an IR error
                f'  delegate to agent "a{i + 1}" when "stuck"'
                if i + 1 < groups
                else "  max_turns 5"
            ),
            "}",
        ]
    out += ['pipeline "chain" {']
    out += [
        f'  step "st{i}" {{ agent "a{i}" depends_on ["st{i - 1}"] }}'
        if i
        else '  step "st0" { agent "a0" }'
        for i in range(min(groups, 200))
    ]
    out += ["}"]
    return "\n".join(out) + "\n"


def _best(fn: object, runs: int = 5) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str]) -> int:
    lines = int(argv[argv.index("--lines") + 1]) if "--lines" in argv else 5000
    text = generate(lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ias"
        path.write_text(text, encoding="utf-8")
        loaded = load_intentlang(path)
        tree, errors = parse(text, str(path))
        assert not errors and not validate(tree)
        parse_s = _best(lambda: parse(text, str(path)))
        validate_s = _best(lambda: validate(tree))
        lower_s = _best(lambda: Lowering(tree).run())
        total = _best(lambda: load_intentlang(path))
        formatted = format_source(text, str(path))
        assert format_source(formatted, str(path)) == formatted
        fmt_s = _best(lambda: format_source(text, str(path)))
    print(f"lines:     {text.count(chr(10)):>8}")
    print(f"agents:    {len(loaded.package.agents):>8}")
    print(f"skills:    {len(loaded.package.skills):>8}")
    print(f"parse:     {parse_s * 1000:8.1f} ms")
    print(f"validate:  {validate_s * 1000:8.1f} ms")
    print(f"lower:     {lower_s * 1000:8.1f} ms")
    print(f"total:     {total * 1000:8.1f} ms  (target < {TARGET * 1000:.0f} ms)")
    print(f"fmt:       {fmt_s * 1000:8.1f} ms  (format + re-parse check)")
    return 0 if total < TARGET else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
