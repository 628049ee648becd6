"""Fixtures shared by every test module."""

from pathlib import Path

import pytest

from tests.videos import write_video

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(scope="session")
def bundled_video() -> Path:
    """The real 30.0 s Big Buck Bunny excerpt (VP8, 1280x720, 24 fps; CC BY 3.0)."""
    return DATA_DIR / "videos" / "big_buck_bunny_0_30.webm"


@pytest.fixture
def make_video(tmp_path):
    """write_video into the test's folder: make_video("name.mp4", num_frames, **options)."""

    def make(name: str, num_frames: int, **options) -> Path:
        return write_video(tmp_path / name, num_frames, **options)

    return make
