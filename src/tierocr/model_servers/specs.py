"""What `tierocr launch` runs for each kind of server: command line, environment, health endpoint.

vLLM is started with sleep mode (``--enable-sleep-mode`` and ``VLLM_SERVER_DEV_MODE=1``, which exposes
/sleep, /wake_up and /is_sleeping) because that is how an escalation batch gives its card back. Its
fraction of the card is what it claims at start; vlm-serve and Ollama load on demand and leave after each
batch, so they count with the fraction declared for them (default 0).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

VLLM_DEFAULT_FRACTION = 0.9  # vLLM's own default for --gpu-memory-utilization


@dataclass(frozen=True)
class LaunchSpec:
    kind: str
    argv: list[str]
    host: str
    port: int
    url: str  # the OpenAI base URL clients use
    health_url: str
    fraction: float
    model: str | None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def vlm_backend(self) -> str:
        """The `vlm.backend` value for a client of this server."""
        return "tierocr" if self.kind == "vlm-serve" else self.kind


def _root(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def vllm_spec(
    model: str,
    host: str,
    port: int,
    fraction: float | None,
    max_num_seqs: int | None,
    sleep_mode: bool,
    program: str | None,
    extra: list[str],
) -> LaunchSpec:
    argv = [program or "vllm", "serve", model, "--host", host, "--port", str(port)]
    if fraction is not None:
        argv += ["--gpu-memory-utilization", f"{fraction:g}"]
    if max_num_seqs is not None:
        argv += ["--max-num-seqs", str(max_num_seqs)]
    env = {}
    if sleep_mode:
        argv.append("--enable-sleep-mode")
        env["VLLM_SERVER_DEV_MODE"] = "1"
    root = _root(host, port)
    share = VLLM_DEFAULT_FRACTION if fraction is None else fraction
    return LaunchSpec("vllm", [*argv, *extra], host, port, f"{root}/v1", f"{root}/health", share, model, env)


def vlm_serve_spec(
    model: str,
    host: str,
    port: int,
    fraction: float | None,
    max_num_seqs: int | None,
    device: str | None,
    dtype: str | None,
    extra: list[str],
) -> LaunchSpec:
    argv = [sys.executable, "-m", "tierocr.cli", "vlm-serve", "--model", model]
    argv += ["--host", host, "--port", str(port)]
    if device:
        argv += ["--device", device]
    if dtype:
        argv += ["--dtype", dtype]
    env = {"TIEROCR_VLM_SERVER_MAX_BATCH_SIZE": str(max_num_seqs)} if max_num_seqs is not None else {}
    root = _root(host, port)
    return LaunchSpec(
        "vlm-serve", [*argv, *extra], host, port, f"{root}/v1", f"{root}/health", fraction or 0.0, model, env
    )


def ollama_spec(
    model: str | None,
    host: str,
    port: int,
    fraction: float | None,
    max_num_seqs: int | None,
    program: str | None,
    extra: list[str],
) -> LaunchSpec:
    env = {"OLLAMA_HOST": f"{host}:{port}"}
    if max_num_seqs is not None:
        env["OLLAMA_NUM_PARALLEL"] = str(max_num_seqs)
    root = _root(host, port)
    argv = [program or "ollama", "serve", *extra]
    return LaunchSpec(
        "ollama", argv, host, port, f"{root}/v1", f"{root}/api/version", fraction or 0.0, model, env
    )
