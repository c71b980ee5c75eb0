"""Reviews this process opened: no earlier process can have recorded anything about their actions.

`request_review` notes a review here when this process created its write-once opening input
(`ReviewStore.open_once`): no process before it opened the review, so none committed under its
keys. `commit` then skips what only an earlier process could have left: the pre-API ledger in
result storage (a lookup of the storage on the API, and two storage reads per action), and the
read of an action's records before its first claim (the claim's own 409 says whether one exists).

Every version that kept a ledger in result storage also wrote the opening input, so a review it
opened is never taken for fresh. Bounded: an id dropped from the oldest end only costs those
reads again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["note_opened_here", "opened_here"]

_LIMIT = 10_000
_opened: OrderedDict[str, None] = OrderedDict()
_lock = threading.Lock()  # flows may run on several threads of one process


def note_opened_here(review_id: str) -> None:
    with _lock:
        _opened[review_id] = None
        _opened.move_to_end(review_id)
        while len(_opened) > _LIMIT:
            _opened.popitem(last=False)


def opened_here(review_id: str) -> bool:
    with _lock:
        return review_id in _opened
