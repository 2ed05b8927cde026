"""Deterministic nodes of the triage example: plain functions of the task data."""

from __future__ import annotations

from typing import Any


def normalize(data: dict[str, Any]) -> dict[str, Any]:
    """Trim ticket texts and count them."""
    tickets = [{**t, "text": str(t.get("text", "")).strip()} for t in data.get("tickets", [])]
    return {**data, "tickets": tickets, "count": len(tickets)}


def page_oncall(data: dict[str, Any]) -> dict[str, Any]:
    """Pretend to page the on-call engineer."""
    return {"paged": "oncall@example.com", "tickets": [t["id"] for t in data["tickets"]]}


def open_incident(data: dict[str, Any]) -> dict[str, Any]:
    """Pretend to open an incident."""
    return {"incident": f"INC-{sum(t['id'] for t in data['tickets']):04d}", "severity": 1}


def draft_reply(ticket: dict[str, Any]) -> dict[str, Any]:
    """Draft a canned reply for one ticket (runs once per ticket, concurrently)."""
    return {"id": ticket["id"], "reply": f"Thanks for ticket #{ticket['id']}; see the FAQ."}


def score(data: dict[str, Any]) -> dict[str, Any]:
    """Review loop: each revision scores 3 points higher."""
    return {**data, "score": data.get("score", 0) + 3}


def remember(board: dict[str, Any]) -> bool:
    """A tree action: note that a greeting was sent (returning True means success)."""
    board["greeted"] = True
    return True
