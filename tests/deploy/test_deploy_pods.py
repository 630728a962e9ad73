"""`tierocr deploy pod` through our RunPod GraphQL client against a fake provider on loopback."""

from __future__ import annotations

import pytest
from fake_runpod import FakeRunPod
from typer.testing import CliRunner

from tierocr.cli import app

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
    assert {r["path"] for r in runpod_api.requests} == {"/graphql"}  # the key never rides in the URL


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


def test_a_create_whose_answer_is_lost_adopts_the_pod_instead_of_renting_another(
    runpod_api: FakeRunPod,
) -> None:
    runpod_api.lose_create_answers = 1  # RunPod made the pod, the gateway answered 504
    result = _create()
    assert result.exit_code == 0, result.output
    assert "HTTP 504" in result.output and "pod pod1 RUNNING" in result.output
    assert list(runpod_api.pods) == ["pod1"]
    assert len(runpod_api.queries("podFindAndDeployOnDemand")) == 1
    assert len(runpod_api.queries("myself")) == 1


def test_quotes_in_values_reach_the_pod_unchanged(
    runpod_api: FakeRunPod, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = 'pod"key\\ }) { id } mutation { podTerminate(input: {podId: "x"}) }'
    monkeypatch.setenv("TIEROCR_SERVER_API_KEY", secret)
    result = _create()
    assert result.exit_code == 0, result.output
    # Read back as one GraphQL string literal: an unescaped quote would have ended it early.
    assert runpod_api.pods["pod1"]["env"]["TIEROCR_SERVER_API_KEY"] == secret
    assert secret not in result.output


def test_a_refused_key_is_a_clear_error_without_retries_or_the_key(
    runpod_api: FakeRunPod, monkeypatch: pytest.MonkeyPatch
) -> None:
    runpod_api.refuse_key = True
    result = runner.invoke(app, ["deploy", "pod", "status", "pod1"])
    assert result.exit_code == 1
    assert "RunPod refused the API key (RUNPOD_API_KEY; HTTP 401)" in result.output
    assert "rp-test-secret" not in result.output and len(runpod_api.requests) == 1


def test_an_unreachable_api_is_retried_then_reported(
    runpod_api: FakeRunPod, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("TIEROCR_DEPLOY_CLOUD_API_URL", f"http://127.0.0.1:{port}/graphql")
    result = _create()
    assert result.exit_code == 1
    assert "cannot reach 127.0.0.1" in result.output and "retry 2/2 of price of NVIDIA A40" in result.output
    assert "rp-test-secret" not in result.output


def test_tierocr_never_imports_the_runpod_sdk_or_paramiko() -> None:
    """Licence guard: paramiko (LGPL-2.1, pulled by RunPod's SDK) stays out of tierocr's import path."""
    import subprocess
    import sys

    code = (
        "import sys, tierocr.cli, tierocr.deploy.pod_cli, tierocr.deploy.pods, tierocr.deploy.worker, "
        "tierocr.serverless\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('runpod', 'paramiko')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
