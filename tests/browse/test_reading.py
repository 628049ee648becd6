"""What the viewer reads: a work folder's lineage, a synthetic set in pages, per-query errors."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from browse.app import build_app
from browse.predictions import PredictionSet
from browse.sources import SourceError, resolve
from browse.synthset import SynthSet
from synth.schema import ShardWriter
from tests.browse.conftest import GT, TOP_WINDOWS, VID, WORST_FIRST, make_work, synth_row


def test_a_work_folder_gives_its_set_predictions_ground_truth_and_videos(work):
    sources = resolve(work)
    assert sources.synth == work / "synth"
    assert sources.predictions == work / "evaluate" / "submission.jsonl"
    assert sources.gt == GT
    assert sources.videos == (work / "videos",)
    assert resolve(work, gt=work / "lineage.json").gt == work / "lineage.json"  # flags win


def test_a_lineage_without_outputs_is_a_source_error(tmp_path):
    (tmp_path / "lineage.json").write_text(json.dumps({"parameters": {}, "steps": []}))
    with pytest.raises(SourceError, match="lineage.json: no synthetic set"):
        resolve(tmp_path)


def test_a_large_set_pages_in_name_order_with_rows_read_per_video(tmp_path):
    writer = ShardWriter(tmp_path / "set", "test")
    names = [f"video{k:04d}" for k in range(120)]
    for shard in range(0, 120, 40):  # three shards of 40 videos, written out of name order
        chunk = names[shard : shard + 40][::-1]
        rows = [
            synth_row(i, f"caption {i} of {vid}") | {"vid": vid} for vid in chunk for i in (0, 1)
        ]
        writer.write(rows, chunk)
    writer.write([], ["x-short"])  # completed without rows; sorts last
    writer.write([], ["x-dropped"], {"x-dropped": {"repeated": 2, "captioning_failed": 1}})
    (tmp_path / "set.summary.json").write_text(json.dumps({"too_short": ["x-short"]}))
    synth = SynthSet(tmp_path / "set")
    assert len(synth) == 122
    assert synth.video_summary("x-short").note == "shorter than one interval"
    dropped = synth.video_summary("x-dropped")
    assert (dropped.intervals, dropped.rows, dropped.note) == (3, 0, "every caption dropped")
    assert dropped.reasons == (("captioning_failed", 1), ("repeated", 2))
    assert [v.vid for v in synth.page(0, 50)] == names[:50]
    last = synth.page(2, 50)
    assert [v.vid for v in last] == [*names[100:], "x-dropped", "x-short"]
    assert (last[0].intervals, last[0].rows, last[0].dropped) == (3, 2, 1)  # 30 s: 3 intervals
    rows = synth.rows("video0077")
    assert [row["query"] for row in rows] == ["caption 0 of video0077", "caption 1 of video0077"]


def test_queries_sort_worst_first_by_their_own_r1_iou(work):
    predictions = PredictionSet(work / "evaluate" / "submission.jsonl", GT)
    ordered = predictions.ordered("r1")
    assert [query.qid for query in ordered] == WORST_FIRST
    for query in ordered:
        assert query.r1_iou == pytest.approx(TOP_WINDOWS[query.qid][1])
        assert query.vid == VID
    assert predictions.metrics["brief"]["MR-full-R1@0.5"] == 75.0  # 3 of the 4 IoUs >= 0.5


def test_queries_sort_by_hit_at_1_misses_first(work):
    # The top predicted clip of query q is (5 - q) % 6 (conftest.prediction); only query 1's
    # (clip 4) has a VeryGood (4) score in tests/data/annotations.
    predictions = PredictionSet(work / "evaluate" / "submission.jsonl", GT)
    hits = {query.qid: query.hit1 for query in predictions.ordered("qid")}
    assert hits == {1: True, 2: False, 3: False, 4: False}
    assert [query.qid for query in predictions.ordered("hit1")] == [2, 4, 3, 1]


def test_the_set_pages_show_each_video_s_drop_reasons(tmp_path):
    work = make_work(tmp_path / "work")
    dropped = {"x-dropped": {"repeated": 2, "too_short": 1}}
    ShardWriter(work / "synth", "test").write([], ["x-dropped"], dropped)
    client = TestClient(build_app(resolve(work)))
    listing = client.get("/synth").text
    assert "every caption dropped (repeated 2, too short 1)" in listing
    page = client.get("/synth/x-dropped")
    assert page.status_code == 200 and "3 dropped (repeated 2, too short 1)" in page.text
