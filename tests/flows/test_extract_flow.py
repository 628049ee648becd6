"""The extract flow against a local server: Dask scale-out, bad videos, retries, artifacts."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from prefect.states import Failed

from flows import extract as extract_module
from flows.extract import extract
from flows.models import loaded_once
from flows.retries import retry_transient
from flows.runners import TaskRunnerChoice, build_task_runner
from pipeline.errors import VideoError
from tests.flows.conftest import TINY


def features(root: Path) -> dict[str, np.ndarray]:
    loaded = {}
    for path in sorted(root.glob("*_features/*.npz")):
        with np.load(path) as archive:
            loaded[str(path.relative_to(root))] = archive["features"]
    return loaded


def manifest(root: Path) -> list[dict]:
    return [
        {key: value for key, value in row.items() if key != "mtime"}
        for row in pq.read_table(root / "manifest.parquet").to_pylist()
    ]


def artifact(key: str):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter

    with get_client(sync_client=True) as client:
        (found,) = client.read_latest_artifacts(artifact_filter=ArtifactFilter(key={"any_": [key]}))
    return found


@pytest.mark.timeout(300)
def test_dask_local_cluster_gives_the_single_process_outputs(prefect_api, videos, tmp_path):
    single = extract(videos=videos, out=tmp_path / "single", shard_size=1, **TINY)
    runner = build_task_runner(TaskRunnerChoice(kind="dask", workers=2))
    spread = extract.with_options(task_runner=runner)(
        videos=videos, out=tmp_path / "dask", shard_size=1, **TINY
    )
    assert (spread.videos, spread.extracted, spread.clips) == (3, 3, 19)
    expected, got = features(tmp_path / "single"), features(tmp_path / "dask")
    assert got.keys() == expected.keys() and len(got) == 6
    for name in expected:
        assert np.array_equal(got[name], expected[name]), name
    assert manifest(tmp_path / "dask") == manifest(tmp_path / "single")
    assert single.clips == spread.clips


@pytest.mark.timeout(180)
def test_a_corrupt_video_is_recorded_and_the_run_completes(prefect_api, videos, tmp_path):
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(100))
    out = tmp_path / "features"
    result = extract(videos=videos, out=out, encoders=("clip",), shard_size=2, **TINY)

    broken = str(videos / "broken.mp4")
    assert (result.videos, result.extracted) == (4, 3)
    assert list(result.failures) == [broken]
    rows = {row["video_id"]: row for row in manifest(out)}
    assert rows["broken"]["status"] == "failed" and rows["broken"]["error"]
    assert not (out / "clip_features" / "broken.npz").exists()

    (summary,) = json.loads(artifact("extract-summary").data)
    assert (summary["videos"], summary["failed"], summary["clips"]) == (4, 1, 19)
    failures = json.loads(artifact("extract-failures").data)
    assert failures == [{"video": broken, "reason": rows["broken"]["error"]}]


@pytest.mark.timeout(180)
def test_transient_errors_are_retried_and_a_bad_video_is_not(
    prefect_api, videos, tmp_path, monkeypatch
):
    calls = []
    real = extract_module.extract_video

    def flaky(path, *args):
        calls.append(path.name)
        if calls.count(path.name) == 1 and path.name == "short.mp4":
            raise OSError(116, "Stale file handle")  # a network file system hiccup
        return real(path, *args)

    monkeypatch.setattr(extract_module, "extract_video", flaky)
    quick = extract_module.extract_shard.with_options(retry_delay_seconds=0)
    monkeypatch.setattr(extract_module, "extract_shard", quick)
    for name in ("bunny.webm", "shorter.mp4"):
        (videos / name).unlink()
    (videos / "broken.mp4").write_text("not a video")
    out = tmp_path / "features"
    result = extract(videos=videos, out=out, encoders=("clip",), shard_size=1, **TINY)
    assert (result.extracted, list(result.failures)) == (1, [str(videos / "broken.mp4")])
    assert sorted(calls) == ["broken.mp4", "short.mp4", "short.mp4"]  # a shard per video

    assert retry_transient(None, None, Failed(data=TimeoutError("read timed out")))
    assert not retry_transient(None, None, Failed(data=VideoError("v.mp4", "corrupt")))
    assert not retry_transient(None, None, Failed(data=FileNotFoundError("weights")))


def test_models_are_loaded_once_per_process_and_key():
    loads = []

    def load(value):
        loads.append(value)
        return value

    assert loaded_once("test", 1, lambda: load("a")) == "a"
    assert loaded_once("test", 1, lambda: load("b")) == "a"
    assert loaded_once("test", 2, lambda: load("c")) == "c"
    assert loads == ["a", "c"]


def test_weights_missing_fails_before_any_work(prefect_api, videos, tmp_path):
    from extractors.weights import WeightsNotFoundError

    empty = tmp_path / "no-weights"
    empty.mkdir()
    with pytest.raises(WeightsNotFoundError, match="videolights weights fetch clip"):
        extract(videos=videos, out=tmp_path / "f", encoders=("clip",), weights=empty)
    assert not (tmp_path / "f").exists()


@pytest.mark.timeout(120)
def test_a_manifest_names_the_videos(prefect_api, videos, tmp_path):
    from pipeline.index import build_manifest, find_videos, write_manifest

    (videos / "bunny.webm").unlink()
    listed = write_manifest(build_manifest(find_videos(videos)), tmp_path / "manifest.parquet")
    result = extract(videos=listed, out=tmp_path / "f", encoders=("clip",), **TINY)
    assert (result.videos, result.extracted, result.clips) == (2, 2, 4)


@pytest.mark.timeout(180)
def test_other_settings_fail_before_any_work_unless_overwrite(prefect_api, videos, tmp_path):
    from extractors.feature_folder import FeatureFolderMismatch

    (videos / "bunny.webm").unlink()
    out = tmp_path / "f"
    first = extract(videos=videos, out=out, encoders=("clip",), **TINY)
    made = features(out)
    with pytest.raises(FeatureFolderMismatch, match="seed 0 in the folder, random, seed 1 now"):
        extract(videos=videos, out=out, encoders=("clip",), **(TINY | {"seed": 1}))
    assert all(np.array_equal(features(out)[name], made[name]) for name in made)
    again = extract(
        videos=videos, out=out, encoders=("clip",), overwrite=True, **TINY | {"seed": 1}
    )
    assert again.extracted == first.extracted == 2
    assert all(not np.array_equal(features(out)[name], made[name]) for name in made)
