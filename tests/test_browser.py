"""End to end in real headless Chromium: open, zoom, pan, paint, run, compare, cancel, download; phone and laptop.

Needs Debian's ``chromium`` (``.ci/run`` installs it) and Playwright (the ``test`` extra), which drives it through
``executable_path``; Playwright's own browser download is never used. Screenshots of each step go to
``$HRINPAINT_SHOTS`` (default: a ``shots`` folder in pytest's temporary directory) to be looked at.
"""

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SlowFiller
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


@pytest.fixture(scope="module")
def server(tmp_path_factory, slow_method):
    import uvicorn

    from hrinpaint.server import ServerSettings, create_app

    app = create_app(ServerSettings())
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("HRINPAINT_SHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser, url, **context_options):
    context = browser.new_context(accept_downloads=True, **context_options)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
    page.goto(url)
    page.wait_for_selector("body[data-state=empty]")
    return context, page


def write_photo(path: Path, width: int, height: int) -> np.ndarray:
    rows, columns = np.mgrid[0:height, 0:width]
    pixels = np.stack([columns * 255 // width, rows * 255 // height, (rows + columns) % 64 * 4], axis=2)
    noise = np.random.default_rng(1).integers(0, 24, pixels.shape)
    pixels = (pixels + noise).clip(0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def capsule(shape, start, end, radius: float) -> np.ndarray:
    """Pixels whose centre lies within ``radius`` of the segment ``start``-``end`` (photo coordinates)."""
    rows, columns = np.mgrid[0 : shape[0], 0 : shape[1]]
    points = np.stack([columns + 0.5, rows + 0.5], axis=-1)
    start, end = np.asarray(start, float), np.asarray(end, float)
    direction = end - start
    along = np.clip(((points - start) @ direction) / (direction @ direction), 0.0, 1.0)
    distance = np.linalg.norm(points - (start + along[..., None] * direction), axis=-1)
    return distance <= radius


def view(page) -> dict:
    return page.evaluate("({zoom: state.zoom, x: state.panX, y: state.panY, split: state.split})")


def screen(page, point) -> tuple[float, float]:
    """Page coordinates of a photo point, through the page's zoom and pan."""
    box = page.locator("#stage").bounding_box()
    current = view(page)
    return box["x"] + current["x"] + point[0] * current["zoom"], box["y"] + current["y"] + point[1] * current["zoom"]


def draw(page, start, end) -> None:
    page.mouse.move(*screen(page, start))
    page.mouse.down()
    page.mouse.move(*screen(page, end), steps=12)
    page.mouse.up()


def set_range(page, selector: str, value: float) -> None:
    page.eval_on_selector(selector, f"(s) => {{ s.value = {value}; s.dispatchEvent(new Event('input')); }}")


def painted_pixels(page) -> int:
    return page.evaluate(
        "(() => { const c = document.getElementById('overlay'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0;"
        " return n; })()"
    )


def run_and_wait(page) -> None:
    page.click("#run")
    page.wait_for_selector("body[data-state=done], body[data-state=error]", timeout=60_000)
    assert page.evaluate("document.body.dataset.state") == "done", page.inner_text("#error-text")


def in_viewport(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] and box["x"] >= 0


def changed_pixels(path: Path, pixels: np.ndarray) -> np.ndarray:
    result = np.array(Image.open(path))
    assert result.shape == pixels.shape
    return (result != pixels).any(axis=2)


def download_result(page, context, pixels: np.ndarray, path: Path) -> tuple[str, np.ndarray]:
    """Clicks Download, closes the page (no errors on it) and returns the file name and the changed pixels."""
    with page.expect_download() as download:
        page.click("#download")
    download.value.save_as(path)
    assert page.problems == []
    context.close()
    return download.value.suggested_filename, changed_pixels(path, pixels)


def test_laptop_paint_grow_run_and_download_in_view(server, browser, shots, tmp_path):
    """1280 x 720: only runnable methods offered, help, grow preview, undo, run; Run and Download never scroll."""
    url, _ = server
    pixels = write_photo(tmp_path / "street.png", 240, 160)
    context, page = open_page(browser, url, viewport={"width": 1280, "height": 720})
    methods = page.evaluate("fetch('/api/methods').then(r => r.json())")
    offered = page.eval_on_selector_all("#method option", "(options) => options.map((o) => o.value)")
    runnable = {m["name"] for m in methods["methods"] if m["available"]}
    assert set(offered) == runnable and "telea+refine" not in offered and "lama+cra" not in offered
    assert page.locator("#method").input_value() == methods["default"]
    missing = page.eval_on_selector("#missing-list", "(list) => list.textContent")  # folded away, but there
    assert "telea+refine: refine needs a network filler" in missing and "lama+cra: " in missing
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.screenshot(path=shots / "laptop-help.png")
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()

    page.set_input_files("#file", str(tmp_path / "street.png"))
    page.wait_for_selector("body[data-state=ready]")
    page.select_option("#method", "telea+cra")
    brush = 30
    set_range(page, "#brush-size", brush)
    stroke = ((60.0, 80.0), (180.0, 90.0))
    draw(page, *stroke)
    before_grow = painted_pixels(page)
    set_range(page, "#grow", 6)
    assert painted_pixels(page) > before_grow * 1.3  # the live preview shows the grown area
    page.screenshot(path=shots / "laptop-grown.png")
    set_range(page, "#grow", 0)
    draw(page, (20.0, 20.0), (40.0, 140.0))  # a second stroke, then undone: it must not reach the server
    page.click("#undo")
    assert not page.locator("#redo").is_disabled()
    assert in_viewport(page, "#run") and page.evaluate("document.scrollingElement.scrollTop") == 0
    run_and_wait(page)
    assert "telea+cra" in page.inner_text("#status")
    assert in_viewport(page, "#download") and in_viewport(page, "#run")
    page.screenshot(path=shots / "laptop-done.png")
    first_result = page.evaluate("state.result.blob.arrayBuffer().then((b) => Array.from(new Uint8Array(b)))")
    (tmp_path / "first.png").write_bytes(bytes(first_result))

    # paint more on the result and run again on it: only the new stroke changes
    page.click("#base-result")
    assert page.evaluate("state.view") == "edit" and painted_pixels(page) == 0  # a fresh mask (Undo restores)
    second = ((40.0, 30.0), (200.0, 30.0))
    draw(page, *second)
    run_and_wait(page)
    name, changed = download_result(page, context, pixels, tmp_path / "result.png")
    assert name == "street_filled.png"
    first = np.array(Image.open(tmp_path / "first.png"))
    again = (np.array(Image.open(tmp_path / "result.png")) != first).any(axis=2)
    radius = brush / view_zoom_at_fit(240, 160) / 2
    assert not again[~capsule(pixels.shape, *second, radius + 1.5)].any()
    assert again[capsule(pixels.shape, *second, radius - 1.0)].mean() > 0.9
    changed &= ~capsule(pixels.shape, *second, radius + 1.5)  # against the photo: both strokes changed
    # antialiased stroke edges count as hole (any non-zero mask pixel), so allow a pixel and a half of fringe
    assert not changed[~capsule(pixels.shape, *stroke, radius + 1.5)].any()
    assert changed[capsule(pixels.shape, *stroke, radius - 1.0)].mean() > 0.9


def view_zoom_at_fit(width: int, height: int) -> float:
    # the laptop page's stage is 1280 - 300 (panel) wide and 720 - 51 (top bar) high, with a 24 px margin
    return min((980 - 48) / width, (669 - 48) / height, 4.0)


def test_zoom_pan_paint_at_100_percent_and_drag_to_compare(server, browser, shots, tmp_path):
    url, _ = server
    width, height = 1600, 1000
    pixels = write_photo(tmp_path / "big.png", width, height)
    context, page = open_page(browser, url, viewport={"width": 1100, "height": 700})
    page.set_input_files("#file", str(tmp_path / "big.png"))
    page.wait_for_selector("body[data-state=ready]")
    fitted = view(page)
    assert fitted["zoom"] < 0.6  # the whole photo fits first
    page.select_option("#method", "telea+cra")

    # wheel zoom keeps the photo point under the pointer where it is
    target = (400.0, 300.0)
    page.mouse.move(*screen(page, target))
    page.mouse.wheel(0, -300)
    page.wait_for_function(f"state.zoom > {fitted['zoom'] * 1.2}")
    stage = page.locator("#stage").bounding_box()
    pointer = page.evaluate("state.lastPointer")
    assert screen(page, target) == pytest.approx((stage["x"] + pointer[0], stage["y"] + pointer[1]), abs=0.5)
    # 1: 100%, then pan with space-drag and with the middle button
    page.keyboard.press("1")
    assert view(page)["zoom"] == 1 and page.inner_text("#zoom-value") == "100%"
    start = view(page)
    centre = (stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    page.keyboard.down(" ")
    page.mouse.move(*centre)
    page.mouse.down()
    page.mouse.move(centre[0] - 150, centre[1] - 100, steps=5)
    page.mouse.up()
    page.keyboard.up(" ")
    moved = view(page)
    assert (moved["x"] - start["x"], moved["y"] - start["y"]) == pytest.approx((-150, -100))
    page.mouse.move(*centre)
    page.mouse.down(button="middle")
    page.mouse.move(centre[0] + 50, centre[1] + 40, steps=5)
    page.mouse.up(button="middle")
    assert (view(page)["x"] - moved["x"], view(page)["y"] - moved["y"]) == pytest.approx((50, 40))
    assert painted_pixels(page) == 0  # panning paints nothing
    for _ in range(12):
        page.keyboard.press("+")
    assert view(page)["zoom"] == 4 and page.inner_text("#zoom-value") == "400%"
    page.screenshot(path=shots / "zoom-400.png")
    page.keyboard.press("1")
    # paint at 100%: a 16 px brush on the screen is 16 photo pixels
    set_range(page, "#brush-size", 16)
    assert "16 px at 100%" in page.inner_text("#brush-photo-size")
    stroke = ((700.0, 500.0), (900.0, 520.0))
    draw(page, *stroke)
    page.screenshot(path=shots / "paint-100.png")
    run_and_wait(page)

    # compare: the split starts over the edit, and dragging on the photo moves it
    assert page.evaluate("state.view") == "compare"
    assert view(page)["split"] == pytest.approx(800 / width, abs=0.01)
    line = page.locator("#split-line").bounding_box()
    assert line["x"] + 1 == pytest.approx(screen(page, (800, 0))[0], abs=1.5)
    page.keyboard.press("0")
    page.screenshot(path=shots / "compare-start.png")
    page.mouse.move(*screen(page, (1200, 300)))
    page.mouse.down()
    page.mouse.move(*screen(page, (400, 700)), steps=6)
    page.mouse.up()
    assert view(page)["split"] == pytest.approx(400 / width, abs=0.01)
    assert page.locator("#split-line").bounding_box()["x"] + 1 == pytest.approx(screen(page, (400, 0))[0], abs=1.5)
    page.screenshot(path=shots / "compare-moved.png")
    _, changed = download_result(page, context, pixels, tmp_path / "result.png")
    assert not changed[~capsule(pixels.shape, *stroke, 8 + 1.5)].any()
    assert changed[capsule(pixels.shape, *stroke, 7)].mean() > 0.9


def test_cancel_stops_the_running_job(server, browser, shots, tmp_path, slow_method):
    import json
    import urllib.request

    url, _ = server
    write_photo(tmp_path / "street.png", 240, 160)
    context, page = open_page(browser, url, viewport={"width": 1280, "height": 720})
    page.set_input_files("#file", str(tmp_path / "street.png"))
    page.wait_for_selector("body[data-state=ready]")
    page.select_option("#method", slow_method)
    draw(page, (60.0, 80.0), (180.0, 90.0))
    page.click("#run")
    deadline = time.monotonic() + 20
    while SlowFiller.running == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert page.locator("#cancel").is_visible()
    page.screenshot(path=shots / "cancel-running.png")
    page.click("#cancel")
    start = time.monotonic()

    def running() -> bool:
        with urllib.request.urlopen(f"{url}/api/health") as answer:
            return json.load(answer)["queue"]["running"]

    while running():
        assert time.monotonic() - start < 2.0, "the worker is still busy 2 s after the cancel"
        time.sleep(0.05)
    assert SlowFiller.running == 0  # the fill itself stopped, not only the answer
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Cancelled')")
    assert page.locator("#run").is_visible() and not page.locator("#error").is_visible()
    page.screenshot(path=shots / "cancel-done.png")
    assert page.problems == []
    context.close()


def test_phone_can_open_paint_by_touch_run_and_download(server, browser, shots, tmp_path):
    url, _ = server
    pixels = write_photo(tmp_path / "street.png", 240, 160)
    context, page = open_page(
        browser, url, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True, device_scale_factor=2
    )
    assert in_viewport(page, "#run") and in_viewport(page, ".topbar label[for=file]")
    page.set_input_files("#file", str(tmp_path / "street.png"))
    page.wait_for_selector("body[data-state=ready]")
    stage = page.locator("#stage").bounding_box()
    assert stage["width"] >= 380 and stage["height"] >= 400  # the photo gets the screen, not a 300 px panel
    assert view(page)["zoom"] * 240 >= 370
    touch = context.new_cdp_session(page)
    start, end = screen(page, (60.0, 80.0)), screen(page, (180.0, 90.0))
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": start[0], "y": start[1]}]})
    for step in range(1, 13):
        x = start[0] + (end[0] - start[0]) * step / 12
        y = start[1] + (end[1] - start[1]) * step / 12
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    assert page.evaluate("state.actions.length") == 1 and painted_pixels(page) > 0
    page.screenshot(path=shots / "phone-painted.png")
    # two fingers moving apart zoom in around their midpoint, and paint nothing
    fitted = view(page)["zoom"]
    mid = screen(page, (120.0, 80.0))

    def fingers(kind: str, spread: float) -> None:
        points = [{"x": mid[0] - spread, "y": mid[1], "id": 0}, {"x": mid[0] + spread, "y": mid[1], "id": 1}]
        touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points if kind != "touchEnd" else []})

    fingers("touchStart", 40)
    for spread in range(45, 85, 5):
        fingers("touchMove", spread)
    fingers("touchEnd", 80)
    assert view(page)["zoom"] == pytest.approx(fitted * 2, rel=0.05)
    assert screen(page, (120.0, 80.0)) == pytest.approx(mid, abs=1.0)
    assert page.evaluate("state.actions.length") == 1
    page.keyboard.press("0")
    page.click("#panel-toggle")
    page.select_option("#method", "telea+cra")
    page.screenshot(path=shots / "phone-panel.png")
    page.click("#panel-toggle")
    run_and_wait(page)
    assert in_viewport(page, "#download") and in_viewport(page, "#run")
    page.screenshot(path=shots / "phone-done.png")
    _, changed = download_result(page, context, pixels, tmp_path / "result.png")
    assert changed[capsule(pixels.shape, (60.0, 80.0), (180.0, 90.0), 3)].mean() > 0.9


def test_error_texts_from_a_detail_string_a_detail_list_or_only_a_status(server, browser):
    """The page's one reading of FastAPI's ``detail``, for a fetch response and for the upload's XMLHttpRequest."""
    url, _ = server
    context, page = open_page(browser, url)
    texts = page.evaluate(
        """async () => {
            const api = await import("/static/api.js");
            const answer = (body, status) => new Response(body, { status, statusText: "" });
            const rejected = (response, status) => ({ response, status, statusText: "", getResponseHeader: () => "" });
            const items = [{ loc: ["body", "grow"], msg: "too big" }, { loc: ["body", "method"], msg: "unknown" }];
            return [
                await api.errorText(answer(JSON.stringify({ detail: "no such job" }), 404)),
                await api.errorText(answer(JSON.stringify({ detail: items }), 422)),
                await api.errorText(answer("not json", 500)),
                api.describeRejection(rejected({ detail: "too large" }, 413)),
                api.describeRejection(rejected({ detail: items }, 422)),
                api.describeRejection(rejected(null, 502)),
            ];
        }"""
    )
    listed = "grow: too big; method: unknown"
    assert texts == ["no such job", listed, "500 error", "too large", listed, "502 error"]
    assert page.problems == []
    context.close()
