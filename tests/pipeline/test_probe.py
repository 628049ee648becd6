"""Probing real and generated videos, including the odd ones that must work."""

import pytest

from pipeline.probe import probe


def test_bundled_real_video(bundled_video):
    info = probe(bundled_video)
    assert (info.codec, info.width, info.height, info.fps) == ("vp8", 1280, 720, 24.0)
    assert info.num_frames == 720
    # 720 frames at 24 fps: 29.958 s between the first and the last, plus 1/24 s.
    assert info.duration == pytest.approx(30.0, abs=0.002)
    assert info.num_clips() == 15
    assert not info.variable_rate
    assert info.video_id == "big_buck_bunny_0_30"


def test_duration_is_measured_from_the_frames(make_video):
    info = probe(make_video("clip.mp4", 100, fps=25))
    assert info.num_frames == 100
    assert info.duration == pytest.approx(4.0, abs=1e-6)
    assert info.num_clips() == 2


def test_variable_rate_video(make_video):
    times = [0.0, 0.1, 0.15, 0.5, 0.9, 1.0, 1.7, 2.4, 2.5, 3.0]
    info = probe(make_video("vfr.mkv", len(times), times=times))
    assert info.variable_rate
    assert info.num_frames == 10
    # Last minus first is 3.0 s; one frame duration comes on top.
    assert 3.0 < info.duration <= 3.0 + 0.7
    assert info.num_clips() == 2


def test_rotated_video_reports_upright_size(make_video):
    info = probe(make_video("portrait.mp4", 5, width=96, height=48, rotation=90))
    assert info.rotation == 90
    assert (info.width, info.height) == (48, 96)


def test_odd_sized_video(make_video):
    info = probe(make_video("odd.mkv", 3, width=641, height=359, codec="ffv1"))
    assert (info.width, info.height) == (641, 359)


def test_one_frame_video(make_video):
    info = probe(make_video("still.mp4", 1))
    assert info.num_frames == 1
    assert info.num_clips() == 1


def test_unicode_file_name(make_video):
    info = probe(make_video("vidéo à l'été – 東京.mp4", 10))
    assert info.video_id == "vidéo à l'été – 東京"
    assert info.num_frames == 10
