from __future__ import annotations

import os
from pathlib import Path

import pytest

from tierocr.storage import LockHeldError, hold_lock_file, sqlalchemy_url


class _Refused(Exception):
    pass


def test_urls_for_sqlite_paths_and_postgres_and_a_clear_refusal(tmp_path: Path) -> None:
    assert sqlalchemy_url(str(tmp_path / "a.db"), "index", _Refused) == f"sqlite:///{tmp_path / 'a.db'}"
    assert sqlalchemy_url("sqlite:///:memory:", "index", _Refused) == "sqlite:///:memory:"
    for given in ("postgres://u@h/d", "postgresql://u@h/d", "postgresql+pg8000://u@h/d"):
        assert sqlalchemy_url(given, "index", _Refused) == "postgresql+pg8000://u@h/d"
    with pytest.raises(_Refused, match="job store 'mysql://h/d': only SQLite paths"):
        sqlalchemy_url("mysql://h/d", "job store", _Refused)


def test_a_held_lock_names_its_holder_and_is_free_once_closed(tmp_path: Path) -> None:
    path = tmp_path / "server.lock"
    first = hold_lock_file(path)
    assert path.read_text(encoding="ascii").strip() == str(os.getpid())
    with pytest.raises(LockHeldError) as refused:  # flock: a second open file is refused, same process too
        hold_lock_file(path)
    assert refused.value.holder == str(os.getpid())
    first.close()
    hold_lock_file(path).close()
