"""Fixtures of the deploy tests: default settings, the packaged presets, a fake RunPod API."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fake_runpod import FakeRunPod

from tierocr.config import Settings
from tierocr.deploy.presets import PresetsFile, load_presets


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in list(os.environ):
        if key.startswith("TIEROCR_"):
            monkeypatch.delenv(key)
    return Settings()


@pytest.fixture
def presets(settings: Settings) -> PresetsFile:
    return load_presets(settings.deploy)


@pytest.fixture
def runpod_api(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[FakeRunPod]:
    """The fake provider, with the client pointed at it, fast retries and a short readiness deadline."""
    with FakeRunPod() as fake:
        monkeypatch.setenv("TIEROCR_DEPLOY_CLOUD_API_URL", fake.url + "/graphql")
        monkeypatch.setenv("RUNPOD_API_KEY", "rp-test-secret")
        monkeypatch.setenv("TIEROCR_SERVER_API_KEY", "pod-api-secret")
        monkeypatch.setenv("TIEROCR_DEPLOY_API_BACKOFF_S", "0.01")
        monkeypatch.setenv("TIEROCR_DEPLOY_API_RETRIES", "2")
        monkeypatch.setenv("TIEROCR_DEPLOY_POD_POLL_INITIAL_S", "0.01")
        monkeypatch.setenv("TIEROCR_DEPLOY_POD_POLL_MAX_S", "0.05")
        monkeypatch.setenv("TIEROCR_DEPLOY_POD_READY_TIMEOUT_S", "0.5")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        yield fake
