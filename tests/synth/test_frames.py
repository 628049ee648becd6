"""One decoding pass gives the clip frames and each interval's representative frame."""

import numpy as np

from pipeline.decode import decode_clips
from pipeline.plans import make_plan
from pipeline.probe import probe
from synth.frames import frame_plans, interval_frames, sharpness
from synth.intervals import split_intervals
from tests.videos import write_video


def grey(index, width, height):
    """Frame `index` is flat grey at level 5 * index, which survives scaling and cropping."""
    return np.full((height, width, 3), 5 * index, np.uint8)


def id_of_frame(frame: np.ndarray) -> int:
    return round(float(frame.mean()) / 5)


def test_middle_frames_come_from_the_same_pass_as_the_clip_frames(tmp_path):
    path = write_video(tmp_path / "ids.mp4", 25 * 2, fps=2, frame=grey)  # 2 intervals, 13 clips
    info = probe(path)
    intervals = split_intervals(info.duration)
    clips = list(interval_frames(info, intervals))
    assert [clip.index for clip in clips] == list(range(13))
    # Clip k's frame is the one nearest its centre, 2k + 1 s (the last clip, cut at 25 s, has
    # its centre at 24.5 s): frame 2 x centre at 2 fps.
    for clip in clips:
        centre = (2 * clip.index + min(2 * clip.index + 2, 25)) / 2
        assert id_of_frame(clip.frame) == round(2 * centre)
    chosen = {r.interval: (clip.index, r) for clip in clips for r in clip.representatives}
    assert sorted(chosen) == [0, 1]
    for interval in intervals:
        carrier, representative = chosen[interval.index]
        assert carrier == interval.clip_ids[2]  # the middle clip of five
        assert representative.time == interval.middle
        assert id_of_frame(representative.frame) == 2 * interval.middle


def test_the_middle_plan_has_one_target_per_interval(bundled_video):
    info = probe(bundled_video)
    clip_plan, middle_plan = frame_plans(info, split_intervals(info.duration), 2.0, "middle")
    assert clip_plan.times == make_plan("image", info, name="clip").times
    targets = [(k, t) for k, times in enumerate(middle_plan.times) for t in times]
    assert targets == [(2, 5.0), (7, 15.0), (12, 25.0)]
    # The middle frame of an interval of 5 clips is its middle clip's frame.
    for clip in decode_clips(bundled_video, [clip_plan, middle_plan], info):
        if "middle" in clip.frames:
            assert np.array_equal(clip.frames["middle"], clip.frames["clip"])


def test_sharpest_takes_the_interval_frame_with_the_most_detail(tmp_path):
    rng = np.random.default_rng(0)

    def frame(index, width, height):
        if 12 <= index < 16:  # seconds 6-8: clip 3 of interval 0
            return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        return grey(index, width, height)

    path = write_video(tmp_path / "detail.mp4", 20, fps=2, frame=frame)
    info = probe(path)
    clips = list(interval_frames(info, split_intervals(info.duration), representative="sharpest"))
    (representative,) = [r for clip in clips for r in clip.representatives]
    assert representative.interval == 0 and representative.time == 7.0
    assert representative.frame is clips[3].frame
    assert sharpness(clips[3].frame) == max(sharpness(clip.frame) for clip in clips)
