"""The producers' web page, end to end: Debian's Chromium (headless, via Playwright) against the real service.

One uvicorn server runs for the whole module in a thread of this process, on a loopback port, with the shipped
model. The browser chops real records from ``../shared/data/listen`` and checks what a producer relies on: the
regions and the beat grid sit where the JSON says, zoom and scroll keep them there, labels never overlap; chop points
can be dragged, nudged, added, deleted and undone, with snapping; pads play one-shot, gate and loop, with and without
choke, from keys, clicks and MIDI; a chop leaves the page as a WAV file (button, key, drag) cut at exactly the samples
shown, named after the record; digits typed into a field play nothing; errors read as sentences next to their
field; no serious or critical axe-core finding; the layout holds at 390 px; the page runs under the service's
Content-Security-Policy without a single violation. It saves screenshots at 1440×900 and 390×844 (to ``docs/`` when
``SAMPLECHOP_UPDATE_SCREENSHOT=1``) and measures the time from dropping a 60-s record to seeing its chops.

Needs ``/usr/bin/chromium`` (apt package ``chromium``) and the ``playwright`` Python package (its bundled driver
only: no ``playwright install``); without them, or without ``../shared/data/listen``, the browser tests are skipped.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from samplechop.service.api.app import create_app
from samplechop.service.api.settings import Settings
from samplechop.service.api.web import STATIC_DIR
from samplechop.service.engine.exports import record_slug
from samplechop.service.engine.slices import FADE_IN_S, FADE_OUT_S, EdgeOptions, render_slice
from tests.live_server import Server, shipped_model_path
from tests.synth import beat_record

REPO = Path(__file__).resolve().parent.parent
LISTEN = REPO.parent / "shared" / "data" / "listen"
DRUMS = LISTEN / "admiralbob77_-_Choice_-_Drum-bass.hq.ogg"  # 25 s, hip-hop drums and bass
SIXTY_S = LISTEN / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"  # 61.5 s: the "60-s record" of the timing
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
AXE_VERSION = "4.14.1"
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
DOCS = REPO / "docs"
SCREENSHOT_MAX_BYTES = 400_000
MAX_UPLOAD = 2_000_000  # the ~2.5-MB synthetic WAV is over it; every record used here is under it
PROBLEM = "application/problem+json"
TIMEOUT_MS = 30_000
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

# Runs before the page's own scripts, through the DevTools protocol (so the page's CSP does not apply to it): it
# records CSP violations and every change of the sounding voices, which may last only a moment.
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
    (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
window.__sounding = [];
document.addEventListener('DOMContentLoaded', () => {
    new MutationObserver(() => window.__sounding.push(document.body.dataset.sounding || ''))
        .observe(document.body, {attributes: true, attributeFilter: ['data-sounding']});
});
"""


# --- the page is part of the app (no browser needed) -----------------------------------------------------------


def _has_page(app: Any) -> bool:
    return any(getattr(route, "path", None) == "/" for route in app.routes)


def _static_files() -> list[Path]:
    return sorted(path for path in STATIC_DIR.rglob("*") if path.is_file())


def test_create_app_serves_the_page(tmp_path: Path) -> None:
    """``create_app`` wires the page in; the page and every file under static/ are served with their media type."""
    app = create_app(Settings(store_url=str(tmp_path)))
    assert _has_page(app), "create_app does not call samplechop.service.api.web.mount_web(app)"
    media_types = {".js": "javascript", ".css": "text/css", ".svg": "image/svg+xml", ".md": "text/markdown"}

    async def probe() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as session:
            page = await session.get("/")
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert '<script type="module" src="static/app.js"></script>' in page.text
            for path in _static_files():
                name = path.relative_to(STATIC_DIR).as_posix()
                response = await session.get(f"/static/{name}")
                assert response.status_code == 200, name
                expected = media_types.get(path.suffix)
                if expected:
                    assert expected in response.headers["content-type"], name
                assert response.content == path.read_bytes()
            missing = await session.get("/static/nothing.js")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == PROBLEM
            assert "/" not in (await session.get("/openapi.json")).json()["paths"]

    asyncio.run(probe())


def test_the_page_follows_a_strict_content_security_policy() -> None:
    """Nothing from elsewhere, nothing inline: the service's CSP (script-src/style-src 'self') needs no exception."""
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script"
    assert "<style" not in html and not re.search(r"\sstyle=", html), "an inline style"
    assert not re.search(r"\son[a-z]+=", html), "an inline event handler"
    for path in _static_files():
        text = path.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, no load
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path.name
        if path.suffix == ".js":
            for forbidden in ("innerHTML", "outerHTML", 'setAttribute("style"', "eval(", "new Function", "cssText"):
                assert forbidden not in text, f"{path.name}: {forbidden}"
    imports = re.findall(r'from "(\./[^"]+)"', "\n".join(p.read_text() for p in _static_files() if p.suffix == ".js"))
    for name in imports:
        assert (STATIC_DIR / name).exists() or (STATIC_DIR / "js" / name).exists(), name


# --- a browser against a real server --------------------------------------------------------------------------


def _playwright() -> Any:
    if not CHROMIUM.exists():
        pytest.skip(f"no {CHROMIUM}: `apt-get install -y chromium` to run the browser tests")
    if not DRUMS.exists() or not SIXTY_S.exists():
        pytest.skip(f"no records in {LISTEN}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("no playwright: `pip install playwright` to run the browser tests (no `playwright install`)")
    return sync_playwright


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _playwright()
    settings = Settings(
        model_path=shipped_model_path(),
        store_url=str(tmp_path_factory.mktemp("web-store")),
        max_upload_bytes=MAX_UPLOAD,
        max_duration_s=90.0,
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
def open_page(browser: Any, web_server: Server) -> Iterator[Callable[..., Any]]:
    """Open the page in a new browser context; on teardown, the page must not have thrown nor broken the CSP."""
    opened: list[tuple[Any, Any, list[str]]] = []

    def open_(viewport: dict[str, int] = DESKTOP) -> Any:
        context = browser.new_context(viewport=viewport, device_scale_factor=1, accept_downloads=True)
        context.add_init_script(WATCH)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(web_server.url + "/")
        page.wait_for_function("() => document.body.dataset.capabilities !== undefined")
        opened.append((context, page, errors))
        return page

    yield open_
    for context, page, errors in opened:
        violations = page.evaluate("() => window.__violations")
        context.close()
        assert not errors, f"the page threw: {errors}"
        assert not violations, f"Content-Security-Policy violations: {violations}"


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("web-records")
    beats = beat_record(7.0, bpm=96.0, seed=5)
    paths = {"notes.wav": folder / "notes.wav", "huge.wav": folder / "huge.wav"}
    paths["notes.wav"].write_text("these are liner notes, not audio\n" * 40)
    sf.write(paths["huge.wav"], np.tile(beats.audio, (2, 1)), beats.sample_rate, subtype="PCM_16")  # ~2.5 MB
    return paths


def _is_chop(response: Any) -> bool:
    return response.url.endswith("/chop") and response.request.method == "POST"


def _chop(page: Any, path: Path, **fields: str) -> dict[str, Any]:
    """Set the chop fields, pick the record with the file input; returns the /chop answer once the page shows it."""
    for name, value in fields.items():
        page.fill(f"#{name}", value)
    with page.expect_response(_is_chop) as answer:
        page.set_input_files("#file", str(path))
    assert answer.value.status == 200, answer.value.text()
    page.wait_for_selector("body[data-state=ready]")
    return answer.value.json()


def _drop(page: Any, path: Path) -> Any:
    """Drop a file on the page (a synthetic drag-and-drop with a real File); returns the /chop response."""
    data = base64.b64encode(path.read_bytes()).decode()
    with page.expect_response(_is_chop) as answer:
        page.evaluate(
            """([name, data]) => {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                const transfer = new DataTransfer();
                transfer.items.add(new File([bytes], name, {type: 'audio/ogg'}));
                const target = document.getElementById('drop');
                const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
                for (const type of ['dragenter', 'dragover', 'drop']) target.dispatchEvent(new DragEvent(type, init));
            }""",
            [path.name, data],
        )
    return answer.value


def _settle(page: Any) -> None:
    """Let the page draw what it has scheduled (the view renders on the next animation frame)."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def _view(page: Any) -> dict[str, float]:
    """The waveform view: its inner box on the page, the time at its left edge and its scale."""
    _settle(page)
    return page.evaluate(
        """() => {
            const wave = document.getElementById('wave');
            const box = wave.getBoundingClientRect();
            return {left: box.left + wave.clientLeft, top: box.top + wave.clientTop, width: wave.clientWidth,
                    height: wave.clientHeight, start: +wave.dataset.start, pxPerS: +wave.dataset.pxPerS,
                    zoom: +wave.dataset.zoom};
        }"""
    )


def _regions(page: Any) -> list[dict[str, Any]]:
    _settle(page)
    return page.evaluate(
        """() => {
            const box = document.getElementById('regions').getBoundingClientRect();
            return [...document.querySelectorAll('#regions .region')].map((node) => {
                const r = node.getBoundingClientRect();
                const label = node.querySelector('.region-label');
                const l = label.getBoundingClientRect();
                return {index: +node.dataset.index, start: +node.dataset.start, end: +node.dataset.end,
                        left: r.left - box.left, width: r.width, title: node.title,
                        label: label.hidden ? null : label.innerText.replace(/\\s+/g, ' ').trim(),
                        box: label.hidden ? null : [l.left, l.top, l.right, l.bottom]};
            });
        }"""
    )


def _points(page: Any) -> list[float]:
    return page.evaluate("() => window.sampleChop.points()")


def _sounding(page: Any) -> list[str]:
    return (page.get_attribute("body", "data-sounding") or "").split()


def _wait_sounding(page: Any, voice: str, sounding: bool = True, timeout_ms: int = TIMEOUT_MS) -> None:
    """Wait until `voice` ("record" or a pad number) sounds (or, with sounding=False, is silent)."""
    script = "([v, on]) => (document.body.dataset.sounding || '').split(' ').includes(v) === on"
    page.wait_for_function(script, arg=[voice, sounding], timeout=timeout_ms)


def _visible_text(page: Any, selector: str) -> str:
    """The text a sighted person reads in an element: without the words only screen readers get."""
    return page.locator(selector).evaluate(
        """(element) => {
            const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
            let text = '';
            while (walker.nextNode()) {
                if (!walker.currentNode.parentElement.closest('.visually-hidden, .separator')) {
                    text += walker.currentNode.textContent;
                }
            }
            return text.trim();
        }"""
    )


def _assert_regions_match(page: Any, document: dict[str, Any]) -> None:
    """Every region where the JSON's chop is, on the view's scale; its label, when shown, is its number and p."""
    view = _view(page)
    regions = _regions(page)
    chops = document["chops"]
    assert len(regions) == len(chops)
    for chop, region in zip(chops, regions, strict=True):
        assert region["index"] == chop["index"]
        assert region["start"] == pytest.approx(chop["start"], abs=1e-9)
        assert region["left"] == pytest.approx((chop["start"] - view["start"]) * view["pxPerS"], abs=1.0)
        assert region["width"] == pytest.approx((chop["end"] - chop["start"]) * view["pxPerS"], abs=1.0)
        assert region["label"] in (f"{chop['index']} {chop['probability']:.2f}", str(chop["index"]), None)
        assert region["title"].startswith(f"Chop {chop['index']}: {chop['start']:.3f}–{chop['end']:.3f} s")


def _assert_labels_apart(page: Any) -> int:
    """No two shown labels overlap; a label that is not shown has its text in the region's tooltip. Returns the
    number of labels shown."""
    shown = [region for region in _regions(page) if region["box"]]
    for i, a in enumerate(shown):
        for b in shown[i + 1 :]:
            apart = a["box"][2] <= b["box"][0] or b["box"][2] <= a["box"][0]
            apart = apart or a["box"][3] <= b["box"][1] or b["box"][3] <= a["box"][1]
            assert apart, f"labels of chops {a['index']} and {b['index']} overlap: {a['box']} {b['box']}"
    return len(shown)


def _assert_grid_matches(page: Any, document: dict[str, Any]) -> None:
    """The grid lines in view are the JSON's beats (every one of them when the level is "beats"), bars marked."""
    view = _view(page)
    _settle(page)
    lines = page.evaluate(
        """() => [...document.querySelectorAll('#grid .gl')].map((line) => ({
            t: +line.dataset.t, bar: line.classList.contains('bar'), x: parseFloat(line.style.left)}))"""
    )
    level = page.get_attribute("#grid", "data-level")
    beats, downbeats = document["grid"]["beats"], document["grid"]["downbeats"]
    end = view["start"] + view["width"] / view["pxPerS"]
    in_view = [t for t in beats if view["start"] <= t <= end]
    assert lines, "no grid drawn"
    assert all(any(abs(line["t"] - t) < 1e-9 for t in beats) for line in lines)
    if level == "beats":
        assert [line["t"] for line in lines] == pytest.approx(in_view, abs=1e-9)
    for line in lines:
        assert line["bar"] == any(abs(line["t"] - t) < 1e-9 for t in downbeats)
        assert line["x"] == pytest.approx((line["t"] - view["start"]) * view["pxPerS"], abs=0.5)


def _axe(page: Any) -> list[dict[str, Any]]:
    """Run axe-core (vendored, pinned) in the page; returns the serious and critical violations."""
    source = AXE.read_text(encoding="utf-8")
    assert f"axe v{AXE_VERSION}" in source[:200]
    page.evaluate(source)  # through the DevTools protocol: the page's CSP rightly refuses inline scripts
    results = page.evaluate(
        """() => axe.run(document, {rules: {'label-content-name-mismatch': {enabled: true}}})
            .then((r) => r.violations.map((v) => ({id: v.id, impact: v.impact,
                nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' '))})))"""
    )
    return [v for v in results if v["impact"] in ("serious", "critical")]


def _screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """The docs/ copy is refreshed on request only, so that a test run leaves the checkout clean."""
    update = os.environ.get("SAMPLECHOP_UPDATE_SCREENSHOT") == "1"
    shot = DOCS / name if update else tmp_path / name
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size < SCREENSHOT_MAX_BYTES
    return shot


@pytest.mark.slow  # a real browser
def test_chops_grid_zoom_and_labels(open_page: Callable[..., Any], tmp_path: Path) -> None:
    page = open_page(DESKTOP)
    assert page.locator("#rechop").is_disabled()
    document = _chop(page, DRUMS)
    assert page.locator("#status-row").is_hidden() and page.locator("#alert").is_hidden()
    assert f"{document['duration']:.2f} s" in page.text_content("#summary")
    facts = page.text_content("#facts")
    if document["tempo_bpm"]:
        assert f"{document['tempo_bpm']:.1f} BPM" in facts
    if document["beats_per_bar"]:
        assert f"{document['beats_per_bar']} beats a bar" in facts
    _assert_regions_match(page, document)
    _assert_grid_matches(page, document)
    assert page.locator("#bar-ruler .bar-number").count() >= 2
    # the waveform is drawn: the canvas is not blank
    lit = page.evaluate(
        """() => {
            const c = document.getElementById('wave-canvas');
            const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let lit = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) lit += 1;
            return lit / (c.width * c.height);
        }"""
    )
    assert lit > 0.05
    assert not _axe(page)
    _screenshot(page, "web.png", tmp_path)

    # zoom in 4× (buttons), scroll to the end (the overview, by keyboard), and back: everything stays on the JSON
    page.click("#zoom-in")
    page.click("#zoom-in")
    page.wait_for_function("() => Math.abs(+document.getElementById('wave').dataset.zoom - 4) < 0.01")
    _assert_regions_match(page, document)
    _assert_grid_matches(page, document)
    page.focus("#overview-window")
    page.keyboard.press("End")
    page.wait_for_function(f"() => +document.getElementById('wave').dataset.start > {document['duration'] / 2}")
    view = _view(page)
    assert view["start"] + view["width"] / view["pxPerS"] == pytest.approx(document["duration"], abs=0.01)
    _assert_regions_match(page, document)
    _assert_grid_matches(page, document)
    page.keyboard.press("Escape")  # not a text field: nothing to leave, nothing sounding
    page.locator("body").press("0")
    page.wait_for_function("() => +document.getElementById('wave').dataset.zoom === 1")
    # Ctrl+wheel zooms around the pointer, Shift+wheel scrolls
    view = _view(page)
    page.mouse.move(view["left"] + view["width"] / 2, view["top"] + view["height"] / 2)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -300)
    page.keyboard.up("Control")
    page.wait_for_function("() => +document.getElementById('wave').dataset.zoom > 2")
    zoomed = _view(page)
    page.keyboard.down("Shift")
    page.mouse.wheel(0, 200)
    page.keyboard.up("Shift")
    page.wait_for_function(f"() => +document.getElementById('wave').dataset.start > {zoomed['start'] + 0.5}")
    _assert_regions_match(page, document)
    page.click("#zoom-fit")

    # many chops: labels go to lanes or into the tooltip, never on top of each other
    page.fill("#chops", "24")
    page.fill("#top_n", "48")
    with page.expect_response(_is_chop) as answer:
        page.press("#top_n", "Enter")
    many = answer.value.json()
    page.wait_for_function(f"() => document.querySelectorAll('#regions .region').length === {len(many['chops'])}")
    assert len(many["chops"]) > 16
    _assert_regions_match(page, many)
    assert _assert_labels_apart(page) >= 8
    # Enter chopped and left the field: digits now play pads instead of typing into it
    page.keyboard.press("2")
    _wait_sounding(page, "2")
    assert page.input_value("#chops") == "24"


@pytest.mark.slow  # a real browser
def test_edit_chops_by_hand(open_page: Callable[..., Any]) -> None:
    page = open_page(DESKTOP)
    document = _chop(page, DRUMS)
    rate = document["sample_rate"]
    beats = document["grid"]["beats"]
    original = _points(page)
    assert original == pytest.approx([chop["start"] for chop in document["chops"]], abs=1e-9)

    def on_samples(points: list[float]) -> None:
        """Points placed here sit on the record's samples (the server's own are rounded to microseconds)."""
        for t in set(points) - set(original):
            assert t * rate == pytest.approx(round(t * rate), abs=1e-3), "a point off the record's sample grid"

    def drag(i: int, dx_px: float) -> None:
        marker = page.locator(f'#markers .marker[data-index="{i + 1}"]')
        box = marker.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] - 6
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + dx_px / 2, y, steps=3)
        page.mouse.move(x + dx_px, y, steps=3)
        page.mouse.up()

    # the chop to move: the one with the most room on both sides; the gap to add chops in: the widest elsewhere
    gaps = [b - a for a, b in zip(original, [*original[1:], document["duration"]], strict=True)]
    k = max(range(1, len(original) - 1), key=lambda i: min(gaps[i - 1], gaps[i]))
    j = max((i for i in range(len(original) - 1) if i not in (k - 1, k)), key=lambda i: gaps[i])
    beat_s = 60 / document["tempo_bpm"]
    assert min(gaps[k - 1], gaps[k]) > 2 * beat_s, "no chop with room to move on this record"
    marker = f'#markers .marker[data-index="{k + 1}"]'

    # drag it by 40 px with snapping off: it moves by 40 px worth of seconds, onto a sample
    page.select_option("#snap", "off")
    view = _view(page)
    drag(k, 40)
    moved = _points(page)
    assert moved[k] == pytest.approx(original[k] + 40 / view["pxPerS"], abs=1.5 / view["pxPerS"])
    assert moved[:k] == original[:k] and moved[k + 1 :] == original[k + 1 :]
    on_samples(moved)
    assert _regions(page)[k]["start"] == pytest.approx(moved[k], abs=1e-9)
    assert page.locator("#result[data-edited=true]").count() == 1
    assert page.locator("#notice").is_visible()
    # the pad plays the edited chop: it starts where the point is now
    assert _visible_text(page, f'.pad[data-index="{k + 1}"] .pad-time') == f"{moved[k]:.2f} s"

    # nudge it with the keyboard: → twice is +10 ms (fine), Shift+← is one beat back (coarse)
    assert page.evaluate("() => document.activeElement.dataset.index") == str(k + 1)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    nudged = _points(page)[k]
    assert nudged == pytest.approx(moved[k] + 0.010, abs=2 / rate)
    page.keyboard.press("Shift+ArrowLeft")
    assert _points(page)[k] == pytest.approx(nudged - beat_s, abs=2 / rate)
    _settle(page)
    assert page.get_attribute(marker, "aria-valuenow") == f"{_points(page)[k]:.6f}"

    # with the grid snap, a dragged point lands exactly on a beat
    page.select_option("#snap", "grid")
    drag(k, 25)
    snapped = _points(page)[k]
    assert min(abs(snapped - t) for t in beats) < 1 / rate

    # add a chop: click the waveform to place the cursor, press A (snapped to the nearest beat)
    before_add = _points(page)
    count = len(before_add)
    view = _view(page)
    target_s = (original[j] + original[j + 1]) / 2
    page.mouse.click(view["left"] + (target_s - view["start"]) * view["pxPerS"], view["top"] + view["height"] / 2)
    page.keyboard.press("a")
    added = _points(page)
    assert len(added) == count + 1
    [new] = [t for t in added if t not in before_add]
    assert min(abs(new - b) for b in beats) < 1 / rate, "A placed the chop off the beat grid"
    assert page.locator("#regions .region").count() == count + 1
    assert page.locator("#pads .pad").count() == count + 1
    # and one with a double-click, snapping off
    page.select_option("#snap", "off")
    at_s = original[j] + gaps[j] / 4
    page.mouse.dblclick(view["left"] + (at_s - view["start"]) * view["pxPerS"], view["top"] + view["height"] / 2)
    assert len(_points(page)) == count + 2
    assert min(abs(t - at_s) for t in _points(page)) < 1.5 / view["pxPerS"]

    # delete the selected chop, then undo and redo
    before_delete = _points(page)
    selected = page.evaluate("() => window.sampleChop.selected()")
    page.keyboard.press("Delete")
    assert len(_points(page)) == len(before_delete) - 1
    assert before_delete[selected] not in _points(page)
    page.keyboard.press("Control+z")
    assert _points(page) == before_delete
    page.keyboard.press("Control+Shift+z")
    assert len(_points(page)) == len(before_delete) - 1
    for _ in range(10):
        page.keyboard.press("Control+z")
    assert _points(page) == original, "undo goes back to the model's chops"
    assert page.locator("#result[data-edited]").count() == 0
    page.keyboard.press("Control+y")
    assert _points(page) == moved

    # snapping to onsets: once the worker has found them, a dragged point lands on one
    page.wait_for_function("() => +document.body.dataset.onsets > 10")
    onsets = page.evaluate("() => window.sampleChop.onsets()")
    page.select_option("#snap", "onset")
    drag(k, 12)
    target_s = moved[k] + 12 / view["pxPerS"]
    onset_s = min(onsets, key=lambda t: abs(t - target_s))
    expected_s = onset_s if abs(onset_s - target_s) <= 0.15 else target_s  # edit.js's ONSET_SNAP_WINDOW_S
    assert _points(page)[k] == pytest.approx(expected_s, abs=1.5 / view["pxPerS"])
    on_samples(_points(page))

    # the edited points go to the server: exactly there when it takes `points`, never faked when it does not
    edited = _points(page)
    if "points" in (page.get_attribute("body", "data-capabilities") or "").split():
        with page.expect_response(_is_chop) as answer, page.expect_download() as download_info:
            page.click("#download")
        sent = answer.value.request.post_data_buffer  # None when Chromium does not hand a multipart body with a file
        if sent is not None:
            assert ",".join(f"{t:.6f}" for t in edited) in sent.decode("latin-1")
        with zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes())) as archive:
            listed = json.loads(archive.read("chops.json"))
        assert [round(chop["start"] * rate) for chop in listed["chops"]] == [round(t * rate) for t in edited]
    else:
        assert page.locator("#slice").is_disabled()
        assert "cannot slice" in page.get_attribute("#slice", "title")
        assert "cannot slice at hand-placed points yet" in page.text_content("#notice")
        assert page.get_attribute("#download", "href") == document["zip_url"]


@pytest.mark.slow  # a real browser
def test_pads_play_like_a_sampler(open_page: Callable[..., Any]) -> None:
    page = open_page(DESKTOP)
    document = _chop(page, DRUMS)
    chops = document["chops"]
    lengths = [chop["end"] - chop["start"] for chop in chops]
    # a short chop to loop: a point 0.3 s into the longest of the first 7 chops (snapping off), placed with A at
    # the cursor; the rest of that chop becomes a long pad to hold as a gate. Pads 1–8 are keys 1–8.
    longest = max(range(min(7, len(chops))), key=lambda i: lengths[i])
    assert lengths[longest] > 1.5, "no chop long enough on this record"
    page.select_option("#snap", "off")
    view = _view(page)
    at_s = chops[longest]["start"] + 0.3
    page.mouse.click(view["left"] + (at_s - view["start"]) * view["pxPerS"] + 0.5, view["top"] + 20)
    page.keyboard.press("a")
    points = _points(page)
    loop_pad, gate_pad = longest + 1, longest + 2
    short_s = points[loop_pad] - points[loop_pad - 1]
    assert 0.25 < short_s < 0.35
    lengths = [c["end"] - c["start"] for c in page.evaluate("() => window.sampleChop.chops()")]
    one, two = sorted((p for p in range(1, 9) if p not in (loop_pad, gate_pad)), key=lambda p: -lengths[p - 1])[:2]

    def set_mode(pad: int, mode: str) -> None:
        button = page.locator(f'.pad-mode[data-index="{pad}"]')
        while button.get_attribute("data-mode") != mode:
            button.click()
        assert mode in button.inner_text()

    def voice(pad: int) -> dict[str, float] | None:
        return page.evaluate("(pad) => window.sampleChop.voice(pad)", pad)

    # loop: still sounding after twice its length, with sound at the output; pressing it again stops it
    set_mode(loop_pad, "loop")
    page.locator("body").press(str(loop_pad))
    _wait_sounding(page, str(loop_pad))
    page.wait_for_function(
        "(pad) => { const v = window.sampleChop.voice(pad); return v && v.elapsed_s > 2 * v.length_s; }", arg=loop_pad
    )
    assert str(loop_pad) in _sounding(page)
    assert page.get_attribute(f'.pad[data-index="{loop_pad}"]', "data-sounding") == "true"
    assert page.evaluate("() => window.sampleChop.level()") > 1e-3
    page.keyboard.press(str(loop_pad))
    _wait_sounding(page, str(loop_pad), False)

    # one-shot: plays its length and stops by itself, key-up or not
    set_mode(loop_pad, "one-shot")
    page.evaluate("() => { window.__sounding.length = 0; }")
    page.keyboard.press(str(loop_pad))
    page.wait_for_function("(pad) => window.__sounding.some((s) => s.split(' ').includes(pad))", arg=str(loop_pad))
    _wait_sounding(page, str(loop_pad), False, timeout_ms=int(1000 * short_s) + 5000)

    # gate: sounds while the key is held, stops on key-up long before its end
    set_mode(gate_pad, "gate")
    assert lengths[gate_pad - 1] > 1.0
    page.keyboard.down(str(gate_pad))
    _wait_sounding(page, str(gate_pad))
    held = voice(gate_pad)
    page.keyboard.up(str(gate_pad))
    _wait_sounding(page, str(gate_pad), False)
    assert held is not None and held["elapsed_s"] < held["length_s"]

    # choke on (default): a pad cuts the one sounding; off (C): they sound together
    page.keyboard.press(str(one))
    _wait_sounding(page, str(one))
    page.keyboard.press(str(two))
    _wait_sounding(page, str(two))
    assert str(one) not in _sounding(page)
    page.keyboard.press("Escape")
    _wait_sounding(page, str(two), False)
    page.keyboard.press("c")
    assert not page.is_checked("#choke")
    page.keyboard.press(str(one))
    page.keyboard.press(str(two))
    _wait_sounding(page, str(two))
    assert {str(one), str(two)} <= set(_sounding(page))
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.body.dataset.sounding")

    # a click on a pad plays it; Space on a focused pad plays that pad, not the record
    page.click(f'.pad[data-index="{one}"]')
    _wait_sounding(page, str(one))
    page.keyboard.press("Escape")
    page.focus(f'.pad[data-index="{two}"]')
    page.keyboard.press("Space")
    _wait_sounding(page, str(two))
    assert "record" not in _sounding(page)
    page.keyboard.press("Escape")

    # Space elsewhere plays the record from the cursor, with a playhead; Space again pauses it there
    cursor_s = chops[2]["start"] + 0.5
    # The pad clicks above may have scrolled the page: bring the waveform back and measure it again before clicking.
    page.locator("#wave").scroll_into_view_if_needed()
    view = _view(page)
    page.mouse.click(view["left"] + (cursor_s - view["start"]) * view["pxPerS"], view["top"] + 20)
    assert float(page.get_attribute("#cursor", "data-t")) == pytest.approx(cursor_s, abs=0.05)
    page.keyboard.press("Space")
    _wait_sounding(page, "record")
    assert page.get_attribute("#play-all", "aria-pressed") == "true"
    page.wait_for_function(f"() => +document.getElementById('playhead').dataset.t > {cursor_s + 0.05}")
    page.keyboard.press("Space")
    _wait_sounding(page, "record", False)
    paused_s = float(page.get_attribute("#cursor", "data-t"))
    assert paused_s > cursor_s + 0.05

    # a MIDI note plays its pad (note 36 is pad 1); note-off releases a gate pad
    assert page.locator("#midi").is_enabled() == page.evaluate("() => 'requestMIDIAccess' in navigator")
    page.evaluate("(note) => window.sampleChop.midi([0x90, note, 100])", 35 + gate_pad)
    _wait_sounding(page, str(gate_pad))
    page.evaluate("(note) => window.sampleChop.midi([0x80, note, 0])", 35 + gate_pad)
    _wait_sounding(page, str(gate_pad), False)
    # the pad's screen-reader name holds its visible text
    pad = page.get_by_role("button", name=re.compile(r"^Pad 3, key 3, from \d+\.\d\d s, \d+\.\d\d s long, p 0\.\d\d$"))
    assert pad.count() == 1
    name = pad.evaluate("(pad) => pad.textContent")
    for part in ("pad-number", "pad-key", "pad-time", "pad-length", "pad-p"):
        assert _visible_text(page, f'.pad[data-index="3"] .{part}') in name


# Names whose slugs the page must make exactly as the service does (exports.record_slug): folders, extensions,
# accents, scripts with no ASCII letters, runs of separators, over-long names, nothing at all.
SLUG_NAMES = [
    "Kevin_MacLeod_-_Vibe_Ace.hq.ogg",
    "Ünïcödé Bëats (live).FLAC",
    "CAFÉ – Ñandú.mp3",
    "../../etc/passwd",
    "C:\\music\\Track 01.wav",
    "....",
    "",
    "数字.mp3",
    "x" * 80 + ".wav",
    "-_-.ogg",
    "beat.tar.gz",
    "name.toolongext",
    "loop 120bpm.aiff",
]
# The page rounds to the nearest PCM step, so its file is within half a step of the samples it was given (1/65536 at
# 16 bits); Chromium's Vorbis decoder and libsndfile's agree to 1e-6 (measured: 1.3e-7 on the drums record).
HALF_STEP = {"PCM_16": 0.5 / 2**15, "PCM_24": 0.5 / 2**23}
DECODERS_AGREE = 1e-6


def _download(page: Any, action: Callable[[], None]) -> tuple[str, bytes]:
    """The suggested name and the bytes of the download that ``action`` starts."""
    with page.expect_download() as info:
        action()
    return info.value.suggested_filename, Path(info.value.path()).read_bytes()


def _drag_out(page: Any, selector: str) -> dict[str, Any]:
    """Start dragging ``selector`` (a synthetic dragstart with a real DataTransfer): what the page put in it."""
    return page.evaluate(
        """(selector) => {
            const transfer = new DataTransfer();
            const event = new DragEvent('dragstart', {dataTransfer: transfer, bubbles: true, cancelable: true});
            document.querySelector(selector).dispatchEvent(event);
            return {url: transfer.getData('DownloadURL'), cancelled: event.defaultPrevented};
        }""",
        selector,
    )


@pytest.mark.slow  # a real browser
def test_a_chop_leaves_as_a_wav_file(open_page: Callable[..., Any], web_server: Server) -> None:
    page = open_page(DESKTOP)
    document = _chop(page, DRUMS)
    rate, channels = document["sample_rate"], document["channels"]
    slug = record_slug(DRUMS.name)
    assert document.get("slug", slug) == slug
    slugs = page.evaluate("(names) => names.map((name) => window.sampleChop.slug(name))", SLUG_NAMES)
    assert slugs == [record_slug(name) for name in SLUG_NAMES]
    original, original_rate = sf.read(DRUMS, dtype="float32", always_2d=True)
    assert (original_rate, original.shape[1]) == (rate, channels)
    page.wait_for_selector("body[data-wav=ready]")
    assert len(document["chops"]) >= 4

    # move chop k's start 10 ms later by hand: its file and the one before it follow the point on screen
    k = 3
    page.focus(f'#markers .marker[data-index="{k}"]')
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    shown = page.evaluate("() => window.sampleChop.chops()")
    assert shown[k - 1]["start"] == pytest.approx(document["chops"][k - 1]["start"] + 0.010, abs=2 / rate)
    frames = [(round(chop["start"] * rate), round(chop["end"] * rate)) for chop in shown]

    def check(name: str, data: bytes, index: int, subtype: str = "PCM_16") -> np.ndarray:
        """The file of chop ``index``: named after the record, the record's rate and channels, exactly the chop's
        samples: the original's in the interior, faded at both ends as the service fades its slices."""
        assert name == f"{slug}_{index:02d}.wav"
        assert sf.info(io.BytesIO(data)).subtype == subtype
        wav, wav_rate = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
        start, end = frames[index - 1]
        assert wav_rate == rate and wav.shape == (end - start, channels)
        fade_in, fade_out = round(FADE_IN_S * rate), round(FADE_OUT_S * rate)
        interior = slice(fade_in, end - start - fade_out)
        tolerance = HALF_STEP[subtype] + DECODERS_AGREE
        assert np.max(np.abs(wav[interior] - original[start:end][interior])) <= tolerance
        faded = render_slice(original, start, end, sample_rate_hz=rate, edges=EdgeOptions(remove_dc=False))
        assert np.max(np.abs(wav - faded)) <= tolerance
        assert not wav[0].any() and not wav[-1].any(), "the ends are not faded to silence"
        return wav

    # the pad's WAV button downloads it
    name, chop_k = _download(page, lambda: page.click(f'.pad-wav[data-index="{k}"]'))
    check(name, chop_k, k)
    # D saves the selected chop: the one before, which now ends where chop k starts
    page.focus(f'#markers .marker[data-index="{k}"]')
    page.keyboard.press("[")
    assert page.evaluate("() => window.sampleChop.selected()") == k - 2
    name, before = _download(page, lambda: page.keyboard.press("d"))
    assert frames[k - 2][1] == frames[k - 1][0]
    check(name, before, k - 1)

    # dragging the pad's button or the region out carries a DownloadURL of that same file
    dragged = [_drag_out(page, f'.pad-wav[data-index="{k}"]'), _drag_out(page, f'#regions .region[data-index="{k}"]')]
    pattern = rf"audio/wav:{re.escape(slug)}_{k:02d}\.wav:(blob:{re.escape(web_server.url)}/[0-9a-f-]{{36}})"
    urls = []
    for drag in dragged:
        assert not drag["cancelled"]
        match = re.fullmatch(pattern, drag["url"])
        assert match, drag["url"]
        urls.append(match.group(1))
    assert urls[0] == urls[1]
    fetch = """(url) => { const a = document.createElement('a'); a.href = url; a.download = 'dragged.wav';
                         document.body.append(a); a.click(); a.remove(); }"""
    _, dropped = _download(page, lambda: page.evaluate(fetch, urls[0]))
    assert dropped == chop_k

    # the bit depth chosen on the page: 24-bit files
    if "bit_depth" in (page.get_attribute("body", "data-capabilities") or "").split():
        page.select_option("#bit_depth", "24")
        name, deep = _download(page, lambda: page.click(f'.pad-wav[data-index="{k}"]'))
        check(name, deep, k, "PCM_24")


@pytest.mark.slow  # a real browser
def test_text_fields_keep_their_keys_and_settings_go_stale(open_page: Callable[..., Any]) -> None:
    page = open_page(DESKTOP)
    _chop(page, DRUMS)
    page.evaluate("() => { window.__sounding.length = 0; }")
    # digits typed into the chop-count field are the field's: nothing plays
    page.click("#chops")
    page.keyboard.press("End")
    page.keyboard.type("12")
    page.keyboard.press("Space")
    assert page.input_value("#chops") == "812"
    assert page.evaluate("() => window.__sounding") == []
    # the field's new value marks the chops on screen as stale
    assert page.get_attribute("#result", "data-stale") == "settings"
    assert "Settings changed" in page.text_content("#notice")
    assert "attention" in (page.get_attribute("#rechop", "class") or "")
    # Escape leaves the field; then the digits play pads
    page.keyboard.press("Escape")
    assert page.evaluate("() => document.activeElement.id") != "chops"
    page.keyboard.press("1")
    _wait_sounding(page, "1")
    # on the λ slider, digits play pads and leave λ alone (arrows stay the slider's)
    lam = page.input_value("#lambda")
    page.focus("#lambda")
    page.keyboard.press("2")
    _wait_sounding(page, "2")
    assert page.input_value("#lambda") == lam
    page.keyboard.press("ArrowLeft")
    assert page.input_value("#lambda") != lam
    # chopping again with settings that make sense clears the stale mark; the bit depth goes with them
    page.fill("#chops", "6")
    page.select_option("#bit_depth", "24")
    with page.expect_response(_is_chop) as answer:
        page.click("#rechop")
    page.wait_for_function("() => !document.getElementById('result').dataset.stale")
    assert page.locator("#notice").is_hidden()
    assert answer.value.json()["params"]["chops"] == 6 and answer.value.json()["params"]["bit_depth"] == 24
    # the slice and export choices the server does not take yet are disabled, and say so (nothing is faked)
    capabilities = (page.get_attribute("body", "data-capabilities") or "").split()
    for name in ("mode", "export"):
        assert page.is_disabled(f"#{name}") == (name not in capabilities)
        if name not in capabilities:
            tooltip = page.get_attribute(f'.field[data-field="{name}"]', "title")
            assert tooltip == "This server does not take this setting yet."
            assert page.text_content(f"#{name}-help") == "needs a newer server"
            assert f'name="{name}"' not in (answer.value.request.post_data_buffer or b"").decode("latin-1")


@pytest.mark.slow  # a real browser
def test_errors_read_as_sentences_next_to_their_field(
    open_page: Callable[..., Any], records: dict[str, Path], web_server: Server
) -> None:
    page = open_page(DESKTOP)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url) if _is_chop_request(request) else None)

    # a file the service cannot read: the reason next to the drop zone, and an alert with a plain title
    response = _drop(page, records["notes.wav"])
    assert response.status == 415
    page.wait_for_selector("#file-error:not([hidden])")
    assert page.text_content("#file-error") == "Pick a WAV, FLAC, OGG or MP3 file."
    assert page.text_content("#alert strong") == "Not a record the service can read"
    assert page.get_attribute("#file", "aria-invalid") == "true"
    assert page.get_attribute("body", "data-state") == "error"
    # too big: the limit in megabytes
    with page.expect_response(_is_chop) as answer:
        page.set_input_files("#file", str(records["huge.wav"]))
    assert answer.value.status == 413
    page.wait_for_function("() => document.getElementById('file-error').textContent.includes('2.0 MB')")

    # settings are checked here first: a sentence next to the field, no request
    _chop(page, DRUMS)
    sent = len(requests)
    page.fill("#chops", "0")
    page.click("#rechop")
    page.wait_for_selector("#chops-error:not([hidden])")
    assert page.text_content("#chops-error") == "Chops must be a whole number from 1 to 128."
    assert page.get_attribute("#chops", "aria-invalid") == "true"
    page.fill("#chops", "20")
    page.fill("#top_n", "5")
    page.click("#rechop")
    page.wait_for_selector("#top_n-error:not([hidden])")
    assert page.text_content("#top_n-error").startswith("N must be at least the number of chops (20)")
    assert len(requests) == sent
    # typing in a field clears its message
    page.fill("#top_n", "40")
    assert page.locator("#top_n-error").is_hidden()

    # the service's own problems, as documented in its OpenAPI document, become sentences too
    documented = httpx.get(web_server.url + "/openapi.json").json()
    examples = documented["paths"]["/chop"]["post"]["responses"]["422"]["content"][PROBLEM]["examples"]
    for example in examples.values():
        problem = example["value"]
        described = page.evaluate("(p) => window.sampleChop.describeProblem(p.status, p)", problem)
        texts = [*described["sentences"], *described["fields"].values()]
        assert texts, problem
        for text in texts:
            assert (text[0].isupper() or text.startswith("λ")) and text.endswith("."), text
            assert "Input should" not in text and "query." not in text and "body." not in text, text
        if problem["type"].endswith("invalid-parameters") and problem.get("errors"):
            assert described["fields"]["lambda"] == "λ must be a number from 0 to 1."


def _is_chop_request(request: Any) -> bool:
    return request.url.endswith("/chop") and request.method == "POST"


@pytest.mark.slow  # a real browser
def test_phone_layout_and_accessibility(open_page: Callable[..., Any], tmp_path: Path) -> None:
    page = open_page(PHONE)
    document = _chop(page, DRUMS, chops="16", top_n="32")
    count = len(document["chops"])
    assert count >= 12
    _assert_regions_match(page, document)
    _assert_labels_apart(page)
    layout = page.evaluate(
        """() => {
            const pads = [...document.querySelectorAll('.pad')];
            const boxes = pads.map((p) => p.getBoundingClientRect());
            return {
                scrollWidth: document.documentElement.scrollWidth,
                columns: new Set(boxes.map((r) => Math.round(r.left))).size,
                smallest: Math.min(...boxes.map((r) => Math.min(r.width, r.height))),
                firstRowBottom: Math.max(...boxes.slice(0, 4).map((r) => r.bottom)),
                clipped: pads.flatMap((p) => [...p.querySelectorAll('.pad-time, .pad-length, .pad-p')])
                    .filter((s) => s.scrollWidth > s.clientWidth + 0.5 || s.getBoundingClientRect().right >
                             s.closest('.pad').getBoundingClientRect().right).map((s) => s.textContent),
            };
        }"""
    )
    assert layout["scrollWidth"] <= PHONE["width"], "the page scrolls sideways on a phone"
    assert layout["columns"] == 4
    assert layout["smallest"] >= 60, "pads too small to hit with a thumb"
    assert not layout["clipped"], f"pad text cut off: {layout['clipped']}"
    assert layout["firstRowBottom"] <= PHONE["height"], "after chopping, the pads sit below the fold"
    _screenshot(page, "web-mobile.png", tmp_path)
    assert not _axe(page)

    # focus is always visible: Tab through the page, every stop draws an outline or a ring
    page.focus("#file")
    invisible = []
    for _ in range(45):
        page.keyboard.press("Tab")
        focus = page.evaluate(
            """() => {
                const e = document.activeElement;
                const s = getComputedStyle(e);
                const label = e.id === 'file' ? getComputedStyle(e.nextElementSibling) : null;
                const ring = (st) => st && st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) >= 2;
                return {what: e.id || e.className || e.tagName, visible: ring(s) || ring(label)};
            }"""
        )
        if focus["what"] == "BODY":
            break  # past the last control: the focus left the page
        if not focus["visible"]:
            invisible.append(focus["what"])
    assert not invisible, f"focus not visible on {invisible}"
    # the shortcut list opens on ?, closes on Escape
    page.locator("body").press("?")
    page.wait_for_selector("#shortcuts[open]")
    assert not _axe(page)
    page.keyboard.press("Escape")
    page.wait_for_selector("#shortcuts:not([open])", state="attached")


@pytest.mark.slow  # a real browser
def test_a_dropped_record_is_chopped_and_timed(open_page: Callable[..., Any]) -> None:
    """Drop a 61.5-s record on the page: it is chopped, its chops are drawn, and the page clocks the drop to the
    chops on screen (bench/web.py reports that time against the API's own)."""
    page = open_page(DESKTOP)
    response = _drop(page, SIXTY_S)
    assert response.status == 200, response.text()
    page.wait_for_function("() => window.sampleChop.timings().length === 1")
    assert page.evaluate("() => window.sampleChop.timings()[0]") > 0
    assert len(_regions(page)) == len(response.json()["chops"]) > 0
