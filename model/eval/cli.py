"""The `eval` subcommand."""

from __future__ import annotations


def register(subparsers) -> None:
    """Add the evaluation subcommand (none yet)."""
