""" "Did you mean" suggestions for unknown names."""

from __future__ import annotations

from collections.abc import Iterable


def levenshtein(a: str, b: str) -> int:
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def suggest(name: str, candidates: Iterable[str], *, close_only: bool = False) -> str:
    """A hint: ``did you mean "x"?``, else ``available: a, b`` (unless ``close_only``), else ``""``."""
    ordered = sorted(set(candidates))
    if not ordered:
        return ""
    best, best_distance = "", len(name) // 2 + 1
    for candidate in ordered:
        distance = levenshtein(name.lower(), candidate.lower())
        if distance < best_distance:
            best, best_distance = candidate, distance
    if best:
        return f'did you mean "{best}"?'
    if close_only:
        return ""
    shown = ordered[:12]
    more = f" (and {len(ordered) - len(shown)} more)" if len(ordered) > len(shown) else ""
    return "available: " + ", ".join(shown) + more
