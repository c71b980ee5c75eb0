"""Reading a set that changes while it is read, through offset pages, without skipping any item.

The Prefect API pages its filters by offset over a stable order (an artifact collection's id) and
has no range filter to page by key. Items leave the set while the pages are read (reviews close),
and every later one moves up a place: pages read at plain offsets would skip items that were there
throughout. So each page starts `overlap` items before the end of the one before, and counts only
if it starts with an item of the pages before it. Then nothing present throughout lies between the
two, whenever each was read: a page is an unbroken stretch of the order at the moment it is read,
and the item both share ties the stretches together. That holds for pages read at the same time
too, so the pages a count of the set asks for are read concurrently and checked in order once all
have come; from the first page that fails the check (more items left than the overlap) or after
the last one when it is full (more came), pages are read one at a time, each failure reading the
page before it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

__all__ = ["read_pages"]

T = TypeVar("T")
_LOG = logging.getLogger("prefect_review_gate.paging")


async def read_pages(
    read: Callable[[int], Awaitable[Sequence[T]]],
    key: Callable[[T], str],
    *,
    expected: int,
    page_size: int,
    overlap: int,
    concurrency: int = 4,
    max_rereads: int = 20,
) -> AsyncIterator[list[T]]:
    """Every item present throughout the reading, each once by `key`, a page at a time as they come.

    `read(offset)` reads the page of `page_size` items at `offset`; `expected` is how many items the
    set held just before (it says how many pages to read at once; any number is correct, just slower).
    Items that joined or left meanwhile may be listed too. After `max_rereads` failed checks the
    reading settles for what it has, as a set changing that fast has no stable listing, and says so
    (a warning: what it lists may miss items present throughout).
    """
    step = page_size - overlap
    extra_pages = max(0, -(-(expected - page_size + 1) // step))
    offsets = [n * step for n in range(1 + extra_pages)]
    limit = asyncio.Semaphore(concurrency)
    listed: set[str] = set()

    def new_items(batch: Sequence[T]) -> list[T]:
        fresh = [item for item in batch if key(item) not in listed]
        listed.update(key(item) for item in fresh)
        return fresh

    async def read_at(offset: int) -> tuple[int, Sequence[T]]:
        async with limit:
            return offset, await read(offset)

    fetched: dict[int, Sequence[T]] = {}
    reads = [asyncio.ensure_future(read_at(offset)) for offset in offsets]
    try:
        for arrival in asyncio.as_completed(reads):
            offset, batch = await arrival
            fetched[offset] = batch
            if fresh := new_items(batch):
                yield fresh
    finally:
        for pending in reads:
            # A read that failed after another's error was raised is not reported twice.
            if pending.done() and not pending.cancelled():
                pending.exception()
            pending.cancel()

    seen: set[str] = set()  # keys of the pages checked so far, an unbroken stretch from the start
    resume = offsets[-1] + step
    for offset in offsets:
        batch = fetched[offset]
        if offset and not _continues(batch, seen, key):
            resume = offset
            break
        seen.update(key(item) for item in batch)
        if len(batch) < page_size:
            return
    offset, rereads = resume, 0
    while True:
        batch = await read(offset)
        if offset and not _continues(batch, seen, key):
            if rereads < max_rereads:
                offset, rereads = max(0, offset - page_size), rereads + 1
                continue
            if rereads == max_rereads:  # once per listing
                rereads += 1
                _LOG.warning(
                    "The list changed faster than it could be read (%d pages read again); it may "
                    "miss items that stayed in it. List again.",
                    max_rereads,
                )
        seen.update(key(item) for item in batch)
        if fresh := new_items(batch):
            yield fresh
        if len(batch) < page_size:
            return
        offset += step


def _continues(batch: Sequence[T], seen: set[str], key: Callable[[T], str]) -> bool:
    """True when `batch` starts with an item already seen. An empty page after a full one does not:
    more items left than the overlap, and those that moved up past its offset would be skipped."""
    return bool(batch) and key(batch[0]) in seen
