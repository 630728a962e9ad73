"""Plans against every preset and target: the VRAM arithmetic, placement, processes, and refusals."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from tierocr.cli import app
from tierocr.config import Settings
from tierocr.deploy.plan import Plan, PlanRefusedError, make_plan
from tierocr.deploy.presets import PresetsFile

runner = CliRunner()
TARGETS = ("local", "compose", "pod", "serverless")


def _all_env(plan: Plan) -> dict[str, str]:
    env: dict[str, str] = {}
    for p in plan.processes:
        env.update(p.env)
    for section in ("pod", "serverless"):
        env.update(plan.extra.get(section, {}).get("env", {}))
    env.update(plan.extra.get("compose_env", {}))
    return env


def assert_known_settings(env: dict[str, str], settings: Settings) -> None:
    """Every TIEROCR_* variable a plan hands out names a real setting (the config will be strict)."""
    fields = {"TIEROCR_DATA_DIR"}
    for section, info in Settings.model_fields.items():
        for name in getattr(info.annotation, "model_fields", {}):
            fields.add(f"TIEROCR_{section}_{name}".upper())
    unknown = sorted(k for k in env if k.startswith("TIEROCR_") and k not in fields)
    assert not unknown, f"not settings: {unknown}"


@pytest.mark.parametrize("target", TARGETS)
def test_every_preset_gives_a_plan_or_a_refusal_that_says_why(
    settings: Settings, presets: PresetsFile, target: str
) -> None:
    for key, preset in presets.gpus.items():
        cloud = target in ("pod", "serverless")
        if cloud and preset.runpod is None:
            with pytest.raises(PlanRefusedError, match=f"{key}: no cloud GPU type"):
                make_plan(settings, [key], target=target)
            continue
        plan = make_plan(settings, [key], target=target)
        assert plan.backend == preset.vlm_backend
        names = [p.name for p in plan.processes]
        assert any("api" in n or "handler" in n for n in names), names
        if plan.backend != "none":
            assert any(n.endswith(("vllm", "vlm-server", "vlm-serve")) for n in names), names
        assert plan.commands
        assert_known_settings(_all_env(plan), settings)
        json.dumps(plan.to_dict())  # the --json output is serialisable


def test_the_p100_and_rtx3080_box(settings: Settings) -> None:
    plan = make_plan(settings, ["P100", "RTX3080"])
    p100, rtx = plan.cards
    assert (p100.free_mib, rtx.free_mib) == (16384 - 1024, 12288 - 4608 - 1024)
    # vlm-serve fits both; the card without the LLM wins, and the LLM's card gets the guard.
    assert plan.backend == "vlm-serve" and plan.ocr_vl_card == 0
    by_name = {p.name: p for p in plan.processes}
    vlm = by_name["tierocr-vlm-server"]
    assert vlm.env["CUDA_VISIBLE_DEVICES"] == "0" and vlm.env["TIEROCR_GPU_LEASE"] == "gpu0"
    assert "--dtype float16" in " ".join(vlm.command)  # P100: fast half precision, no bfloat16
    guard = by_name["tierocr-gpu-guard-gpu1"]
    assert guard.command[guard.command.index("--lease") + 1] == "gpu1"
    assert {"tierocr-api", "tierocr-worker@1", "tierocr-worker@2"} <= set(by_name)
    assert by_name["tierocr-api"].env["TIEROCR_VLM_URL"] == "http://127.0.0.1:8001/v1"
    # Both sides of the lease use the same lock folder, outside the units' private /tmp.
    assert guard.env["TIEROCR_GPU_LOCK_DIR"] == vlm.env["TIEROCR_GPU_LOCK_DIR"] == "/var/lib/tierocr/gpu-lock"


def test_ocr_vl_can_be_put_on_the_shared_card(settings: Settings) -> None:
    plan = make_plan(settings, ["P100", "RTX3080"], ocr_vl_on=1)
    vlm = next(p for p in plan.processes if p.name == "tierocr-vlm-server")
    assert vlm.env["TIEROCR_GPU_LEASE"] == "gpu1" and vlm.env["TIEROCR_GPU_RESIDENT"] == "false"
    assert any("take turns through the GPU lease gpu1" in n for n in plan.notes)


def test_vllm_on_the_shared_card_fits_at_the_default_llm_and_holds_the_lease(settings: Settings) -> None:
    plan = make_plan(settings, ["RTX3080"], backend="vllm")
    fit = plan.fits[0][0]
    assert fit.ok and fit.budget_mib == int(0.45 * 12288)
    api = next(p for p in plan.processes if p.name == "tierocr-api")
    assert api.env["TIEROCR_VLM_USE_LEASE"] == "true"
    vllm = next(p for p in plan.processes if p.name == "tierocr-vllm")
    assert "--enable-sleep-mode" in vllm.command and "--gpu-memory-utilization" in vllm.command


def test_refusal_when_the_llm_leaves_too_little(settings: Settings) -> None:
    with pytest.raises(PlanRefusedError) as info:
        make_plan(settings, ["RTX3080"], shared_llm_gib=9)
    text = str(info.value)
    assert "vlm-serve needs 3.5 GiB" in text and "only 2.0 GiB are free (12.0 GiB - 9.0 GiB LLM" in text
    assert "--vlm-backend none" in text
    # ...while the classical-only plan of the same card fits.
    assert make_plan(settings, ["RTX3080"], shared_llm_gib=9, backend="none").ocr_vl_card is None


def test_refusal_when_vllm_utilization_outgrows_the_free_memory(settings: Settings) -> None:
    with pytest.raises(
        PlanRefusedError, match=r"0.45 x 12.0 GiB = 5.4 GiB, more than the 5.0 GiB free"
    ) as info:
        make_plan(settings, ["RTX3080"], shared_llm_gib=6, backend="vllm")
    assert "largest utilization that fits is 0.41, enough" in str(info.value)


def test_no_vllm_below_compute_capability_8(settings: Settings) -> None:
    with pytest.raises(PlanRefusedError, match=r"compute capability 6.0 < 8.0: no vLLM"):
        make_plan(settings, ["P100"], backend="vllm")


def test_refusals_of_shape(settings: Settings) -> None:
    with pytest.raises(PlanRefusedError, match="CPU is a whole-host preset"):
        make_plan(settings, ["CPU", "A40"])
    with pytest.raises(PlanRefusedError, match="rents one GPU"):
        make_plan(settings, ["A40", "A100"], target="pod")
    with pytest.raises(PlanRefusedError, match="ambiguous"):
        make_plan(settings, ["A40", "A100"], shared_llm_gib=4)
    with pytest.raises(PlanRefusedError, match=r"do not fit in 12\.0 GiB"):
        make_plan(settings, ["RTX3080"], shared_llm_gib=13)


def test_a40_pod_plan_carries_the_presets_flags(settings: Settings, presets: PresetsFile) -> None:
    plan = make_plan(settings, ["A40"], target="pod")
    flags = presets.gpu("A40").vllm
    assert flags is not None
    args = plan.extra["pod"]["env"]["VLLM_ARGS"]
    assert f"--gpu-memory-utilization {flags.gpu_memory_utilization:.2f}" in args
    assert f"--max-num-seqs {flags.max_num_seqs}" in args and "--speculative-config.method mtp" in args
    assert plan.extra["pod"]["gpu_types"] == ["NVIDIA A40"] and plan.extra["pod"]["fallback"] == [
        "A100",
        "H100",
    ]
    assert plan.extra["pod"]["env"]["TIEROCR_VLM_MAX_CONCURRENCY"] == "32"


def test_cli_prints_the_plan_and_refuses_with_exit_2() -> None:
    ok = runner.invoke(app, ["deploy", "plan", "--gpu", "P100", "--gpu", "RTX3080"])
    assert ok.exit_code == 0, ok.output
    assert "= free for OCR-VL" in ok.output and "OCR-VL: vlm-serve on GPU 0 P100" in ok.output
    assert re.search(r"sudo systemctl enable --now .*tierocr-gpu-guard-gpu1.service", ok.output)
    as_json = runner.invoke(app, ["deploy", "plan", "--gpu", "A40", "--target", "compose", "--json"])
    assert json.loads(as_json.output)["ocr_vl"] == {"card": 0, "backend": "vllm"}
    refused = runner.invoke(app, ["deploy", "plan", "--gpu", "RTX3080", "--shared-llm-gb", "9"])
    assert refused.exit_code == 2 and "plan refused" in refused.output
    unknown = runner.invoke(app, ["deploy", "plan", "--gpu", "V100"])
    assert unknown.exit_code == 2 and "unknown GPU preset 'V100'" in unknown.output


def test_docs_show_the_serverless_env_the_plans_give(settings: Settings) -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
    for gpu in ("A40", "A100", "H100"):
        plan = make_plan(settings, [gpu], target="serverless")
        block = "\n".join(f"{k}={v}" for k, v in plan.extra["serverless"]["env"].items())
        assert block in docs, f"docs/deploy.md: the {gpu} serverless env is out of date"
