"""Decoding: cached incremental steps through sequence models, sampling and scoring."""
