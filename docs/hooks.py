"""MkDocs hook: put bench/README.md and CONTRIBUTING.md on the site, and keep repository links.

The Markdown files link to each other by their paths in the repository (``../bench/README.md``
from a docs page, ``docs/training.md`` from CONTRIBUTING.md), so the links work when the files
are read in the repository. MkDocs only knows files under ``docs/``: this hook adds the two
files outside it as site pages (``benchmarks.md`` and ``contributing.md``) and rewrites every
relative link whose target is one of them, or a docs page seen from outside ``docs/``, to the
site page. Links it cannot map are left alone, so ``mkdocs build --strict`` still reports them.

The docstrings use Sphinx roles (``:class:`~reskeras.data.spec.TaskSpec` ``), which Markdown
renders as a literal ``:class:`` before the code; the API pages turn each into an optional
cross-reference instead (a link where mkdocstrings knows the name, plain code otherwise).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

#: Repository files outside docs/ that become site pages: repository path -> site path.
EXTRA_PAGES = {"bench/README.md": "benchmarks.md", "CONTRIBUTING.md": "contributing.md"}

# [text](target) and [text](target "title"); not images' data URIs, not absolute URLs.
_LINK = re.compile(r"(\]\()([^)\s#]*)(#[^)\s]*)?((?:\s+\"[^\"]*\")?\))")
_REPO_PATH: dict[str, str] = {}  # site path -> repository path, for every page
# :role:`name` as Markdown renders it: ":role:<code>name</code>" ("~" shows the last part only).
_ROLE = re.compile(
    r":(?:py:)?(?:mod|class|func|meth|attr|data|exc|obj|const):<code>(~?)([\w.]+?)(\(\))?</code>"
)


def on_files(files, config):
    root = Path(config["config_file_path"]).parent
    for repo_path, site_path in EXTRA_PAGES.items():
        source = root / repo_path
        if source.exists():
            files.append(File.generated(config, site_path, content=source.read_text("utf-8")))
            _REPO_PATH[site_path] = repo_path
    return files


def _site_target(repo_target: str) -> str | None:
    if repo_target in EXTRA_PAGES:
        return EXTRA_PAGES[repo_target]
    if repo_target.startswith("docs/"):
        return repo_target[len("docs/") :]
    return None


def on_page_markdown(markdown, page, config, files):
    site_path = page.file.src_uri
    repo_path = _REPO_PATH.get(site_path, f"docs/{site_path}")
    repo_dir, site_dir = posixpath.dirname(repo_path), posixpath.dirname(site_path)

    def rewrite(match: re.Match) -> str:
        target = match.group(2)
        if not target or ":" in target or target.startswith("/"):
            return match.group(0)
        repo_target = posixpath.normpath(posixpath.join(repo_dir, target))
        site_target = _site_target(repo_target)
        if site_target is None:
            return match.group(0)
        relative = posixpath.relpath(site_target, site_dir or ".")
        return f"{match.group(1)}{relative}{match.group(3) or ''}{match.group(4)}"

    return _LINK.sub(rewrite, markdown)


def on_page_content(html, page, config, files):
    def autoref(match: re.Match) -> str:
        identifier = match.group(2)
        shown = identifier.rsplit(".", 1)[-1] if match.group(1) else identifier
        return f'<autoref identifier="{identifier}" optional><code>{shown}{match.group(3) or ""}</code></autoref>'

    return _ROLE.sub(autoref, html)
