"""Results in input order from work finished in any order, with a bound on the work in flight.

``concurrent.futures``' own ``map`` reads its whole input before the first result comes back, which for
pages means every page of a document opened at once; here the next item is only read once fewer than
``limit`` are in flight, so memory follows the bound, not the input's length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def in_order(
    items: Iterable[T],
    submit: Callable[[T], Future[R] | None],
    limit: int,
    drop: Callable[[T], None],
) -> Iterator[tuple[T, R | None]]:
    """``(item, result)`` for each item, in the items' order.

    ``submit`` starts an item's work and returns its future, or None for an item that needs no work (a
    marker: it keeps its place and comes back with None). At most ``limit`` submitted items are
    unfinished or not yet handed out. When the iteration ends early (the consumer stops, an exception, a
    Ctrl-C), items not yet handed out are cancelled or waited for, so that nothing they use is freed under
    a running worker, and then passed to ``drop``.
    """
    limit = max(1, limit)
    pending: deque[tuple[T, Future[R] | None]] = deque()
    busy = 0
    try:
        for item in items:
            future = submit(item)
            pending.append((item, future))
            busy += future is not None
            while pending and (pending[0][1] is None or busy >= limit):
                # The head leaves the queue only once its result is in hand: if waiting for it is
                # interrupted, it is still there to be dropped.
                head, head_future = pending[0]
                result = None if head_future is None else head_future.result()
                pending.popleft()
                busy -= head_future is not None
                yield head, result
        while pending:
            head, head_future = pending[0]
            result = None if head_future is None else head_future.result()
            pending.popleft()
            yield head, result
    finally:
        # Work not started is cancelled; work already running is waited for. (A cancelled future is only
        # "done" for ``wait`` once its executor has seen the cancellation, so it is not waited on.)
        running = [future for _, future in pending if future is not None and not future.cancel()]
        wait(running)
        while pending:
            drop(pending.popleft()[0])
