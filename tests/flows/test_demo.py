"""The demo's run (its own parameters: SlowFast + CLIP + BLIP-2 features, the qvhighlights
preset, with one epoch each here), then the `predict` command the demo prints at its end, run as
a user would run it."""

import json
import shlex
import subprocess

import pytest

from flows.demo import QUERY, next_steps, parameters
from flows.pretrain_then_finetune import pretrain_then_finetune


@pytest.mark.timeout(900)
def test_the_predict_command_the_demo_prints_works_on_its_checkpoint(prefect_api, tmp_path):
    out = tmp_path / "demo"
    pretrain_then_finetune(**parameters(out) | {"pretrain_epochs": 1, "finetune_epochs": 1})
    [command] = [step for step in next_steps(out) if " predict " in step]
    result = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    [prediction] = [
        json.loads(line)
        for line in (out / "predict" / "predictions.jsonl").read_text().splitlines()
    ]
    assert prediction["query"] == QUERY
    assert len(prediction["pred_relevant_windows"]) == 10
    assert all(0 <= start <= end <= 30 for start, end, _ in prediction["pred_relevant_windows"])
    assert len(prediction["pred_saliency_scores"]) == 15  # 30 s in 2 s clips
    printed = result.stdout.split("saliency per clip:")[1].splitlines()[0].split()
    assert len(printed) == 15
