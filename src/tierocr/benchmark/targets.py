"""What a benchmark target is, and the one grammar both `bench` and `compare` accept for it.

``rapidocr`` / ``tesseract`` (any registered engine, bare on the whole page), ``tierocr`` (the pipeline
with the current settings), ``tierocr --no-layout`` (or ``tierocr-no-layout``), ``vlm:URL?profile=NAME``
(an OpenAI-compatible endpoint; ``model=`` and ``max_tokens=`` may follow) or a name from
``bench.targets`` in the configuration.
"""

from __future__ import annotations

import difflib
import re
from types import MappingProxyType
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict

from tierocr.config import BenchEndpoint, Settings, VlmSettings
from tierocr.engines.vlm_profiles import PROFILES
from tierocr.errors import TierOcrError

TargetKind = Literal["engine", "tierocr", "vlm"]
_TIEROCR_FORMS = MappingProxyType(
    {
        "tierocr": None,
        "tierocr --no-layout": False,
        "tierocr-no-layout": False,
        "tierocr --layout": True,
        "tierocr-layout": True,
    }
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]+")


class TargetError(TierOcrError):
    """A target string names nothing this installation can measure."""


class Target(BaseModel):
    """One thing to measure. ``name`` labels its column and its outputs folder, so it is file-safe."""

    model_config = ConfigDict(frozen=True)

    name: str
    spec: str
    kind: TargetKind
    engine: str | None = None
    layout: bool | None = None  # tierocr: None keeps the settings' own layout mode
    endpoint: BenchEndpoint | None = None

    @property
    def own_process(self) -> bool:
        """Classical tiers run in a process of their own: their cold start and peak RSS are theirs alone."""
        return self.kind != "vlm"

    def vlm_settings(self, settings: Settings) -> VlmSettings:
        """The `vlm` section pointed at this target's endpoint (retries, timeouts stay the user's)."""
        if self.endpoint is None:
            raise TargetError(f"{self.spec}: not an endpoint target")
        e = self.endpoint
        update: dict[str, object] = {"url": e.url, "profile": e.profile, "backend": "auto"}
        if e.model is not None:
            update["model"] = e.model
        if e.api_key is not None:
            update["api_key"] = e.api_key
        if e.max_tokens is not None:
            update["max_tokens"] = e.max_tokens
        return settings.vlm.model_copy(update=update)

    def pipeline_settings(self, settings: Settings) -> Settings:
        """The settings a classical target runs with: the user's, with this target's layout mode."""
        if self.layout is None:
            return settings
        return settings.model_copy(
            update={"layout": settings.layout.model_copy(update={"enabled": self.layout})}
        )


def _choices(settings: Settings, engines: list[str]) -> str:
    named = ", ".join(sorted(settings.bench.targets)) or "none defined"
    return (
        f"{', '.join(engines)}, tierocr, 'tierocr --no-layout', vlm:URL?profile=NAME, "
        f"or a name from bench.targets ({named})"
    )


def _endpoint_target(spec: str, text: str) -> Target:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TargetError(f"{spec}: expected vlm:http(s)://HOST[:PORT]/v1?profile=NAME")
    known = {"profile", "model", "max_tokens"}
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in known}
    rest = [(k, v) for k, v in query if k not in known]
    profile = ours.get("profile", "generic")
    if profile not in PROFILES:
        raise TargetError(f"{spec}: unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    max_tokens: int | None = None
    if "max_tokens" in ours:
        if not ours["max_tokens"].isdigit() or int(ours["max_tokens"]) < 1:
            raise TargetError(f"{spec}: max_tokens must be a positive whole number")
        max_tokens = int(ours["max_tokens"])
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), ""))
    endpoint = BenchEndpoint(
        url=url,
        profile=profile,  # type: ignore[arg-type]  # checked against PROFILES above
        model=ours.get("model") or None,
        max_tokens=max_tokens,
    )
    return Target(
        name=_UNSAFE.sub("-", f"{profile}@{parts.netloc}"), spec=spec, kind="vlm", endpoint=endpoint
    )


def parse_target(spec: str, settings: Settings, engines: list[str]) -> Target:
    """The target ``spec`` names; a :class:`TargetError` naming it and the choices when it names none."""
    text = " ".join(spec.split())
    if text in settings.bench.targets:
        return Target(name=text, spec=spec, kind="vlm", endpoint=settings.bench.targets[text])
    if text.startswith("vlm:"):
        return _endpoint_target(spec, text[len("vlm:") :])
    if text in _TIEROCR_FORMS:
        layout = _TIEROCR_FORMS[text]
        name = "tierocr" if layout is None else ("tierocr-layout" if layout else "tierocr-no-layout")
        return Target(name=name, spec=spec, kind="tierocr", layout=layout)
    if text in engines:
        return Target(name=text, spec=spec, kind="engine", engine=text)
    candidates = [*engines, *_TIEROCR_FORMS, *settings.bench.targets]
    close = difflib.get_close_matches(text, candidates, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise TargetError(f"unknown target {spec!r}; {hint}give {_choices(settings, engines)}")


def parse_targets(specs: list[str], settings: Settings) -> list[Target]:
    """All targets, in the order given; the same target twice is a mistake, not two columns."""
    from tierocr.engines import available_engines

    engines = available_engines()
    targets = [parse_target(spec, settings, engines) for spec in specs]
    seen: dict[str, str] = {}
    for target in targets:
        if target.name in seen:
            raise TargetError(
                f"{target.spec!r} and {seen[target.name]!r} are the same target ({target.name})"
            )
        seen[target.name] = target.spec
    return targets
