"""End to end in real headless Chromium: open a photo, paint, undo, run, download; only the stroke changed.

Needs Debian's ``chromium`` (``.ci/run`` installs it) and Playwright (the ``test`` extra), which drives it through
``executable_path``; Playwright's own browser download is never used.
"""

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = next(
    (path for path in (shutil.which("chromium"), "/usr/bin/chromium") if path and os.access(path, os.X_OK)), None
)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")

# Flags for a sandbox without network or display: no first-run or background traffic, no GPU, no sandbox as root.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH, HEIGHT = 240, 160


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    import uvicorn

    from hrinpaint.server import ServerSettings, create_app

    temp = tmp_path_factory.mktemp("browser-server")
    config = uvicorn.Config(
        create_app(ServerSettings(temp_dir=str(temp))), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    assert list(temp.iterdir()) == []  # every job's temporary directory is gone


def write_photo(path: Path) -> np.ndarray:
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH]
    pixels = np.stack([columns * 255 // WIDTH, rows * 255 // HEIGHT, (rows + columns) % 64 * 4], axis=2)
    noise = np.random.default_rng(1).integers(0, 24, pixels.shape)
    pixels = (pixels + noise).clip(0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def capsule(start, end, radius: float) -> np.ndarray:
    """Pixels whose centre lies within ``radius`` of the segment ``start``-``end`` (photo coordinates)."""
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH]
    points = np.stack([columns + 0.5, rows + 0.5], axis=-1)
    start, end = np.asarray(start, float), np.asarray(end, float)
    direction = end - start
    along = np.clip(((points - start) @ direction) / (direction @ direction), 0.0, 1.0)
    distance = np.linalg.norm(points - (start + along[..., None] * direction), axis=-1)
    return distance <= radius


def test_paint_run_and_download_in_chromium(server_url, tmp_path):
    from playwright.sync_api import sync_playwright

    photo_path = tmp_path / "street.png"
    pixels = write_photo(photo_path)
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 700}, accept_downloads=True)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda message: message.type == "error" and problems.append(message.text))
            page.goto(server_url)
            page.wait_for_selector("body[data-state=empty]")
            assert page.locator("#method").input_value() == page.evaluate(
                "fetch('/api/methods').then(r => r.json()).then(b => b.default)"
            )
            page.set_input_files("#file", str(photo_path))
            page.wait_for_selector("body[data-state=ready]")
            page.select_option("#method", "telea+cra")
            brush = 30
            page.evaluate(
                f"(() => {{ const s = document.getElementById('brush-size'); s.value = {brush};"
                " s.dispatchEvent(new Event('input')); })()"
            )
            box = page.locator("#overlay").bounding_box()
            scale = box["width"] / WIDTH  # CSS pixels per photo pixel

            def draw(start, end):
                page.mouse.move(box["x"] + start[0] * scale, box["y"] + start[1] * scale)
                page.mouse.down()
                page.mouse.move(box["x"] + end[0] * scale, box["y"] + end[1] * scale, steps=12)
                page.mouse.up()

            stroke = ((60.0, 80.0), (180.0, 90.0))
            draw(*stroke)
            draw((20.0, 20.0), (40.0, 140.0))  # a second stroke, then undone: it must not reach the server
            page.click("#undo")
            assert not page.locator("#redo").is_disabled()
            page.click("#run")
            page.wait_for_selector("body[data-state=done], body[data-state=error]", timeout=30_000)
            assert page.evaluate("document.body.dataset.state") == "done", page.inner_text("#error-text")
            assert "telea+cra" in page.inner_text("#status")
            with page.expect_download() as download:
                page.click("#download")
            assert download.value.suggested_filename == "street_filled.png"
            result_path = tmp_path / "result.png"
            download.value.save_as(result_path)
            page.click("#view-result")
            page.click("#view-compare")
        finally:
            browser.close()
    assert problems == []
    result = np.array(Image.open(result_path))
    assert result.shape == pixels.shape
    changed = (result != pixels).any(axis=2)
    radius = brush / scale / 2
    # antialiased stroke edges count as hole (any non-zero mask pixel), so allow a pixel and a half of fringe
    assert not changed[~capsule(*stroke, radius + 1.5)].any()
    inside = capsule(*stroke, radius - 1.0)
    assert changed[inside].mean() > 0.9
