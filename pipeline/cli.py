"""Subcommands of the `pipeline` stage."""

from __future__ import annotations


def register(subparsers) -> None:
    """Add this stage's subcommands (none yet)."""
