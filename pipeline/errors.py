"""The one exception for a video that cannot be used."""

from __future__ import annotations

from pathlib import Path


class VideoError(Exception):
    """A bad input video: `str()` names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
