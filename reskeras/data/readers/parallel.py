"""Reader of parallel text for translation: line i of the source translates line i of the
target.

Three layouts:

- a **folder** of ``SPLIT.LANG`` files (``train.de.gz``/``train.en.gz``, ``val.de``/``val.en``,
  ``test.de``/``test.en``; plain or gzip), the Multi30k and WMT layout;
- a **source file** whose name ends in its language (``news.de``, ``news.de.gz``), the target
  being the one sibling with the same stem in another language (``news.en``);
- a **two-column TSV** (source, target), a pair a line.

The direction comes from the ``languages`` option (``("de", "en")``), else the task's, else
the file names when they leave one choice. Splits without their own files are held out of the
training pairs' tail (``validation_split`` of them); without a test split, the test split is the
validation split. The splits are datasets of ``(source, target)`` strings; subword ids are made
by the run (:mod:`reskeras.data.subword`).
"""

from __future__ import annotations

import re
from pathlib import Path

import tensorflow as tf

from reskeras.data.corpus import read_lines, split_tail
from reskeras.data.spec import DataError, LoadedTask, LoadOptions, Reader, TaskSpec

__all__ = ["ParallelReader", "check_parallel"]

#: The names a split's files may start with in a folder (``train.de``, ``valid.en.gz`` ...).
SPLIT_NAMES = {
    "train": ("train",),
    "validation": ("val", "valid", "validation", "dev"),
    "test": ("test",),
}
_LANG = re.compile(
    r"^(?P<stem>.+?)\.(?!(?:gz|txt|tsv|csv|raw)$)(?P<lang>[A-Za-z]{2,3}(?:[-_][A-Za-z]{2,4})?)(?:\.gz)?$"
)


def _language_files(folder: Path, stem: str) -> dict[str, Path]:
    """``{lang: file}`` of the files ``STEM.LANG[.gz]`` in ``folder``."""
    found = {}
    for f in sorted(folder.iterdir()):
        m = _LANG.match(f.name)
        if f.is_file() and m and m["stem"] == stem:
            found[m["lang"]] = f
    return found


def _direction(found: dict[str, Path], opts: LoadOptions, spec: TaskSpec, where: Path):
    languages = opts.languages or spec.languages
    if languages is not None:
        missing = [lang for lang in languages if lang not in found]
        if missing:
            raise DataError(
                f"{where}: no {', '.join(missing)} file (found languages: "
                f"{', '.join(found) or 'none'}); name files like train.{languages[0]}.gz"
            )
        return languages
    if len(found) != 2:
        raise DataError(
            f"{where}: found languages {sorted(found) or 'none'}; give the direction with "
            "languages='SRC-TGT' (--languages de-en)"
        )
    raise DataError(
        f"{where} holds {' and '.join(sorted(found))}: say which way to translate with "
        f"languages='{'-'.join(sorted(found))}' or '{'-'.join(sorted(found, reverse=True))}' "
        "(--languages)"
    )


def check_parallel(source: list[str], target: list[str], source_name: str, target_name: str):
    """Fails in one line when two sides do not pair up line for line.

    Args:
        source: the source lines.
        target: the target lines.
        source_name: the source's name for the message.
        target_name: the target's name for the message.

    Raises:
        DataError: unequal line counts (with the first line that has no partner, and the
            first line where one side is empty and the other is not: where they drift).
    """
    if len(source) == len(target):
        return
    drift = next(
        (
            i + 1
            for i, (s, t) in enumerate(zip(source, target, strict=False))
            if bool(s.strip()) != bool(t.strip())
        ),
        None,
    )
    where = f"; the sides first disagree about an empty line at line {drift}" if drift else ""
    raise DataError(
        f"{source_name} has {len(source):,} lines but {target_name} has {len(target):,}: "
        f"line {min(len(source), len(target)) + 1:,} has no partner{where}"
    )


def _pairs_of(source: Path, target: Path) -> list[tuple[str, str]]:
    src, tgt = read_lines(source), read_lines(target)
    check_parallel(src, tgt, str(source), str(target))
    return list(zip(src, tgt, strict=True))


def _tsv_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(read_lines(path), 1):
        cells = line.split("\t")
        if len(cells) != 2:
            raise DataError(
                f"{path} line {number}: {len(cells)} tab-separated columns; a translation TSV "
                "has two (source, target)"
            )
        pairs.append((cells[0], cells[1]))
    return pairs


def _dataset(pairs: list[tuple[str, str]]) -> tf.data.Dataset:
    sources = tf.constant([s for s, _ in pairs] or [""], dtype=tf.string)[: len(pairs)]
    targets = tf.constant([t for _, t in pairs] or [""], dtype=tf.string)[: len(pairs)]
    return tf.data.Dataset.from_tensor_slices((sources, targets))


class ParallelReader(Reader):
    """Reads translation pairs (see the module docstring)."""

    name = "parallel"

    def usable(self, path: Path) -> bool:
        """Whether ``path`` is a folder with ``train.LANG`` files.

        Args:
            path: a local copy's location.
        """
        return path.is_dir() and len(_language_files(path, "train")) >= 2

    def load(self, spec: TaskSpec, path: Path, opts: LoadOptions) -> LoadedTask:
        """The train, validation and test pairs at ``path``.

        Args:
            spec: the task.
            path: a folder, a source file or a TSV file.
            opts: ``languages`` (source, target) and ``validation_split``, the share of
                pairs held out when there is no validation file.

        Returns:
            The loaded task; its splits are datasets of ``(source, target)`` strings.

        Raises:
            DataError: the files are missing, empty, not UTF-8, or do not pair up.
        """
        splits: dict[str, list[tuple[str, str]]] = {}
        names: dict[str, str] = {}
        if path.is_dir():
            languages = _direction(_language_files(path, "train"), opts, spec, path)
            for split, stems in SPLIT_NAMES.items():
                for stem in stems:
                    found = _language_files(path, stem)
                    if all(lang in found for lang in languages):
                        src, tgt = (found[lang] for lang in languages)
                        splits[split], names[split] = _pairs_of(src, tgt), f"{src} -> {tgt.name}"
                        break
        elif path.name.endswith((".tsv", ".tsv.gz")):
            languages = opts.languages or spec.languages or ("src", "tgt")
            splits["train"], names["train"] = _tsv_pairs(path), str(path)
        else:
            m = _LANG.match(path.name)
            if m is None:
                raise DataError(
                    f"{path}: a translation source file ends in its language (news.de, "
                    "news.de.gz) beside its target (news.en); or pass a folder or a .tsv"
                )
            found = _language_files(path.parent, m["stem"])
            others = {lang: f for lang, f in found.items() if lang != m["lang"]}
            languages = opts.languages or spec.languages
            if languages is None:
                if len(others) != 1:
                    raise DataError(
                        f"{path}: found targets in {sorted(others) or 'no language'} beside it "
                        f"({m['stem']}.LANG[.gz]); name one with languages='{m['lang']}-LANG'"
                    )
                languages = (m["lang"], next(iter(others)))
            if languages[0] != m["lang"] or languages[1] not in found:
                raise DataError(
                    f"{path} is {m['lang']} text, but languages={'-'.join(languages)} and "
                    f"the files beside it are in {', '.join(sorted(found))}"
                )
            target = found[languages[1]]
            splits["train"], names["train"] = _pairs_of(path, target), f"{path} -> {target.name}"
        if "train" not in splits:
            raise DataError(f"{path}: no train.{languages[0]} / train.{languages[1]} files")
        if "validation" not in splits:
            splits["train"], splits["validation"] = split_tail(
                splits["train"], opts.validation_split
            )
            names["validation"] = (
                f"the last {len(splits['validation']):,} pairs of {names['train']}"
            )
        test_own = "test" in splits
        splits.setdefault("test", splits["validation"])
        source = names["test"] if test_own else f"{names['validation']} (test = validation)"
        return LoadedTask(
            spec=spec,
            class_names=[],
            train=_dataset(splits["train"]),
            test=_dataset(splits["test"]),
            num_train=len(splits["train"]),
            num_test=len(splits["test"]),
            source=source,
            validation=_dataset(splits["validation"]),
            num_validation=len(splits["validation"]),
            validation_source=names["validation"],
            languages=tuple(languages),
        )
