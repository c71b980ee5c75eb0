"""`paging.read_pages` over a real ordered set that loses and gains items while its pages are read.

The set is a sorted list served at offsets, as the Prefect API serves artifact collections by id;
items are removed or added between reads, in orders the test chooses. Whatever the order, every
item present from the first read to the last is listed, and none twice.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings, strategies as st

from prefect_review_gate.gates.paging import read_pages

pytestmark = pytest.mark.anyio

PAGE, OVERLAP = 200, 20


class ShrinkingSet:
    """Keys in a fixed order, read a page at a time; `after_read(n)` runs after the nth read."""

    def __init__(
        self, count: int, after_read: Callable[[ShrinkingSet, int, int], None] | None = None
    ) -> None:
        self.items = [f"k{number:05d}" for number in range(count)]
        self.after_read = after_read
        self.reads: list[int] = []
        self.removed: set[str] = set()
        self.added: set[str] = set()

    async def read(self, offset: int) -> list[str]:
        await asyncio.sleep(0)
        batch = self.items[offset : offset + PAGE]
        self.reads.append(offset)
        if self.after_read:
            self.after_read(self, len(self.reads), offset)
        return batch

    def remove(self, keys: list[str]) -> None:
        self.removed.update(keys)
        self.items = [k for k in self.items if k not in set(keys)]

    def add(self, keys: list[str]) -> None:
        self.added.update(keys)
        self.items = sorted([*self.items, *keys])

    def throughout(self, first: list[str]) -> set[str]:
        return set(first) - self.removed


async def _list(items: ShrinkingSet, expected: int) -> list[str]:
    found: list[str] = []
    async for page in read_pages(items.read, str, expected=expected, page_size=PAGE, overlap=OVERLAP):
        found += page
    return found


async def test_every_item_of_a_still_set_is_listed_once_in_pages_read_at_once() -> None:
    items = ShrinkingSet(1000)
    found = await _list(items, expected=1000)
    assert sorted(found) == items.items
    assert sorted(items.reads) == [0, 180, 360, 540, 720, 900]


async def test_more_items_leaving_than_the_overlap_are_read_again_not_skipped() -> None:
    def close_after_first(items: ShrinkingSet, reads: int, offset: int) -> None:
        if reads == 1:  # 50 of the first page leave before any other page is read
            items.remove(items.items[offset + 10 : offset + 60])

    items = ShrinkingSet(1000, close_after_first)
    first = list(items.items)
    found = await _list(items, expected=1000)
    assert len(found) == len(set(found))
    assert items.throughout(first) <= set(found)


async def test_a_page_left_empty_by_closings_is_read_again_not_taken_for_the_end() -> None:
    # 230 items: pages at 0 and 180. After the first, 50 of it leave: the page at 180 is empty,
    # and the 30 items that were at 200-229 now sit at 150-179, on no page read so far.
    def close_after_first(items: ShrinkingSet, reads: int, offset: int) -> None:
        if reads == 1:
            items.remove(items.items[:50])

    items = ShrinkingSet(230, close_after_first)
    first = list(items.items)
    found = await _list(items, expected=230)
    assert items.throughout(first) <= set(found)
    assert {f"k{n:05d}" for n in range(200, 230)} <= set(found)


async def test_a_set_changing_faster_than_its_rereads_is_listed_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every read after the first page, 50 items leave from its start: no page ever continues one seen.
    def close_always(items: ShrinkingSet, reads: int, offset: int) -> None:
        items.remove(items.items[:50])

    items = ShrinkingSet(2000, close_always)
    found: list[str] = []
    pages = read_pages(items.read, str, expected=2000, page_size=PAGE, overlap=OVERLAP, max_rereads=3)
    async for page in pages:
        found += page
    assert len(found) == len(set(found))
    warnings = [r for r in caplog.records if r.name == "prefect_review_gate.paging"]
    assert len(warnings) == 1 and "may miss items" in warnings[0].getMessage()


async def test_more_items_than_expected_are_read_on_one_page_at_a_time() -> None:
    items = ShrinkingSet(650)
    found = await _list(items, expected=300)
    assert sorted(found) == items.items


async def test_a_stale_count_larger_than_the_set_only_reads_empty_pages() -> None:
    items = ShrinkingSet(150)
    found = await _list(items, expected=900)
    assert sorted(found) == items.items


async def test_an_error_on_one_page_is_raised_and_the_other_reads_stop() -> None:
    started: list[int] = []

    async def read(offset: int) -> list[str]:
        started.append(offset)
        if offset == 180:
            raise OSError("the server went away")
        await asyncio.sleep(0.05)
        return [f"k{n:05d}" for n in range(offset, offset + PAGE)]

    with pytest.raises(OSError, match="went away"):
        async for _ in read_pages(read, str, expected=1000, page_size=PAGE, overlap=OVERLAP):
            pass
    assert 900 not in started  # four at a time, and the last was never sent


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(0, 900),
    expected_error=st.integers(-300, 300),
    seed=st.integers(0, 2**32 - 1),
    churn=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 30)), max_size=12),
)
def test_whatever_leaves_or_joins_between_reads_none_present_throughout_is_skipped(
    count: int, expected_error: int, seed: int, churn: list[tuple[int, int]]
) -> None:
    rng = random.Random(seed)
    fresh = iter(f"n{rng.randrange(10**9):09d}-{n}" for n in range(10**6))

    def shuffle(items: ShrinkingSet, reads: int, offset: int) -> None:
        if reads <= len(churn):
            leave, join = churn[reads - 1]
            items.remove(rng.sample(items.items, min(leave, len(items.items))))
            items.add([next(fresh) for _ in range(join)])

    items = ShrinkingSet(count, shuffle)
    first = list(items.items)
    found = asyncio.run(_list(items, expected=max(0, count + expected_error)))
    assert len(found) == len(set(found))
    assert items.throughout(first) <= set(found)
