"""The `videolights` command: one subcommand per stage.

Each stage package owns a small `cli` module with `register(subparsers)`, which adds its
subcommands and sets `handler` on them. A handler returns the process exit status:
0 success, 2 usage error (or missing weights), 3 some inputs failed and were recorded; a user
error it raises is reported in one line with exit status 2 (`pipeline.errors.run_command`).
The `cli` modules import their stage's libraries inside the handlers, and only light modules
at the top, so building the parser imports neither torch nor prefect:
`videolights --help` and every subcommand's `--help` start in a fraction of a second, and each
command imports only what it uses (`tests/cli/test_startup.py`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pipeline.errors import run_command

STAGE_CLIS = (
    "pipeline.cli",
    "extractors.cli",
    "synth.cli",
    "model.cli",
    "flows.commands",
    "browse.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videolights",
        description="Video moment retrieval and highlight detection with VideoLights.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in STAGE_CLIS:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
