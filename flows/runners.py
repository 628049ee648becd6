"""Which task runner spreads a flow's shards: threads in the flow's process, or Dask.

    VIDEOLIGHTS_TASK_RUNNER=dask VIDEOLIGHTS_TASK_WORKERS=2 videolights serve
    VIDEOLIGHTS_TASK_RUNNER=dask VIDEOLIGHTS_DASK_ADDRESS=tcp://scheduler:8786 prefect worker ...

The choice is read from the environment when the flow modules are imported, because that is the
one channel that reaches every process that runs a flow: a served flow run (a subprocess of
`videolights serve`, which sets these variables from its options), a run picked up by
`prefect worker start`, and subflows started inside either. Dask runs a LocalCluster of
`workers` single-threaded processes unless given the address of a running scheduler (one Dask
worker per GPU on a real cluster, e.g. `dask cuda worker`).
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field, model_validator

ENVIRONMENT = {
    "kind": "VIDEOLIGHTS_TASK_RUNNER",
    "workers": "VIDEOLIGHTS_TASK_WORKERS",
    "address": "VIDEOLIGHTS_DASK_ADDRESS",
}


class TaskRunnerChoice(BaseModel):
    """`thread`: `workers` threads (decoding one shard overlaps encoding another);
    `dask`: `workers` processes of a LocalCluster, or the cluster at `address`."""

    kind: Literal["thread", "dask"] = "thread"
    workers: int = Field(2, ge=1)
    address: str | None = None

    @model_validator(mode="after")
    def _address_needs_dask(self) -> TaskRunnerChoice:
        if self.address and self.kind != "dask":
            raise ValueError("a scheduler address needs the dask task runner")
        return self

    @classmethod
    def from_environment(cls) -> TaskRunnerChoice:
        values = {
            field: os.environ[name] for field, name in ENVIRONMENT.items() if name in os.environ
        }
        return cls.model_validate(values)

    def environment(self) -> dict[str, str]:
        """The variables that make `from_environment` return this choice."""
        values = self.model_dump(exclude_none=True)
        return {ENVIRONMENT[field]: str(value) for field, value in values.items()}


def build_task_runner(choice: TaskRunnerChoice):
    """A Prefect task runner for `choice` (prefect-dask is imported only when asked for)."""
    if choice.kind == "thread":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=choice.workers)
    from prefect_dask import DaskTaskRunner

    if choice.address:
        return DaskTaskRunner(address=choice.address)
    cluster = {"n_workers": choice.workers, "threads_per_worker": 1, "dashboard_address": None}
    return DaskTaskRunner(cluster_kwargs=cluster)


def task_runner_from_environment():
    return build_task_runner(TaskRunnerChoice.from_environment())
