"""The vLLM image's build gates against a fake vLLM tree, and `tierocr deploy up` writing or dry-running."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tierocr.cli import app

ROOT = Path(__file__).resolve().parents[2]
GATES = ROOT / "deploy" / "docker" / "vllm_gates.py"
runner = CliRunner()


def _fake_vllm(root: Path, version: str = "0.27.1", *, glm: bool = True, mtp: bool = True) -> Path:
    models = root / "vllm" / "model_executor" / "models"
    models.mkdir(parents=True)
    (root / "vllm" / "__init__.py").write_text("")
    (root / "vllm" / "config").mkdir()
    (root / "vllm" / "config" / "speculative.py").write_text(
        'MTP = ["glm_ocr_mtp"]\n' if mtp else "MTP = []\n"
    )
    entries = ""
    if glm:
        (models / "glm_ocr.py").write_text("")
        (models / "glm_ocr_mtp.py").write_text("")
        entries = (
            '"GlmOcrForConditionalGeneration": ("glm_ocr", "X"),\n"GlmOcrMTPModel": ("glm_ocr_mtp", "Y"),\n'
        )
    (models / "registry.py").write_text("_MODELS = {\n" + entries + "}\n")
    info = root / f"vllm-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}\n")
    return root


def _gates(path: Path, **pins: str) -> subprocess.CompletedProcess[str]:
    installed = {k: metadata.version(k) for k in ("transformers", "tokenizers", "huggingface_hub")}
    want = {"vllm": "0.27.1", **installed, **pins}
    args = [
        sys.executable,
        str(GATES),
        "--vllm",
        want["vllm"],
        "--transformers",
        want["transformers"],
        "--tokenizers",
        want["tokenizers"],
        "--huggingface-hub",
        want["huggingface_hub"],
    ]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(path)})


def test_gates_pass_on_a_good_image(tmp_path: Path) -> None:
    pytest.importorskip("transformers.models.glm_ocr", reason="the dev install has transformers >= 5.1")
    done = _gates(_fake_vllm(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "gates passed" in done.stdout


def test_gates_fail_when_a_pin_drifts(tmp_path: Path) -> None:
    done = _gates(_fake_vllm(tmp_path), transformers="4.57.0", vllm="0.28.0")
    assert done.returncode == 1
    assert "transformers: pinned 4.57.0, installed " in done.stderr
    assert "vllm: pinned 0.28.0, installed 0.27.1" in done.stderr


def test_gates_fail_when_vllm_lacks_glm_ocr(tmp_path: Path) -> None:
    done = _gates(_fake_vllm(tmp_path, glm=False, mtp=False))
    assert done.returncode == 1
    for missing in (
        "glm_ocr.py",
        "glm_ocr_mtp.py",
        "GlmOcrForConditionalGeneration",
        "GlmOcrMTPModel",
        "glm_ocr_mtp (MTP decoding)",
    ):
        assert missing in done.stderr


def test_start_script_is_valid_bash() -> None:
    assert subprocess.run(["bash", "-n", str(ROOT / "deploy" / "docker" / "start.sh")]).returncode == 0


def test_up_local_writes_units_and_env_files_under_root(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["deploy", "up", "--gpu", "P100", "--gpu", "RTX3080", "--root", str(tmp_path), "--apply"]
    )
    assert result.exit_code == 0, result.output
    unit = (tmp_path / "etc/systemd/system/tierocr-vlm-server.service").read_text()
    assert "ExecStart=/opt/tierocr/.venv/bin/tierocr vlm-serve --model /srv/models/GLM-OCR" in unit
    worker = (tmp_path / "etc/tierocr/worker-2.env").read_text()
    assert "TIEROCR_SERVER_PORT=8012" in worker and "TIEROCR_VLM_URL=http://127.0.0.1:8001/v1" in worker
    assert (tmp_path / "etc/tierocr/worker-2.env").stat().st_mode & 0o777 == 0o640
    assert "sudo systemctl enable --now" in result.output  # not run: the root is not /


def test_up_local_dry_run_writes_nothing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["deploy", "up", "--gpu", "A40", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output and "--- would write" in result.output
    assert "ExecStart=/opt/tierocr/vllm/bin/vllm serve" in result.output
    assert list(tmp_path.iterdir()) == []


def test_up_compose_dry_run_prints_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "compose.env"
    result = runner.invoke(
        app,
        ["deploy", "up", "--gpu", "A100", "--target", "compose", "--dry-run", "--env-file", str(env_file)],
    )
    assert result.exit_code == 0, result.output
    assert "COMPOSE_PROFILES=vllm" in result.output and "--max-num-seqs 256" in result.output
    assert "up -d --build" in result.output and not env_file.exists()


def test_up_refuses_cloud_targets_and_plans_that_do_not_fit(tmp_path: Path) -> None:
    pod = runner.invoke(app, ["deploy", "up", "--gpu", "A40", "--target", "pod"])
    assert pod.exit_code == 2 and "tierocr deploy pod" in pod.output
    refused = runner.invoke(
        app, ["deploy", "up", "--gpu", "P100", "--vlm-backend", "vllm", "--root", str(tmp_path)]
    )
    assert refused.exit_code == 2 and "no vLLM here" in refused.output
    assert list(tmp_path.iterdir()) == []
