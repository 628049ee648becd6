"""The synth flow: generate called on growing prefixes gives one report for the whole run."""

import json

import pytest

from flows.synthesize import synth
from tests.flows.conftest import TINY


@pytest.mark.timeout(180)
def test_steps_add_up_to_one_run_and_a_rerun_skips_everything(prefect_api, videos, tmp_path):
    (videos / "bunny.webm").unlink()
    (videos / "broken.mp4").write_text("not a video")
    out, jsonl = tmp_path / "synth", tmp_path / "synth.jsonl"
    run = synth(videos=videos, out=out, jsonl=jsonl, interval=2.0, step=1, **TINY)

    summary = json.loads((tmp_path / "synth.summary.json").read_text())
    assert (run.videos, summary["videos"], summary["processed"]) == (3, 3, 2)
    assert list(run.failures) == [str(videos / "broken.mp4")]
    assert run.rows == run.rows_total == summary["rows"] == 2  # one 2 s interval per video
    assert len(jsonl.read_text().splitlines()) == 2

    again = synth(videos=videos, out=out, jsonl=jsonl, interval=2.0, step=2, **TINY)
    assert (again.rows, again.rows_total) == (0, 2)
    summary = json.loads((tmp_path / "synth.summary.json").read_text())
    assert summary["skipped"] == 2
