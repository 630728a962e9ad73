"""The one settings model and the document schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierocr.config import ConfigError, Settings, load_settings
from tierocr.document import BBox, Block, BlockKind, Document, Page, Provenance, QualityVerdict, Tier


def test_settings_layers_env_over_yaml_over_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "tierocr.yaml"
    config.write_text("ocr:\n  engine: tesseract\n  languages: [en, ch_sim]\ninput:\n  dpi: 150\n")
    monkeypatch.delenv("TIEROCR_CONFIG", raising=False)
    monkeypatch.setenv("TIEROCR_INPUT_DPI", "300")
    settings = load_settings(config)
    assert settings.ocr.engine == "tesseract"
    assert settings.ocr.languages == ["en", "ch_sim"]
    assert settings.input.dpi == 300  # the environment wins over the file
    overridden = load_settings(config, input={"dpi": 100}, ocr={"engine": None})
    assert overridden.input.dpi == 100  # explicit flags win over everything
    assert overridden.ocr.engine == "tesseract"  # an unset flag falls through


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_invalid_setting_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIEROCR_INPUT_DPI", "5")
    with pytest.raises(ValueError):
        Settings()


def test_document_json_round_trips_losslessly() -> None:
    prov = Provenance(tier=Tier.OCR, engine="rapidocr")
    doc = Document(
        source="a.pdf",
        mime_type="application/pdf",
        page_count=2,
        pages=[
            Page(
                number=1,
                width=1700,
                height=2200,
                dpi=200,
                tier=Tier.OCR,
                timings={"ocr": 1.25},
                quality=QualityVerdict(
                    accepted=False, score=0.4, signals={"garbage_ratio": 0.42}, reasons=["x"]
                ),
                blocks=[
                    Block(
                        kind=BlockKind.HEADING,
                        text="Title",
                        level=1,
                        bbox=BBox(x0=1, y0=2, x1=3, y1=4),
                        provenance=prov,
                    ),
                    Block(
                        kind=BlockKind.TABLE,
                        text="a b",
                        html="<table><tr><td>a</td></tr></table>",
                        provenance=prov,
                    ),
                    Block(kind=BlockKind.FORMULA, latex="E=mc^2", confidence=0.9, provenance=prov),
                ],
            )
        ],
        metadata={"k": [1, 2]},
    )
    again = Document.from_json(doc.to_json())
    assert again == doc
    assert again.pages[0].blocks[0].bbox.normalised(1700, 2200) == [1, 1, 2, 2]


def test_confidence_outside_unit_interval_is_rejected() -> None:
    with pytest.raises(ValueError):
        Block(text="x", confidence=1.5, provenance=Provenance(tier=Tier.OCR, engine="e"))
