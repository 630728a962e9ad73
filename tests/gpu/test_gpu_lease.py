"""The lease API on both backends, within one process (separate lease objects contend as processes would)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tierocr.config import GpuSettings
from tierocr.gpu import LeaseTimeout, create_lease
from tierocr.gpu.lease import Lease


def _lease(settings: dict[str, Any], name: str) -> Lease:
    return create_lease(name, GpuSettings(**settings))


def test_tokens_increase_and_holder_is_recorded(backend: dict[str, Any], lease_name: str) -> None:
    lease = _lease(backend, lease_name)
    with lease.acquire(priority=42) as first:
        state = lease.status()
        assert state.holder is not None
        assert state.holder.owner == first.owner
        assert state.holder.priority == 42
        assert state.holder.token == first.token
    assert lease.status().holder is None
    with lease.acquire() as second:
        assert second.token > first.token
    assert lease.status().last_token == second.token


def test_held_lease_times_out_for_others(backend: dict[str, Any], lease_name: str) -> None:
    holder, other = _lease(backend, lease_name), _lease(backend, lease_name)
    with holder.acquire(), pytest.raises(LeaseTimeout), other.acquire(timeout=0.2):
        pytest.fail("two holders at once")
    assert other.status().waiters == []  # the timed-out request left the queue
    with other.acquire(timeout=5) as hold:
        assert hold.token > 0


def test_higher_priority_waiters_go_first(backend: dict[str, Any], lease_name: str) -> None:
    lease = _lease(backend, lease_name)
    served: list[int] = []
    threads: list[threading.Thread] = []

    def wait_for(priority: int, queued: threading.Event) -> None:
        with _lease(backend, lease_name).acquire(priority=priority, timeout=30, on_queued=queued.set):
            served.append(priority)

    with lease.acquire(priority=0):
        for priority in (1, 50, 5, 50):  # arrival order; equal priorities keep it
            queued = threading.Event()
            thread = threading.Thread(target=wait_for, args=(priority, queued))
            thread.start()
            assert queued.wait(10)
            threads.append(thread)
        waiting = lease.status().waiters
        assert [w.priority for w in waiting] == [50, 50, 5, 1]
    for thread in threads:
        thread.join(30)
    assert served == [50, 50, 5, 1]


def test_async_acquire_and_cancellation_do_not_leak(backend: dict[str, Any], lease_name: str) -> None:
    lease = _lease(backend, lease_name)

    async def scenario() -> int:
        async with lease.acquire() as held:
            queued = threading.Event()
            waiter = asyncio.ensure_future(lease.acquire(timeout=30, on_queued=queued.set).__aenter__())
            assert await asyncio.to_thread(queued.wait, 10)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            first = held.token
        async with lease.acquire(timeout=5) as again:
            assert lease.status().waiters == []
            assert again.token > first
            return again.token

    token = asyncio.run(scenario())
    assert lease.status().holder is None
    assert lease.status().last_token == token


def test_request_is_single_use(backend: dict[str, Any], lease_name: str) -> None:
    request = _lease(backend, lease_name).acquire()
    with request:
        pass
    with pytest.raises(RuntimeError), request:
        pass


def test_priority_out_of_range_is_refused(backend: dict[str, Any], lease_name: str) -> None:
    with pytest.raises(ValueError):
        _lease(backend, lease_name).acquire(priority=1000)


def test_redis_lease_is_renewed_while_held(redis_url: str, lease_name: str) -> None:
    settings = {"backend": "redis", "redis_url": redis_url, "ttl_s": 1.0, "renew_interval_s": 0.1}
    lease, other = _lease(settings, lease_name), _lease(settings, lease_name)
    with lease.acquire() as hold:
        assert not hold.wait_lost(2.5)  # two and a half TTLs: only renewal keeps it
        with pytest.raises(LeaseTimeout), other.acquire(timeout=0.1):
            pytest.fail("renewed lease was taken")
        hold.ensure_held()


def test_redis_holder_learns_it_lost_the_lease(redis_url: str, lease_name: str) -> None:
    import redis

    settings = {"backend": "redis", "redis_url": redis_url, "ttl_s": 0.5, "renew_interval_s": 0.1}
    lease = _lease(settings, lease_name)
    with lease.acquire() as hold:
        redis.Redis.from_url(redis_url).delete(f"tierocr:lease:{lease_name}:holder")
        assert hold.wait_lost(5)
        with pytest.raises(Exception, match="expired while held"):
            hold.ensure_held()
