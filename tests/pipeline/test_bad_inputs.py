"""Each kind of bad input gets a VideoError naming the file and the reason."""

import av
import numpy as np
import pytest

from pipeline.decode import decode_clips
from pipeline.errors import VideoError
from pipeline.plans import make_plan
from pipeline.probe import probe


def expect_error(path, reason):
    with pytest.raises(VideoError, match=reason) as caught:
        probe(path)
    assert caught.value.path == path
    assert str(path) in str(caught.value)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    expect_error(path, "empty file")


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nowhere.mp4", "no such file")


def test_text_file_with_a_video_extension(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 100)
    expect_error(path, "not a readable video container")


def test_corrupt_header(make_video):
    path = make_video("corrupt.mkv", 30)
    data = bytearray(path.read_bytes())
    data[:64] = np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    expect_error(path, "not a readable video container")


def test_truncated_file(make_video):
    path = make_video("cut.mkv", 300, width=320, height=240)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    expect_error(path, "truncated: its frames cover")


def test_audio_only_file(tmp_path):
    path = tmp_path / "sound.mka"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 8000), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    expect_error(path, r"no video stream \(audio\)")


def test_decoding_a_bad_file_raises_the_same_error(tmp_path, bundled_video):
    info = probe(bundled_video)
    path = tmp_path / "gone.webm"
    path.write_bytes(b"\x1a\x45\xdf\xa3" + b"\x00" * 100)
    with pytest.raises(VideoError, match="gone.webm"):
        list(decode_clips(path, [make_plan("image", info)], info))
