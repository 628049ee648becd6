"""`videolights extract`: the released layout, bad inputs, resume, and kill-safety."""

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from extractors.run import ExtractSettings, extract
from flows.cli import main
from pipeline.lock import hold
from pipeline.store import lock_path, write_video_features

TINY = ExtractSettings(encoders=("clip", "slowfast"), model_size="tiny", device="cpu")


@pytest.fixture
def videos(tmp_path, make_video, bundled_video):
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(bundled_video, folder / "bunny.webm")
    shutil.move(make_video("short.mp4", 75, fps=25, width=320, height=240), folder / "short.mp4")
    return folder


def arrays(root: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every feature file under root, loaded with plain numpy."""
    loaded = {}
    for path in sorted(root.glob("*_features/*.npz")):
        with np.load(path) as archive:
            loaded[str(path.relative_to(root))] = {key: archive[key] for key in archive.files}
    return loaded


def test_extract_writes_the_released_layout_and_records_a_bad_video(videos, tmp_path):
    (videos / "broken.mp4").write_text("not a video")
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"qid": 7, "query": "A rabbit wakes up."}\n')
    out = tmp_path / "features"
    status = main(
        [
            "extract",
            "--videos",
            str(videos),
            "--out",
            str(out),
            "--encoders",
            "clip,slowfast",
            "--model-size",
            "tiny",
            "--device",
            "cpu",
            "--queries",
            str(queries),
        ]
    )
    assert status == 3
    features = arrays(out)
    bunny = features["clip_features/bunny.npz"]["features"]
    assert bunny.dtype == np.float16 and bunny.shape == (15, 32)
    assert features["slowfast_features/bunny.npz"]["features"].shape == (15, 288)
    assert features["slowfast_features/short.npz"]["features"].shape == (2, 288)  # 3.0 s
    text = features["clip_text_features/qid7.npz"]
    assert set(text) == {"last_hidden_state", "pooler_output"}
    assert text["last_hidden_state"].shape[1] == 64 and text["pooler_output"].shape == (32,)
    assert not any("broken" in name for name in features)

    manifest = {row["video_id"]: row for row in pq.read_table(out / "manifest.parquet").to_pylist()}
    assert manifest["broken"]["status"] == "failed"
    assert "not a readable video container" in manifest["broken"]["error"]
    assert manifest["bunny"]["status"] == "ok"
    (provenance,) = (out / "provenance").glob("*.json")
    record = json.loads(provenance.read_text())
    assert record["encoders"]["clip"]["weights"] == "random"
    assert record["settings"]["model_size"] == "tiny"


def test_rerun_skips_finished_videos_and_redoes_a_damaged_file(videos, tmp_path):
    out = tmp_path / "features"
    first = extract(videos, out, TINY)
    assert first.extracted == 2
    kept = out / "clip_features" / "bunny.npz"
    kept_mtime = kept.stat().st_mtime_ns
    damaged = out / "slowfast_features" / "short.npz"
    damaged.write_bytes(damaged.read_bytes()[:100])

    second = extract(videos, out, TINY)
    assert (second.skipped, second.extracted) == (1, 1)
    assert kept.stat().st_mtime_ns == kept_mtime
    assert np.load(damaged)["features"].shape == (2, 288)


def test_killed_run_leaves_only_whole_files_and_resumes_to_the_same_outputs(tmp_path, make_video):
    folder = tmp_path / "videos"
    folder.mkdir()
    for index in range(4):
        shutil.move(
            make_video(f"v{index}.mp4", 300, fps=30, width=320, height=240),
            folder / f"v{index}.mp4",
        )
    reference = tmp_path / "reference"
    extract(folder, reference, TINY)

    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "flows.cli",
        "extract",
        "--videos",
        str(folder),
        "--out",
        str(out),
        "--encoders",
        "clip,slowfast",
        "--model-size",
        "tiny",
        "--device",
        "cpu",
    ]
    process = subprocess.Popen(
        command, cwd=Path(__file__).parents[2], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("slowfast_features/*.npz")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = list(out.glob("*_features/*.npz"))
    assert 0 < len(finished) < 8, "the kill must land mid-run for this test to mean anything"
    for path in finished:  # every file under its final name is whole
        with np.load(path) as archive:
            assert archive["features"].shape[0] == 5

    extract(folder, out, TINY)
    resumed, expected = arrays(out), arrays(reference)
    assert resumed.keys() == expected.keys()
    for name in expected:
        assert np.array_equal(resumed[name]["features"], expected[name]["features"]), name


def test_missing_weights_exit_2_with_the_fetch_command(videos, tmp_path, capsys):
    status = main(
        [
            "extract",
            "--videos",
            str(videos),
            "--out",
            str(tmp_path / "f"),
            "--encoders",
            "clip",
            "--weights",
            str(tmp_path / "none"),
        ]
    )
    assert status == 2
    assert "videolights weights fetch clip" in capsys.readouterr().err


def test_unknown_encoder_exits_2(videos, tmp_path, capsys):
    status = main(
        [
            "extract",
            "--videos",
            str(videos),
            "--out",
            str(tmp_path / "f"),
            "--encoders",
            "clip,i3d",
            "--model-size",
            "tiny",
        ]
    )
    assert status == 2
    assert "encoders must be among" in capsys.readouterr().err


def extract_command(videos, out, *options):
    return ["extract", "--videos", str(videos), "--out", str(out), "--encoders", "clip"] + [
        "--model-size",
        "tiny",
        "--device",
        "cpu",
        *options,
    ]


@pytest.fixture
def short_video(tmp_path, make_video):
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.move(make_video("short.mp4", 75, fps=25, width=320, height=240), folder / "short.mp4")
    return folder


def test_extract_into_a_folder_made_with_other_settings_exits_2_naming_them(
    short_video, tmp_path, capsys
):
    out = tmp_path / "features"
    assert main(extract_command(short_video, out, "--precision", "fp32")) == 0
    made = (out / "clip_features" / "short.npz").read_bytes()
    capsys.readouterr()

    other = extract_command(short_video, out, "--precision", "bf16", "--preset", "qvhighlights")
    assert main(other) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error  # one message
    assert "clip: " in error
    assert "dtype float32 in the folder, bfloat16 now" in error
    assert "preset default in the folder, qvhighlights now" in error
    assert "--overwrite" in error
    assert (out / "clip_features" / "short.npz").read_bytes() == made
    # the same settings again: the folder is accepted and the video skipped
    assert main(extract_command(short_video, out, "--precision", "fp32")) == 0
    assert "1 already done" in capsys.readouterr().out


def test_overwrite_extracts_again_with_the_new_settings(short_video, tmp_path, capsys):
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"qid": 3, "query": "a bird"}\n')
    out, fresh = tmp_path / "features", tmp_path / "fresh"
    assert main(extract_command(short_video, out, "--queries", str(queries))) == 0
    seed0 = arrays(out)["clip_features/short.npz"]["features"]
    assert main(extract_command(short_video, out, "--seed", "1")) == 2
    assert "weights random, seed 0 in the folder, random, seed 1 now" in capsys.readouterr().err

    command = extract_command(short_video, out, "--seed", "1", "--queries", str(queries))
    assert main([*command, "--overwrite"]) == 0
    assert "1 extracted" in capsys.readouterr().out
    assert main(extract_command(short_video, fresh, "--seed", "1", "--queries", str(queries))) == 0
    overwritten, expected = arrays(out), arrays(fresh)
    assert (
        overwritten.keys()
        == expected.keys()
        == {
            "clip_features/short.npz",
            "clip_text_features/qid3.npz",
        }
    )
    for name, keys in expected.items():
        for key, array in keys.items():
            assert np.array_equal(overwritten[name][key], array), (name, key)
    assert not np.array_equal(seed0, expected["clip_features/short.npz"]["features"])


def test_a_video_locked_by_another_run_is_waited_for_not_written_twice(tmp_path, make_video):
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.move(make_video("short.mp4", 50, fps=25), folder / "short.mp4")
    out, settings = tmp_path / "features", ExtractSettings(("clip",), "tiny", device="cpu")
    written = out / "clip_features" / "short.npz"
    with hold(lock_path(out, "short"), run="another run"):
        worker = threading.Thread(target=lambda: reports.append(extract(folder, out, settings)))
        reports = []
        worker.start()
        worker.join(timeout=5)
        assert worker.is_alive() and not written.exists()  # waiting for the other run
        write_video_features(out, "clip", "short", np.zeros((2, 32)))  # what that run wrote
    worker.join(timeout=120)
    assert (reports[0].extracted, reports[0].skipped) == (0, 1)
    assert not np.load(written)["features"].any()  # the other run's file, not rewritten
