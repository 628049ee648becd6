"""The worker image's health check: `python -m flows.health` exits 0 while the Prefect worker in
this container is polling for flow runs, 1 otherwise (with the reason on stderr).

The worker runs as `prefect worker start --with-healthcheck`, which serves /health on
PREFECT_WORKER_WEBSERVER_HOST:PORT: 200 while the worker has polled the API within the last 30
query intervals, 503 after that; a worker process that is hung or gone does not answer at all.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 5.0


def main() -> int:
    host = os.environ.get("PREFECT_WORKER_WEBSERVER_HOST", "127.0.0.1")
    port = os.environ.get("PREFECT_WORKER_WEBSERVER_PORT", "8080")
    url = f"http://{host}:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS):
            return 0
    except (urllib.error.URLError, OSError) as error:  # 503, refused, timed out
        print(f"worker not polling: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
