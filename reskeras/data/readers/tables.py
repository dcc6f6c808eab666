"""Reader of labelled text tables: CSV or TSV files, one file or train/test files."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reskeras.data.spec import (
    DataError,
    LoadedTask,
    LoadOptions,
    Reader,
    TaskSpec,
    TestSet,
    from_arrays,
    infer_class_names,
    is_int,
    make_test_set,
    match_labels,
    split_indices,
)

__all__ = ["LABEL_COLUMN_NAMES", "TEXT_COLUMN_NAMES", "TableReader"]

TEXT_COLUMN_NAMES = ("sentence", "text", "review", "description", "content")
LABEL_COLUMN_NAMES = ("label", "labels", "class", "target")
_CSV_FIELD_LIMIT = 1 << 24

_SPLIT_FILE_PAIRS = (
    ("train.tsv", "dev.tsv"),
    ("train.tsv", "test.tsv"),
    ("train.csv", "test.csv"),
    ("train.csv", "dev.csv"),
    ("train.tsv", "validation.tsv"),
    ("train.csv", "validation.csv"),
)


def _find_split_files(directory: Path) -> tuple[Path, Path] | None:
    if not directory.is_dir():
        return None
    for train, test in _SPLIT_FILE_PAIRS:
        if (directory / train).is_file() and (directory / test).is_file():
            return directory / train, directory / test
    return None


@dataclass
class _Table:
    path: Path
    header: list[str] | None
    rows: list[list[str]]
    lines: list[int]  # the 1-based file line each row ends on

    def where(self, i: int) -> str:
        return f"{str(self.path)!r} line {self.lines[i]}"


def _read_table(path: Path, wanted: Sequence[Any] = (None, None)) -> _Table:
    """Parse CSV/TSV; ``wanted`` = (text_column, label_column) as given by the user."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"text file {str(path)!r} is not UTF-8 ({e.reason})") from None
    except OSError as e:
        raise DataError(f"cannot read text file {str(path)!r}: {e}") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise DataError(f"text file {str(path)!r} is empty")
    sample = "\n".join(lines[:50])
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        delimiter = "\t"
    elif suffix == ".csv":
        delimiter = ","
    else:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
        except csv.Error:
            delimiter = "\t" if "\t" in lines[0] else ","
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    rows, row_lines = [], []
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quoting=quoting)
    try:
        for row in reader:
            if any(c.strip() for c in row):  # blank lines are not rows
                rows.append(row)
                row_lines.append(reader.line_num)
    except csv.Error as e:
        raise DataError(
            f"cannot parse {str(path)!r} line {reader.line_num} as delimited text: {e}"
        ) from None
    first = [c.strip() for c in rows[0]]
    known = {n.lower() for n in TEXT_COLUMN_NAMES + LABEL_COLUMN_NAMES}
    known |= {str(c).lower() for c in wanted if isinstance(c, str) and not c.strip().isdigit()}
    has_header = any(c.lower() in known for c in first)
    if not has_header and len(rows) > 1:
        # No known names: a header iff the label column holds ints except in the first row.
        label_idx = next((int(c) for c in wanted[1:] if is_int(str(c))), 1)
        values = [r[label_idx].strip() for r in rows[1:51] if len(r) > label_idx]
        has_header = (
            len(first) > label_idx
            and not is_int(first[label_idx])
            and bool(values)
            and all(is_int(v) for v in values)
        )
    if has_header:
        return _Table(path, first, rows[1:], row_lines[1:])
    return _Table(path, None, rows, row_lines)


def _column_index(
    table: _Table, col: str | int | None, defaults: Sequence[str], fallback: int, what: str
) -> int:
    ncols = max((len(r) for r in table.rows), default=len(table.header or []))
    if table.header is not None:
        ncols = max(ncols, len(table.header))
    cols = table.header if table.header is not None else [str(i) for i in range(ncols)]
    listing = ", ".join(f"{i}:{c}" if table.header is not None else c for i, c in enumerate(cols))
    if col is None:
        if table.header is not None:
            lowered = [c.lower() for c in table.header]
            for name in defaults:
                if name in lowered:
                    return lowered.index(name)
        idx = fallback
    elif isinstance(col, int | np.integer) or (isinstance(col, str) and col.strip().isdigit()):
        idx = int(col)
    else:
        lowered = [c.lower() for c in (table.header or [])]
        if col.lower() not in lowered:
            raise DataError(
                f"{what} column {col!r} not found in {str(table.path)!r}; columns: {listing}"
                + ("" if table.header is not None else " (the file has no header row)")
            )
        return lowered.index(col.lower())
    if not 0 <= idx < ncols:
        raise DataError(
            f"{what} column {col if col is not None else idx!r} not found in "
            f"{str(table.path)!r}; columns: {listing}"
        )
    return idx


def _text_columns(table: _Table, opts: LoadOptions) -> tuple[list[str], list[str]]:
    t_idx = _column_index(table, opts.text_column, TEXT_COLUMN_NAMES, 0, "text")
    l_idx = _column_index(table, opts.label_column, LABEL_COLUMN_NAMES, 1, "label")
    if t_idx == l_idx:
        raise DataError(f"text and label columns are both column {t_idx} in {str(table.path)!r}")
    texts, labels = [], []
    for i, row in enumerate(table.rows):
        if len(row) <= max(t_idx, l_idx) or not row[l_idx].strip():
            raise DataError(
                f"{table.where(i)}: label column {l_idx} is missing (row has {len(row)} column(s))"
            )
        texts.append(row[t_idx])
        labels.append(row[l_idx].strip())
    if not texts:
        raise DataError(f"text file {str(table.path)!r} has a header but no rows")
    return texts, labels


def _split_files(spec: TaskSpec, path: Path) -> tuple[Path, Path] | Path:
    """The (train, test) files of a text directory, or its only CSV/TSV file."""
    pair = _find_split_files(path)
    if pair is not None:
        return pair
    files = [p.name for p in path.iterdir() if p.suffix.lower() in (".csv", ".tsv")]
    if len(files) == 1:
        return path / files[0]
    raise DataError(
        f"{spec.name}: directory {str(path)!r} has no train.tsv+dev.tsv or "
        f"train.csv+test.csv (found: {', '.join(sorted(files)) or 'no CSV/TSV files'})"
    )


def _read_text_table(path: Path, opts: LoadOptions) -> tuple[_Table, list[str], list[str]]:
    table = _read_table(path, (opts.text_column, opts.label_column))
    texts, labels = _text_columns(table, opts)
    return table, texts, labels


def _load_text(spec: TaskSpec, path: Path, opts: LoadOptions) -> LoadedTask:
    files = _split_files(spec, path) if path.is_dir() else path
    if isinstance(files, Path):
        table, texts, labels = _read_text_table(files, opts)
        names = list(spec.class_names or infer_class_names(labels, files))
        x = np.array(texts, dtype=object)
        y = match_labels(labels, names, table.where, prefix=spec.name)
        tr, te = split_indices(len(y), opts.validation_split, opts.seed)
        source = opts.split_note(files)
        return _text_dataset(spec, names, (x[tr], y[tr]), (x[te], y[te]), source)
    parts = [_read_text_table(f, opts) for f in files]
    names = list(spec.class_names or infer_class_names(parts[0][2] + parts[1][2], path))
    train, test = (
        (np.array(texts, dtype=object), match_labels(labels, names, t.where, prefix=spec.name))
        for t, texts, labels in parts
    )
    return _text_dataset(spec, names, train, test, f"{files[0]} + {files[1].name}")


def _text_dataset(
    spec: TaskSpec,
    class_names: list[str],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    source: str,
) -> LoadedTask:
    if spec.class_names is None:
        spec = dataclasses.replace(spec, class_names=tuple(class_names))
    return from_arrays(spec, class_names, train, test, source)


class TableReader(Reader):
    """A CSV/TSV file (a seeded validation split becomes the test split) or a directory with
    ``train.tsv`` + ``dev.tsv`` (or ``test.tsv``, ``train.csv`` + ``test.csv`` ...)."""

    name = "table"

    def usable(self, path: Path) -> bool:
        """Whether ``path`` is a file or a directory with a train/test pair of files.

        Args:
            path: a local copy.
        """
        return path.is_file() or _find_split_files(path) is not None

    def load(self, spec: TaskSpec, path: Path, opts: LoadOptions) -> LoadedTask:
        """The texts and labels of one file (split by ``opts``) or of a train/test pair.

        Args:
            spec: the task; without classes (``text_file``) they are inferred from the labels.
            path: a CSV/TSV file, or a directory of train/test files (or of one file).
            opts: the text and label columns, ``validation_split`` and ``seed``.

        Raises:
            DataError: the files are missing or unreadable, a column is not found, or a label
                is not one of the task's classes.
        """
        return _load_text(spec, path, opts)

    def test_set(
        self,
        spec: TaskSpec,
        path: Path,
        class_names: list[str],
        input_shape: Sequence[int] | None,
        opts: LoadOptions,
    ) -> TestSet:
        """Every row of a file (or of a directory's test file), with a run's classes.

        Args:
            spec: the task.
            path: a CSV/TSV file, or a directory of train/test files.
            class_names: the run's classes; labels are matched to them.
            input_shape: unused.
            opts: the text and label columns.

        Raises:
            DataError: the file is unreadable, a column is not found, or a label is not one
                of ``class_names``.
        """
        files = _split_files(spec, path) if path.is_dir() else path
        file = files if isinstance(files, Path) else files[1]
        table, texts, labels = _read_text_table(file, opts)
        y = match_labels(labels, class_names, table.where, prefix=spec.name)
        x = np.array(texts, dtype=object)
        return make_test_set(x, y, class_names, f"{file} (all {len(y)} rows)")
