import pytest


@pytest.fixture(autouse=True)
def no_real_weight_cache(tmp_path, monkeypatch):
    """Weights are looked up under a private HOME, never the machine's own cache."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VIDEOLIGHTS_WEIGHTS", raising=False)
