"""`videolights clips VIDEO`: the probe's summary and one row per clip, with the frames each
plan sampled, on a generated video whose colours say which frame was picked."""

import numpy as np
import pytest

from flows.cli import main

CLIP_COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]  # 10 fps: 20 frames a clip
GREY = (128, 128, 128)  # the frames at 1.0 s and 3.0 s, the centres of clips 0 and 1


def coloured_frame(index: int, width: int, height: int) -> np.ndarray:
    colour = GREY if index in (10, 30) else CLIP_COLOURS[index // 20]
    return np.full((height, width, 3), colour, np.uint8)


@pytest.fixture
def video(make_video):
    return make_video("colours.mp4", 50, fps=10, width=64, height=48, frame=coloured_frame)


def clip_rows(output: str) -> list[tuple[str, tuple[float, float, float]]]:
    """(span, mean RGB) of each row of the table."""
    rows = []
    for line in output.splitlines()[2:]:
        head, rgb = line.split("[")
        fields = head.split()
        rows.append((" ".join(fields[1:3]), tuple(float(v) for v in rgb.strip("]").split(","))))
    return rows


def assert_colours(rows, expected):
    for (_, measured), colour in zip(rows, expected, strict=True):
        assert np.abs(np.subtract(measured, colour)).max() <= 4, (measured, colour)


def test_clip_table_of_each_preset(video, capsys):
    assert main(["clips", str(video)]) == 0
    output = capsys.readouterr().out
    assert output.splitlines()[0] == "colours: h264 64x48 10 fps, 5.000 s, 3 clips (default preset)"
    assert "(1, 224, 224, 3)   (32, 224, 224, 3)" in output.splitlines()[2]  # image, SlowFast
    rows = clip_rows(output)
    assert [span for span, _ in rows] == ["0.00- 2.00", "2.00- 4.00", "4.00- 5.00"]
    # default: the frame nearest the clip's centre: 1.0 s and 3.0 s are grey
    assert_colours(rows, [GREY, GREY, CLIP_COLOURS[2]])

    assert main(["clips", str(video), "--preset", "qvhighlights"]) == 0
    # qvhighlights (ffmpeg fps=1/2): the last frame before the centre, 0.9 s and 2.9 s
    assert_colours(clip_rows(capsys.readouterr().out), CLIP_COLOURS)


def test_clip_length(video, capsys):
    assert main(["clips", str(video), "--clip-length", "2.5"]) == 0
    rows = clip_rows(capsys.readouterr().out)
    assert [span for span, _ in rows] == ["0.00- 2.50", "2.50- 5.00"]
