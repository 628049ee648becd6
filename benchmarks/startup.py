"""Start-up of the command line: `videolights --help` and every subcommand's `--help` as whole
processes, against a bare `python -c pass`, interleaved, best and median of `--repeat` rounds.

    python benchmarks/startup.py [--repeat 5]

Goal: every one under 0.5 s. (tests/cli/test_startup.py checks what building the parser
imports; this measures what it costs.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = os.environ | {"PYTHONPATH": str(ROOT)}
SUBCOMMANDS = (
    "from flows.cli import build_parser; "
    "print(*build_parser()._subparsers._group_actions[0].choices)"
)


def seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=ENVIRONMENT, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    listed = subprocess.run(
        [sys.executable, "-c", SUBCOMMANDS], cwd=ROOT, env=ENVIRONMENT, capture_output=True
    )
    subcommands = listed.stdout.decode().split()
    videolights = [sys.executable, "-m", "flows.cli"]
    commands = {"python -c pass": [sys.executable, "-c", "pass"]}
    commands["videolights --help"] = [*videolights, "--help"]
    for name in subcommands:
        commands[f"videolights {name} --help"] = [*videolights, name, "--help"]
    commands["synth-generate --help"] = [sys.executable, "-m", "synth.cli", "--help"]

    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, argv in commands.items():
            times[name].append(seconds(argv))
    print(f"whole processes, {args.repeat} interleaved rounds: best / median seconds")
    for name, measured in times.items():
        print(f"  {name:36} {min(measured):6.3f} {statistics.median(measured):6.3f}")
    slowest = max(statistics.median(times[name]) for name in list(commands)[1:])
    print(f"slowest median: {slowest:.3f} s (goal < 0.5 s)")


if __name__ == "__main__":
    main()
