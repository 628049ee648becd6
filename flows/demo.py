"""`make demo`: the main job on the embedded defaults.

Until the flows exist, the demo runs what the pipeline has: it probes and decodes the bundled
real video in one pass and prints its clip table.
"""

from __future__ import annotations

import sys
from pathlib import Path

from flows.cli import main

BUNDLED_VIDEO = (
    Path(__file__).resolve().parent.parent / "tests/data/videos/big_buck_bunny_0_30.webm"
)

if __name__ == "__main__":
    sys.exit(main(["clips", str(BUNDLED_VIDEO)]))
