"""Loading an OCR-VL model with transformers and answering a batch of requests with one `generate`.

Nothing here is downloaded: a hub id must already be in the local cache (`local_files_only`), because a
server that fetches gigabytes on its first request fails in ways an operator cannot see coming.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from PIL import Image

from tierocr.config import VlmServerSettings
from tierocr.vlm_server.generation import RowSampling, RowTracker
from tierocr.vlm_server.jobs import GenRequest, GenResult, PromptTooLongError
from tierocr.vlm_server.profiles import ModelProfile, profile_for

log = logging.getLogger(__name__)

_DTYPES = MappingProxyType({"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16})


def resolve_device(setting: str) -> str:
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device cuda was asked for but torch sees no CUDA GPU")
    return setting


def resolve_dtype(setting: str, device: str) -> torch.dtype:
    """float32 where half precision is missing or slow: the CPU, and compute capability 6.1 (GTX 10xx)."""
    if setting != "auto":
        return _DTYPES[setting]
    if device == "cpu":
        return torch.float32
    major, minor = torch.cuda.get_device_capability()
    if major >= 8:
        return torch.bfloat16
    if major >= 7 or (major, minor) == (6, 0):
        return torch.float16
    return torch.float32


def _fit_pixels(image: Image.Image, profile: ModelProfile) -> Image.Image:
    """Shrink images past the profile's cap before preprocessing, which would otherwise copy them whole."""
    pixels = image.width * image.height
    if pixels <= profile.max_image_pixels:
        return image
    scale = (profile.max_image_pixels / pixels) ** 0.5
    size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)


class TransformersModel:
    """A processor plus an image-text-to-text model on one device, answering batches."""

    def __init__(self, processor: Any, model: Any, device: str, name: str) -> None:
        self.processor = processor
        self.model = model
        self.device = device
        self.name = name
        self.model_type: str | None = getattr(model.config, "model_type", None)
        self.profile = profile_for(self.model_type)
        tokenizer = processor.tokenizer
        tokenizer.padding_side = "left"  # decoder-only batching: prompts end where generation starts
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.pad_id: int = tokenizer.pad_token_id
        self.eos_ids = self._eos_ids()

    @classmethod
    def load(cls, settings: VlmServerSettings) -> TransformersModel:
        from transformers import AutoConfig, AutoModelForImageTextToText

        from tierocr.vlm_server.processors import load_processor

        if settings.model is None:
            raise RuntimeError("no model configured: pass --model or set TIEROCR_VLM_SERVER_MODEL")
        device = resolve_device(settings.device)
        dtype = resolve_dtype(settings.dtype, device)
        source = settings.model
        kwargs: dict[str, Any] = {"trust_remote_code": settings.trust_remote_code}
        if not Path(source).exists():
            kwargs["local_files_only"] = True
        log.info("loading %s on %s as %s", source, device, dtype)
        config = AutoConfig.from_pretrained(source, **kwargs)
        processor = load_processor(source, getattr(config, "model_type", None), **kwargs)
        model = AutoModelForImageTextToText.from_pretrained(source, config=config, dtype=dtype, **kwargs)
        model.to(device).eval()
        return cls(processor, model, device, source)

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.processor.tokenizer.eos_token_id
        ids = eos if isinstance(eos, list) else [eos]
        return {int(i) for i in ids if i is not None}

    def decode(self, ids: list[int]) -> str:
        """Token ids to answer text: the one place an answer's text is made, so tests can script it."""
        return self.processor.tokenizer.decode(ids, skip_special_tokens=True)

    def _prompt(self, request: GenRequest) -> str:
        messages = [dict(m) for m in request.messages]
        instruction = None
        if request.structured is not None and request.structured.schema is not None:
            instruction = self.profile.structured_prompt(request.structured.schema)
        elif request.task is not None:
            instruction = self.profile.task_prompt(request.task)
        last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
        if last_user is not None:
            parts = list(messages[last_user]["content"])
            has_text = any(p["type"] == "text" and p["text"].strip() for p in parts)
            if instruction is None and not has_text:
                instruction = self.profile.task_prompt("ocr")
            if instruction:
                parts.append({"type": "text", "text": instruction})
            messages[last_user] = {"role": "user", "content": parts}
        template = None if getattr(self.processor, "chat_template", None) else self.profile.chat_template
        return self.processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False, chat_template=template
        )

    @torch.inference_mode()
    def generate_batch(self, requests: list[GenRequest]) -> list[GenResult]:
        texts = [self._prompt(r) for r in requests]
        images = [_fit_pixels(im, self.profile) for r in requests for im in r.images]
        inputs = self.processor(text=texts, images=images or None, return_tensors="pt", padding=True)
        inputs = inputs.to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        over = {
            i: int(n)
            for i, (r, n) in enumerate(zip(requests, prompt_tokens, strict=True))
            if r.max_prompt_tokens is not None and n > r.max_prompt_tokens
        }
        if over:  # before generate: a prompt's prefill is what costs memory and cannot be interrupted
            raise PromptTooLongError(over)
        tracker = RowTracker(requests, [int(n) for n in prompt_tokens], self.eos_ids, self.decode)
        gen: dict[str, Any] = {
            "max_new_tokens": max(r.max_new_tokens for r in requests),
            "stopping_criteria": [tracker],
            "pad_token_id": self.pad_id,
            "use_cache": True,
        }
        sampling = RowSampling(requests, inputs["input_ids"].shape[1], self.model.device)
        greedy = all(r.temperature <= 0 for r in requests)
        # transformers' own warpers stay off: RowSampling does each row's sampling (and penalties) itself.
        gen["repetition_penalty"] = 1.0
        if greedy:
            gen.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            gen.update(do_sample=True, temperature=1.0, top_p=1.0, top_k=0)
        if not greedy or sampling.penalised:
            gen["logits_processor"] = [sampling]
        self.model.generate(**inputs, **gen)
        return tracker.results()

    def memory_bytes(self) -> int:
        if self.device == "cuda":
            return int(torch.cuda.memory_allocated())
        tensors = [*self.model.parameters(), *self.model.buffers()]
        return sum(t.numel() * t.element_size() for t in tensors)

    def close(self) -> None:
        """Drop every reference to the weights and hand device memory back to the driver."""
        self.model = None
        self.processor = None
        gc.collect()
        if self.device == "cuda":
            torch.cuda.empty_cache()
