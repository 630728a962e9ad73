"""What differs between the OCR-VL families we serve: task prompts, image size caps, chat template.

The model's own chat template always wins; a profile's template is only a fallback for checkpoints saved
without one. Prompts follow each model card, because these models were trained on exactly those strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Used only when a checkpoint carries no chat template: plain role-tagged turns, images where they appear.
GENERIC_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<|image|>{% else %}{{ c['text'] }}"
    "{% endif %}{% endfor %}{% endif %}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@dataclass(frozen=True)
class ModelProfile:
    name: str
    model_types: tuple[str, ...]
    prompts: dict[str, str]
    max_image_pixels: int
    min_image_pixels: int = 0
    chat_template: str = GENERIC_TEMPLATE
    extract_prompt: str = (
        "Extract the information in the image as one JSON object that matches this JSON schema. "
        "Answer with the JSON only.\n{schema}"
    )
    extra: dict[str, Any] = field(default_factory=dict)

    def task_prompt(self, task: str) -> str:
        return self.prompts.get(task, self.prompts["ocr"])

    def structured_prompt(self, schema: dict[str, Any]) -> str:
        return self.extract_prompt.format(schema=json.dumps(schema, ensure_ascii=False))


GLM_OCR = ModelProfile(
    name="glm-ocr",
    model_types=("glm_ocr",),
    prompts={
        "ocr": "Text Recognition:",
        "table": "Table Recognition:",
        "formula": "Formula Recognition:",
        "chart": "Text Recognition:",
    },
    # GLM-OCR's processor counts a temporal factor of 2; this caps the visual tokens near 6k.
    max_image_pixels=14 * 14 * 2 * 2 * 2 * 6144,
    min_image_pixels=112 * 112,
    extract_prompt="请按下列JSON格式输出图中信息:\n{schema}",
)

PADDLEOCR_VL = ModelProfile(
    name="paddleocr-vl",
    model_types=("paddleocr_vl",),
    prompts={
        "ocr": "OCR:",
        "table": "Table Recognition:",
        "formula": "Formula Recognition:",
        "chart": "Chart Recognition:",
    },
    max_image_pixels=1536 * 1536,
    min_image_pixels=384 * 384,
)

LIGHTON_OCR = ModelProfile(
    name="lighton-ocr",
    model_types=("lighton_ocr", "mistral3"),
    # LightOnOCR was trained to transcribe a page with no instruction at all.
    prompts={"ocr": "", "table": "", "formula": "", "chart": ""},
    max_image_pixels=1540 * 1540,
)

GENERIC = ModelProfile(
    name="generic",
    model_types=(),
    prompts={
        "ocr": "Transcribe all text in the image.",
        "table": "Transcribe the table in the image as HTML.",
        "formula": "Transcribe the formula in the image as LaTeX.",
        "chart": "Describe the chart in the image as a table.",
    },
    max_image_pixels=1536 * 1536,
)

PROFILES: tuple[ModelProfile, ...] = (GLM_OCR, PADDLEOCR_VL, LIGHTON_OCR)


def profile_for(model_type: str | None) -> ModelProfile:
    """The profile of a transformers `model_type`; unknown architectures get generic prompts."""
    for profile in PROFILES:
        if model_type in profile.model_types:
            return profile
    return GENERIC
