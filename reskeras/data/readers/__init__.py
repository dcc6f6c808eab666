"""Readers: one module per file format (IDX, CIFAR pickles, CSV/TSV tables, images, tfds)."""
