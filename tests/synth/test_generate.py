"""`generate` and its commands: rows, schema, summary, outputs, filters, failures, resume."""

import contextlib
import dataclasses
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from flows.cli import main
from pipeline.decode import decode_clips
from pipeline.plans import make_plan
from pipeline.probe import probe
from synth import frames as synth_frames
from synth.caption import Captioner, build_captioner
from synth.cli import synth_generate_main
from synth.generate import Models, SynthSettings, generate, share_vision_tower, summary_path
from synth.labels import grades
from synth.schema import SCHEMA, OutputMismatchError, read_rows, shard_dropped, shard_paths
from tests.synth.conftest import TINY, PaletteCaptioner, colour_video, with_captioner
from tests.videos import write_video

ROOT = Path(__file__).parents[2]


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def bar_videos(folder: Path, seconds=(20, 30, 20)) -> Path:
    """Videos whose frames change every frame (the frame index drawn as bars), 5 fps."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, length in enumerate(seconds):
        write_video(folder / f"v{index}.mp4", length * 5, fps=5, width=128, height=96)
    return folder


@pytest.fixture(scope="module")
def bunny_run(tmp_path_factory, tiny_models, bundled_video):
    """The bundled 30 s video through generate, with JSONL and text features."""
    root = tmp_path_factory.mktemp("bunny")
    videos = root / "videos"
    videos.mkdir()
    shutil.copy(bundled_video, videos / "bunny.webm")
    out, jsonl, features = root / "synth.parquet", root / "synth.jsonl", root / "text"
    report = generate(videos, out, TINY, jsonl=jsonl, text_features=features, models=tiny_models)
    return out, report, jsonl, features


def test_rows_follow_the_schema_and_the_qvhighlights_fields(bunny_run):
    out, report, _, _ = bunny_run
    (shard,) = shard_paths(out)
    assert pq.read_schema(shard).equals(SCHEMA, check_metadata=False)
    table = read_rows(out)
    assert table.schema.equals(SCHEMA)
    rows = table.to_pylist()
    assert [row["qid"] for row in rows] == ["bunny_0_10", "bunny_10_20", "bunny_20_30"]
    for index, row in enumerate(rows):
        assert row["vid"] == "bunny" and row["duration"] == pytest.approx(30.0, abs=0.01)
        assert row["relevant_windows"] == [[10.0 * index, 10.0 * index + 10]]
        assert row["relevant_clip_ids"] == list(range(5 * index, 5 * index + 5))
        assert [len(score) for score in row["saliency_scores"]] == [1] * 5
        assert len(row["query"].split()) >= 3
        assert (row["interval_index"], row["frame_time"]) == (index, 10.0 * index + 5)
        assert len(row["clip_similarities"]) == 15
        assert row["labels"] == "interval"
        assert row["captioner"] == "blip2-captioner:tiny:random-seed0"
        assert row["similarity_model"] == "blip2:tiny:random-seed0"
        assert row["decoding"] == {"num_beams": 3, "min_new_tokens": 10, "max_new_tokens": 30}
        assert row["config_hash"] == report.config_hash and len(report.config_hash) == 16
    assert len({row["query"] for row in rows}) == 3


def test_saliency_equals_an_independent_numpy_cosine(bunny_run, tiny_models, bundled_video):
    out, _, _, _ = bunny_run
    encoder = tiny_models.scorer.encoder
    info = probe(bundled_video)
    plan = make_plan("image", info)
    frames = np.stack([clip.frames["image"][0] for clip in decode_clips(bundled_video, [plan])])
    images = unit(encoder.image_embeddings(frames))  # (15, 32, 16)
    for row in read_rows(out).to_pylist():
        text = unit(encoder.text_embeddings([row["query"]])[0])
        expected = np.array([max(float(q @ text) for q in frame) for frame in images])
        np.testing.assert_allclose(row["clip_similarities"], expected, atol=1e-5)
        saliency = [score for (score,) in row["saliency_scores"]]
        np.testing.assert_allclose(saliency, expected[row["relevant_clip_ids"]], atol=1e-5)


def test_summary_is_written_beside_the_output(bunny_run):
    out, report, _, _ = bunny_run
    summary = json.loads(summary_path(out).read_text())
    assert summary_path(out) == out.parent / "synth.parquet.summary.json"
    assert (summary["videos"], summary["processed"], summary["intervals"]) == (1, 1, 3)
    assert (summary["rows"], summary["rows_total"], summary["failures"]) == (3, 3, {})
    assert summary["filtered"] == {"empty": 0, "too_short": 0, "repeated": 0}
    assert summary["rows_per_second"] == pytest.approx(3 / summary["seconds"])
    assert summary["config_hash"] == report.config_hash
    assert summary["text_feature_files"] == 6


def test_jsonl_and_text_features_are_written_for_every_row(bunny_run):
    out, _, jsonl, features = bunny_run
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    rows = read_rows(out).to_pylist()
    assert lines == [{key: row[key] for key in SCHEMA.names[:7]} for row in rows]
    for row in rows:
        for folder, width in (("clip_text_features", 64), ("blip_text_features", 32)):
            with np.load(features / folder / f"qid{row['qid']}.npz") as archive:
                assert archive["last_hidden_state"].shape[1] == width
                assert archive["last_hidden_state"].shape[0] >= 3
                assert "pooler_output" in archive.files


def test_outputs_load_through_the_trainers_annotation_reader(bunny_run):
    data = pytest.importorskip("model.data")
    out, _, jsonl, _ = bunny_run
    from_jsonl = data.read_annotations(jsonl)
    from_parquet = sorted(data.read_annotations(out), key=lambda row: row["qid"])
    assert [row["qid"] for row in from_jsonl] == [row["qid"] for row in from_parquet]
    for a, b in zip(from_jsonl, from_parquet, strict=True):
        assert a["relevant_windows"] == b["relevant_windows"]
        np.testing.assert_allclose(a["saliency_scores"], b["saliency_scores"])


def test_a_rerun_skips_finished_videos_and_another_config_is_refused(bunny_run, tiny_models):
    out, _, _, _ = bunny_run
    before = {path: path.stat().st_mtime_ns for path in shard_paths(out)}
    again = generate(out.parent / "videos", out, TINY, models=tiny_models)
    assert (again.skipped, again.processed, again.rows, again.rows_total) == (1, 0, 0, 3)
    assert {path: path.stat().st_mtime_ns for path in shard_paths(out)} == before
    with pytest.raises(OutputMismatchError, match="made with config"):
        other = dataclasses.replace(TINY, labels="similarity")
        generate(out.parent / "videos", out, other, models=tiny_models)


def test_each_video_is_decoded_once_and_rows_do_not_depend_on_the_batch_size(
    tmp_path, tiny_models, monkeypatch
):
    videos = bar_videos(tmp_path / "videos")
    passes = []
    original = synth_frames.decode_clips
    monkeypatch.setattr(
        synth_frames, "decode_clips", lambda path, *a: passes.append(path) or original(path, *a)
    )
    batched = generate(videos, tmp_path / "a", TINY, models=tiny_models)
    assert sorted(passes) == sorted(str(videos / f"v{i}.mp4") for i in range(3))  # once each
    single = dataclasses.replace(TINY, caption_batch_size=1)
    generate(videos, tmp_path / "b", single, models=tiny_models)
    assert batched.rows == 7 and batched.intervals == 7
    first, second = read_rows(tmp_path / "a"), read_rows(tmp_path / "b")
    assert first.equals(second)
    assert len(shard_paths(tmp_path / "b")) == 3  # one caption per batch: a shard per video


@contextlib.contextmanager
def images_seen(tower: torch.nn.Module):
    """Counts the images `tower` encodes inside the block (a list of batch sizes)."""
    seen = []
    handle = tower.register_forward_hook(
        lambda module, args, kwargs, output: seen.append(len(kwargs["pixel_values"])),
        with_kwargs=True,
    )
    try:
        yield seen
    finally:
        handle.remove()


def captioner_with_tower_of(phi) -> Captioner:
    """A tiny captioner whose vision tower holds phi's weights, in a copy of its own."""
    captioner = build_captioner("tiny", device="cpu")
    captioner.module.vision_model.load_state_dict(phi.encoder.module.vision_model.state_dict())
    return captioner


def test_a_vision_tower_shared_with_phi_sees_each_clip_frame_once(tmp_path, tiny_models):
    videos = bar_videos(tmp_path / "videos")  # 35 clips, 7 intervals
    phi = tiny_models.scorer
    phi_tower = phi.encoder.module.vision_model
    separate = captioner_with_tower_of(phi)
    with images_seen(phi_tower) as phi_images, images_seen(separate.module.vision_model) as own:
        apart = generate(videos, tmp_path / "apart", TINY, models=Models(separate, phi))
    assert (sum(phi_images), sum(own)) == (35, 7)

    shared = captioner_with_tower_of(phi)
    assert share_vision_tower(shared, phi)
    assert shared.module.vision_model is phi_tower
    with images_seen(phi_tower) as images:
        models = Models(shared, phi, shared_vision=True)
        together = generate(videos, tmp_path / "together", TINY, models=models)
    assert sum(images) == 35  # each middle frame is a clip frame: no second pass
    assert apart.rows == together.rows == 7
    assert read_rows(tmp_path / "apart").equals(read_rows(tmp_path / "together"))


def test_similarity_labels_grow_windows_and_grade_clips(tmp_path, tiny_models):
    videos = bar_videos(tmp_path / "videos", seconds=(30,))
    settings = dataclasses.replace(TINY, labels="similarity")
    generate(videos, tmp_path / "out", settings, models=tiny_models)
    rows = read_rows(tmp_path / "out").to_pylist()
    assert len(rows) == 3
    for row in rows:
        similarities = np.array(row["clip_similarities"])
        own = list(range(5 * row["interval_index"], 5 * row["interval_index"] + 5))
        ids = row["relevant_clip_ids"]
        assert set(own) <= set(ids) and ids == list(range(ids[0], ids[-1] + 1))
        assert row["relevant_windows"] == [[2.0 * ids[0], 2.0 * ids[-1] + 2]]
        mu, sigma = similarities[own].mean(), similarities[own].std()
        assert all(similarities[ids] > mu - 3 * sigma)
        for outside in (ids[0] - 1, ids[-1] + 1):
            if 0 <= outside < 15:
                assert similarities[outside] <= mu - 3 * sigma
        expected = grades(similarities[ids], mu, sigma).astype(float)
        assert [score for (score,) in row["saliency_scores"]] == expected.tolist()


def test_each_filter_drops_its_rows_and_counts_them(tmp_path, tiny_models):
    videos = tmp_path / "videos"
    videos.mkdir()
    colour_video(videos / "a.mp4", ["red", "green", "blue"])
    colour_video(videos / "b.mp4", ["white", "white"])
    colour_video(videos / "c.mp4", ["yellow", "black"])
    captioner = PaletteCaptioner(
        {
            "red": "  ",
            "green": "a dog",
            "blue": "a blue car on a road",
            "white": "a white wall in a room",
            "yellow": "a yellow flower in a field",
            "black": "a dark room at night",
        }
    )
    report = generate(videos, tmp_path / "out", TINY, models=with_captioner(tiny_models, captioner))
    assert report.filtered == {"empty": 1, "too_short": 1, "repeated": 2}
    assert (report.intervals, report.rows, report.processed) == (7, 3, 3)
    rows = read_rows(tmp_path / "out").to_pylist()
    assert [row["qid"] for row in rows] == ["a_20_30", "c_0_10", "c_10_20"]
    assert rows[0]["query"] == "a blue car on a road"
    assert dropped_by_video(tmp_path / "out") == {
        "a": {"empty": 1, "too_short": 1},
        "b": {"repeated": 2},
    }
    # b ended with no rows, and is still done: a rerun does not caption it again.
    assert (
        generate(
            videos, tmp_path / "out", TINY, models=with_captioner(tiny_models, captioner)
        ).skipped
        == 3
    )


def test_a_failed_caption_loses_only_its_row(tmp_path, tiny_models):
    videos = tmp_path / "videos"
    videos.mkdir()
    colour_video(videos / "a.mp4", ["green", "red", "blue"])
    colour_video(videos / "b.mp4", ["yellow", "black"])
    captioner = PaletteCaptioner(
        {c: f"a {c} thing in a picture" for c in ("green", "blue", "yellow", "black")},
        fail={"red"},
    )
    settings = dataclasses.replace(TINY, caption_batch_size=4)
    report = generate(
        videos, tmp_path / "out", settings, models=with_captioner(tiny_models, captioner)
    )
    assert report.caption_failures == {"a_10_20": "captioning failed: cannot caption a red frame"}
    assert report.failed and report.rows == 4 and report.intervals == 5
    assert captioner.calls[0] == 4 and 1 in captioner.calls  # the batch, then one at a time
    rows = read_rows(tmp_path / "out").to_pylist()
    assert [row["qid"] for row in rows] == ["a_0_10", "a_20_30", "b_0_10", "b_10_20"]
    assert dropped_by_video(tmp_path / "out") == {"a": {"captioning_failed": 1}}


def dropped_by_video(out: Path) -> dict:
    """Every shard footer's per-video drop counts, merged."""
    return {vid: n for shard in shard_paths(out) for vid, n in shard_dropped(shard).items()}


def test_bad_videos_are_recorded_while_the_batch_goes_on(tmp_path, make_video, capsys):
    videos = bar_videos(tmp_path / "videos", seconds=(20,))
    (videos / "broken.mp4").write_text("not a video")
    truncated = make_video("cut.mkv", 300, width=320, height=240).read_bytes()
    (videos / "cut.mkv").write_bytes(truncated[: len(truncated) // 3])
    shutil.move(make_video("short.mp4", 45, fps=5), videos / "short.mp4")  # 9 s: no interval
    out = tmp_path / "out"
    status = main(
        ["synth", "--videos", str(videos), "--out", str(out), "--model-size", "tiny"]
        + ["--device", "cpu", "--batch-size", "1"]
    )
    assert status == 3
    summary = json.loads(summary_path(out).read_text())
    assert set(summary["failures"]) == {str(videos / "broken.mp4"), str(videos / "cut.mkv")}
    assert "not a readable video container" in summary["failures"][str(videos / "broken.mp4")]
    assert "truncated" in summary["failures"][str(videos / "cut.mkv")]
    assert summary["too_short"] == ["short"]
    assert [row["qid"] for row in read_rows(out).to_pylist()] == ["v0_0_10", "v0_10_20"]
    assert "failed: " + str(videos / "broken.mp4") in capsys.readouterr().err


def test_missing_weights_and_bad_arguments_exit_2(tmp_path, capsys):
    videos = bar_videos(tmp_path / "videos", seconds=(10,))
    args = ["--videos", str(videos), "--out", str(tmp_path / "out")]
    assert synth_generate_main([*args, "--weights", str(tmp_path / "none")]) == 2
    assert "videolights weights fetch blip2-captioner" in capsys.readouterr().err
    assert synth_generate_main([*args, "--model-size", "tiny", "--interval", "5"]) == 2
    assert "multiple of the clip length" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        synth_generate_main([*args, "--labels", "nearest"])
    assert exit_info.value.code == 2


def test_settings_are_validated_on_creation():
    with pytest.raises(ValueError, match="labels must be one of"):
        SynthSettings(labels="window")
    with pytest.raises(ValueError, match="caption batch size"):
        SynthSettings(caption_batch_size=0)


def test_a_killed_run_keeps_whole_shards_and_resumes_to_the_same_rows(tmp_path, tiny_models):
    videos = bar_videos(tmp_path / "videos", seconds=(20,) * 8)
    reference = tmp_path / "reference"
    generate(videos, reference, TINY, models=tiny_models)

    out = tmp_path / "killed"
    command = [sys.executable, "-m", "synth.cli", "--videos", str(videos), "--out", str(out)]
    command += ["--model-size", "tiny", "--device", "cpu", "--batch-size", "2"]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not shard_paths(out) and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = shard_paths(out)
    done = {
        vid
        for path in finished
        for vid in json.loads(pq.read_schema(path).metadata[b"videolights.synth.videos"])
    }
    assert 0 < len(done) < 8, "the kill must land mid-run for this test to mean anything"
    for path in finished:  # every shard under its final name is whole
        assert pq.read_table(path).num_rows == 2

    resumed = generate(videos, out, TINY, models=tiny_models)
    assert resumed.skipped == len(done) and resumed.processed == 8 - len(done)
    assert read_rows(out).equals(read_rows(reference))


def test_the_synthetic_set_feeds_the_trainers_dataset(bunny_run):
    """The Parquet rows with their caption text features become training batches: span targets
    and window labels on the interval's clips (the `pretrain` preset's labelling)."""
    from model.config import load_config
    from model.data import MomentDataset, make_collate, read_annotations
    from pipeline.store import write_video_features

    out, _, _, features = bunny_run
    write_video_features(features, "clip", "bunny", np.ones((15, 16), dtype=np.float32))
    rows = sorted(read_annotations(out), key=lambda row: row["interval_start"])
    dataset = MomentDataset(
        rows,
        [features / "clip_features"],
        [features / "clip_text_features"],
        load_config("pretrain").data,
        training=True,
    )
    batch = make_collate(dataset)([dataset[0]])
    start, end = rows[0]["relevant_windows"][0]
    # 15 clips of 2 s: the window in [0, 1] of the 30 s video, as (centre, width).
    expected = torch.tensor([[(start + end) / 2 / 30, (end - start) / 30]])
    torch.testing.assert_close(batch.targets.span_targets[0], expected)
    labels = batch.targets.saliency_all[0]
    assert labels[int(start) // 2 : int(end) // 2].tolist() == [1.0] * 5
    assert labels.sum() == 5
