"""The HTML report in a real browser: Debian's Chromium, headless, driven by Selenium through
Debian's chromedriver (never Selenium Manager: nothing may be downloaded).

Skipped when Chromium or chromedriver is missing, unless DRIFTSCAN_REQUIRE_BROWSER=1 (as in
.ci/run), where a missing browser fails the run.
"""

from __future__ import annotations

import base64
import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftscan.engine.policy import load_policy
from driftscan.engine.rules import Ruleset
from driftscan.html_runner import build_html_data
from driftscan.reports.html import render
from driftscan.store.queries import Store
from tests.reports.conftest import DemoHistory

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REQUIRED = os.environ.get("DRIFTSCAN_REQUIRE_BROWSER") == "1"

_missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
if _missing:
    _why = f"{' and '.join(_missing)} missing (Debian packages chromium, chromium-driver)"
    if REQUIRED:
        pytest.fail(f"DRIFTSCAN_REQUIRE_BROWSER=1 but {_why}", pytrace=False)
    pytest.skip(_why, allow_module_level=True)

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
except ImportError as exc:  # the `test` extra brings it
    if REQUIRED:
        pytest.fail(f"DRIFTSCAN_REQUIRE_BROWSER=1 but selenium is missing: {exc}", pytrace=False)
    pytest.skip(f"selenium missing: {exc}", allow_module_level=True)

WIDTH = 1300


@pytest.fixture(scope="module")
def report_file(
    demo_history: DemoHistory, ruleset: Ruleset, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    store = Store(demo_history.db)
    policy = load_policy(demo_history.policy, ruleset.rules)
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render(build_html_data(store, store.load_scan(), ruleset, policy)))
    return path


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={WIDTH},1000",
        "--force-color-profile=srgb",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium skips Selenium Manager, which would try the network.
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def loaded(driver: Any, report_file: Path) -> Any:
    driver.get(report_file.as_uri())
    return driver


def test_no_console_errors(loaded: Any) -> None:
    entries = loaded.get_log("browser")
    for entry in entries:
        print(entry)
    assert not [e for e in entries if e["level"] in ("SEVERE", "ERROR")]


def test_charts_are_drawn(loaded: Any) -> None:
    boxes = loaded.execute_script(
        "return Array.from(document.querySelectorAll('figure svg.chart')).map(function (s) {"
        "  var r = s.getBoundingClientRect(); return [r.width, r.height,"
        "  s.querySelectorAll('rect, path').length]; });"
    )
    assert len(boxes) == 12
    for width, height, shapes in boxes:
        assert width > 200 and height > 100 and shapes > 5


def _visible_rows(driver: Any) -> list[str]:
    return [
        row.find_element(By.CSS_SELECTOR, "th").text
        for row in driver.find_elements(By.CSS_SELECTOR, "#inventory-table tbody tr")
        if row.is_displayed()
    ]


def test_inventory_filter(loaded: Any) -> None:
    box = loaded.find_element(By.ID, "inventory-filter")
    assert box.is_displayed()  # shown by the script; hidden without JavaScript
    loaded.execute_script("arguments[0].scrollIntoView()", box)
    assert len(_visible_rows(loaded)) == 30
    box.send_keys("payments-api")
    assert _visible_rows(loaded) == ["payments-api"]
    assert loaded.find_element(By.ID, "inventory-count").text == "1 of 30 repositories shown"
    box.clear()
    box.send_keys("jenkins")  # values match too
    assert set(_visible_rows(loaded)) == {
        "catalog-service",
        "legacy-billing",
        "search-indexer",
        "user-profile-api",
    }
    box.clear()
    box.send_keys("x")
    box.clear()
    loaded.execute_script(
        "arguments[0].dispatchEvent(new Event('input'))", box
    )  # clear() fires no input event
    assert len(_visible_rows(loaded)) == 30
    assert not [e for e in loaded.get_log("browser") if e["level"] == "SEVERE"]


def test_readable_without_javascript(driver: Any, report_file: Path) -> None:
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        driver.get(report_file.as_uri())
        assert not driver.find_element(By.ID, "inventory-filter").is_displayed()
        assert len(_visible_rows(driver)) == 30
        charts = driver.find_elements(By.CSS_SELECTOR, "figure svg.chart")
        assert len(charts) == 12 and all(c.size["height"] > 100 for c in charts)
    finally:
        driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
        driver.get(report_file.as_uri())


def png_colours(png: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct colours of an 8-bit RGB(A) PNG, decoded with
    zlib and numpy (the five scanline filters of the PNG specification)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(png):
        (size,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, stride + 1)
    pixels = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 1:  # Sub: running sum per channel
            line = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) & 0xFF
        elif kind == 2:  # Up
            line = (line + previous) & 0xFF
        elif kind in (3, 4):  # Average, Paeth: each byte depends on the one decoded before
            out = [0] * stride
            up = previous.tolist()
            raw_line = line.tolist()
            for i in range(stride):
                left = out[i - bpp] if i >= bpp else 0
                if kind == 3:
                    out[i] = (raw_line[i] + ((left + up[i]) >> 1)) & 0xFF
                else:
                    corner = up[i - bpp] if i >= bpp else 0
                    p = left + up[i] - corner
                    pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - corner)
                    pred = left if pa <= pb and pa <= pc else (up[i] if pb <= pc else corner)
                    out[i] = (raw_line[i] + pred) & 0xFF
            line = np.array(out, dtype=np.int32)
        pixels[y] = line
        previous = line
    rgb = pixels.reshape(height, width, bpp)[:, :, :3].astype(np.uint32)
    packed = (rgb[:, :, 0] << 16) | (rgb[:, :, 1] << 8) | rgb[:, :, 2]
    return width, height, len(np.unique(packed))


def test_full_page_screenshot_is_not_blank(loaded: Any, tmp_path: Path) -> None:
    height = loaded.execute_script("return document.documentElement.scrollHeight")
    assert height > 3000
    shot = loaded.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            # the whole page, at a quarter of its size: decoding stays quick
            "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 0.25},
        },
    )
    png = base64.b64decode(shot["data"])
    path = tmp_path / "report.png"
    path.write_bytes(png)
    if os.environ.get("DRIFTSCAN_SCREENSHOT"):  # keep a copy to look at
        shutil.copy(path, os.environ["DRIFTSCAN_SCREENSHOT"])
    width, rows, colours = png_colours(png)
    assert (width, rows) == (WIDTH // 4, height // 4) or abs(rows - height / 4) <= 1
    assert colours > 200  # text, charts in several colours, panels: far from one colour
