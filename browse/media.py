"""The videos: which files may be served, whether a browser plays them, their frames as JPEG.

Only regular files under the folders named on the command line are served. A request path is
refused (None) when it holds an encoded or back slash, an empty, `.` or `..` segment, or when
the file it names resolves (symlinks followed) outside its folder.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, unquote

import av

from pipeline.index import DuplicateVideoIdError, find_videos
from pipeline.probe import video_id_of

# What Chromium plays without plug-ins: container (as FFmpeg names it) -> video codecs.
PLAYABLE = {
    "webm": {"vp8", "vp9", "av1"},
    "mp4": {"h264", "vp9", "av1", "hevc"},
    "ogg": {"theora", "vp8"},
}
THUMBNAIL_WIDTH = 192


class MediaRoots:
    """The served folders, and where each video id's file is (first folder wins)."""

    def __init__(self, folders: tuple[Path, ...]):
        self.roots = tuple(folder.resolve() for folder in folders)
        self.videos: dict[str, tuple[int, str]] = {}
        for index, root in enumerate(self.roots):
            try:
                found = find_videos(root)
            except DuplicateVideoIdError as error:
                raise ValueError(str(error)) from None
            for path in found:
                if self.inside(path, root):
                    relative = path.relative_to(root).as_posix()
                    self.videos.setdefault(video_id_of(path), (index, relative))

    @staticmethod
    def inside(path: Path, root: Path) -> bool:
        real = path.resolve()
        return real.is_file() and real.is_relative_to(root)

    def url(self, vid: str) -> str | None:
        """Where the video `vid` is served, or None when no folder holds it."""
        if vid not in self.videos:
            return None
        index, relative = self.videos[vid]
        return f"/media/{index}/{quote(relative)}"

    def path(self, vid: str) -> Path | None:
        if vid not in self.videos:
            return None
        index, relative = self.videos[vid]
        return self.roots[index] / relative

    def resolve(self, index: str, raw_relative: str) -> Path | None:
        """The file a request names (its path still percent-encoded), or None to refuse it."""
        lowered = raw_relative.lower()
        if "%2f" in lowered or "%5c" in lowered or "\\" in raw_relative:
            return None
        if not index.isdigit() or int(index) >= len(self.roots):
            return None
        parts = unquote(raw_relative).split("/")
        if any(part in ("", ".", "..") for part in parts):
            return None
        root = self.roots[int(index)]
        path = root.joinpath(*parts)
        return path.resolve() if self.inside(path, root) else None


@lru_cache(maxsize=4096)
def playable(path: Path) -> bool:
    """Whether a browser plays the file: its container and first video codec, from the header."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            codec = container.streams.video[0].codec_context.name
            formats = set(container.format.name.split(","))
    except (av.error.FFmpegError, IndexError, OSError):
        return False
    return any(codec in PLAYABLE[name] for name in formats & PLAYABLE.keys())


@lru_cache(maxsize=512)
def thumbnail(path: Path, seconds: float, width: int = THUMBNAIL_WIDTH) -> bytes:
    """The first frame at or after `seconds`, `width` pixels wide, as JPEG (kept in memory)."""
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        container.seek(int(seconds / stream.time_base), stream=stream, backward=True)
        picked = None
        for frame in container.decode(stream):
            picked = frame
            if frame.time is not None and frame.time >= seconds:
                break
    if picked is None:
        raise ValueError(f"{path}: no frame at {seconds:.1f} s")
    image = picked.to_image()
    image.thumbnail((width, width * 4))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()
