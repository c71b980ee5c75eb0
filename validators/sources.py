"""Source documents an agent was given, loaded once and indexed lazily for the checks that need them."""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from prefect_review_gate.validators.errors import InputError, SourceError
from prefect_review_gate.validators.text import (
    NumberToken,
    UrlToken,
    find_numbers,
    first_number,
    normalize_passage,
    url_at,
    url_ends_or_continues_at,
)

__all__ = ["SourceDocument", "SourceLibrary", "lower_case", "read_text_file"]

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
    """One source: its id (file name without extension) and its text.

    Checks are driven by the draft's claims, not by indexing whole sources: a number is looked up
    with str.find and confirmed by tokenizing a few characters around each hit; a quote is found
    through its longest word and confirmed by normalizing a window around each hit. That keeps a
    validation proportional to what the draft claims, not to megabytes of sources.
    """

    id: str
    text: str
    path: Path | None = None
    _numbers_seen: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)
    # A quote is looked for in its source by the support, omission and speaker checks in turn.
    _quotes_seen: dict[tuple[str, str, tuple[str, ...], int], int] = field(default_factory=dict, repr=False)
    # Paragraphs and headings for the checks of support in context, built on first use.
    context_index: object | None = field(default=None, repr=False)
    # Every full date the text writes, as (position, (year, month, day)), read on first use.
    dates: list[tuple[int, tuple[int, int, int]]] | None = field(default=None, repr=False)

    @cached_property
    def lowered(self) -> str | None:
        """The text in lower case, or None when lowering changes its length (offsets would drift)."""
        lowered = lower_case(self.text)
        return lowered if len(lowered) == len(self.text) else None

    @cached_property
    def normalized(self) -> str:
        """The whole text normalized; only for texts whose lower case changes length."""
        return normalize_passage(self.text)

    @cached_property
    def numbers(self) -> list[NumberToken]:
        """Every number token; only evidence needs them all."""
        return find_numbers(self.text)

    def mentions_url(self, spellings: Sequence[str]) -> bool:
        """True when the text has this URL, or a longer one under it ('/', '?' or '#' follows)."""
        return any(_url_in(self.text, spelling) for spelling in spellings)

    def holds_number(self, number: NumberToken) -> bool:
        """True when the source states this number (a bare number matches any use of its digits)."""
        key = (number.digits, number.unit)
        if key not in self._numbers_seen:
            forms = _written_forms(number.digits, number.unit)
            self._numbers_seen[key] = any(self._number_at(form, number) >= 0 for form in forms)
        return self._numbers_seen[key]

    def number_positions(self, number: NumberToken, limit: int) -> list[int]:
        """Where the source states this number (at most `limit` places, first first)."""
        found: list[int] = []
        for form in _written_forms(number.digits, number.unit):
            position = self._number_at(form, number)
            while position >= 0 and len(found) < limit:
                found.append(position)
                position = self._number_at(form, number, position + 1)
        return sorted(set(found))

    def _number_at(self, form: str, number: NumberToken, start: int = 0) -> int:
        """The first position from `start` where `form` states the number, or -1."""
        text = self.text
        position = text.find(form, start)
        while position >= 0:
            # The token that holds this hit starts on it, or one character before (a currency sign).
            # Two tokens cannot both start there, so the window's first token is the only candidate.
            if not _inside_a_word(text, position):
                window_end = min(len(text), position + len(form) + 12)
                token = first_number(text, max(0, position - 1), window_end)
                if token is not None and token.start <= position and _states(token, number):
                    return position
            if _glued_to_letters(text, position, len(form)):
                return position
            position = text.find(form, position + 1)
        return -1

    def holds_verbatim(self, fragment: str) -> bool:
        """True when the lower-cased text holds the normalized `fragment` as is, at word boundaries
        (the first, one-scan step of `find_fragment`)."""
        return self.lowered is not None and find_word_aligned(self.lowered, fragment) >= 0

    def find_quote(self, fragment: str, anchor: str, words: Sequence[str], after: int = -1) -> int:
        """Approximate position of the normalized `fragment` in the text after `after`, or -1.

        See `find_fragment`.
        """
        lowered = self.lowered
        if lowered is None:
            # Lower-casing changes this text's length (a dotted İ, say): no lower-cased offsets, so
            # the whole normalized text is searched, its position standing in for the text's.
            return find_word_aligned(self.normalized, fragment, max(after + 1, 0))
        key = (fragment, anchor, tuple(words), after)
        if key not in self._quotes_seen:
            self._quotes_seen[key] = find_fragment(lowered, fragment, anchor, words, after)
        return self._quotes_seen[key]


def _inside_a_word(text: str, position: int) -> bool:
    """True when the character before `position` keeps a number that states these digits from
    starting there (or one character before): a letter, digit, '.', ',' or '_', but not a version's v.

    Settled without tokenizing, for the many hits of a short figure inside longer ones ('3' in
    '2023', '3.11', 'py3'). A letter or these marks fail the number pattern's look-behind and cannot
    start a number; a digit could, but that number also holds the digit before the hit, so its
    digits are longer than those looked for, or cut at a separator before them.
    """
    before = text[position - 1 : position]
    return before in ("_", ".", ",") or (before.isalnum() and before not in ("v", "V"))


def _glued_to_letters(text: str, position: int, length: int) -> bool:
    """True when the hit follows letters and ends where a number would ('RFC8878', 'Python3'): the
    source writes the figure glued to a name, which a draft writing 'RFC 8878' or 'Python 3' states.

    The number pattern never starts a token after a letter, so these are read here; a digit or a
    decimal part right after the hit means the source's figure is longer than the claim's, and a
    letter means a word or a digest ('a3f9'), not a figure.
    """
    if not text[position - 1 : position].isalpha():
        return False
    after = text[position + length : position + length + 2]
    return not (after[:1].isalnum() or after[:1] == "_" or (after[:1] in (".", ",") and after[1:2].isdigit()))


def _states(token: NumberToken, number: NumberToken) -> bool:
    """True when `token` in a source states `number` (a bare number matches any use of its digits)."""
    return token.digits == number.digits and (not number.unit or token.unit == number.unit)


def find_fragment(lowered: str, fragment: str, anchor: str, words: Sequence[str], after: int = -1) -> int:
    """Approximate position of a normalized quote fragment in a lower-cased text after `after`, or -1.

    Most quotes are copied as written, so the fragment is first looked for as is: one scan.
    Otherwise (a line break or markup in the source) each hit of `anchor`, the fragment's longest
    word, is checked in a window around it, normalized only when it holds every word at all.
    """
    verbatim = find_word_aligned(lowered, fragment, after + 1)
    if verbatim >= 0:
        return verbatim
    margin = 2 * len(fragment) + 300
    position = lowered.find(anchor, after + 1)
    while position >= 0:
        raw = lowered[max(0, position - margin) : position + margin]
        if all(word in raw for word in words) and find_word_aligned(normalize_passage(raw), fragment) >= 0:
            return position
        position = lowered.find(anchor, position + 1)
    return -1


_ASCII = bytes(range(128))


def lower_case(text: str) -> str:
    """`text.lower()`, several times faster on long texts that are mostly ASCII.

    str.lower looks every character up in the Unicode tables as soon as one is not ASCII (an emoji
    in a README is enough); bytes.lower only changes A-Z. The two agree whenever no non-ASCII
    character changes in lower case, which is checked on those characters alone.
    """
    if text.isascii():
        return text.lower()  # already the fast path
    raw = text.encode("utf-8", "surrogatepass")
    others = raw.translate(None, delete=_ASCII).decode("utf-8", "surrogatepass")
    # Lower case is per character except for capital sigma, which changes whatever its context:
    # if none of these characters changes alone, none changes in the text.
    if others.lower() != others:
        return text.lower()
    return raw.lower().decode("utf-8", "surrogatepass")


def _held_around_anchor(lowered: str, fragment: str, anchor: str, words: Sequence[str]) -> bool:
    """Whether `find_fragment(lowered, fragment, anchor, words)` finds the fragment, in one scan.

    find_fragment scans the text for the fragment as written, then, failing that, for its anchor.
    A copy as written holds the anchor and lies within the window around that hit, so it is looked
    for there (the text around the window still deciding word boundaries): one scan of 2 MB of
    sources instead of two, when only whether it is there matters.
    """
    margin = 2 * len(fragment) + 300
    position = lowered.find(anchor)
    while position >= 0:
        start, end = max(0, position - margin), position + margin
        raw = lowered[start:end]
        if all(word in raw for word in words):  # a copy, as written or not, holds every word
            if find_word_aligned(lowered, fragment, start, end) >= 0:
                return True
            if find_word_aligned(normalize_passage(raw), fragment) >= 0:
                return True
        position = lowered.find(anchor, position + 1)
    return False


def _written_forms(digits: str, unit: str) -> list[str]:
    """How a source may write these digits: as is, or with thousands separators; with its unit.

    Searching with the unit attached skips the many hits of '40' that are not '40%'.
    """
    whole, dot, decimals = digits.partition(".")
    forms = [digits]
    if len(whole) > 3 and whole.isdigit() and not decimals.count("."):
        grouped = f"{int(whole):,}"
        forms += [grouped.replace(",", sep) + dot + decimals for sep in ",\u00a0\u202f\u2009"]
    suffixes = _UNIT_SPELLINGS.get(unit, ("",))
    return [form + suffix for form in forms for suffix in suffixes]


_UNIT_SPELLINGS = {"%": ("%", " %", "\u00a0%", "\u202f%", " percent", "\u00a0percent"), "x": ("x", "\u00d7")}


def _url_in(text: str, spelling: str) -> bool:
    position = text.find(spelling)
    while position >= 0:
        if url_ends_or_continues_at(text, position + len(spelling)):
            return True
        position = text.find(spelling, position + 1)
    return False


def find_word_aligned(haystack: str, needle: str, start: int = 0, end: int | None = None) -> int:
    """Index of `needle` in `haystack[start:end]` at word boundaries (a word is never matched inside
    another; the characters around the match decide, even outside start:end)."""
    check_left = needle[:1].isalnum()
    check_right = needle[-1:].isalnum()
    index = haystack.find(needle, start, end)
    while index >= 0:
        left_ok = not check_left or index == 0 or not haystack[index - 1].isalnum()
        after = index + len(needle)
        right_ok = not check_right or after == len(haystack) or not haystack[after].isalnum()
        if left_ok and right_ok:
            return index
        index = haystack.find(needle, index + 1, end)
    return -1


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

    def __contains__(self, key: object) -> bool:
        # Mapping's default tries self[key] and catches KeyError: slow for every invented id.
        return key in self.documents

    @cached_property
    def _corpus(self) -> tuple[str | None, list[int], list[SourceDocument]]:
        """All texts lower-cased and joined, with where each starts: one str.find searches them all.

        None for the text when some source's lower case changes its length. The separator holds no
        word character, so no passage matches across two sources. Built only when a quote must be
        looked for in every source: lower-casing 2 MB of sources is a good part of a validation.
        """
        documents = list(self.documents.values())
        starts, position = [], 0
        for doc in documents:
            starts.append(position)
            position += len(doc.text) + len(_SEPARATOR)
        lowered_parts = [doc.lowered for doc in documents]
        lowered = None
        if all(part is not None for part in lowered_parts):
            lowered = _SEPARATOR.join(part for part in lowered_parts if part is not None)
        return lowered, starts, documents

    def documents_with(self, word: str) -> Iterator[SourceDocument]:
        """Sources whose lower-cased text contains `word` (lower-cased), in library order, lazily.

        Lazily, because the caller usually stops at the first source that holds what it looks for.
        """
        lowered, starts, documents = self._corpus
        if lowered is None:
            yield from documents
            return
        position = lowered.find(word)
        while position >= 0:
            index = bisect.bisect_right(starts, position) - 1
            yield documents[index]
            if index + 1 == len(starts):
                return
            position = lowered.find(word, starts[index + 1])  # one hit per source is enough

    def holds_fragment(self, fragment: str, anchor: str, words: Sequence[str]) -> bool | None:
        """Whether any source holds the quote fragment (see `find_fragment`), searching all at once.

        None when the sources cannot be searched lower-cased together; ask each source instead.
        """
        lowered = self._corpus[0]
        if lowered is None:
            return None
        return _held_around_anchor(lowered, fragment, anchor, words)

    # URLs are looked for source by source, as written: that needs no lower-cased or joined copy,
    # and a URL cannot run past the end of its source any more than past a separator.

    def knows_url(self, spellings: Sequence[str], first: Iterable[SourceDocument] = ()) -> bool:
        """True when some source has this URL or one under it; `first` (the likeliest) are tried first."""
        tried: set[str] = set()  # a set lookup is far cheaper than searching a source twice
        for doc in itertools.chain(first, self.documents.values()):
            if doc.id not in tried:
                tried.add(doc.id)
                if doc.mentions_url(spellings):
                    return True
        return False

    def urls_on(self, site: str, limit: int = 100) -> list[tuple[str, UrlToken]]:
        """(source id, URL in that source) of the first `limit` source URLs starting with `site` after
        the scheme, in library order."""
        found: list[tuple[str, UrlToken]] = []
        needle = "://" + site
        for doc in self.documents.values():
            position = doc.text.find(needle)
            while position >= 0 and len(found) < limit:
                url = url_at(doc.text, position)
                if url is not None:
                    found.append((doc.id, url))
                position = doc.text.find(needle, position + 3)
            if len(found) >= limit:
                break
        return found


_SEPARATOR = "\n\x00\n"
