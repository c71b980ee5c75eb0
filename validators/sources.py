"""Source documents an agent was given, loaded once and indexed lazily for the checks that need them."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from prefect_review_gate.validators.errors import InputError, SourceError
from prefect_review_gate.validators.text import (
    NumberToken,
    UrlToken,
    find_numbers,
    find_urls,
    normalize_passage,
)

__all__ = ["SourceDocument", "SourceLibrary", "read_text_file"]

_ID = re.compile(r"[A-Za-z0-9._-]+")


def read_text_file(path: Path, what: str) -> str:
    """Read a UTF-8 text file the way the validate contract counts offsets, or raise `InputError`.

    Universal newlines are kept on purpose: offsets are Python str offsets of `open(p).read()`.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None
    if b"\x00" in raw:
        raise InputError(f"{what} {path} is a binary file, not text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path} is not UTF-8 text (bad byte at offset {exc.start})") from None
    # Same newline translation as open(path, encoding="utf-8").read().
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(eq=False)
class SourceDocument:
    """One source: its id (file name without extension) and its text. Indexes are built on first use."""

    id: str
    text: str
    path: Path | None = None

    @cached_property
    def normalized(self) -> str:
        return normalize_passage(self.text)

    @cached_property
    def numbers(self) -> list[NumberToken]:
        return find_numbers(self.text)

    @cached_property
    def number_keys(self) -> tuple[set[tuple[str, str]], set[str]]:
        """(digits, unit) pairs for percentages and multipliers, and the digits of every number."""
        keyed = {(n.digits, n.unit) for n in self.numbers if n.unit}
        plain = {n.digits for n in self.numbers}
        return keyed, plain

    @cached_property
    def urls(self) -> list[UrlToken]:
        return find_urls(self.text)


@dataclass(eq=False)
class SourceLibrary(Mapping[str, SourceDocument]):
    """The sources of one validation, by id."""

    documents: dict[str, SourceDocument] = field(default_factory=dict)

    @classmethod
    def from_texts(cls, texts: Mapping[str, str]) -> SourceLibrary:
        return cls({sid: SourceDocument(sid, text) for sid, text in texts.items()})

    @classmethod
    def from_folder(cls, folder: Path | str) -> SourceLibrary:
        """Load every text or markdown file of `folder` (not recursive; dot-files are skipped).

        Raises:
            SourceError: the folder is missing or empty, a file is binary or not UTF-8, or two files
                share an id.
        """
        folder = Path(folder)
        if not folder.exists():
            raise SourceError(f"sources folder {folder} does not exist")
        if not folder.is_dir():
            raise SourceError(f"sources {folder} is a file, not a folder")
        documents: dict[str, SourceDocument] = {}
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            sid = path.stem
            if not _ID.fullmatch(sid):
                raise SourceError(f"source file {path.name} has no usable id (letters, digits, . _ - only)")
            if sid in documents:
                raise SourceError(f"two source files share the id {sid!r}: rename one of them")
            text = read_text_file(path, "source file")
            documents[sid] = SourceDocument(sid, text, path)
        if not documents:
            raise SourceError(f"sources folder {folder} holds no source files")
        return cls(documents)

    def __getitem__(self, key: str) -> SourceDocument:
        return self.documents[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.documents)

    def __len__(self) -> int:
        return len(self.documents)

    @cached_property
    def url_keys(self) -> dict[str, tuple[str, str]]:
        """Every source URL's comparison key -> (source id, URL as written)."""
        keys: dict[str, tuple[str, str]] = {}
        for doc in self.documents.values():
            for url in doc.urls:
                keys.setdefault(url.key, (doc.id, url.text))
        return keys

    @cached_property
    def url_prefixes(self) -> frozenset[str]:
        """Every source URL cut at each '/', '?' and '#': a draft may cite a page's site or section."""
        prefixes = set(self.url_keys)
        for key in self.url_keys:
            scheme_end = key.find("://") + 3
            for i in range(scheme_end, len(key)):
                if key[i] in "/?#":
                    prefixes.add(key[:i])
        return frozenset(prefixes)
