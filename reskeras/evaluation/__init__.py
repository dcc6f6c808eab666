"""Evaluation: scores of a run, reports to look at, gradient diagnostics, the collapse check."""
