"""Test videos made with PyAV: frames that carry their own index, odd sizes, rates, rotations."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 12


def frame_with_id(index: int, width: int = 8 * BITS, height: int = 48) -> np.ndarray:
    """An RGB frame whose index is written in binary as black and white bars."""
    image = np.zeros((height, width, 3), np.uint8)
    bar = width // BITS
    for bit in range(BITS):
        if (index >> bit) & 1:
            image[:, bar * bit : bar * (bit + 1)] = 255
    return image


def id_of_frame(image: np.ndarray) -> int:
    """Read back `frame_with_id` from an (H, W, 3) frame of any size (bars scale with it)."""
    bar = image.shape[1] / BITS
    row = image[image.shape[0] // 2]
    return sum(1 << bit for bit in range(BITS) if row[int(bar * (bit + 0.5)), 0] > 127)


def write_video(
    path: Path,
    num_frames: int,
    fps=30,
    width: int = 8 * BITS,
    height: int = 48,
    codec: str = "libx264",
    times: list[float] | None = None,
    rotation: int = 0,
    frame=frame_with_id,
) -> Path:
    """Encode a test video with PyAV. `times` (seconds) gives each frame's presentation time
    for a variable-rate video; `rotation` sets the display matrix (counter-clockwise)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "18"}
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for index in range(num_frames):
            video_frame = av.VideoFrame.from_ndarray(frame(index, width, height), format="rgb24")
            if times is not None:
                video_frame.pts = round(times[index] * 1000)
                video_frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
