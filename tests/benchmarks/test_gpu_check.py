"""benchmarks/gpu_check.py runs every stage and prints its table on the CPU with tiny sizes, so
that it works the first time a GPU is there."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.timeout(900)
def test_gpu_check_runs_every_stage_and_prints_one_table(make_video):
    video = make_video("ten_seconds.mp4", 250, fps=25, width=320, height=240)  # one interval
    command = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu"]
    command += ["--size", "tiny", "--video", str(video), "--repeat", "1", "--steps", "1"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]

    lines = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert lines[0] == "| stage | measure | value | check |"
    table = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines[1:]]
    stages = [row[0] for row in table]
    assert stages == ["extraction"] * 4 + ["agreement"] * 3 + ["synthesis", "training", "resume"]
    values = {(row[0], row[1]): row[2] for row in table}
    assert all(float(value) > 0 for (stage, _), value in values.items() if stage != "resume")
    assert [row[3] for row in table if row[0] == "agreement"] == ["ok"] * 3
    assert "1 intervals captioned" in " ".join(row[1] for row in table if row[0] == "synthesis")
    (resume,) = [row for row in table if row[0] == "resume"]
    assert resume[2] == "yes (largest difference 0)" and resume[3] == "ok"
