"""What every command does with a configuration or option mistake: one line on stderr, exit status 2.

Commands build their settings here rather than calling :func:`load_settings` bare, so that a typo in a
YAML key or a ``TIEROCR_*`` variable, a YAML syntax error or a bad flag value reads the same everywhere
and never as a traceback.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, NoReturn

import typer

from tierocr.config import ConfigError, Settings, load_settings


def option_error(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    """:func:`load_settings`, with any :class:`ConfigError` turned into one line and exit status 2."""
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        option_error(str(exc))


def check_engines(*names: str) -> None:
    """Refuse an OCR engine name no factory is registered for, before any document is opened."""
    from tierocr.engines import available_engines

    known = available_engines()
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            option_error(f"unknown OCR engine {name!r}; {hint}choose one of: {', '.join(known)}")
