"""The producers' web page, end to end: Debian's Chromium (headless, via Playwright) against the real service.

One uvicorn server runs for the whole module in a thread of this process, on a loopback port. The browser drops a
short synthetic record on the page, checks the chops drawn over the waveform against the JSON the page received,
plays pads from the keyboard, re-chops with other settings, downloads the zip, and reads the service's problems.
It saves a screenshot of the page as a producer sees it (to ``docs/web.png`` when
``SAMPLECHOP_UPDATE_SCREENSHOT=1``) and checks the layout in a 380-px-wide window.

Needs ``/usr/bin/chromium`` (apt package ``chromium``) and the ``playwright`` Python package (its bundled driver
only: no ``playwright install``); without them the browser tests are skipped.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from service.api.app import create_app
from service.api.settings import Settings
from service.api.web import STATIC_DIR
from tests.live_server import Server, shipped_model_path
from tests.synth import beat_record

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "web.png"
SCREENSHOT_MAX_BYTES = 300_000
MAX_UPLOAD = 2_000_000
PROBLEM = "application/problem+json"
TIMEOUT_MS = 60_000


# --- the page is part of the app (no browser needed) -----------------------------------------------------------


def _has_page(app: Any) -> bool:
    return any(getattr(route, "path", None) == "/" for route in app.routes)


def test_create_app_serves_the_page(tmp_path: Path) -> None:
    """``create_app`` wires the page in (``mount_web``); the page, its files and 404s need no model."""
    app = create_app(Settings(store_url=str(tmp_path)))
    assert _has_page(app), "create_app does not call service.api.web.mount_web(app)"

    async def probe() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as session:
            page = await session.get("/")
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert '<script src="static/app.js"' in page.text
            for name, media_type in [("app.js", "javascript"), ("style.css", "text/css")]:
                response = await session.get(f"/static/{name}")
                assert response.status_code == 200, name
                assert media_type in response.headers["content-type"]
                assert response.content == (STATIC_DIR / name).read_bytes()
            missing = await session.get("/static/nothing.js")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == PROBLEM
            assert "/" not in (await session.get("/openapi.json")).json()["paths"]

    asyncio.run(probe())


def test_the_page_loads_nothing_from_elsewhere() -> None:
    """No CDN: every URL the page's files name is on this service (or a fragment, or a same-origin path)."""
    for name in ("index.html", "app.js", "style.css"):
        text = (STATIC_DIR / name).read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name


# --- a browser against a real server --------------------------------------------------------------------------


def _playwright():
    if not CHROMIUM.exists():
        pytest.skip(f"no {CHROMIUM}: `apt-get install -y chromium` to run the browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("no playwright: `pip install playwright` to run the browser tests (no `playwright install`)")
    return sync_playwright


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _playwright()
    store = tmp_path_factory.mktemp("web-store")
    settings = Settings(
        model_path=shipped_model_path(),
        store_url=str(store),
        max_upload_bytes=MAX_UPLOAD,
        max_duration_s=30.0,
        worker_threads=1,
    )
    server = Server.start(settings)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(web_server: Server) -> Iterator[Any]:
    sync_playwright = _playwright()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, web_server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 780}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(web_server.url + "/")
    yield page
    context.close()
    assert not errors, f"the page threw: {errors}"


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("web-records")
    beats = beat_record(7.0, bpm=96.0, seed=5)
    paths = {
        "beats.wav": folder / "beats.wav",
        "notes.wav": folder / "notes.wav",
        "huge.wav": folder / "huge.wav",
    }
    sf.write(paths["beats.wav"], beats.audio, beats.sample_rate, subtype="PCM_16")  # ~1.2 MB
    paths["notes.wav"].write_text("these are liner notes, not audio\n" * 40)
    sf.write(paths["huge.wav"], np.tile(beats.audio, (2, 1)), beats.sample_rate, subtype="PCM_16")  # ~2.5 MB
    return paths


def _upload(page: Any, path: Path) -> Any:
    """Pick a file with the page's file input; returns the /chop response."""
    with page.expect_response(lambda response: response.url.endswith("/chop")) as answer:
        page.set_input_files("#file", str(path))
    return answer.value


def _chop(page: Any, path: Path) -> dict:
    response = _upload(page, path)
    assert response.status == 200, response.text()
    document = response.json()
    page.wait_for_selector("body[data-state=ready]")
    return document


def _region_geometry(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => {
            const box = document.getElementById('regions').getBoundingClientRect();
            return {
                width: box.width,
                regions: [...document.querySelectorAll('#regions .region')].map((node) => {
                    const r = node.getBoundingClientRect();
                    return {index: +node.dataset.index, left: r.left - box.left, width: r.width,
                            label: node.querySelector('.region-label').textContent};
                }),
            };
        }"""
    )


def _assert_regions_match(page: Any, document: dict) -> None:
    geometry = _region_geometry(page)
    chops = document["chops"]
    assert len(geometry["regions"]) == len(chops)
    width, duration = geometry["width"], document["duration"]
    assert width > 100
    for chop, region in zip(chops, geometry["regions"], strict=True):
        assert region["index"] == chop["index"]
        assert region["left"] == pytest.approx(width * chop["start"] / duration, abs=1.0)
        assert region["width"] == pytest.approx(width * (chop["end"] - chop["start"]) / duration, abs=1.0)
        assert region["label"] == f"{chop['index']}{chop['probability']:.2f}"
    pads = page.locator("#pads button.pad")
    assert pads.count() == len(chops)
    first = chops[0]
    assert pads.first.get_attribute("aria-label") == (
        f"Pad 1: {first['start']:.2f} s to {first['end']:.2f} s, probability {first['probability']:.2f}"
    )


def _watch_body(page: Any) -> None:
    """Log every change of ``body[data-playing]`` and ``body[data-state]`` (they may not last long).

    ``window.playedLog`` holds ``[playing, pad, region]``: the chop ``data-playing`` names and the indexes of the
    pad and the region marked as playing then (``null`` for none); ``window.stateLog`` the page's states.
    """
    page.evaluate(
        """() => {
            window.playedLog = [];
            window.stateLog = [];
            const playing = (selector) => document.querySelector(selector)?.dataset.index ?? null;
            new MutationObserver((mutations) => {
                for (const mutation of mutations) {
                    if (mutation.attributeName === 'data-state') window.stateLog.push(document.body.dataset.state);
                }
                if (mutations.some((mutation) => mutation.attributeName === 'data-playing')) {
                    window.playedLog.push([document.body.dataset.playing ?? null,
                                           playing('.pad.playing'), playing('.region.playing')]);
                }
            }).observe(document.body, {attributes: true, attributeFilter: ['data-playing', 'data-state']});
        }"""
    )


def _wait_played(page: Any, index: str, timeout_ms: int = TIMEOUT_MS) -> None:
    page.wait_for_function(
        f"() => window.playedLog.some(([playing]) => playing === {json.dumps(index)})", timeout=timeout_ms
    )


def test_drop_audition_rechop_and_download(
    page: Any, records: dict[str, Path], web_server: Server, tmp_path: Path
) -> None:
    page.wait_for_selector("#file", state="attached")
    assert page.locator("#rechop").is_disabled()
    _watch_body(page)
    document = _chop(page, records["beats.wav"])
    # progress went through uploading and chopping, and is gone now
    assert page.evaluate("() => window.stateLog") == ["uploading", "chopping", "ready"]
    assert page.locator("#status-row").is_hidden()
    assert document["chops"] and document["zip_url"] == f"/chops/{document['id']}.zip"
    _assert_regions_match(page, document)
    assert page.locator("#alert").is_hidden()
    assert "7.00 s" in page.locator("#summary").text_content()
    # the waveform was drawn: the canvas is not blank
    assert (
        page.evaluate(
            """() => {
            const c = document.getElementById('wave-canvas');
            const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let lit = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) lit += 1;
            return lit / (c.width * c.height);
        }"""
        )
        > 0.05
    )

    # The README's copy is refreshed on request only, so a test run leaves the checkout clean.
    shot = SCREENSHOT if os.environ.get("SAMPLECHOP_UPDATE_SCREENSHOT") == "1" else tmp_path / "web.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size < SCREENSHOT_MAX_BYTES

    # a pad key plays its chop (its pad and region lit), and playback ends by itself: the audio clock ran
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("1")
    _wait_played(page, "1")
    assert ["1", "1", "1"] in page.evaluate("() => window.playedLog")
    chop_length = document["chops"][0]["end"] - document["chops"][0]["start"]
    page.wait_for_function("() => window.playedLog.at(-1)[0] === null", timeout=int(1000 * chop_length) + 10_000)
    assert page.locator(".pad.playing, .region.playing").count() == 0
    # a click on a region plays it; so does a pad (Enter on a focused pad too)
    page.locator('.region[data-index="2"]').click()
    _wait_played(page, "2")
    page.locator('.pad[data-index="3"]').click()
    _wait_played(page, "3")
    page.locator('.pad[data-index="4"]').focus()
    page.keyboard.press("Enter")
    _wait_played(page, "4")
    # space plays the whole record and stops it, even with a pad focused; Escape stops too
    page.keyboard.press("Space")
    page.wait_for_selector("body[data-playing=all]")
    assert page.locator("#play-all").get_attribute("aria-pressed") == "true"
    page.keyboard.press("Space")
    page.wait_for_selector("body:not([data-playing])")
    assert page.locator("#play-all").get_attribute("aria-pressed") == "false"
    page.locator("#play-all").click()
    page.wait_for_selector("body[data-playing=all]")
    page.keyboard.press("Escape")
    page.wait_for_selector("body:not([data-playing])")
    assert not any(
        entry[0] not in (None, "all", "1", "2", "3", "4") for entry in page.evaluate("() => window.playedLog")
    )

    # the zip, as the download button takes it
    with page.expect_download() as download_info:
        page.locator("#download").click()
    download = download_info.value
    with zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes())) as archive:
        names = set(archive.namelist())
        assert "chops.json" in names
        listed = json.loads(archive.read("chops.json"))
    assert {chop["file"] for chop in document["chops"]} <= names
    assert [chop["start"] for chop in listed["chops"]] == [chop["start"] for chop in document["chops"]]

    # new settings re-chop the same file (Enter in a field does too); with more than 8 chops, Q plays pad 9
    for chops, top_n, diversity in [(4, 12, "0.5"), (10, 16, "0.9")]:
        page.fill("#chops", str(chops))
        page.fill("#top_n", str(top_n))
        page.locator("#lambda").fill(diversity)
        with page.expect_response(lambda response: response.url.endswith("/chop")) as answer:
            if chops == 4:
                page.locator("#rechop").click()
            else:
                page.locator("#top_n").press("Enter")
        rechopped = answer.value.json()
        page.wait_for_selector("body[data-state=ready]")
        assert rechopped["params"]["chops"] == chops and rechopped["params"]["top_n"] == top_n
        assert rechopped["params"]["lambda"] == pytest.approx(float(diversity))
        assert rechopped["id"] != document["id"]
        assert 1 <= len(rechopped["chops"]) <= chops
        _assert_regions_match(page, rechopped)
        assert page.locator("#download").get_attribute("href") == rechopped["zip_url"]
        assert f"{len(rechopped['chops'])} chops ready" in page.locator("#announce").text_content()
    if len(rechopped["chops"]) >= 9:
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press("q")
        _wait_played(page, "9")

    # bad settings are the service's 422, shown as it says
    page.fill("#chops", "20")
    page.fill("#top_n", "5")
    with page.expect_response(lambda response: response.url.endswith("/chop")) as answer:
        page.locator("#rechop").click()
    assert answer.value.status == 422
    alert = page.locator("#alert[role=alert]")
    alert.wait_for(state="visible")
    assert answer.value.json()["title"] in alert.text_content()


def _drop(page: Any, path: Path) -> Any:
    """Drop a file on the page (a synthetic drag-and-drop with a real File); returns the /chop response."""
    data = base64.b64encode(path.read_bytes()).decode()
    with page.expect_response(lambda response: response.url.endswith("/chop")) as answer:
        page.evaluate(
            """([name, data]) => {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                const transfer = new DataTransfer();
                transfer.items.add(new File([bytes], name, {type: 'audio/wav'}));
                const target = document.getElementById('drop');
                const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
                for (const type of ['dragenter', 'dragover', 'drop']) target.dispatchEvent(new DragEvent(type, init));
            }""",
            [path.name, data],
        )
    return answer.value


@pytest.mark.parametrize(("name", "status", "how"), [("notes.wav", 415, "drop"), ("huge.wav", 413, "pick")])
def test_problems_are_shown(page: Any, records: dict[str, Path], name: str, status: int, how: str) -> None:
    response = _drop(page, records[name]) if how == "drop" else _upload(page, records[name])
    assert response.status == status
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    alert = page.locator("#alert[role=alert]")
    alert.wait_for(state="visible")
    text = alert.text_content()
    assert problem["title"] in text
    assert problem.get("detail", "") in text
    assert page.locator("body").get_attribute("data-state") == "error"
    assert page.locator("#result").is_hidden()
    assert page.locator("#status-row").is_hidden()


def test_narrow_window(browser: Any, web_server: Server, records: dict[str, Path], tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 380, "height": 800}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(web_server.url + "/")
        response = _drop(page, records["beats.wav"])
        assert response.status == 200, response.text()
        document = response.json()
        page.wait_for_selector("body[data-state=ready]")
        _assert_regions_match(page, document)
        layout = page.evaluate(
            """() => {
                const pads = [...document.querySelectorAll('.pad')].map((p) => p.getBoundingClientRect());
                return {
                    scrollWidth: document.documentElement.scrollWidth,
                    columns: new Set(pads.map((r) => Math.round(r.left))).size,
                    smallest: Math.min(...pads.map((r) => Math.min(r.width, r.height))),
                };
            }"""
        )
        assert layout["scrollWidth"] <= 380, "the page scrolls sideways in a narrow window"
        assert layout["columns"] == min(4, len(document["chops"]))
        assert layout["smallest"] >= 60, "pads too small to hit with a thumb"
        page.screenshot(path=str(tmp_path / "web-380.png"), full_page=True)  # to look at; not kept
    finally:
        context.close()
