"""`videolights serve`: serve every deployment declared in prefect.yaml from this process.

prefect.yaml is the one declaration of the deployments (names, descriptions, tags, parameters,
schedules): `prefect deploy --all` registers them on a work pool, this module serves the same
ones without a pool, so a schedule or a default turned on there holds for both. Flow runs import
their flow by module path (`flows.extract`), as a worker does: loading `flows/extract.py` as a
script would put flows/ first on sys.path, and results would name classes by unimportable
module names.

Without a configured API URL, the embedded server (flows.server) is started on 127.0.0.1 for as
long as the deployments are served.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import yaml

from flows.params import WORK
from flows.server import PrefectServer, start_process, stop_process, tail

ROOT = Path(__file__).resolve().parent.parent
PREFECT_FILE = ROOT / "prefect.yaml"


def declared_deployments(prefect_file: Path = PREFECT_FILE) -> list[dict]:
    return yaml.safe_load(Path(prefect_file).read_text(encoding="utf-8"))["deployments"]


def flow_of(entrypoint: str):
    """The flow object of a "module:name" entry point."""
    module, name = entrypoint.split(":")
    return getattr(importlib.import_module(module), name)


def runner_deployment(declared: dict):
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.schedules import Schedule
    from prefect.types.entrypoint import EntrypointType

    limit = declared.get("concurrency_limit")
    return flow_of(declared["entrypoint"]).to_deployment(
        name=declared["name"],
        entrypoint_type=EntrypointType.MODULE_PATH,
        description=declared.get("description"),
        tags=declared.get("tags"),
        parameters=declared.get("parameters"),
        schedules=[Schedule(**schedule) for schedule in declared.get("schedules") or []],
        concurrency_limit=ConcurrencyLimitConfig(**limit) if isinstance(limit, dict) else limit,
    )


def serve(
    prefect_file: Path = PREFECT_FILE,
    limit: int | None = None,
    server_home: Path = WORK / "prefect",
    port: int = 4200,
) -> None:
    """Serve until interrupted (Ctrl-C). `server_home` and `port` are the embedded server's,
    used only when no API URL is configured."""
    import prefect
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    deployments = [runner_deployment(d) for d in declared_deployments(prefect_file)]
    with contextlib.ExitStack() as stack:
        if get_current_settings().api.url is None:
            server = stack.enter_context(PrefectServer(server_home, port))
            stack.enter_context(temporary_settings({PREFECT_API_URL: server.api_url}))
            print(f"Prefect server (UI and API): {server.api_url.removesuffix('/api')}")
            print(f"From another shell: export PREFECT_API_URL={server.api_url}")
        prefect.serve(*deployments, limit=limit)


def last_polled(api_url: str, deployment: str) -> datetime | None:
    """When a runner last asked for runs of `deployment` ("flow/name"), or None."""
    try:
        with urllib.request.urlopen(f"{api_url}/deployments/name/{deployment}", timeout=5) as r:
            polled = json.load(r).get("last_polled")
    except urllib.error.HTTPError as error:
        if error.code == 404:  # not registered yet
            return None
        raise
    return datetime.fromisoformat(polled) if polled else None


@contextlib.contextmanager
def served(env: dict[str, str], log: Path, options: tuple[str, ...] = (), timeout: float = 120.0):
    """`videolights serve [options]` in a process of its own, for as long as the block runs.

    Returns once a runner of this process has polled for every declared deployment, so a run
    created from then on is picked up; stops the process and its flow runs on exit."""
    since = datetime.now(UTC)
    command = [sys.executable, "-m", "flows.cli", "serve", *options]
    process = start_process(command, env, log, cwd=ROOT)
    try:
        # Each deployment is named like its flow, so "flow/deployment" is "name/name".
        names = [f"{d['name']}/{d['name']}" for d in declared_deployments()]
        deadline = time.monotonic() + timeout
        for name in names:
            while (last_polled(env["PREFECT_API_URL"], name) or since) <= since:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"videolights serve exited ({process.returncode}):\n{tail(log)}"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{name} was not served within {timeout:.0f} s:\n{tail(log)}"
                    )
                time.sleep(0.5)
        yield process
    finally:
        stop_process(process)
