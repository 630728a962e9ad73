from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from layoutmode_helpers import ScriptedEngine
from PIL import Image

from tierocr.config import Settings
from tierocr.errors import EngineUnavailableError
from tierocr.layout.ppdoclayout import reading_ranks

LABELS = {0: "text", 1: "table", 2: "image"}


def _tiny_model(path: Path) -> None:
    """A randomly initialised PP-DocLayout-V3 of real architecture, ~300 kB, saved like real weights."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    backbone = transformers.HGNetV2Config(
        embedding_size=8,
        hidden_sizes=[8, 16, 16, 32],
        stem_channels=[3, 8, 8],
        stage_in_channels=[8, 8, 16, 16],
        stage_mid_channels=[8, 8, 16, 16],
        stage_out_channels=[8, 16, 16, 32],
        stage_num_blocks=[1, 1, 1, 1],
        stage_downsample=[False, True, True, True],
        stage_light_block=[False, False, True, True],
        stage_kernel_size=[3, 3, 5, 5],
        stage_numb_of_layers=[1, 1, 1, 1],
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    config = transformers.PPDocLayoutV3Config(
        backbone_config=backbone,
        encoder_in_channels=[16, 16, 32],
        encoder_hidden_dim=16,
        encoder_ffn_dim=32,
        encoder_attention_heads=2,
        d_model=16,
        decoder_in_channels=[16, 16, 16],
        decoder_ffn_dim=32,
        decoder_layers=1,
        decoder_attention_heads=2,
        num_queries=12,
        num_denoising=0,
        mask_feature_channels=[8, 8],
        x4_feat_dim=8,
        num_prototypes=4,
        global_pointer_head_size=8,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )
    import torch

    torch.manual_seed(0)
    transformers.PPDocLayoutV3ForObjectDetection(config).save_pretrained(path)
    (path / "preprocessor_config.json").write_text(json.dumps({"size": {"height": 64, "width": 64}}))


def _settings(path: Path | None, threshold: float = 0.0) -> Settings:
    return Settings.model_validate(
        {
            "layout": {
                "enabled": True,
                "detector": "ppdoclayout",
                "model_path": path,
                "score_threshold": threshold,
            }
        }
    )


def test_tiny_pp_doclayout_loads_from_a_local_folder_and_detects(tmp_path: Path) -> None:
    from tierocr.layout.ppdoclayout import PPDocLayoutDetector

    _tiny_model(tmp_path / "ppdl")
    detector = PPDocLayoutDetector(_settings(tmp_path / "ppdl").layout)
    image = Image.new("RGB", (300, 400), "white")
    regions = detector.detect(image)
    # Random weights, threshold 0: every query that survives overlap suppression comes back.
    assert regions
    assert {r.label for r in regions} <= set(LABELS.values())
    assert all(0 <= r.bbox.x0 < r.bbox.x1 <= 300 and 0 <= r.bbox.y0 < r.bbox.y1 <= 400 for r in regions)
    assert all(r.order is not None for r in regions)
    assert len({r.order for r in regions}) == len(regions)
    # The score threshold from config applies.
    scores = sorted(r.score for r in regions)
    cut = scores[len(scores) // 2]
    strict = PPDocLayoutDetector(_settings(tmp_path / "ppdl", threshold=cut).layout).detect(image)
    assert strict and all(r.score >= cut for r in strict)
    assert len(strict) <= len(regions)


def test_reading_ranks_follow_the_pairwise_order_head() -> None:
    # Query 2 precedes 0, which precedes 1: for i < j, logit[i, j] > 0 means i comes first.
    logits = np.full((3, 3), 0.0)
    logits[0, 1] = 8.0  # 0 before 1
    logits[0, 2] = -8.0  # 2 before 0
    logits[1, 2] = -8.0  # 2 before 1
    assert reading_ranks(logits).tolist() == [1, 2, 0]


def test_missing_weights_raise_a_clear_error(tmp_path: Path) -> None:
    from tierocr.layout.ppdoclayout import PPDocLayoutDetector

    with pytest.raises(EngineUnavailableError, match="model_path"):
        PPDocLayoutDetector(_settings(None).layout)
    with pytest.raises(EngineUnavailableError, match=r"config\.json"):
        PPDocLayoutDetector(_settings(tmp_path).layout)


def test_unloadable_layout_model_degrades_to_full_page_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tierocr.layout.parser import try_create_layout_parser

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    for settings in (_settings(None), _settings(tmp_path / "absent"), _settings(broken)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tierocr.layout.parser"):
            assert try_create_layout_parser(settings, ScriptedEngine()) is None
        assert any("falling back to full-page" in r.getMessage() for r in caplog.records)
