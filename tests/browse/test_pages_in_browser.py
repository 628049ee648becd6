"""The pages in a real browser: Debian's headless Chromium driven by Selenium (chromedriver).

Without the browser these tests skip, except when CI is set: there they fail (`.ci/run`
installs chromium and chromium-driver). Each page's screenshot goes to the artifacts folder
($VIDEOLIGHTS_ARTIFACTS, default build/test-artifacts/browse); with VIDEOLIGHTS_DOCS=1 it is
also copied to docs/ for the README.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.browse.conftest import CAPTIONS, CLIPS, ROOT, VID, WINDOW_COUNTS, WORST_FIRST

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=1200,1500",
)
ARTIFACTS = Path(os.environ.get("VIDEOLIGHTS_ARTIFACTS", ROOT / "build" / "test-artifacts"))


def missing_browser() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = missing_browser()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="browse-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser, server):
    """Open a path of the served work folder; after the test, no console errors."""

    def open_page(path: str):
        browser.get(server.url + path)
        return browser

    browser.get_log("browser")  # drop what earlier tests left
    yield open_page
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def wait_for(browser, script: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def screenshot(browser, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    assert browser.save_screenshot(str(path))
    if os.environ.get("VIDEOLIGHTS_DOCS"):
        shutil.copy(path, ROOT / "docs" / path.name)
    return path


def player_ready(browser) -> None:
    """Wait until the player has its metadata, then until it has decoded a frame (VP8)."""
    wait_for(browser, "return document.getElementById('player').readyState >= 1")
    assert browser.execute_script("return document.getElementById('player').error") is None
    wait_for(browser, "return document.getElementById('player').readyState >= 2")


def settle(browser) -> None:
    """Pause the player once its seek is done and the frame is there (for the screenshot)."""
    wait_for(
        browser,
        "const p = document.getElementById('player'); return !p.seeking && p.readyState >= 2",
    )
    browser.execute_script("document.getElementById('player').pause()")


def current_time(browser) -> float:
    return browser.execute_script("return document.getElementById('player').currentTime")


def test_synthetic_page_shows_the_captions_and_a_caption_click_seeks(page):
    browser = page(f"/synth/{VID}")
    captions = browser.find_elements("css selector", "ol.captions li.caption")
    assert [c.text.split(" s ", 1)[1] for c in captions] == CAPTIONS
    player_ready(browser)
    duration = browser.execute_script("return document.getElementById('player').duration")
    assert duration == pytest.approx(30.0, abs=0.1)
    captions[1].click()  # its interval is [10, 20) s
    wait_for(browser, "return document.getElementById('player').currentTime >= 10")
    assert 10.0 <= current_time(browser) < 20.0
    settle(browser)
    screenshot(browser, "browse-synthetic")


def test_similarity_curves_have_one_point_per_clip_and_a_point_click_seeks(page):
    browser = page(f"/synth/{VID}")
    curves = browser.find_elements("css selector", "svg.similarity")
    assert len(curves) == len(CAPTIONS)
    for curve in curves:
        assert len(curve.find_elements("css selector", "circle.point")) == CLIPS
    player_ready(browser)
    curves[0].find_elements("css selector", "circle.point")[7].click()  # clip 7: [14, 16) s
    wait_for(browser, "return Math.abs(document.getElementById('player').currentTime - 14) < 0.1")


def test_synthetic_list_pages_the_videos(page):
    browser = page("/synth")
    links = browser.find_elements("css selector", "table.videos a")
    assert [link.text for link in links] == [VID]
    screenshot(browser, "browse-synthetic-list")


def test_predictions_page_lists_the_queries_worst_first(page):
    browser = page("/predictions")
    rows = browser.find_elements("css selector", "table.queries tr.query")
    assert [int(row.get_attribute("data-qid")) for row in rows] == WORST_FIRST
    assert browser.find_elements("css selector", "table.metrics tr")
    screenshot(browser, "browse-predictions")


@pytest.mark.parametrize("qid", sorted(WINDOW_COUNTS))
def test_query_page_draws_the_top_moments(page, qid):
    browser = page(f"/predictions/{qid}")
    player_ready(browser)
    bars = browser.find_elements("css selector", "svg.moment rect.bar")
    assert len(bars) == min(WINDOW_COUNTS[qid], 5)
    assert len(browser.find_elements("css selector", "svg.truth rect.bar")) == 1
    assert len(browser.find_elements("css selector", "svg.predicted circle.point")) == CLIPS
    if qid == 3:  # its top moment, [16, 20] s, after the film's black opening
        bars[0].click()
        settle(browser)
        screenshot(browser, "browse-query")


def test_clicking_a_moment_plays_it(page):
    browser = page("/predictions/3")  # top moment [16, 20] s
    player_ready(browser)
    browser.find_elements("css selector", "svg.moment rect.bar")[0].click()
    wait_for(browser, "return document.getElementById('player').currentTime > 16.2")
    assert 16.0 <= current_time(browser) <= 20.5
    assert browser.execute_script("return !document.getElementById('player').paused")
