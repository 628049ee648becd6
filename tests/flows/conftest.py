"""One Prefect server for the flow tests, and the settings that point this process at it.

The server is the project's embedded one (flows.server) with its home in a temporary folder; it
is stopped, with everything it spawned, when the session ends. Flows called in this process
report to it and persist their results under its home, where the processes the tests start
(`videolights serve`, a worker) put theirs too.
"""

import shutil
from pathlib import Path

import pytest

from flows.server import PrefectServer

TINY = {"model_size": "tiny", "device": "cpu"}


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    with PrefectServer(tmp_path_factory.mktemp("prefect")) as server:
        yield server


@pytest.fixture(scope="session")
def prefect_api(prefect_server):
    """This process talks to the session's server (what a flow called here reports to)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    updates = {
        PREFECT_API_URL: prefect_server.api_url,
        PREFECT_LOCAL_STORAGE_PATH: prefect_server.home / "storage",
    }
    with temporary_settings(updates):
        yield prefect_server
        for worker in (APILogWorker, EventsWorker):  # deliver what is queued while it can
            worker.drain_all(timeout=10)


@pytest.fixture
def client_env(prefect_server) -> dict[str, str]:
    """The environment of a process the test starts against the session's server."""
    fast = {"PREFECT_RUNNER_POLL_FREQUENCY": "1", "PREFECT_WORKER_QUERY_SECONDS": "1"}
    return prefect_server.client_environment() | fast


@pytest.fixture
def videos(tmp_path, make_video, bundled_video) -> Path:
    """The bundled 30 s video and two short made ones (3 s and 2.5 s)."""
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(bundled_video, folder / "bunny.webm")
    for name, frames in (("short.mp4", 75), ("shorter.mp4", 60)):
        shutil.move(make_video(name, frames, fps=25, width=160, height=120), folder / name)
    return folder
