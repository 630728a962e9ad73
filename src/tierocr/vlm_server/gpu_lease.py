"""The GPU lease in `tierocr vlm-serve`: on a card shared with an LLM, OCR-VL work never runs beside it.

`tierocr.gpu` provides the lease and the NVML budget check; this module decides from the settings whether
the server takes the lease (`vlm_server.use_lease`: auto means on cuda only, since a CPU server shares no
card), turns the lease into the app's lease hook, and puts the budget check in front of the model loader.
With `gpu.resident: false` the app holds one lease per batch and unloads before giving it back (see
`ModelManager.batch`). Lease and budget failures reach clients as OpenAI-style 503s, not as 500s.
"""

from __future__ import annotations

import contextlib
import json
import logging
import struct
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from tierocr.config import GpuSettings, VlmServerSettings
from tierocr.gpu.lease import Hold, Lease, LeaseError, LeaseTimeout, create_lease
from tierocr.vlm_server.memory import LeaseFactory, ModelLoader
from tierocr.vlm_server.protocol import ApiError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tierocr.vlm_server.jobs import ServedModel

log = logging.getLogger(__name__)

_MIB = 1024 * 1024
_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth")
# Bytes per element of safetensors' floating dtypes; integer tensors keep their size whatever `dtype` says.
_ST_FLOAT_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1}
_CONFIG_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


def target_device(settings: VlmServerSettings) -> str:
    """Where the model will run, without raising when cuda is asked for but absent (loading says so)."""
    if settings.device != "auto":
        return settings.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def lease_wanted(settings: VlmServerSettings) -> bool:
    if settings.use_lease == "auto":
        return target_device(settings) == "cuda"
    return settings.use_lease == "always"


def lease_factory(lease: Lease) -> LeaseFactory:
    """The app's lease hook on a `tierocr.gpu` lease (priority and timeout from `gpu` settings)."""

    def factory(purpose: str) -> AbstractAsyncContextManager[object]:
        return _held(lease, purpose)

    return factory


@contextlib.asynccontextmanager
async def _held(lease: Lease, purpose: str) -> AsyncIterator[Hold]:
    def queued() -> None:
        log.debug("queued for GPU lease %s (%s)", lease.name, purpose)

    async with contextlib.AsyncExitStack() as stack:
        try:
            hold = await stack.enter_async_context(lease.acquire(on_queued=queued))
        except LeaseTimeout as exc:
            raise ApiError(
                503,
                f"the GPU is busy: lease {lease.name!r} was not free within {lease.default_timeout_s:g} s "
                "(another model is using the card); retry later",
                type_="server_busy",
                code="gpu_busy",
            ) from exc
        except LeaseError as exc:
            message = f"the GPU lease {lease.name!r} cannot be taken: {exc}"
            raise ApiError(503, message, type_="server_error", code="gpu_lease") from exc
        log.debug("holding GPU lease %s (%s), token %d", lease.name, purpose, hold.token)
        yield hold


def _checkpoint_folder(model: str) -> Path | None:
    """The folder of a model path or of a hub id in the local cache; None when it cannot be found."""
    if Path(model).is_dir():
        return Path(model)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True))
    except (ImportError, OSError, ValueError) as exc:
        log.warning("GPU budget: cannot find %s on disk to size it (%s); check skipped", model, exc)
        return None


def _safetensors_bytes(path: Path, target_bytes: int) -> float:
    """The tensors' size once loaded: floating tensors at ``target_bytes`` each, from the file's header."""
    with path.open("rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    total = 0.0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        stored = _ST_FLOAT_BYTES.get(info["dtype"])
        total += (end - start) * (target_bytes / stored if stored else 1.0)
    return total


def _config_dtype_bytes(folder: Path) -> int | None:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    name = config.get("dtype") or config.get("torch_dtype") or text.get("dtype") or text.get("torch_dtype")
    return _CONFIG_DTYPE_BYTES.get(str(name))


def estimate_weights_mb(folder: Path, target_bytes: int) -> float | None:
    """The checkpoint's size on disk scaled to the dtype it will be loaded in, in MiB.

    safetensors headers tell each tensor's stored dtype exactly; pickled checkpoints are scaled by the
    dtype in `config.json` (unscaled when it names none). None when the folder holds no weights.
    """
    tensors = sorted(folder.glob("*.safetensors"))
    if tensors:
        return sum(_safetensors_bytes(p, target_bytes) for p in tensors) / _MIB
    pickled = [p for p in folder.iterdir() if p.suffix in _WEIGHT_SUFFIXES and p.is_file()]
    if not pickled:
        return None
    stored = _config_dtype_bytes(folder)
    factor = target_bytes / stored if stored else 1.0
    return sum(p.stat().st_size for p in pickled) * factor / _MIB


def checked_loader(loader: ModelLoader, gpu: GpuSettings) -> ModelLoader:
    """``loader`` preceded, on cuda, by the NVML budget check (model size plus `gpu.headroom_mb`).

    It runs where loading runs: under the lease, right before the weights move, so the reading is fresh.
    A model that does not fit gets a 503 that says how much is needed and free, instead of a CUDA
    out-of-memory error deep in transformers or an LLM pushed off the card.
    """

    def load(settings: VlmServerSettings) -> ServedModel:
        if target_device(settings) == "cuda" and settings.model is not None:
            _check_budget(settings, gpu)
        return loader(settings)

    return load


def _check_budget(settings: VlmServerSettings, gpu: GpuSettings) -> None:
    from tierocr.gpu.budget import GpuBudgetError, check_budget
    from tierocr.vlm_server.model import resolve_dtype

    assert settings.model is not None
    folder = _checkpoint_folder(settings.model)
    if folder is None:
        return
    needed = estimate_weights_mb(folder, resolve_dtype(settings.dtype, "cuda").itemsize)
    if needed is None:
        log.warning("GPU budget: no weight files in %s; check skipped", folder)
        return
    try:
        check_budget(needed, gpu, what=f"model {settings.model}")
    except GpuBudgetError as exc:
        raise ApiError(503, str(exc), type_="server_error", code="insufficient_gpu_memory") from exc


def build_app(
    settings: VlmServerSettings, gpu: GpuSettings, *, loader: ModelLoader | None = None
) -> tuple[FastAPI, Lease | None]:
    """The served app with the GPU policy applied; the caller closes the returned lease after serving."""
    from tierocr.vlm_server.app import create_app, default_loader

    load = checked_loader(loader or default_loader, gpu)
    if not lease_wanted(settings):
        return create_app(settings, loader=load), None
    lease = create_lease(None, gpu)
    log.info(
        "taking GPU lease %s (%s backend) around OCR-VL work; %s",
        lease.name,
        lease.backend,
        "the model stays loaded" if gpu.resident else "the model is unloaded after each batch",
    )
    app = create_app(
        settings,
        loader=load,
        lease=lease_factory(lease),
        unload_after_batch=not gpu.resident,
        lease_name=lease.name,
    )
    return app, lease
