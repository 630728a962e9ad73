"""The multi-host lease on Redis: ``SET NX PX`` with a fencing token, renewed while held.

Keys under ``tierocr:lease:<name>``: ``holder`` (the holder's record, expiring after the TTL unless renewed),
``token`` (INCR counter: the fencing tokens), ``seq`` (arrival counter), ``queue`` (a sorted set whose members
``<999-priority>:<seq>:<owner>`` sort lexically into service order), ``alive:<member>`` (a waiter's record,
expiring if the waiter dies) and ``notify:<member>`` (a list the waiter BLPOPs on). All decisions are Lua
scripts, so they are atomic. The scripts build key names from the prefix, so this backend wants a single
Redis server or a cluster-less deployment.

Waiting is a BLPOP on the waiter's own notify list: a releasing holder (or a waiter giving up) pushes to the
next live waiter, so a normal hand-over wakes exactly one process at once. Two things no one can push about:
a holder that died (its key just expires) and the waiter's own liveness key (which it must refresh). So each
BLPOP is bounded by the holder's remaining TTL and by a third of the TTL: a bounded wait, not a poll.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from tierocr.gpu.lease import (
    Cancel,
    Hold,
    HolderRecord,
    Lease,
    LeaseCancelled,
    LeaseStatus,
    LeaseTimeout,
    WaiterRecord,
)

log = logging.getLogger(__name__)

_ENQUEUE = """
local prefix, prio, owner, record, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local seq = redis.call('INCR', prefix .. ':seq')
local member = prio .. ':' .. string.format('%015d', seq) .. ':' .. owner
redis.call('ZADD', prefix .. ':queue', 0, member)
redis.call('SET', prefix .. ':alive:' .. member, record, 'PX', ttl)
redis.call('DEL', prefix .. ':notify:' .. member)
return member
"""

# The first live member of the queue, dropping dead ones on the way.
_HEAD = """
local function head(prefix)
  while true do
    local first = redis.call('ZRANGE', prefix .. ':queue', 0, 0)[1]
    if not first then return nil end
    if redis.call('EXISTS', prefix .. ':alive:' .. first) == 1 then return first end
    redis.call('ZREM', prefix .. ':queue', first)
  end
end
local function wake_head(prefix, ttl)
  local first = head(prefix)
  if first then
    redis.call('LPUSH', prefix .. ':notify:' .. first, '1')
    redis.call('PEXPIRE', prefix .. ':notify:' .. first, ttl)
  end
end
"""

_TRY_ACQUIRE = (
    _HEAD
    + """
local prefix, member, ttl = ARGV[1], ARGV[2], ARGV[3]
if redis.call('PEXPIRE', prefix .. ':alive:' .. member, ttl) == 0 then
  redis.call('ZREM', prefix .. ':queue', member)
  return {-1, 0, ''}
end
if redis.call('EXISTS', prefix .. ':holder') == 1 then
  return {0, redis.call('PTTL', prefix .. ':holder'), ''}
end
if head(prefix) ~= member then return {0, -1, ''} end
local token = redis.call('INCR', prefix .. ':token')
local rec = cjson.decode(redis.call('GET', prefix .. ':alive:' .. member))
rec['token'] = token
local value = cjson.encode(rec)
redis.call('SET', prefix .. ':holder', value, 'PX', ttl)
redis.call('ZREM', prefix .. ':queue', member)
redis.call('DEL', prefix .. ':alive:' .. member, prefix .. ':notify:' .. member)
return {1, token, value}
"""
)

_LEAVE = (
    _HEAD
    + """
local prefix, member, ttl = ARGV[1], ARGV[2], ARGV[3]
redis.call('ZREM', prefix .. ':queue', member)
redis.call('DEL', prefix .. ':alive:' .. member, prefix .. ':notify:' .. member)
if redis.call('EXISTS', prefix .. ':holder') == 0 then wake_head(prefix, ttl) end
return 1
"""
)

_RELEASE = (
    _HEAD
    + """
local prefix, value, ttl = ARGV[1], ARGV[2], ARGV[3]
if redis.call('GET', prefix .. ':holder') ~= value then return 0 end
redis.call('DEL', prefix .. ':holder')
wake_head(prefix, ttl)
return 1
"""
)

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class RedisLease(Lease):
    backend = "redis"

    def __init__(
        self,
        name: str,
        url: str,
        ttl_s: float,
        renew_interval_s: float,
        default_priority: int,
        default_timeout_s: float,
    ) -> None:
        super().__init__(name, default_priority, default_timeout_s)
        self.url = url
        self.prefix = f"tierocr:lease:{name}"
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.renew_interval_s = renew_interval_s
        # Bounded socket waits: a BLPOP waits at most ttl/3, so a reply slower than the TTL means a dead link.
        self._redis = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=ttl_s + 5, socket_connect_timeout=ttl_s + 5
        )
        self._enqueue_script = self._redis.register_script(_ENQUEUE)
        self._try_script = self._redis.register_script(_TRY_ACQUIRE)
        self._leave_script = self._redis.register_script(_LEAVE)
        self._release_script = self._redis.register_script(_RELEASE)
        self._renew_script = self._redis.register_script(_RENEW)

    def close(self) -> None:
        self._redis.close()

    def _enqueue(self, owner: str, priority: int) -> str:
        record = WaiterRecord(owner, socket.gethostname(), os.getpid(), priority, time.time())
        args = [self.prefix, f"{999 - priority:03d}", owner, json.dumps(record.to_dict()), self.ttl_ms]
        return str(self._enqueue_script(args=args))

    def _acquire(
        self,
        owner: str,
        priority: int,
        deadline: float | None,
        cancel: Cancel,
        on_queued: Callable[[], None] | None = None,
    ) -> Hold:
        member = self._enqueue(owner, priority)
        notify_key = f"{self.prefix}:notify:{member}"
        unregister = cancel.on_cancel(lambda: self._poke(notify_key))
        try:
            if on_queued is not None:
                on_queued()
            while True:
                if cancel.is_set():
                    raise LeaseCancelled("cancelled")
                state, number, value = self._try_script(args=[self.prefix, member, self.ttl_ms])
                if state == 1:
                    return self._start_hold(str(value), int(number))
                if state == -1:  # our liveness key lapsed (a stall longer than the TTL): queue again
                    member = self._enqueue(owner, priority)
                    notify_key = f"{self.prefix}:notify:{member}"
                    continue
                wait_s = self.ttl_ms / 3000
                # The holder's lease lapses then unless renewed: look again at that moment.
                if int(number) > 0:
                    wait_s = min(wait_s, int(number) / 1000 + 0.01)
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise LeaseTimeout(f"lease {self.name}: not handed over before the deadline")
                    wait_s = min(wait_s, remaining)
                self._redis.blpop([notify_key], timeout=max(wait_s, 0.01))
        except BaseException:
            try:
                self._leave_script(args=[self.prefix, member, self.ttl_ms])
            except redis.RedisError as exc:
                log.warning("lease %s: could not leave the queue cleanly: %s", self.name, exc)
            raise
        finally:
            unregister()

    def _poke(self, notify_key: str) -> None:
        """Wake our own BLPOP (on cancellation); the key expires in case nobody pops it any more."""
        self._redis.pipeline().lpush(notify_key, "cancel").pexpire(notify_key, self.ttl_ms).execute()

    def _start_hold(self, value: str, token: int) -> Hold:
        record = HolderRecord.from_dict(json.loads(value))
        record = HolderRecord(record.owner, record.host, record.pid, record.priority, token, record.since)
        stop = threading.Event()
        hold = Hold(record, (value, stop))
        threading.Thread(
            target=self._renew, args=(hold, value, stop), name="lease-renew", daemon=True
        ).start()
        return hold

    def _renew(self, hold: Hold, value: str, stop: threading.Event) -> None:
        """Extend the holder key every renew interval; give up once it can no longer have survived."""
        key = f"{self.prefix}:holder"
        last_ok = time.monotonic()
        while not stop.wait(self.renew_interval_s):
            try:
                if self._renew_script(keys=[key], args=[value, self.ttl_ms]):
                    last_ok = time.monotonic()
                    continue
                if stop.is_set():  # released while this renewal was on its way
                    return
                log.error("lease %s: token %d was taken from us", self.name, hold.token)
            except redis.RedisError as exc:
                if time.monotonic() - last_ok < self.ttl_ms / 1000:
                    log.warning("lease %s: renewal failed, retrying: %s", self.name, exc)
                    continue
                log.error("lease %s: renewals failed for a whole TTL: %s", self.name, exc)
            hold.mark_lost()
            return

    def _release(self, hold: Hold) -> None:
        value, stop = hold.state
        stop.set()
        try:
            if not self._release_script(args=[self.prefix, value, self.ttl_ms]):
                log.warning("lease %s: token %d had already expired at release", self.name, hold.token)
        except redis.RedisError as exc:
            log.warning("lease %s: release failed, it expires on its own: %s", self.name, exc)

    def status(self) -> LeaseStatus:
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(f"{self.prefix}:holder")
        pipe.pttl(f"{self.prefix}:holder")
        pipe.zrange(f"{self.prefix}:queue", 0, -1)
        pipe.get(f"{self.prefix}:token")
        value, pttl, members, token = pipe.execute()
        holder = None
        if value:
            data: dict[str, Any] = json.loads(value)
            data["expires_in_s"] = pttl / 1000 if pttl and pttl > 0 else None
            holder = HolderRecord.from_dict(data)
        waiters: list[WaiterRecord] = []
        if members:
            for raw in self._redis.mget([f"{self.prefix}:alive:{m}" for m in members]):
                if raw:
                    waiters.append(WaiterRecord.from_dict(json.loads(raw)))
        return LeaseStatus(self.name, self.backend, self.url, holder, waiters, int(token or 0))
