"""Page worker threads for one run: all started before the first page, all joined after the last.

``concurrent.futures.ThreadPoolExecutor`` starts its threads lazily, inside ``submit``; a Ctrl-C that
lands while it starts one leaves that thread running and untracked, so ``shutdown`` does not join it.
Here the threads exist before any page is submitted and are joined whatever ends the run.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

R = TypeVar("R")

_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class PageThreads:
    """``workers`` threads taking work in submission order; a context manager that joins them on exit."""

    def __init__(self, workers: int, name: str = "tierocr-page") -> None:
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        try:
            for index in range(max(1, workers)):
                thread = threading.Thread(target=self._work, name=f"{name}_{index}")
                self._threads.append(thread)
                thread.start()
        except BaseException:
            self.close()
            raise

    def submit(self, fn: Callable[..., R], *args: Any) -> Future[R]:
        future: Future[R] = Future()
        self._queue.put((future, fn, args))
        return future

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue  # cancelled before it started
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to whoever waits for the result
                future.set_exception(exc)

    def close(self) -> None:
        """Let the threads finish the work they hold (not yet started work was cancelled by the run)
        and join them."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            if thread.ident is not None:
                thread.join()

    def __enter__(self) -> PageThreads:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
