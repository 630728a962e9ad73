"""`tierocr launch` and `tierocr stop` on a fake vLLM whose child leaves the process group and ignores
SIGTERM: nothing of the server is left alive (checked through /proc), even after its leader was killed with
SIGKILL; the memory-fraction check refuses an over-committed pair with the arithmetic in the message."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from launch_helpers import alive, cli_env, free_port, live_in_group, live_with_tag, tierocr, write_fake_server

from tierocr.gpu.nvml import GpuReading, ProcessMemory
from tierocr.gpu.procs import read_proc, wait_exit
from tierocr.model_servers.fractions import check_fractions
from tierocr.model_servers.lifecycle import StopReport, _check_gpu
from tierocr.model_servers.registry import ServerError


@pytest.fixture
def fake(tmp_path: Path) -> dict[str, Any]:
    info = tmp_path / "info.json"
    return {
        "program": str(write_fake_server(tmp_path)),
        "info": info,
        "env": cli_env(tmp_path / "data", FAKE_INFO=str(info)),
        "data": tmp_path / "data",
    }


def _launch(fake: dict[str, Any], name: str, fraction: str, **env: str) -> Any:
    port = free_port()
    args = ["launch", "vllm", "--exec", fake["program"], "--model", "tiny", "--port", str(port)]
    args += ["--name", name, "--gpu-memory-utilization", fraction, "--timeout", "30"]
    return tierocr({**fake["env"], **env}, *args)


def _record(fake: dict[str, Any], name: str) -> dict[str, Any]:
    return json.loads((fake["data"] / "servers" / f"{name}.json").read_text())


def test_stop_ends_the_group_and_the_child_that_left_it(fake: dict[str, Any]) -> None:
    launched = _launch(fake, "fake", "0.3")
    assert launched.returncode == 0, launched.stderr + launched.stdout
    assert "fake is up at http://127.0.0.1:" in launched.stdout
    assert "TIEROCR_VLM_BACKEND=vllm" in launched.stdout
    record = _record(fake, "fake")
    info = json.loads(fake["info"].read_text())
    child = info["child"]
    # vLLM is started with sleep mode, the way a batch frees the card
    assert "--enable-sleep-mode" in info["argv"] and info["dev_mode"] == "1"
    assert record["pgid"] == record["pid"] and alive(record["pid"]) and alive(child)
    child_info = read_proc(child)
    assert child_info is not None and child_info.pgid != record["pgid"]  # it left the group

    stopped = tierocr(fake["env"], "stop", "fake", "--grace", "0.5")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "left the server's group" in stopped.stdout
    assert f"SIGKILL to {child}" in stopped.stdout  # it ignored SIGTERM
    assert "processes left: 0" in stopped.stdout
    assert "GPU memory: not checked (NVML unavailable)" in stopped.stdout
    assert live_in_group(record["pgid"]) == [] and live_with_tag(record["tag"]) == []
    assert not alive(child) and not alive(record["pid"])
    assert not (fake["data"] / "servers" / "fake.json").exists()
    assert (fake["data"] / "servers" / "fake.log").read_text().count("fake server: listening") == 1


def test_stop_after_the_leader_was_killed_still_finds_the_orphan(fake: dict[str, Any]) -> None:
    launched = _launch(fake, "orphaned", "0.3")
    assert launched.returncode == 0, launched.stderr
    record = _record(fake, "orphaned")
    child = json.loads(fake["info"].read_text())["child"]
    os.kill(record["pid"], signal.SIGKILL)  # the pitfall: kill -9 of the server leaves its engine behind
    assert wait_exit([record["pid"]], 10) == set()
    orphan = read_proc(child)
    assert orphan is not None and not orphan.zombie and orphan.ppid != record["pid"]

    stopped = tierocr(fake["env"], "stop", "--all", "--grace", "0.5")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "SIGTERM to 1:" in stopped.stdout and "processes left: 0" in stopped.stdout
    assert live_with_tag(record["tag"]) == [] and not alive(child)


def test_launch_refuses_an_overcommitted_pair_with_the_arithmetic(fake: dict[str, Any]) -> None:
    first = _launch(fake, "llm", "0.6")
    assert first.returncode == 0, first.stderr
    assert "memory fractions: llm 0.60 = 0.60 of the card (limit 0.95)" in first.stdout
    try:
        second = _launch(fake, "ocr", "0.5")
        assert second.returncode == 2
        assert "refusing to launch ocr: llm 0.60 + ocr 0.50 = 1.10 of the card (limit 0.95)" in second.stderr
        assert not (fake["data"] / "servers" / "ocr.json").exists()  # nothing was started
        fits = _launch(fake, "ocr", "0.3")
        assert fits.returncode == 0, fits.stderr
        assert "llm 0.60 + ocr 0.30 = 0.90 of the card (limit 0.95)" in fits.stdout
    finally:
        stopped = tierocr(fake["env"], "stop", "--all", "--grace", "0.5")
    assert stopped.stdout.count("processes left: 0") == 2, stopped.stdout


def test_a_server_that_dies_while_starting_is_reported_and_cleaned_up(fake: dict[str, Any]) -> None:
    failed = _launch(fake, "broken", "0.3", FAKE_EXIT="3")
    assert failed.returncode == 1
    assert "broken exited with code 3 before it was healthy" in failed.stderr
    assert "fake server: failing on purpose" in failed.stderr  # the log's last lines
    assert not (fake["data"] / "servers" / "broken.json").exists()


def test_stop_without_a_name_lists_the_servers(fake: dict[str, Any]) -> None:
    result = tierocr(fake["env"], "stop")
    assert result.returncode == 2 and "give a server name or --all (launched: none)" in result.stderr


def test_fraction_check_refuses_what_is_not_free_now() -> None:
    reading = GpuReading(device=0, total_mb=24000, used_mb=15000, free_mb=9000)
    with pytest.raises(ServerError) as refused:
        check_fractions("ocr", 0.5, [], 0.95, reading)
    assert "ocr takes 0.50 x 24000 MiB = 12000 MiB; 9000 MiB of GPU 0 are free now" in str(refused.value)
    lines = check_fractions("ocr", 0.25, [("llm", 0.6)], 0.95, reading)
    assert lines == [
        "memory fractions: llm 0.60 + ocr 0.25 = 0.85 of the card (limit 0.95)",
        "ocr takes 0.25 x 24000 MiB = 6000 MiB; 9000 MiB of GPU 0 are free now",
    ]
    with pytest.raises(ServerError, match="not between 0 and 1"):
        check_fractions("ocr", 1.5, [], 0.95, None)


def _reading(used: float, procs: dict[int, tuple[str, float]]) -> GpuReading:
    processes = {pid: ProcessMemory(pid, name, mb) for pid, (name, mb) in procs.items()}
    return GpuReading(0, 24000, used, 24000 - used, processes)


def test_stop_names_the_process_that_still_holds_memory() -> None:
    before = _reading(15000, {101: ("vllm serve", 500), 102: ("VLLM::EngineCore", 5500), 7: ("ollama", 9000)})
    still = StopReport("x")
    _check_gpu(
        still,
        {101, 102},
        before,
        _reading(14500, {102: ("VLLM::EngineCore", 5500), 7: ("ollama", 9000)}),
        512,
        0,
    )
    assert still.holding == ["still holding memory: pid 102 (VLLM::EngineCore, 5500 MiB)"] and not still.clean
    gone = StopReport("x")
    _check_gpu(gone, {101, 102}, before, _reading(9000, {7: ("ollama", 9000)}), 512, 0)
    assert gone.clean and gone.gpu_lines == [
        "GPU 0: 15000 MiB used before the stop, 9000 MiB after (freed 6000 MiB)"
    ]
    held = StopReport("x")
    _check_gpu(held, {101, 102}, before, _reading(14000, {7: ("ollama", 9000)}), 512, 0)
    assert held.holding[0].startswith(
        "memory did not come back: the server's processes held 6000 MiB, 1000 MiB"
    )
    assert "pid 7 (ollama, 9000 MiB)" in held.holding[0]
