"""The embedded Prefect server: one `prefect server start` on 127.0.0.1, owned by this process.

    with PrefectServer(Path("work/prefect")) as server:
        subprocess.run(["prefect", "deployment", "ls"], env=server.client_environment())

The server keeps its SQLite database and logs under `home` (its PREFECT_HOME), listens on a free
port of 127.0.0.1 only, and has analytics off (they fail without internet). It runs in its own
process group, so stopping it also stops anything it spawned. Processes are started from
argument lists, never through a shell. This module does not import prefect: a process that
starts a server can still choose the settings prefect will read when it is imported.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from flows.params import WORK

HOST = "127.0.0.1"


class ServerError(RuntimeError):
    """The server did not come up; the message ends with the tail of its log."""


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_process(
    argv: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen:
    """Start `argv` in a new process group (session), output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as stream:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process(process: subprocess.Popen, timeout: float = 20.0) -> int:
    """Stop a process started by `start_process` and everything in its group.

    SIGINT first, because Prefect's server, runners and workers shut down cleanly on it (a
    worker ignores SIGTERM); SIGKILL for whatever is left after `timeout`."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    _signal_group(process.pid, signal.SIGKILL)  # children that outlived their parent
    return process.wait()


def _signal_group(group: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, number)


def tail(path: Path, lines: int = 20) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_for_health(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Poll `{url}/health` until it answers true; fail early if the server process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"the Prefect server exited ({process.returncode}):\n{tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise ServerError(f"the Prefect server did not answer within {timeout:.0f} s:\n{tail(log)}")


class PrefectServer:
    """A Prefect server for this project's work folder, started and stopped by this object."""

    def __init__(
        self,
        home: Path = WORK / "prefect",
        port: int | None = None,
        timeout=120.0,
        settings: dict[str, str] | None = None,
    ):
        """`settings`: more environment of the server process only, e.g. its database
        (`PREFECT_API_DATABASE_CONNECTION_URL`); the default is SQLite under `home`."""
        self.home = Path(home).resolve()
        self.port = port
        self.timeout = timeout
        self.settings = settings or {}
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}/api"

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def client_environment(self) -> dict[str, str]:
        """The environment of a process that should talk to this server (and keep its own
        Prefect files, such as persisted results, under the same home)."""
        return os.environ | {
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }

    def start(self) -> PrefectServer:
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        env = self.client_environment() | self.settings
        del env["PREFECT_API_URL"]  # the server itself must not look for another server
        argv = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST]
        self.process = start_process([*argv, "--port", str(self.port)], env, self.log)
        try:
            wait_for_health(self.api_url, self.process, self.log, self.timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def __enter__(self) -> PrefectServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
