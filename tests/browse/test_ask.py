"""Ask: a new query on a video with a checkpoint; the video's features are extracted once (with
progress), kept in the cache, and give what `predict_video` gives from the extractor's files."""

from __future__ import annotations

import json
import time

import pytest
from starlette.testclient import TestClient

from browse.app import build_app
from browse.ask import AskSettings
from browse.sources import Sources
from model.predict import VideoQuerySettings, predict_video
from tests.model.conftest import small_config, train_on_videos  # noqa: F401  (a fixture)

CLIPS = 3  # a 6 s video


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_config):  # noqa: F811
    """A 6 s video, its tiny features from the extractor, a checkpoint trained on them."""
    from tests.videos import write_video

    root = tmp_path_factory.mktemp("ask")
    videos = root / "videos"
    videos.mkdir()
    write_video(videos / "bars.mp4", 60, fps=10)
    queries = root / "queries.jsonl"
    row = {"vid": "bars", "duration": 6.0, "relevant_windows": [[2, 4]], "relevant_clip_ids": [1]}
    rows = [row | {"qid": 0, "query": "white bars", "saliency_scores": [[4, 4, 4]]}]
    queries.write_text("".join(json.dumps(r) + "\n" for r in rows))
    checkpoint, features = train_on_videos(videos, queries, root, small_config)
    return {"root": root, "videos": videos, "features": features, "ckpt": checkpoint}


def ask(client, query: str) -> tuple[dict, list[str]]:
    """Submit a query on `bars` and poll it to the end: its last status and the states seen."""
    job = client.post("/ask/jobs", json={"vid": "bars", "query": query}).json()
    states = []
    for _ in range(1200):
        status = client.get(f"/ask/jobs/{job['id']}").json()
        states.append(status["state"])
        if status["state"] in ("done", "failed"):
            return status, states
        time.sleep(0.1)
    raise AssertionError(f"the job did not finish: {states[-5:]}")


def test_a_query_extracts_once_and_answers_as_predict_does(trained):
    cache = trained["root"] / "cache"
    sources = Sources(videos=(trained["videos"],), checkpoint=trained["ckpt"], cache=cache)
    client = TestClient(build_app(sources, AskSettings(model_size="tiny", device="cpu")))
    assert client.get("/ask").status_code == 200

    status, states = ask(client, "white bars on black")
    assert status["state"] == "done", status["error"]
    assert "extracting" in states
    assert (status["clips_done"], status["clips"]) == (CLIPS, CLIPS)
    page = client.get(status["url"]).text
    kept = {path: path.stat().st_mtime_ns for path in cache.rglob("*_features/*.npz")}
    assert len(kept) == 2  # SlowFast and CLIP, what the checkpoint was trained on

    settings = VideoQuerySettings(
        checkpoint=trained["ckpt"],
        video=trained["videos"] / "bars.mp4",
        queries=("white bars on black",),
        out=trained["root"] / "expected",
        features=trained["features"],
        model_size="tiny",
        device="cpu",
    )
    (expected,) = predict_video(settings)
    for start, end, score in expected["pred_relevant_windows"][:5]:
        assert f"{start:.1f} - {end:.1f} s {score:.3f}" in page
    assert page.count('class="point"') == CLIPS

    again, states = ask(client, "white bars on black")
    assert again["state"] == "done" and "extracting" not in states
    assert {path: path.stat().st_mtime_ns for path in cache.rglob("*_features/*.npz")} == kept
    assert client.get(again["url"]).text == page


def test_an_unknown_video_or_empty_query_is_refused(trained):
    sources = Sources(videos=(trained["videos"],), checkpoint=trained["ckpt"])
    client = TestClient(build_app(sources, AskSettings(model_size="tiny", device="cpu")))
    unknown = client.post("/ask/jobs", json={"vid": "nope", "query": "a dog"})
    assert unknown.status_code == 400 and "no video 'nope'" in unknown.json()["error"]
    empty = client.post("/ask/jobs", json={"vid": "bars", "query": "  "})
    assert empty.status_code == 400 and "type a query" in empty.json()["error"]
