"""The processes, settings and exact commands of a plan, per target (local, compose, pod, serverless)."""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath
from typing import Any

from tierocr.config import Settings
from tierocr.deploy.plan import Plan, Process
from tierocr.deploy.presets import settings_env

API_CONTAINER_PORT = 8007  # the port the images listen on inside a container (server.port's default)
POD_MODEL_DIR = "/models"  # where the pod/serverless image keeps the weights it was built with


def vllm_args(plan: Plan, model_path: str, host: str, port: int) -> list[str]:
    """`vllm serve` arguments from the OCR-VL card's preset: the one place vLLM flags are spelled."""
    flags = plan.ocr_vl_preset.vllm
    if flags is None:
        raise ValueError("vllm_args needs a preset with vLLM flags")
    args = [
        model_path,
        "--host",
        host,
        "--port",
        str(port),
        "--served-model-name",
        plan.model.hf_id,
        "--gpu-memory-utilization",
        f"{flags.gpu_memory_utilization:.2f}",
        "--max-num-seqs",
        str(flags.max_num_seqs),
        "--max-num-batched-tokens",
        str(flags.max_num_batched_tokens),
        "--max-model-len",
        str(flags.max_model_len),
    ]
    if plan.model.mtp and flags.mtp_tokens:
        args += [
            "--speculative-config.method",
            "mtp",
            "--speculative-config.num_speculative_tokens",
            str(flags.mtp_tokens),
        ]
    if flags.enable_sleep_mode:
        args.append("--enable-sleep-mode")
    return args


def build_processes(plan: Plan, settings: Settings) -> None:
    """Fill ``plan.processes``, ``plan.tierocr_settings``, ``plan.commands`` and notes for its target."""
    from tierocr.deploy.cloudplan import pod_processes, serverless_processes

    {
        "local": _local,
        "compose": _compose,
        "pod": pod_processes,
        "serverless": serverless_processes,
    }[plan.target](plan, settings)
    _shared_notes(plan)


def base_settings(plan: Plan, vlm_url: str | None) -> dict[str, dict[str, Any]]:
    """The preset's worker concurrency plus where the VLM is; the same for the API and every worker."""
    preset = plan.ocr_vl_preset
    nested: dict[str, dict[str, Any]] = {k: dict(v) for k, v in preset.settings.items()}
    vlm = nested.setdefault("vlm", {})
    if vlm_url is None:
        vlm.pop("max_concurrency", None)
        vlm["escalate"] = "never"
        if not vlm:
            nested.pop("vlm")
        return nested
    vlm.update({"url": vlm_url, "model": plan.model.hf_id, "profile": plan.model.profile})
    card = plan.cards[plan.ocr_vl_card or 0]
    if plan.backend == "vllm" and card.shared:
        # vLLM does not take the lease itself; the escalation client holds it around its requests.
        vlm["use_lease"] = True
    return nested


def _lease(plan: Plan, card: int | None) -> dict[str, Any]:
    return {"lease": f"gpu{card}", "device_index": card} if card is not None else {}


def _vlm_serve_env(plan: Plan, lease: dict[str, Any]) -> dict[str, str]:
    preset = plan.ocr_vl_preset
    card = plan.cards[plan.ocr_vl_card or 0]
    nested: dict[str, dict[str, Any]] = {
        "vlm_server": {
            "served_model_name": plan.model.hf_id,
            "max_batch_size": preset.vlm_serve.max_batch_size,
        },
        "gpu": dict(lease),
    }
    if card.shared:
        nested["gpu"]["resident"] = False
    return settings_env(nested)


def _local(plan: Plan, settings: Settings) -> None:
    d = settings.deploy
    bin_dir = PurePosixPath(d.install_dir) / ".venv" / "bin"
    tierocr = str(bin_dir / "tierocr")
    lock = {"lock_dir": str(PurePosixPath(d.state_dir) / "gpu-lock")}
    model_path = str(PurePosixPath(d.models_dir) / PurePosixPath(plan.model.hf_id).name)
    offline = {"HF_HUB_OFFLINE": "1"}
    url = None
    card = plan.ocr_vl_card
    gpu_env = {"CUDA_VISIBLE_DEVICES": str(card)} if card is not None and plan.ocr_vl_preset.is_gpu else {}
    if plan.backend == "vllm":
        vllm = str(PurePosixPath(d.install_dir) / "vllm" / "bin" / "vllm")
        args = vllm_args(plan, model_path, "127.0.0.1", d.vllm_port)
        plan.processes.append(
            Process(
                "tierocr-vllm",
                "vLLM serving the OCR-VL model",
                [vllm, "serve", *args],
                {**gpu_env, **offline},
                d.vllm_port,
                card,
            )
        )
        url = f"http://127.0.0.1:{d.vllm_port}/v1"
    elif plan.backend == "vlm-serve":
        device = "cuda" if plan.ocr_vl_preset.is_gpu else "cpu"
        port = settings.vlm_server.port
        cmd = [
            tierocr,
            "vlm-serve",
            "--model",
            model_path,
            "--device",
            device,
            "--dtype",
            plan.ocr_vl_preset.vlm_serve.dtype,
            "--port",
            str(port),
        ]
        env = {
            **gpu_env,
            **offline,
            **_vlm_serve_env(plan, {**_lease(plan, card), **lock} if gpu_env else {}),
        }
        plan.processes.append(
            Process("tierocr-vlm-server", "tierocr vlm-serve (OCR-VL)", cmd, env, port, card)
        )
        url = f"http://127.0.0.1:{port}/v1"
    nested = base_settings(plan, url)
    if plan.backend == "vllm" and card is not None and plan.cards[card].shared:
        nested.setdefault("gpu", {}).update({**_lease(plan, card), **lock})
    plan.tierocr_settings = nested
    env = settings_env(nested)
    api_port = settings.server.port
    state = PurePosixPath(d.state_dir)
    plan.processes.append(
        Process(
            "tierocr-api",
            "HTTP API (interactive, async jobs)",
            [
                tierocr,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(api_port),
                "--data-dir",
                str(state / "api"),
            ],
            env,
            api_port,
        )
    )
    for n in range(1, d.batch_workers + 1):
        port = d.worker_base_port + n - 1
        plan.processes.append(
            Process(
                f"tierocr-worker@{n}",
                f"batch worker {n} (bulk /api/ocr traffic)",
                [
                    tierocr,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--data-dir",
                    str(state / f"worker-{n}"),
                ],
                env,
                port,
            )
        )
    upstream = settings.gpu.guard_upstream or d.llm_upstream
    for c in plan.cards:
        if c.shared:
            port = settings.gpu.guard_port + c.index
            plan.processes.append(
                Process(
                    "tierocr-gpu-guard" + (f"-gpu{c.index}" if len(plan.cards) > 1 else ""),
                    f"GPU lease guard in front of the LLM on GPU {c.index}",
                    [
                        tierocr,
                        "gpu",
                        "guard",
                        "--lease",
                        f"gpu{c.index}",
                        "--upstream",
                        upstream,
                        "--port",
                        str(port),
                    ],
                    settings_env({"gpu": lock}),
                    port,
                    c.index,
                )
            )
    units = " ".join(p.name + ".service" for p in plan.processes)
    plan.commands = [f"python3 -m venv {d.install_dir}/.venv"]
    if plan.backend == "vlm-serve":
        index = plan.pins.torch_cuda_index if gpu_env else "https://download.pytorch.org/whl/cpu"
        plan.commands.append(f"{bin_dir}/pip install --index-url {index} torch torchvision")
    extras = "server,gpu" if gpu_env or plan.backend == "vllm" else "server"
    extras += ",vlm" if plan.backend == "vlm-serve" else ""
    plan.commands.append(f"{bin_dir}/pip install 'tierocr[{extras}]'")
    if plan.backend == "vllm":
        plan.commands.append(_vllm_install(plan, str(PurePosixPath(d.install_dir) / "vllm")))
    plan.commands += [
        f"sudo tierocr deploy up {plan.extra.get('args', '')} --target local".replace("  ", " "),
        "sudo systemctl daemon-reload",
        f"sudo systemctl enable --now {units}",
        "sudo install -m 644 deploy/nginx/tierocr.conf /etc/nginx/sites-enabled/tierocr.conf "
        "&& sudo nginx -t && sudo systemctl reload nginx",
        f"tierocr deploy check http://127.0.0.1:{api_port}",
    ]
    plan.notes.append(f"weights are read from {model_path} (nothing is downloaded at run time)")


def _vllm_install(plan: Plan, venv: str) -> str:
    p = plan.pins
    return (
        f"python3 -m venv {venv} && {venv}/bin/pip install vllm=={p.vllm_version} && {venv}/bin/pip install "
        f"--no-deps transformers=={p.transformers} tokenizers=={p.tokenizers} "
        f"huggingface_hub=={p.huggingface_hub} && {venv}/bin/python deploy/docker/vllm_gates.py "
        f"--vllm {p.vllm_version} --transformers {p.transformers} --tokenizers {p.tokenizers} "
        f"--huggingface-hub {p.huggingface_hub}"
    )


def compose_env(plan: Plan, settings: Settings) -> dict[str, str]:
    """The variables `docker compose --env-file` reads: profiles, vLLM/vlm-serve arguments, images.

    None of them starts with TIEROCR_: the containers receive this file too, and every TIEROCR_* variable
    must be a setting.
    """
    from tierocr import __version__

    d = settings.deploy
    name = PurePosixPath(plan.model.hf_id).name
    card = plan.ocr_vl_card
    env: dict[str, str] = {
        "COMPOSE_PROFILES": plan.backend if plan.backend != "none" else "",
        "IMAGE_PREFIX": d.image_prefix,
        "IMAGE_TAG": __version__,
        "MODELS_DIR": str(d.models_dir),
        "API_PORT": str(settings.server.port),
        "WORKER_1_PORT": str(d.worker_base_port),
        "WORKER_2_PORT": str(d.worker_base_port + 1),
        "OCR_VL_GPU": str(card if card is not None else 0),
    }
    if plan.backend == "vllm":
        env["VLLM_ARGS"] = shlex.join(vllm_args(plan, f"/models/{name}", "0.0.0.0", d.vllm_port)[1:])
        env["VLLM_MODEL"] = f"/models/{name}"
        pins = plan.pins
        env.update(
            {
                "VLLM_IMAGE": pins.vllm_image,
                "VLLM_VERSION": pins.vllm_version,
                "TRANSFORMERS_VERSION": pins.transformers,
                "TOKENIZERS_VERSION": pins.tokenizers,
                "HF_HUB_VERSION": pins.huggingface_hub,
            }
        )
    if plan.backend == "vlm-serve":
        env["VLM_SERVE_DTYPE"] = plan.ocr_vl_preset.vlm_serve.dtype
        env["VLM_SERVE_MODEL"] = f"/models/{name}"
    return env


def _compose(plan: Plan, settings: Settings) -> None:
    d = settings.deploy
    url = {"vllm": f"http://vllm:{d.vllm_port}/v1", "vlm-serve": "http://vlm-serve:8001/v1"}.get(plan.backend)
    nested = base_settings(plan, url)
    nested.setdefault("gpu", {}).update({"backend": "redis", "redis_url": f"redis://redis:{d.redis_port}/0"})
    if plan.ocr_vl_card is not None:
        nested["gpu"]["lease"] = f"gpu{plan.ocr_vl_card}"
    plan.tierocr_settings = nested
    env = settings_env(nested)
    cenv = compose_env(plan, settings)
    plan.extra["compose_env"] = {**cenv, **env}
    if plan.backend == "vllm":
        plan.processes.append(
            Process(
                "vllm",
                "vLLM serving the OCR-VL model",
                ["vllm", "serve", cenv["VLLM_MODEL"], *shlex.split(cenv["VLLM_ARGS"])],
                {},
                d.vllm_port,
                plan.ocr_vl_card,
            )
        )
    elif plan.backend == "vlm-serve":
        plan.processes.append(
            Process(
                "vlm-serve",
                "tierocr vlm-serve (OCR-VL)",
                [
                    "tierocr",
                    "vlm-serve",
                    "--model",
                    cenv["VLM_SERVE_MODEL"],
                    "--dtype",
                    cenv["VLM_SERVE_DTYPE"],
                ],
                {},
                8001,
                plan.ocr_vl_card,
            )
        )
    plan.processes.append(Process("redis", "Redis for the GPU lease", ["redis-server"], {}, d.redis_port))
    plan.processes.append(Process("api", "HTTP API", ["tierocr", "serve"], env, settings.server.port))
    for n in range(1, 3):
        plan.processes.append(
            Process(f"worker-{n}", f"batch worker {n}", ["tierocr", "serve"], env, d.worker_base_port + n - 1)
        )
    env_file = "deploy/compose.env"
    plan.commands = [
        f"tierocr deploy up {plan.extra.get('args', '')} --target compose   # writes {env_file}".replace(
            "  ", " "
        ),
        f"docker compose -f {d.compose_file} --env-file {env_file} build",
        f"docker compose -f {d.compose_file} --env-file {env_file} up -d",
        f"tierocr deploy check http://127.0.0.1:{settings.server.port}",
    ]


def _shared_notes(plan: Plan) -> None:
    for card in plan.cards:
        if not card.shared:
            continue
        if plan.ocr_vl_card == card.index and plan.backend == "vlm-serve":
            plan.notes.append(
                f"GPU {card.index}: OCR-VL and the LLM take turns through the GPU lease gpu{card.index}; "
                "vlm-serve unloads the model after each batch (gpu.resident false)"
            )
        elif plan.ocr_vl_card == card.index and plan.backend == "vllm":
            plan.notes.append(
                f"GPU {card.index}: vLLM keeps its weights and KV cache beside the LLM; the escalation "
                "client holds the lease around its requests (vlm.use_lease), but the memory stays taken"
            )
        else:
            plan.notes.append(f"GPU {card.index}: keeps its LLM to itself; no OCR-VL there")
