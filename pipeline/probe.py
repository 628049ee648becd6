"""What a video is: codec, rate, size, rotation and its duration measured from its frames."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import av

from pipeline.errors import VideoError
from pipeline.grid import DEFAULT_CLIP_LENGTH, num_clips

# A container that claims more than this much longer than its frames cover is truncated.
TRUNCATION_SLACK_S = 1.0


@dataclass(frozen=True)
class VideoInfo:
    """The probe result. Times are in seconds; `duration` is measured from the frames: the last
    frame's presentation time minus the first's, plus one frame duration."""

    path: str
    video_id: str
    container: str
    codec: str
    fps: float
    variable_rate: bool
    num_frames: int
    width: int
    height: int
    rotation: int
    start_time: float
    duration: float

    def num_clips(self, clip_length: float = DEFAULT_CLIP_LENGTH) -> int:
        return num_clips(self.duration, clip_length)

    def as_row(self) -> dict:
        return asdict(self)


def video_id_of(path: str | Path) -> str:
    """Video ids come from file names, as in the QVHighlights layout."""
    return Path(path).stem


def open_video(path: str | Path) -> av.container.InputContainer:
    """Open a file with PyAV, turning its many failure modes into one `VideoError`."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(path, "no such file")
    if path.stat().st_size == 0:
        raise VideoError(path, "empty file (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        raise VideoError(path, f"not a readable video container ({error})") from None
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
        container.close()
        raise VideoError(path, f"no video stream ({kinds})")
    return container


def _packet_times(container, stream) -> list[float]:
    """Presentation times (s) of every video packet, from demuxing only (no decoding)."""
    times = [
        float(packet.pts * stream.time_base)
        for packet in container.demux(stream)
        if packet.pts is not None and packet.size
    ]
    return sorted(times)


def _first_frame(container, stream, path: Path) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as error:
        raise VideoError(path, f"cannot decode the first frame ({error})") from None
    raise VideoError(path, "the video stream has no decodable frame")


def probe(path: str | Path) -> VideoInfo:
    """Probe one video. Raises `VideoError` naming the file and the reason."""
    path = Path(path)
    with open_video(path) as container:
        stream = container.streams.video[0]
        try:
            times = _packet_times(container, stream)
        except av.error.FFmpegError as error:
            raise VideoError(path, f"corrupt video stream ({error})") from None
        if not times:
            raise VideoError(path, "the video stream has no frames")
        container.seek(0)
        first = _first_frame(container, stream, path)

        deltas = [b - a for a, b in zip(times, times[1:], strict=False)]
        rate = stream.average_rate or stream.guessed_rate
        if rate:
            fps = float(rate)
        elif deltas:
            fps = (len(times) - 1) / (times[-1] - times[0])
        else:
            fps = 0.0
        duration = times[-1] - times[0] + (1.0 / fps if fps else 0.0)
        tick = float(stream.time_base) if stream.time_base else 0.0
        variable = bool(deltas) and max(deltas) - min(deltas) > 2 * tick + 1e-6 * max(deltas)

        claimed = container.duration / av.time_base if container.duration else None
        if claimed and claimed - duration > max(TRUNCATION_SLACK_S, 0.1 * claimed):
            raise VideoError(
                path,
                f"truncated: its frames cover {duration:.2f} s of the {claimed:.2f} s declared",
            )
        rotation = int(round(first.rotation or 0)) % 360
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(
            path=str(path),
            video_id=video_id_of(path),
            container=container.format.name,
            codec=stream.codec_context.name,
            fps=round(fps, 6),
            variable_rate=variable,
            num_frames=len(times),
            width=width,
            height=height,
            rotation=rotation,
            start_time=times[0],
            duration=round(duration, 6),
        )
