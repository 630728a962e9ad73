"""The presets file: schema, its settings checked against the settings model, env round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierocr.config import Settings, load_settings
from tierocr.deploy.presets import PresetError, load_presets, settings_env


def test_packaged_presets_have_the_cards_the_issue_names(presets) -> None:  # type: ignore[no-untyped-def]
    assert set(presets.gpus) == {"P100", "RTX3080", "A40", "A100", "H100", "CPU"}
    assert presets.gpu("rtx 3080").shared_llm_gib == 4.5
    for key, gpu in presets.gpus.items():
        if gpu.vllm is not None:  # vLLM flags only where vLLM may run at all
            assert gpu.compute_capability is not None and gpu.compute_capability >= 8.0, key


def test_preset_settings_round_trip_through_the_environment(
    presets,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    for gpu in presets.gpus.values():
        env = settings_env(gpu.settings)
        with monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            loaded = load_settings()
        for section, fields in gpu.settings.items():
            for field, value in fields.items():
                assert getattr(getattr(loaded, section), field) == value, (gpu.key, section, field)


def _write(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "presets.yaml"
    path.write_text(text)
    return Settings.model_validate({"deploy": {"presets_file": str(path)}})


def test_a_misspelt_setting_in_a_preset_is_an_error_naming_it(tmp_path: Path, settings: Settings) -> None:
    packaged = Path(__import__("tierocr.deploy", fromlist=["x"]).__file__).parent / "gpu_presets.yaml"
    text = packaged.read_text().replace("server: {workers: 4, job_workers: 2}", "server: {wrokers: 4}")
    with pytest.raises(PresetError, match=r"settings.server.wrokers: no such setting"):
        load_presets(_write(tmp_path, text).deploy)
    bad_key = packaged.read_text().replace("    mtp_tokens: 1\n", "    mtp_tokns: 1\n", 1)
    with pytest.raises(PresetError, match="mtp_tokns"):
        load_presets(_write(tmp_path, bad_key).deploy)
    bad_fallback = packaged.read_text().replace("fallback: [A100, H100]", "fallback: [V100]")
    with pytest.raises(PresetError, match=r"fallback names unknown presets: \['V100'\]"):
        load_presets(_write(tmp_path, bad_fallback).deploy)


def test_missing_or_broken_presets_file(tmp_path: Path) -> None:
    missing = Settings.model_validate({"deploy": {"presets_file": str(tmp_path / "nope.yaml")}})
    with pytest.raises(PresetError, match=r"nope\.yaml: cannot read the GPU presets file"):
        load_presets(missing.deploy)
    with pytest.raises(PresetError, match="not valid YAML"):
        load_presets(_write(tmp_path, "pins: [").deploy)
