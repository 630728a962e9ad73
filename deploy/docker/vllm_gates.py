"""Build-time gates of the vLLM image: fail the build when a pin drifted or GLM-OCR support is missing.

GLM-OCR needs transformers >= 5.1 (the `glm_ocr` model type) while vLLM's metadata still asks for < 5, so
the image installs pinned transformers/tokenizers/huggingface_hub over vLLM without dependency checks.
Nothing then proves the combination works except these checks, run right after that install (and again
after tierocr is installed into the same Python for the pod and serverless images). They read files and
package metadata only, so they run in `docker build` without a GPU.

    python3 vllm_gates.py --vllm 0.27.1 --transformers 5.24.0 --tokenizers 0.23.3 --huggingface-hub 2.4.0
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from importlib import metadata
from pathlib import Path

ARCHS = ("GlmOcrForConditionalGeneration", "GlmOcrMTPModel")
MODEL_FILES = ("glm_ocr.py", "glm_ocr_mtp.py")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def check(pins: dict[str, str], mtp: bool = True) -> list[str]:
    """Every failed gate as one line naming the pin or file; empty when the image is good."""
    failures: list[str] = []
    for dist, wanted in pins.items():
        found = _version(dist)
        if found != wanted:
            failures.append(f"{dist}: pinned {wanted}, installed {found or 'nothing'}")
    try:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    except ImportError as exc:
        failures.append(f"transformers cannot be imported: {exc}")
    else:
        if "glm_ocr" not in CONFIG_MAPPING_NAMES:
            failures.append("transformers has no `glm_ocr` model type (GLM-OCR needs transformers >= 5.1)")
    if importlib.util.find_spec("transformers.models.glm_ocr") is None:
        failures.append("transformers.models.glm_ocr is missing (vLLM's glm_ocr.py imports its config)")
    root = _package_dir("vllm")
    if root is None:
        return [*failures, "vllm is not installed"]
    models = root / "model_executor" / "models"
    for name in MODEL_FILES:
        if not (models / name).is_file():
            failures.append(f"vllm ships no {name} (GLM-OCR model files)")
    registry = models / "registry.py"
    text = registry.read_text(encoding="utf-8") if registry.is_file() else ""
    for arch in ARCHS:
        if f'"{arch}"' not in text:
            failures.append(f"vllm's model registry has no {arch} entry")
    if mtp:
        speculative = root / "config" / "speculative.py"
        spec_text = speculative.read_text(encoding="utf-8") if speculative.is_file() else ""
        if "glm_ocr_mtp" not in spec_text:
            failures.append("vllm's speculative config does not know glm_ocr_mtp (MTP decoding)")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vllm", required=True)
    parser.add_argument("--transformers", required=True)
    parser.add_argument("--tokenizers", required=True)
    parser.add_argument("--huggingface-hub", required=True)
    parser.add_argument("--no-mtp", action="store_true", help="Do not require MTP speculative decoding.")
    args = parser.parse_args(argv)
    pins = {
        "vllm": args.vllm,
        "transformers": args.transformers,
        "tokenizers": args.tokenizers,
        "huggingface_hub": args.huggingface_hub,
    }
    failures = check(pins, mtp=not args.no_mtp)
    for line in failures:
        print(f"GATE FAILED: {line}", file=sys.stderr)
    if not failures:
        print("gates passed: " + ", ".join(f"{k}=={v}" for k, v in pins.items()) + "; GLM-OCR files and registry")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
