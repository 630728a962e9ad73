"""Tiny, randomly initialised PaddleOCR-VL, GLM-OCR and LightOnOCR for tests and benchmarks.

Real architectures: they let CI run the server's real loading, preprocessing and `generate` code on a
CPU in seconds, with no weights to download. Tokenizers are character level with every special token
the processors and chat templates name, so a prompt's token count can be worked out by hand. The output
rows of the special tokens are zeroed so that random weights rarely pick EOS: protocol tests want
answers that run to `max_tokens`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = [
    "<unk>",
    "<s>",
    "</s>",
    "<|IMAGE_PLACEHOLDER|>",
    "<|IMAGE_START|>",
    "<|IMAGE_END|>",
    "<|video_pad|>",
]

GLM_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "[gMASK]",
    "<sop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|video|>",
]

# The shape of GLM-OCR's own template: "[gMASK]<sop><|user|>\n<image>Text Recognition:<|assistant|>\n".
GLM_CHAT_TEMPLATE = (
    "[gMASK]<sop>{% for m in messages %}<|{{ m['role'] }}|>{{ '\n' }}"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|begin_of_image|><|image|><|end_of_image|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{{ '\n' }}{% endif %}"
)

LIGHTON_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|image_pad|>",
    "<|vision_pad|>",
    "<|vision_end|>",
]

# The shape of LightOnOCR's Qwen-style template; the model reads a page with no instruction.
LIGHTON_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}{{ '\\n' }}"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|image_pad|>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant{{ '\\n' }}{% endif %}"
)

# The shape of PaddleOCR-VL's own template: "User: <image>OCR:\nAssistant: ".
CHAT_TEMPLATE = (
    "<s>{% for m in messages %}"
    "{% if m['role'] == 'user' %}User: {% elif m['role'] == 'assistant' %}Assistant: {% endif %}"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}{{ '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}Assistant: {% endif %}"
)


def build_tiny_paddleocr_vl(path: Path, *, seed: int = 0, hidden_size: int = 64, layers: int = 2) -> Path:
    """Save a tiny PaddleOCR-VL (model, processor, tokenizer) into `path` and return it."""
    import torch
    from transformers import PaddleOCRVLConfig, PaddleOCRVLForConditionalGeneration, PaddleOCRVLProcessor
    from transformers.models.paddleocr_vl.image_processing_pil_paddleocr_vl import (
        PaddleOCRVLImageProcessorPil,
    )

    tokenizer, vocab = _char_tokenizer(
        SPECIAL_TOKENS,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<unk>",
        unk_token="<unk>",
        extra_special_tokens={"image_token": "<|IMAGE_PLACEHOLDER|>"},
    )
    # 28×28 pixels make one visual token after the 2×2 merge: images become 2 to 8 tokens.
    image_processor = PaddleOCRVLImageProcessorPil(min_pixels=28 * 28 * 2, max_pixels=28 * 28 * 8)
    processor = PaddleOCRVLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE
    )
    head_dim = 32
    config = PaddleOCRVLConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": hidden_size,
            "intermediate_size": hidden_size * 2,
            "num_hidden_layers": layers,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": head_dim,
            "max_position_embeddings": 4096,
            # mrope sections add up to half the rotary dimension.
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]},
            "pad_token_id": vocab["<unk>"],
            "bos_token_id": vocab["<s>"],
            "eos_token_id": vocab["</s>"],
            "tie_word_embeddings": False,
        },
        vision_config={
            "num_hidden_layers": 1,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_attention_heads": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "image_size": 56,
        },
        image_token_id=vocab["<|IMAGE_PLACEHOLDER|>"],
        video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|IMAGE_START|>"],
        vision_end_token_id=vocab["<|IMAGE_END|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = PaddleOCRVLForConditionalGeneration(config)
    _silence_special_tokens(model, len(SPECIAL_TOKENS))
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def build_tiny_glm_ocr(path: Path, *, seed: int = 0, hidden_size: int = 64, layers: int = 2) -> Path:
    """Save a tiny GLM-OCR into `path` laid out like the real checkpoint, and return it.

    Saved piece by piece (tokenizer naming `Glm46VProcessor`, `preprocessor_config.json`,
    `chat_template.jinja`) because the processor cannot be saved whole without its video processor.
    """
    import torch
    from transformers import GlmOcrConfig, GlmOcrForConditionalGeneration
    from transformers.models.glm46v.image_processing_pil_glm46v import Glm46VImageProcessorPil

    tokenizer, vocab = _char_tokenizer(
        GLM_SPECIAL_TOKENS,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<|image|>"},
    )
    # GLM counts a temporal factor of 2: 28×28×2 pixel-frames make one visual token; 2 to 8 per image.
    image_processor = Glm46VImageProcessorPil(
        size={"shortest_edge": 28 * 28 * 2 * 2, "longest_edge": 28 * 28 * 2 * 8},
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
    )
    config = GlmOcrConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": hidden_size,
            "intermediate_size": hidden_size * 2,
            "num_hidden_layers": layers,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 32,
            "max_position_embeddings": 4096,
            # Half of the rotary dimension (32 × 0.5) split over the temporal, height and width axes.
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [2, 3, 3],
                "partial_rotary_factor": 0.5,
            },
            "pad_token_id": vocab["<|endoftext|>"],
            "eos_token_id": [vocab["<|endoftext|>"], vocab["<|user|>"]],
        },
        vision_config={
            "depth": 1,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": hidden_size,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "image_size": 56,
        },
        image_token_id=vocab["<|image|>"],
        video_token_id=vocab["<|video|>"],
        image_start_token_id=vocab["<|begin_of_image|>"],
        image_end_token_id=vocab["<|end_of_image|>"],
        video_start_token_id=vocab["<|begin_of_video|>"],
        video_end_token_id=vocab["<|end_of_video|>"],
    )
    torch.manual_seed(seed)
    model = GlmOcrForConditionalGeneration(config)
    _silence_special_tokens(model, len(GLM_SPECIAL_TOKENS))
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    image_processor.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "chat_template.jinja").write_text(GLM_CHAT_TEMPLATE)
    tokenizer_config = path / "tokenizer_config.json"
    tokenizer_config.write_text(
        json.dumps(
            {**json.loads(tokenizer_config.read_text()), "processor_class": "Glm46VProcessor"}, indent=2
        )
    )
    return path


def build_tiny_lighton_ocr(path: Path, *, seed: int = 0, hidden_size: int = 64, layers: int = 2) -> Path:
    """Save a tiny LightOnOCR (Pixtral vision tower, Qwen3 decoder) into `path` and return it."""
    import torch
    from transformers import LightOnOcrConfig, LightOnOcrForConditionalGeneration, LightOnOcrProcessor
    from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil

    tokenizer, vocab = _char_tokenizer(
        LIGHTON_SPECIAL_TOKENS,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={
            "image_token": "<|image_pad|>",
            "image_break_token": "<|vision_pad|>",
            "image_end_token": "<|vision_end|>",
        },
    )
    # Longest side 112 px: at most 4×4 merged patches per image.
    image_processor = PixtralImageProcessorPil(size={"longest_edge": 112}, patch_size=14)
    processor = LightOnOcrProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=14,
        spatial_merge_size=2,
        chat_template=LIGHTON_CHAT_TEMPLATE,
    )
    config = LightOnOcrConfig(
        vision_config={
            "model_type": "pixtral",
            "head_dim": 16,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_attention_heads": 2,
            "num_hidden_layers": 1,
            "image_size": 112,
            "patch_size": 14,
        },
        text_config={
            "model_type": "qwen3",
            "head_dim": 32,
            "hidden_size": hidden_size,
            "intermediate_size": hidden_size * 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "num_hidden_layers": layers,
            "vocab_size": len(vocab),
            "max_position_embeddings": 4096,
        },
        spatial_merge_size=2,
        image_token_id=vocab["<|image_pad|>"],
        tie_word_embeddings=False,
        eos_token_id=vocab["<|im_end|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )
    torch.manual_seed(seed)
    model = LightOnOcrForConditionalGeneration(config)
    _silence_special_tokens(model, len(LIGHTON_SPECIAL_TOKENS))
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def _char_tokenizer(specials: list[str], **kwargs: Any) -> tuple[Any, dict[str, int]]:
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    vocab = {tok: i for i, tok in enumerate(specials + chars)}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=kwargs.get("unk_token")))
    core.add_special_tokens(specials)
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=core, padding_side="left", **kwargs), vocab


def _silence_special_tokens(model: Any, count: int) -> None:
    import torch

    with torch.no_grad():
        model.get_output_embeddings().weight[:count] = 0.0


def serve_in_thread(app: Any) -> tuple[str, Callable[[], None]]:
    """Run `app` under uvicorn in a thread on 127.0.0.1; returns its URL and a stop function.

    The socket is bound and listening before uvicorn starts, so clients may connect at once: their
    connections wait in the backlog instead of the caller polling for readiness.
    """
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()

    return f"http://127.0.0.1:{port}", stop
