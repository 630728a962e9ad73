"""Fixtures of the layout-mode tests (helpers live in layoutmode_helpers.py)."""

from __future__ import annotations

import pytest

from tierocr.config import Settings


@pytest.fixture
def settings() -> Settings:
    return Settings.model_validate({"layout": {"enabled": True}})
