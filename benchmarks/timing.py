"""Timing shared by the benchmarks: the sides of a comparison run in turn, round after round,
so that drift in the machine's speed (load, clocks) hits every side alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def interleaved(
    functions: dict[str, Callable[[], T]], rounds: int
) -> tuple[dict[str, list[float]], dict[str, T]]:
    """Call each function once per round, in order, for `rounds` rounds: the seconds of every
    call by name, and each function's last result."""
    seconds: dict[str, list[float]] = {name: [] for name in functions}
    results: dict[str, T] = {}
    for _ in range(rounds):
        for name, function in functions.items():
            started = time.perf_counter()
            results[name] = function()
            seconds[name].append(time.perf_counter() - started)
    return seconds, results
