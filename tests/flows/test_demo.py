"""The demo's run (its own parameters: SlowFast + CLIP + BLIP-2 features, the qvhighlights
preset, with one epoch each here), then the commands the demo prints at its end: `predict`, run
as a user would run it, and `browse`, whose app is built on the same arguments."""

import json
import shlex
import subprocess
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from browse.app import build_app
from browse.sources import resolve
from flows.demo import ANNOTATIONS, QUERY, VIDEO, next_steps, parameters
from flows.pretrain_then_finetune import pretrain_then_finetune


@pytest.mark.timeout(900)
def test_the_commands_the_demo_prints_work_on_its_outputs(prefect_api, tmp_path):
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

    # `videolights browse WORK` shows the run's synthetic set, predictions and video.
    [command] = [step for step in next_steps(out) if " browse " in step]
    client = TestClient(build_app(resolve(Path(shlex.split(command)[2]))))
    assert f"/synth/{VIDEO.stem}" in client.get("/synth").text
    queries = client.get("/predictions").text
    annotations = ANNOTATIONS.read_text().splitlines()
    assert queries.count('class="query"') == len(annotations)
    page = client.get(f"/synth/{VIDEO.stem}").text
    assert 'id="player"' in page and client.get(f"/media/0/{VIDEO.name}").status_code == 200
