"""Configuration mistakes are errors that name the key, never silence and never a traceback.

A misspelt YAML key or ``TIEROCR_*`` variable used to be ignored (the default quietly applied), a YAML
syntax error printed a 228-line traceback, and a bad value printed pydantic's multi-line report. Here
each becomes one line: the key, what is wrong, and the closest valid name when it looks like a typo.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tierocr.errors import ConfigError

ENV_PREFIX = "TIEROCR_"
#: TIEROCR_* variables that are not settings: the config file's path, and the tag `tierocr launch` gives a
#: model server's processes so that `tierocr stop` finds every one of them (gpu/procs.py).
EXTRA_ENV = frozenset({"TIEROCR_CONFIG", "TIEROCR_SERVER_ID"})


def _suggest(name: str, valid: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def valid_env_names(model: type[BaseModel]) -> set[str]:
    """``TIEROCR_<FIELD>`` for top-level fields (a whole section as JSON too) and
    ``TIEROCR_<SECTION>_<FIELD>`` for the fields of each section."""
    names = set(EXTRA_ENV)
    for name, field in model.model_fields.items():
        names.add(f"{ENV_PREFIX}{name}".upper())
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            names.update(f"{ENV_PREFIX}{name}_{sub}".upper() for sub in section.model_fields)
    return names


def check_environment(model: type[BaseModel], environ: Mapping[str, str] | None = None) -> None:
    """Refuse a ``TIEROCR_*`` variable that names no setting (a typo would silently do nothing)."""
    environ = os.environ if environ is None else environ
    valid = valid_env_names(model)
    for key in sorted(environ):
        if key.upper().startswith(ENV_PREFIX) and key.upper() not in valid:
            raise ConfigError(f"unknown environment variable {key}{_suggest(key.upper(), valid)}")


def check_keys(model: type[BaseModel], data: Any, where: str, path: str = "") -> None:
    """Refuse keys of ``data`` (and of its nested sections) that are not fields of ``model``."""
    if not isinstance(data, dict):
        return
    fields = model.model_fields
    for key, value in data.items():
        dotted = f"{path}{key}"
        if key not in fields:
            choices = [f"{path}{name}" for name in fields]
            raise ConfigError(f"{where}: unknown setting {dotted!r}{_suggest(dotted, choices)}")
        section = fields[key].annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            check_keys(section, value, where, f"{dotted}.")


def read_yaml(path: Path, model: type[BaseModel]) -> None:
    """Check that ``path`` is a YAML mapping of known settings; pydantic-settings reads it afterwards."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML: {problem}{at}") from exc
    if data is None:
        return
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (e.g. `ocr:`), got {type(data).__name__}")
    check_keys(model, data, str(path))


def one_line(exc: ValidationError, source: str) -> ConfigError:
    """pydantic's report of bad values as one line: each field's dotted name and the complaint."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "settings"
        got = error.get("input")
        secret = any(word in where for word in ("key", "password", "token", "secret"))
        shown = "" if secret or isinstance(got, dict | list) else f" (got {got!r})"
        parts.append(f"{where}: {error['msg']}{shown}")
    return ConfigError(f"{source}: {'; '.join(parts)}")
