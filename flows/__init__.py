"""Prefect flows over every stage, and the `videolights` command (flows.cli)."""

from pathlib import Path

WORK = Path("work")  # default outputs, relative to the directory of the process that runs
