"""Metrics and structured logs. Both observe events; neither can change a run."""
