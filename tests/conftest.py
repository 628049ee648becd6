"""Fixtures shared by every test module."""

from pathlib import Path

import pytest

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(scope="session")
def bundled_video() -> Path:
    """The real 30.0 s Big Buck Bunny excerpt (VP8, 1280x720, 24 fps; CC BY 3.0)."""
    return DATA_DIR / "videos" / "big_buck_bunny_0_30.webm"
