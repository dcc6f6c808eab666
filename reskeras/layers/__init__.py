"""Layers: normalization, residual image blocks, conv helpers, sequence and transformer blocks."""
