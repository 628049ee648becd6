"""A Dask worker plugin that records, in a file shared by all workers, each shard task a worker
finishes and each model load, with the worker's process id: what the Dask tests count."""

from __future__ import annotations

import os

from distributed import WorkerPlugin


class EventLog(WorkerPlugin):
    def __init__(self, path: str):
        self.path = path

    def _append(self, event: str) -> None:
        with open(self.path, "a") as log:
            log.write(f"{event} {os.getpid()}\n")

    def setup(self, worker) -> None:
        """Wrap the real loading function, in this worker process only."""
        from flows import extract

        load = extract.load_encoders

        def logged_load(settings):
            self._append("load")
            return load(settings)

        extract.load_encoders = logged_load

    def transition(self, key, start, finish, **kwargs) -> None:
        # Prefect names a task's Dask key after the task: "extract_shard-<run id>".
        if finish == "memory" and str(key).startswith("extract_shard-"):
            self._append("shard")
