"""One streaming pass serves every plan, with the frames each preset specifies."""

import av
import numpy as np
import pytest
from PIL import Image

from pipeline.decode import RgbConverter, decode_clips
from pipeline.plans import FrameSpec, make_plan
from pipeline.probe import probe
from tests.videos import id_of_frame

WHOLE_FRAME = FrameSpec(size=48, crop=False)  # keeps every bar of the frame id visible


def picked_ids(path, preset, kinds=("image", "slowfast")):
    info = probe(path)
    plans = [make_plan(kind, info, preset, spec=WHOLE_FRAME) for kind in kinds]
    clips = list(decode_clips(path, plans, info))
    assert [clip.index for clip in clips] == list(range(info.num_clips()))
    return {
        kind: [[id_of_frame(frame) for frame in clip.frames[kind]] for clip in clips]
        for kind in kinds
    }


def test_default_preset_picks_clip_centres_and_32_even_frames(make_video):
    path = make_video("a.mp4", 200, fps=30)  # 6.67 s: clips [0,2) [2,4) [4,6) [6,6.67)
    ids = picked_ids(path, "default")
    assert ids["image"] == [[30], [90], [150], [190]]
    # Clip 0: targets (j + 1/2) * 2/32 s, nearest frames at 30 fps (never a tie).
    assert ids["slowfast"][0] == [round(30 * (j + 0.5) / 16) for j in range(32)]
    # The last, partial clip spreads its 32 targets over the 0.67 s it has.
    expected_last = [round(30 * (6 + (j + 0.5) * (20 / 30) / 32)) for j in range(32)]
    assert ids["slowfast"][3] == [min(i, 199) for i in expected_last]


def test_variable_rate_video_picks_by_presentation_time(make_video):
    times = [0.0, 0.1, 0.15, 0.5, 0.9, 1.0, 1.7, 2.4, 2.5, 3.0]
    ids = picked_ids(make_video("vfr.mkv", len(times), times=times), "default", ("image",))
    # Clip 0 centre 1.0 s -> frame 5 (at 1.0 s); clip 1 [2, 3.03) centre 2.52 -> frame 8 (2.5 s).
    assert ids["image"] == [[5], [8]]


def fps_filter_output(path, rate: str) -> list[int]:
    """The frames libavfilter's `fps` filter emits (the HERO / ffmpeg sampling), by id."""
    import av

    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        graph = av.filter.Graph()
        source, fps, sink = (
            graph.add_buffer(template=stream),
            graph.add("fps", rate),
            graph.add("buffersink"),
        )
        source.link_to(fps)
        fps.link_to(sink)
        graph.configure()
        frames = list(container.decode(stream)) + [None]
        for frame in frames:
            graph.push(frame)
            while True:
                try:
                    out.append(id_of_frame(graph.pull().to_ndarray(format="rgb24")))
                except (av.error.BlockingIOError, av.error.EOFError):
                    break
    return out


@pytest.mark.parametrize(("fps", "frames"), [(24, 250), (30, 200), (25, 130)])
def test_qvhighlights_preset_matches_ffmpeg_fps_filter_and_hero_windows(make_video, fps, frames):
    path = make_video(f"v{fps}.mp4", frames, fps=fps)
    ids = picked_ids(path, "qvhighlights")
    half_hz = fps_filter_output(path, "0.5")
    # ffmpeg emits about round(T/2) slots; the grid may add a last partial clip.
    assert [clip[0] for clip in ids["image"]][: len(half_hz)] == half_hz
    # HERO: 30 fps slots in 60-slot clips, padded with the last frame; window offsets
    # int(linspace(0, 64 * fps / 30 - 1, 32)) clamped to 59.
    slots = fps_filter_output(path, "30")
    offsets = [min(59, int(x)) for x in np.linspace(0, 64 * fps / 30 - 1, 32)]
    for clip, picked in enumerate(ids["slowfast"]):
        expected = [slots[min(60 * clip + o, len(slots) - 1)] for o in offsets]
        assert picked == expected, f"clip {clip}"


def test_rotated_video_comes_out_upright(make_video):
    def marked(index, width, height):
        image = np.zeros((height, width, 3), np.uint8)
        image[:16, :16] = 255  # top-left corner as stored
        return image

    path = make_video("rot.mp4", 3, width=96, height=48, rotation=90, frame=marked)
    info = probe(path)
    (clip,) = decode_clips(path, [make_plan("image", info, spec=WHOLE_FRAME)], info)
    image = clip.frames["image"][0]
    assert image.shape == (96, 48, 3)
    # A 90 degree counter-clockwise display rotation moves the top-left corner to bottom-left.
    assert image[-8:, :8].mean() > 200
    assert image[:8, :8].mean() < 50


def marked_frame(index, width, height):
    """Red right of x = 3w/4, blue below y = h/4, green 20 x the frame's index."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, 3 * width // 4 :, 0] = 255
    image[height // 4 :, :, 2] = 255
    image[..., 1] = 20 * index
    return image


def test_frames_are_scaled_centre_cropped_and_picked_at_their_times(make_video):
    """A 641x359 frame scales to 400x224 (short side 224) and is cropped to columns 88..311:
    the red edge at x = 480 lands at 480 x 400/641 - 88 = 211.5, the blue one at y = 89 at
    89 x 224/359 = 55.5. The frames come from the times the plan names: 32 targets evenly
    over the clip's 10/30 s, each the nearest frame (the last one past its end), whose index its
    green level carries."""
    info = probe(make_video("odd.mkv", 10, width=641, height=359, codec="ffv1", frame=marked_frame))
    (clip,) = decode_clips(info.path, [make_plan("slowfast", info)], info)
    frames = clip.frames["slowfast"]
    assert frames.shape == (32, 224, 224, 3) and frames.dtype == np.uint8
    red, green, blue = (frames[..., channel].astype(int) for channel in range(3))
    # Bounds allow for 4:2:0 chroma and bicubic ringing where the two edges cross.
    assert (red[:, :, :208] < 40).all() and (red[:, :, 215:] > 215).all()
    assert (blue[:, :52] < 40).all() and (blue[:, 59:] > 215).all()
    indices = [round(level / 20) for level in green[:, :48, :200].mean(axis=(1, 2))]
    assert indices == [min(9, round((j + 0.5) * 10 / 32)) for j in range(32)]


def test_frames_match_a_bicubic_resize_of_the_whole_rgb_frame(bundled_video):
    """Against PIL's bicubic resize of PyAV's full-size RGB frame, then the centre crop: a wrong
    colour matrix, crop offset or chroma placement would move far more than these bounds."""
    convert = RgbConverter(rotation=0)
    with av.open(str(bundled_video)) as container:
        frames = [
            frame for index, frame in enumerate(container.decode(video=0)) if index % 150 == 0
        ]
    for frame in frames:
        whole = Image.fromarray(frame.to_ndarray(format="rgb24"))  # 1280x720
        expected = np.asarray(whole.resize((398, 224), Image.BICUBIC))[:, 87:311]
        difference = np.abs(convert(frame, FrameSpec()).astype(int) - expected)
        assert difference.mean() < 2.0
        assert np.percentile(difference, 99) <= 12
