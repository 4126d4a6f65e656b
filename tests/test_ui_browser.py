"""`magicpose ui` end to end in a real browser: Debian's chromium, headless, driven by Playwright, against the page
served by this process. Upload the example reference and poses, generate with few steps, download the video;
a bad upload, Stop, two pages at once, and a page closed mid-job.

Skipped when Gradio, Playwright or /usr/bin/chromium is missing, except where MAGICPOSE_BROWSER_TESTS=required
(.ci/run sets it after installing chromium): there a missing piece fails the run instead of hiding it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from magicpose.video import read_video, video_info

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "example_data"
REFERENCE = EXAMPLE / "reference.png"
POSE_FILES = [str(p) for p in sorted((EXAMPLE / "poses").glob("*.png"))]


def _benchmark_module(name: str):
    """A module of benchmarks/ (not a package), loaded from its file."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# chromium started as benchmarks/bench_ui.py starts it (the path, the flags)
chromium = _benchmark_module("headless_chromium")
TIMEOUT_MS = 120_000


def _require_browser_stack():
    missing = []
    for module in ("gradio", "playwright"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"the Python package {module} (pip install -e '.[dev]')")
    if not chromium.CHROMIUM.exists():
        missing.append(f"{chromium.CHROMIUM} (apt-get install chromium)")
    if missing:
        reason = "the browser tests need " + " and ".join(missing)
        if os.environ.get("MAGICPOSE_BROWSER_TESTS") == "required":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory, one_torch_thread):
    """The page, served from this process on a free port (its runner is there to inspect)."""
    _require_browser_stack()
    from magicpose.ui.app import launch
    from magicpose.ui.jobs import UIConfig

    config = UIConfig(output_dir=tmp_path_factory.mktemp("ui") / "outputs", device="cpu", dtype="float32")
    demo, url, runner = launch(config, port=chromium.free_port(), block=False)
    yield url, runner
    demo.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = chromium.launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture
def open_page(server, browser):
    """New pages on the app, each recording every address it requested."""
    url, _ = server
    contexts = []

    def opener():
        context = browser.new_context(viewport={"width": 1280, "height": 1100}, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.requested = []
        page.on("request", lambda request: page.requested.append(request.url))
        page.goto(url)
        page.locator("#generate").wait_for()
        return page

    yield opener
    for context in contexts:
        context.close()


def _outputs(runner) -> list[str]:
    folder = runner.config.output_dir
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _fill_form(page, pose_files: list[str], steps: int) -> None:
    page.locator("#reference button[aria-label='Remove Image']").click()
    page.locator("#reference input[type=file]").set_input_files(str(REFERENCE))
    page.locator("#reference img").wait_for()
    page.locator("#driving input[type=file]").set_input_files(pose_files)
    for name in (Path(f).name for f in pose_files):  # every file is in the upload's list
        page.locator(f"#driving td.filename[aria-label='{name}']").wait_for(state="attached")
    steps_box = page.locator("#steps input[type=number]")
    steps_box.fill(str(steps))
    steps_box.press("Enter")


def _status(page) -> str:
    return page.locator("#status textarea").input_value()


def _wait_status(page, prefix: str) -> str:
    page.wait_for_function(
        "prefix => document.querySelector('#status textarea').value.split('\\n').some(l => l.startsWith(prefix))",
        arg=prefix,
        timeout=TIMEOUT_MS,
    )
    return _status(page)


def test_generate_and_download_in_the_browser(server, open_page, tmp_path) -> None:
    _, runner = server
    page = open_page()
    _fill_form(page, POSE_FILES, steps=3)
    page.locator("#generate").click()
    page.locator("#poses img").wait_for()  # the pose sheet is shown before the video exists
    assert page.locator("#result video").count() == 0
    page.locator("#result video").wait_for()
    status = _wait_status(page, "wrote ")
    assert "generating 16 frames at 64x64, 3 steps, guidance 7.0" in status
    record = runner.history[-1]
    assert record.outcome == "done"

    # the browser plays it: decoded to its first frame at the video's size
    ready, width, height = page.locator("#result video").evaluate(
        "v => new Promise(done => { const f = () => done([v.readyState, v.videoWidth, v.videoHeight]);"
        " v.readyState >= 2 ? f() : v.addEventListener('loadeddata', f); })"
    )
    assert (ready >= 2, width, height) == (True, 64, 64)

    # the download is the video written on disk, byte for byte: 16 frames of 64x64
    links = page.locator("#downloads a.download-link")
    with page.expect_download() as download_info:
        links.first.click()
    downloaded = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(downloaded)
    written = next(runner.config.output_dir.glob(f"{downloaded.stem}.mp4"))
    assert hashlib.sha256(downloaded.read_bytes()).digest() == hashlib.sha256(written.read_bytes()).digest()
    info = video_info(downloaded)
    assert (info["frames"], info["width"], info["height"]) == (16, 64, 64)
    assert len(list(read_video(downloaded))) == 16
    assert links.count() == 3  # the video, the preview video, the preview image

    # the screenshot shows the reference | pose | result preview: what the browser drew is that image
    preview_png = written.with_name(f"{written.stem}_preview.png")
    shot = tmp_path / "preview.png"
    image = page.locator("#preview img")
    image.screenshot(path=str(shot))
    natural_w, natural_h, box_w, box_h, fit = image.evaluate(
        "i => [i.naturalWidth, i.naturalHeight, i.clientWidth, i.clientHeight, getComputedStyle(i).objectFit]"
    )
    assert (natural_w, natural_h) == Image.open(preview_png).size and fit in ("contain", "scale-down")
    scale = min(box_w / natural_w, box_h / natural_h)  # the picture is drawn in the middle of its box
    if fit == "scale-down":
        scale = min(scale, 1.0)
    w, h = round(natural_w * scale), round(natural_h * scale)
    left, top = (box_w - w) // 2, (box_h - h) // 2
    screen = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    expected = np.asarray(Image.open(preview_png).convert("RGB").resize((w, h), Image.BILINEAR), np.float64)

    def difference(picture: np.ndarray) -> float:
        """Mean absolute difference where the picture lies best, within 2 px of the centre (rounding)."""
        inner = picture[3:-3, 3:-3]
        return min(
            np.abs(screen[y : y + inner.shape[0], x : x + inner.shape[1]] - inner).mean()
            for y in range(top + 1, top + 6)
            for x in range(left + 1, left + 6)
        )

    assert h > 150 and difference(expected) < 4
    assert difference(expected[::-1]) > 20  # a different picture would not pass
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    if os.environ.get("MAGICPOSE_UI_SCREENSHOT"):  # how the README's picture is made
        shutil.copy(tmp_path / "page.png", os.environ["MAGICPOSE_UI_SCREENSHOT"])

    # nothing was fetched from anywhere but the page itself
    hosts = {request.split("/")[2] for request in page.requested if request.startswith("http")}
    assert hosts == {page.url.split("/")[2]}


def test_a_bad_upload_shows_the_error_line(server, open_page, tmp_path) -> None:
    _, runner = server
    bad = tmp_path / "0001.png"
    bad.write_bytes(b"not a png")
    before = _outputs(runner)
    page = open_page()
    _fill_form(page, [POSE_FILES[0], str(bad), POSE_FILES[2]], steps=2)
    page.locator("#generate").click()
    status = _wait_status(page, "error: ")
    assert status.splitlines()[-1].startswith(
        "error: pose image '0001.png' cannot be read (cannot identify image file"
    )
    assert status.splitlines()[-1].endswith("re-export it as PNG/JPEG or remove it")
    assert "Traceback" not in page.content()
    assert _outputs(runner) == before and runner.history[-1].outcome == "error"


def _start_long_job(page) -> None:
    """100 steps, under way: Gradio's bar shows the first denoising step."""
    _fill_form(page, POSE_FILES, steps=100)
    page.locator("#generate").click()
    page.locator("[role=progressbar][aria-label^='denoising: step']").first.wait_for()


def test_stop_leaves_no_file(server, open_page) -> None:
    _, runner = server
    before = _outputs(runner)
    page = open_page()
    _start_long_job(page)
    page.locator("#stop").click()
    status = _wait_status(page, "stopped: ")
    assert "no output was written" in status.splitlines()[-1]
    assert runner.history[-1].outcome == "stopped"
    assert _outputs(runner) == before
    assert page.locator("#result video").count() == 0


def test_two_pages_at_once_queue(server, open_page) -> None:
    _, runner = server
    pages = [open_page(), open_page()]
    for page in pages:
        _fill_form(page, POSE_FILES[:4], steps=2)
    count = len(runner.history)
    for page in pages:
        page.locator("#generate").click()
    for page in pages:
        page.locator("#result video").wait_for()
        assert "wrote " in _status(page)
    first, second = sorted(runner.history[count:], key=lambda r: r.started)
    assert len(runner.history) == count + 2 and (first.outcome, second.outcome) == ("done", "done")
    assert second.started >= first.finished  # one after the other, not at once


def test_a_page_closed_mid_job_stops_its_job(server, open_page) -> None:
    _, runner = server
    before = _outputs(runner)
    page = open_page()
    _start_long_job(page)
    page.close()
    record = runner.history[-1]
    for _ in range(600):  # the job notices at its next step
        if record.finished is not None:
            break
        time.sleep(0.1)
    assert record.outcome == "stopped" and _outputs(runner) == before
