"""A PEP 503 simple index in a folder: what `release.publish` copies artifacts into.

    <index>/index.html                  one link per project
    <index>/<project>/index.html        one link per file, with its #sha256= fragment
    <index>/<project>/<file>

pip installs from it offline: `pip install --index-url file:///path/to/index <project>`. Files are
copied once and never overwritten; the two pages are rewritten from the folder's contents each time,
so they are whatever the files are, however many commits wrote them.
"""

from __future__ import annotations

import html
import os
import re
import shutil
from pathlib import Path

from prefect_review_gate.validators.workspace import file_sha256

__all__ = ["IndexConflict", "add_file", "normalize"]


class IndexConflict(Exception):
    """The index already holds a file of that name with other content."""


def normalize(project: str) -> str:
    """The project's name as PEP 503 spells its folder."""
    return re.sub(r"[-_.]+", "-", project).lower()


def add_file(index: Path, project: str, source: Path, sha256: str, tag: str) -> tuple[Path, bool]:
    """Copy `source` into `index` under `project` unless it is there; (its path, whether it was copied).

    Args:
        sha256: the file's digest, as approved; an existing copy must have it.
        tag: unique per attempt (the idempotency key's digest): names the partial file.

    Raises:
        IndexConflict: a file of that name with another digest is already published.
    """
    folder = index / normalize(project)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    copied = False
    if target.exists():
        if file_sha256(target) != sha256:
            raise IndexConflict(f"{target} is already published with other content")
    else:
        partial = folder / f".{source.name}.{tag}.partial"
        shutil.copyfile(source, partial)
        os.replace(partial, target)  # readers see the whole file or none of it
        copied = True
    _write_page(folder, [p for p in sorted(folder.iterdir()) if _published(p)], tag, hashes=True)
    _write_page(index, [p for p in sorted(index.iterdir()) if p.is_dir()], tag, hashes=False)
    return target, copied


def _published(path: Path) -> bool:
    return path.is_file() and path.name != "index.html" and not path.name.startswith(".")


def _write_page(folder: Path, entries: list[Path], tag: str, *, hashes: bool) -> None:
    links = []
    for entry in entries:
        href = entry.name + ("/" if entry.is_dir() else "")
        if hashes:
            href += f"#sha256={file_sha256(entry)}"
        links.append(f'    <a href="{html.escape(href)}">{html.escape(entry.name)}</a><br>')
    page = "\n".join(["<!DOCTYPE html>", "<html>", "  <body>", *links, "  </body>", "</html>", ""])
    partial = folder / f".index.html.{tag}.partial"  # two releases publishing at once never share it
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, folder / "index.html")
