"""Subcommands of the orchestration layer: `videolights serve` and `videolights demo`."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from flows import WORK


def register(subparsers) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve every flow as a Prefect deployment (prefect.yaml), until Ctrl-C",
        description=(
            "Serve the deployments of prefect.yaml from this process; run them with "
            "`prefect deployment run FLOW/FLOW --param NAME=VALUE --watch`. Without "
            "PREFECT_API_URL, an embedded server is started on 127.0.0.1:PORT."
        ),
    )
    serve.add_argument(
        "--task-runner",
        choices=("thread", "dask"),
        help="what runs a flow's shards (default: $VIDEOLIGHTS_TASK_RUNNER or thread)",
    )
    serve.add_argument(
        "--workers", type=int, help="threads, or Dask LocalCluster processes (default 2)"
    )
    serve.add_argument("--dask-address", help="a running Dask scheduler, instead of a LocalCluster")
    serve.add_argument("--limit", type=int, help="at most this many flow runs at a time")
    serve.add_argument("--prefect-file", type=Path, help="the deployments (default: prefect.yaml)")
    serve.add_argument(
        "--work", type=Path, default=WORK, help="the embedded server's home: WORK/prefect"
    )
    serve.add_argument("--port", type=int, default=4200, help="the embedded server's port")
    serve.set_defaults(handler=run_serve)

    demo = subparsers.add_parser(
        "demo",
        help="run pretrain-then-finetune on the bundled video through a served deployment",
        description="The `make demo` job: see flows/demo.py.",
    )
    demo.add_argument("--work", type=Path, default=WORK, help="work folder (default: work)")
    demo.set_defaults(handler=run_demo)


def run_serve(args: argparse.Namespace) -> int:
    from flows.runners import TaskRunnerChoice

    given = {"kind": args.task_runner, "workers": args.workers, "address": args.dask_address}
    values = TaskRunnerChoice.from_environment().model_dump()
    values |= {key: value for key, value in given.items() if value is not None}
    choice = TaskRunnerChoice.model_validate(values)  # a ValidationError is a ValueError
    # The flow modules read the choice when imported: here, and in every flow-run process.
    os.environ.update(choice.environment())
    from flows.serve import PREFECT_FILE, serve

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how serving ends
        serve(args.prefect_file or PREFECT_FILE, args.limit, args.work / "prefect", args.port)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from flows.demo import main

    return main(args.work)
