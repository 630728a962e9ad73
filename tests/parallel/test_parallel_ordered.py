"""The bounded, ordered map under the page workers: order, bound, and what an early stop leaves."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from tierocr.parallel.ordered import in_order


def test_results_come_back_in_input_order_when_work_finishes_out_of_order() -> None:
    gates = {n: threading.Event() for n in range(6)}

    def work(n: int) -> int:
        gates[n].wait(30)
        return n * 10

    finished: list[int] = []
    with ThreadPoolExecutor(6) as pool:
        # Later items finish first: the last is free to go, each one that finishes opens the one before.
        gates[5].set()

        def submit(n: int) -> Future[int]:
            future = pool.submit(work, n)
            future.add_done_callback(lambda _f, n=n: (finished.append(n), n > 0 and gates[n - 1].set()))
            return future

        out = list(in_order(range(6), submit, 6, lambda _n: None))
    assert finished == [5, 4, 3, 2, 1, 0]
    assert out == [(n, n * 10) for n in range(6)]


def test_markers_keep_their_place_and_need_no_work() -> None:
    with ThreadPoolExecutor(2) as pool:
        items = ["start", 1, 2, "end"]
        out = list(
            in_order(items, lambda x: None if isinstance(x, str) else pool.submit(lambda: x), 2, print)
        )
    assert out == [("start", None), (1, 1), (2, 2), ("end", None)]


def test_no_more_than_limit_items_are_read_ahead_of_the_consumer() -> None:
    read: list[int] = []
    in_flight: list[int] = []
    delivered = 0

    def items():  # type: ignore[no-untyped-def]
        for n in range(50):
            read.append(n)
            in_flight.append(len(read) - delivered)
            yield n

    with ThreadPoolExecutor(4) as pool:
        for _n, _ in in_order(items(), lambda n: pool.submit(lambda: n), 3, lambda _n: None):
            delivered += 1
    assert delivered == 50
    assert max(in_flight) == 3  # read but not yet delivered, whatever the input's length


def test_an_early_stop_waits_for_running_work_and_drops_what_was_not_delivered() -> None:
    started = threading.Event()
    release = threading.Event()
    finished: list[int] = []
    dropped: list[int] = []

    def work(n: int) -> int:
        if n == 1:
            started.set()
            release.wait(30)
        finished.append(n)
        return n

    with ThreadPoolExecutor(1) as pool:
        results = in_order(range(10), lambda n: pool.submit(work, n), 4, dropped.append)
        assert next(results) == (0, 0)
        started.wait(30)
        threading.Timer(0.2, release.set).start()
        results.close()  # the consumer stops while item 1 is running and 2, 3 wait
    assert 1 in finished  # waited for, not abandoned under a running worker
    assert dropped == [1, 2, 3]
    assert 2 not in finished and 3 not in finished  # never started: cancelled


def test_an_error_in_one_item_stops_the_run_after_cleaning_up() -> None:
    dropped: list[int] = []

    def work(n: int) -> int:
        if n == 2:
            raise ValueError("page 2 broke")
        return n

    with ThreadPoolExecutor(2) as pool:
        out = []
        with pytest.raises(ValueError, match="page 2 broke"):
            for item in in_order(range(6), lambda n: pool.submit(work, n), 2, dropped.append):
                out.append(item)
    assert out == [(0, 0), (1, 1)]
    assert dropped[0] == 2 and all(n > 2 for n in dropped[1:])
