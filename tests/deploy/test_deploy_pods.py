"""`tierocr deploy pod` through RunPod's real SDK against a fake provider on loopback."""

from __future__ import annotations

import pytest
from fake_runpod import FakeRunPod
from typer.testing import CliRunner

from tierocr.cli import app

pytest.importorskip("runpod", reason="the cloud extra (RunPod SDK) is part of the dev install")
runner = CliRunner()


def _create(*extra: str) -> object:
    return runner.invoke(app, ["deploy", "pod", "create", "--gpu", "A40", "--yes", *extra])


def test_sold_out_gpu_falls_back_to_the_next_preset_with_its_own_flags(runpod_api: FakeRunPod) -> None:
    runpod_api.sold_out.add("NVIDIA A40")
    result = _create()
    assert result.exit_code == 0, result.output
    out = result.output
    assert "A40 -> NVIDIA A40: $0.44/h (secure cloud" in out  # the price is shown before renting
    assert "NVIDIA A40 stays sold out" in out
    assert "A100 -> NVIDIA A100 80GB PCIe: $1.64/h" in out
    assert "pod pod1 RUNNING" in out and "https://pod1-8007.proxy.runpod.net" in out
    creates = runpod_api.queries("podFindAndDeployOnDemand")
    # Retried the sold-out type with backoff (1 + 2 retries) before falling back.
    assert sum('gpuTypeId: "NVIDIA A40"' in q for q in creates) == 3
    a100 = [q for q in creates if "A100" in q]
    assert len(a100) == 1 and "--max-num-seqs 256" in a100[0]  # A100's preset, not A40's
    assert "pod-api-secret" in a100[0]  # the pod's API key goes to the pod...
    assert "pod-api-secret" not in out and "rp-test-secret" not in out  # ...and is never printed
    assert {r["auth"] for r in runpod_api.requests} == {"Bearer rp-test-secret"}


def test_a_5xx_is_retried_and_then_succeeds(runpod_api: FakeRunPod) -> None:
    runpod_api.fail_next = 1
    result = _create()
    assert result.exit_code == 0, result.output
    assert "retry 1/2 of price of NVIDIA A40" in result.output
    assert len(runpod_api.queries("podFindAndDeployOnDemand")) == 1
    assert "pod pod1 RUNNING" in result.output


def test_a_pod_that_never_runs_times_out_and_is_left_for_the_user(runpod_api: FakeRunPod) -> None:
    runpod_api.never_running = True
    result = _create()
    assert result.exit_code == 1
    assert "pod pod1 did not report RUNNING within 0.5 s" in result.output
    assert "no runtime yet" in result.output and "tierocr deploy pod status pod1" in result.output
    assert len(runpod_api.queries("pod(")) >= 3  # read several times, with backoff
    assert runpod_api.queries("podTerminate") == [] and "pod1" in runpod_api.pods


def test_every_type_sold_out_rents_nothing(runpod_api: FakeRunPod) -> None:
    from fake_runpod import PRICES

    runpod_api.sold_out.update(PRICES)
    result = _create()
    assert result.exit_code == 1
    assert "no GPU of A40 -> A100 -> H100 is available now; nothing was rented" in result.output
    assert runpod_api.pods == {}


def test_plan_shows_price_and_spec_and_rents_nothing(runpod_api: FakeRunPod) -> None:
    result = runner.invoke(app, ["deploy", "pod", "create", "--gpu", "A40", "--plan"])
    assert result.exit_code == 0, result.output
    assert "$0.44/h" in result.output and "VLLM_ARGS=" in result.output and "nothing rented" in result.output
    assert "TIEROCR_SERVER_API_KEY=*** (from the environment)" in result.output
    assert runpod_api.queries("podFindAndDeployOnDemand") == []


def test_without_the_api_key_in_the_environment_nothing_is_called(
    runpod_api: FakeRunPod, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY")
    result = _create()
    assert result.exit_code == 1
    assert "RUNPOD_API_KEY is not set" in result.output
    assert runpod_api.requests == []


def test_a_public_pod_needs_an_api_key_or_public(
    runpod_api: FakeRunPod, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIEROCR_SERVER_API_KEY")
    result = _create()
    assert result.exit_code == 1 and "--public" in result.output
    assert runpod_api.queries("podFindAndDeployOnDemand") == []


def test_status_stop_start_terminate(runpod_api: FakeRunPod) -> None:
    assert _create().exit_code == 0
    status = runner.invoke(app, ["deploy", "pod", "status", "pod1"])
    assert status.exit_code == 0 and "RUNNING, running, GPU A40, $0.44/h" in status.output
    assert runner.invoke(app, ["deploy", "pod", "stop", "pod1"]).exit_code == 0
    assert runpod_api.pods["pod1"]["status"] == "EXITED"
    plan = runner.invoke(app, ["deploy", "pod", "start", "pod1", "--plan"])
    assert "nothing started" in plan.output and runpod_api.queries("podResume") == []
    start = runner.invoke(app, ["deploy", "pod", "start", "pod1"])
    assert start.exit_code == 0 and "pod pod1 RUNNING" in start.output, start.output
    assert runner.invoke(app, ["deploy", "pod", "terminate", "pod1", "--yes"]).exit_code == 0
    assert "pod1" not in runpod_api.pods
    gone = runner.invoke(app, ["deploy", "pod", "status", "pod1"])
    assert gone.exit_code == 1 and "no such pod" in gone.output
