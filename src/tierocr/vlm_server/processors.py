"""Loading a checkpoint's processor, including GLM-OCR's on installs without torchvision.

transformers pairs GLM-OCR with `Glm46VProcessor`, which insists on a video processor, and video
processors need torchvision. A CPU-only install often has none (no torchvision build matches a local CPU
torch), yet OCR never sends video: there the processor is assembled from the checkpoint's tokenizer, PIL
image processor and chat template, with the video part left out.
"""

from __future__ import annotations

from typing import Any

VIDEO_ONLY_NEEDS_TORCHVISION = ("glm_ocr",)


def load_processor(source: str, model_type: str | None, **kwargs: Any) -> Any:
    from transformers import AutoProcessor
    from transformers.utils import is_torchvision_available

    if model_type in VIDEO_ONLY_NEEDS_TORCHVISION and not is_torchvision_available():
        return _glm_processor_without_video(source, **kwargs)
    processor = AutoProcessor.from_pretrained(source, **kwargs)
    if not hasattr(processor, "image_processor"):
        raise RuntimeError(f"{source}: transformers found no image processor for model type {model_type!r}")
    return processor


def _glm_processor_without_video(source: str, **kwargs: Any) -> Any:
    from transformers import AutoTokenizer
    from transformers.models.glm46v.image_processing_pil_glm46v import Glm46VImageProcessorPil
    from transformers.models.glm46v.processing_glm46v import Glm46VProcessor

    class GlmProcessorWithoutVideo(Glm46VProcessor):
        def check_argument_for_proper_class(self, argument_name: str, argument: Any) -> Any:
            if argument_name == "video_processor" and argument is None:
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    image_processor = Glm46VImageProcessorPil.from_pretrained(source, **kwargs)
    return GlmProcessorWithoutVideo(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=None,
        chat_template=tokenizer.chat_template,
    )
