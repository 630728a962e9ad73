"""Fixtures of the GPU lease tests: one private redis-server per session, settings per backend."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpu_lease_helpers import redis_server

# Short TTLs keep the SIGKILL test quick; the renew interval stays well inside the TTL.
REDIS_TTL_S = 1.0
REDIS_RENEW_S = 0.25


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make test installs Debian's redis-server)")
    with redis_server() as url:
        yield url


@pytest.fixture(params=["file", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """GpuSettings keyword arguments for each backend."""
    if request.param == "file":
        return {"backend": "file", "lock_dir": str(tmp_path / "locks")}
    url = request.getfixturevalue("redis_url")
    return {"backend": "redis", "redis_url": url, "ttl_s": REDIS_TTL_S, "renew_interval_s": REDIS_RENEW_S}


@pytest.fixture
def lease_name() -> str:
    """A fresh name per test, so state left in the shared Redis never leaks between tests."""
    return f"t{uuid.uuid4().hex[:12]}"
