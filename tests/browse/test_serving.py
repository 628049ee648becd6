"""The serving rules over HTTP: range requests, refused paths, host binding, the CLI's errors."""

from __future__ import annotations

import http.client
import re
import shutil

import psutil
import pytest
from starlette.testclient import TestClient

from browse.app import build_app
from browse.sources import resolve
from flows.cli import main
from synth.schema import ShardWriter
from tests.browse.conftest import (
    VID,
    Served,
    free_port,
    make_work,
    synth_row,
)
from tests.conftest import DATA_DIR
from tests.videos import write_video

BUNDLED = DATA_DIR / "videos" / f"{VID}.webm"


@pytest.fixture(scope="module")
def served_tree(tmp_path_factory):
    """A work folder whose video folder also holds a sparse 3 GB file, an AVI (with a row in
    the synthetic set), a symlink to a file outside the folder, and a subfolder."""
    folder = make_work(tmp_path_factory.mktemp("serving") / "work")
    videos = folder / "videos"
    (folder / "secret.txt").write_text("not for the browser")
    with (videos / "huge.webm").open("wb") as stream:
        stream.truncate(3 * 1024**3)
        stream.seek(3 * 1024**3 - 4)
        stream.write(b"tail")
    write_video(videos / "boxes.avi", 100, fps=10, codec="mpeg4")
    row = synth_row(0, "boxes with their index in bars")
    row |= {"vid": "boxes", "qid": "boxes_0_10", "duration": 10.0}
    row["clip_similarities"] = row["clip_similarities"][:5]
    ShardWriter(folder / "synth", "test").write([row], ["boxes"])
    (videos / "leak.webm").symlink_to(folder / "secret.txt")
    (videos / "sub").mkdir()
    shutil.copy(BUNDLED, videos / "sub" / "nested.webm")
    return folder


@pytest.fixture(scope="module")
def live(served_tree):
    with Served(str(served_tree)) as served:
        yield served


@pytest.fixture(scope="module")
def client(served_tree):
    return TestClient(build_app(resolve(served_tree)))


def test_a_range_request_gets_206_and_exactly_those_bytes(client):
    data = BUNDLED.read_bytes()
    response = client.get(f"/media/0/{VID}.webm", headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206
    assert response.content == data[1000:2000]
    assert response.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    tail = client.get(f"/media/0/{VID}.webm", headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == data[-100:]
    past = client.get(f"/media/0/{VID}.webm", headers={"Range": f"bytes={len(data) + 10}-"})
    assert past.status_code == 416
    whole = client.get(f"/media/0/{VID}.webm")
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert whole.content == data


def test_a_range_at_the_end_of_a_3_gb_file_is_read_without_loading_the_file(client):
    rss = psutil.Process().memory_info().rss
    response = client.get("/media/0/huge.webm", headers={"Range": f"bytes={3 * 1024**3 - 4}-"})
    assert response.status_code == 206 and response.content == b"tail"
    assert psutil.Process().memory_info().rss - rss < 100 * 1024**2


@pytest.mark.parametrize(
    "path",
    [
        "/media/0/../secret.txt",
        "/media/0/sub/../../secret.txt",
        "/media/0/%2e%2e/secret.txt",
        "/media/0/..%2fsecret.txt",
        "/media/0/sub%2fnested.webm",  # an encoded separator, even to a real file
        "/media/0/sub%5cnested.webm",
        "/media/0/%2fetc%2fpasswd",
        "/media/0//etc/passwd",
        "/media/0/leak.webm",  # a symlink leaving the folder
        "/media/1/secret.txt",  # no second folder
        "/media/0/",
        "/media/0/missing.webm",
    ],
)
def test_paths_outside_the_folders_are_404(live, path):
    connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    connection.request("GET", path)  # sent as written: no client-side normalisation
    response = connection.getresponse()
    assert response.status == 404
    assert b"not for the browser" not in response.read()
    connection.request("GET", "/media/0/sub/nested.webm", headers={"Range": "bytes=0-3"})
    allowed = connection.getresponse()
    assert allowed.status == 206 and allowed.read() == BUNDLED.read_bytes()[:4]


def test_an_avi_is_shown_with_a_note_and_thumbnails_of_its_frames(client):
    page = client.get("/synth/boxes").text
    assert "The browser cannot play boxes" in page and "<video" not in page
    frames = re.findall(r'src="(/frames/boxes/[0-9.]+\.jpg)"', page)
    assert len(frames) == 8
    jpeg = client.get(frames[0])
    assert jpeg.status_code == 200 and jpeg.content[:2] == b"\xff\xd8"
    assert "<video" in client.get(f"/synth/{VID}").text


def test_binds_127_0_0_1_by_default(work):
    with Served(str(work)) as served:
        listening = [
            c.laddr
            for c in psutil.Process(served.process.pid).net_connections()
            if c.status == "LISTEN"
        ]
    assert [address.ip for address in listening] == ["127.0.0.1"]


def test_another_host_gets_a_warning(work):
    served = Served(str(work), host="0.0.0.0")
    err = served.stop()
    assert "warning: listening on 0.0.0.0" in err


def browse(capsys, *args: str) -> tuple[int, str]:
    """`videolights browse ARGS` in this process: (exit status, stderr)."""
    status = main(["browse", *args])
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "nothing to show"),
        (("/no/such/work",), "/no/such/work: no such folder"),
        (("--predictions", str(BUNDLED)), "--predictions and --gt go together"),
        (("--synth", str(BUNDLED)), "must be a folder of Parquet shards"),
        (("--videos", "/no/such/videos", "--synth", "."), "/no/such/videos: no such folder"),
    ],
)
def test_user_errors_end_in_one_message_and_exit_2(capsys, args, message):
    status, err = browse(capsys, *args)
    assert status == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_port_in_use_is_a_user_error(capsys, work):
    import socket

    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        status, err = browse(capsys, str(work), "--port", str(port))
    assert status == 2
    assert f"port {port}" in err and len(err.strip().splitlines()) == 1


def test_the_viewer_writes_nothing_into_the_work_folder(work):
    before = {p: p.stat().st_mtime_ns for p in work.rglob("*")}
    client = TestClient(build_app(resolve(work)))
    for path in ("/synth", f"/synth/{VID}", "/predictions", "/predictions/1"):
        assert client.get(path).status_code == 200
    assert {p: p.stat().st_mtime_ns for p in work.rglob("*")} == before
