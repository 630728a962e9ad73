"""Configuration mistakes are one-line errors that name the key (exit 2 on the command line), never
silence and never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from tierocr.cli import app
from tierocr.config import ConfigError, ServerSettings, load_settings
from tierocr.samples.synthetic import PARAGRAPHS, text_pdf

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("TIEROCR_"):
            monkeypatch.delenv(key)


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "doc.pdf"
    path.write_bytes(text_pdf([[PARAGRAPHS[0]]]))
    return path


def _one_error_line(result: object) -> str:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.exit_code == 2, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_unknown_yaml_key_names_it_and_suggests_the_right_one(tmp_path: Path, doc: Path) -> None:
    config = tmp_path / "tierocr.yaml"
    config.write_text("ocr:\n  engin: tesseract\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'ocr\.engin'; did you mean ocr\.engine\?"):
        load_settings(config)
    line = _one_error_line(runner.invoke(app, ["parse", str(doc), "--config", str(config)]))
    assert "ocr.engin" in line and "ocr.engine" in line


def test_unknown_section_is_refused_too(tmp_path: Path) -> None:
    config = tmp_path / "tierocr.yaml"
    config.write_text("severs:\n  port: 9000\n")
    with pytest.raises(ConfigError, match="did you mean server"):
        load_settings(config)


def test_misspelt_environment_variable_is_an_error(monkeypatch: pytest.MonkeyPatch, doc: Path) -> None:
    monkeypatch.setenv("TIEROCR_OCR_ENGNE", "tesseract")
    with pytest.raises(ConfigError, match="TIEROCR_OCR_ENGNE; did you mean TIEROCR_OCR_ENGINE"):
        load_settings()
    line = _one_error_line(runner.invoke(app, ["parse", str(doc)]))
    assert "TIEROCR_OCR_ENGNE" in line


def test_legitimate_variables_are_accepted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("input:\n  dpi: 150\n")
    monkeypatch.setenv("TIEROCR_CONFIG", str(config))
    monkeypatch.setenv("TIEROCR_VLM_SERVER_PORT", "8123")
    monkeypatch.setenv("TIEROCR_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.input.dpi == 150 and settings.vlm_server.port == 8123 and settings.data_dir == tmp_path


def test_yaml_syntax_error_is_one_line(tmp_path: Path, doc: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("ocr:\n  engine: [rapidocr\n  languages: en\n")
    line = _one_error_line(runner.invoke(app, ["parse", str(doc), "--config", str(config)]))
    assert str(config) in line and "not valid YAML" in line and "line 3" in line


def test_bad_value_is_one_line_naming_the_field(monkeypatch: pytest.MonkeyPatch, doc: Path) -> None:
    monkeypatch.setenv("TIEROCR_INPUT_DPI", "5")
    line = _one_error_line(runner.invoke(app, ["parse", str(doc)]))
    assert "input.dpi" in line and "36" in line


def test_unknown_engine_is_one_line_before_any_page(doc: Path) -> None:
    line = _one_error_line(runner.invoke(app, ["parse", str(doc), "--engine", "nosuch"]))
    assert "unknown OCR engine 'nosuch'" in line and "rapidocr" in line


def test_an_empty_api_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="API key is empty"):
        ServerSettings(api_key=SecretStr(""))
    monkeypatch.setenv("TIEROCR_SERVER_API_KEY", "")
    line = _one_error_line(runner.invoke(app, ["serve", "--data-dir", str(tmp_path)]))
    assert "server.api_key" in line and "empty" in line


def test_vlm_serve_without_a_model_is_one_line() -> None:
    line = _one_error_line(runner.invoke(app, ["vlm-serve"]))
    assert "--model" in line
