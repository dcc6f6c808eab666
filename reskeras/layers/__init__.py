"""Layers: normalization, residual image blocks, sequence and transformer blocks, output layers."""
