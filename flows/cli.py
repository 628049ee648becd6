"""The `videolights` command: one subcommand per stage.

Each stage package owns a small `cli` module with `register(subparsers)`, which adds its
subcommands and sets `handler` on them. A handler returns the process exit status:
0 success, 2 usage error (or missing weights), 3 some inputs failed and were recorded.
Stage CLIs import their heavy libraries inside the handlers, so `videolights --help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

STAGE_CLIS = (
    "pipeline.cli",
    "extractors.cli",
    "synth.cli",
    "model.eval.cli",
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
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
