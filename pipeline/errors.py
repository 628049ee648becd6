"""The errors a user sees, and how every command-line entry point reports them.

Library code raises, the command line reports: a bad input raises `VideoError`, a `ValueError`
(or a subclass: bad values, annotations, submissions, feature files, checkpoints that do not
fit) or an `OSError` (missing or unwritable files), each with a message naming the file and the
reason. `run_command` turns those into one line on stderr and exit status 2, never a traceback.
This module imports nothing heavy: every command's parser is built on it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


class VideoError(Exception):
    """A bad input video: `str()` names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


USER_ERRORS = (ValueError, OSError, VideoError)


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse `argv` and run the handler its (sub)command set; returns the exit status:
    0 success, 2 usage error (argparse's own, or a user error raised by the handler),
    3 some inputs of a batch failed (the handler says so)."""
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except USER_ERRORS as error:
        command = " ".join(filter(None, (parser.prog, getattr(args, "command", None))))
        print(f"{command}: {error}", file=sys.stderr)
        return 2
