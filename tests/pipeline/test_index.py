"""Scanning a folder into a manifest; `videolights probe` exit statuses."""

import shutil

import pyarrow.parquet as pq
import pytest

from flows.cli import main
from pipeline.index import MANIFEST_SCHEMA, DuplicateVideoIdError, find_videos


@pytest.fixture
def folder(tmp_path, make_video, bundled_video):
    videos = tmp_path / "videos"
    (videos / "nested").mkdir(parents=True)
    shutil.copy(bundled_video, videos / "bunny.webm")
    shutil.move(make_video("short.mp4", 60), videos / "nested" / "short.mp4")
    shutil.move(make_video("noext.mkv", 30), videos / "no_extension")  # found by content
    (videos / "broken.mp4").write_text("not a video")
    (videos / "empty.mkv").write_bytes(b"")
    (videos / "readme.txt").write_text("ignored: not a video extension")
    (videos / ".hidden.mp4").write_text("ignored: hidden")
    return videos


def test_scan_finds_videos_by_extension_and_by_content(folder):
    names = [path.name for path in find_videos(folder)]
    assert names == ["broken.mp4", "bunny.webm", "empty.mkv", "short.mp4", "no_extension"]


def test_duplicate_video_ids_name_both_files(folder, make_video):
    shutil.move(make_video("bunny.mp4", 5), folder / "nested" / "bunny.mp4")
    with pytest.raises(DuplicateVideoIdError, match="'bunny' is used by both .*bunny"):
        find_videos(folder)


def test_probe_command_records_failures_and_exits_3(folder, tmp_path, capsys):
    out = tmp_path / "manifest.parquet"
    assert main(["probe", str(folder), "--out", str(out)]) == 3
    table = pq.read_table(out)
    assert table.schema.equals(MANIFEST_SCHEMA)
    rows = {row["video_id"]: row for row in table.to_pylist()}
    assert rows["bunny"]["status"] == "ok"
    assert rows["bunny"]["num_clips"] == 15
    assert rows["short"]["num_clips"] == 1
    assert rows["no_extension"]["status"] == "ok"
    assert rows["broken"]["status"] == "failed"
    assert "not a readable video container" in rows["broken"]["error"]
    assert rows["empty"]["error"] == "empty file (0 bytes)"
    assert rows["bunny"]["content_hash"] != rows["short"]["content_hash"]
    assert "broken.mp4" in capsys.readouterr().err


def test_probe_command_exits_0_when_every_file_is_fine(tmp_path, make_video):
    make_video("one.mp4", 10)
    out = tmp_path / "out" / "manifest.parquet"
    assert main(["probe", str(tmp_path), "--out", str(out)]) == 0
    assert pq.read_table(out).column("status").to_pylist() == ["ok"]


def test_probe_command_exits_2_for_a_missing_folder(tmp_path, capsys):
    assert main(["probe", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.parquet")]) == 2
    assert "no such folder" in capsys.readouterr().err
