"""Subcommands of the `extractors` stage."""

from __future__ import annotations


def register(subparsers) -> None:
    """Add this stage's subcommands (none yet)."""
