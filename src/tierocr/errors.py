"""Errors a user can act on: each names the input and the reason."""

from __future__ import annotations


class TierOcrError(Exception):
    """Base of tierocr's own errors."""


class InputError(TierOcrError):
    """An input could not be read: corrupt, encrypted, empty, too large or of an unsupported type."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class EngineUnavailableError(TierOcrError):
    """An engine was asked for that is not installed or not configured on this machine."""


class ConfigError(TierOcrError, ValueError):
    """A setting, a config file or a ``TIEROCR_*`` variable is wrong; the message is one line naming it."""


class LimitExceededError(TierOcrError):
    """A request asks for more than this server is configured to do (pages, pixels, bytes)."""


class CancelledError(TierOcrError):
    """The caller went away (or asked to stop); the remaining pages were not parsed."""
