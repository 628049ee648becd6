"""Subcommands of the orchestration layer (`serve`, `demo`)."""

from __future__ import annotations


def register(subparsers) -> None:
    """Add the orchestration subcommands (none yet)."""
