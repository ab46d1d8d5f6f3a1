"""From a record dropped on the web page to its chops on screen, against the same record POSTed straight to the API.

Runs the real service on loopback and Debian's headless Chromium (as tests/test_web.py does), drops the record on
the page ``--runs`` times (the page's own clock: ``window.sampleChop.timings()``, from the drop event to the chops
drawn) and, paired with each drop, POSTs the same bytes to ``/chop`` with httpx; prints medians and their ratio
(what the page adds to the service: reading the file, decoding it for the waveform, drawing).

    .venv/bin/python bench/web.py                     # the 61.5-s Vibe Ace OGG, 5 paired runs
    .venv/bin/python bench/web.py --record X.wav --runs 9
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from samplechop.service.api.settings import Settings  # noqa: E402
from tests.live_server import Server, shipped_model_path  # noqa: E402
from tests.test_web import CHROMIUM, CHROMIUM_ARGS, DESKTOP, SIXTY_S, TIMEOUT_MS, WATCH, _drop  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", type=Path, default=SIXTY_S, help="the record to drop (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=5, help="paired drops and API calls (median)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not CHROMIUM.exists() or not args.record.exists():
        print(f"bench/web.py: needs {CHROMIUM} and {args.record}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    page_ms: list[float] = []
    api_ms: list[float] = []
    body = args.record.read_bytes()
    with tempfile.TemporaryDirectory(prefix="samplechop-bench-web-") as store:
        settings = Settings(model_path=shipped_model_path(), store_url=store, max_duration_s=900.0, worker_threads=1)
        server = Server.start(settings)
        try:
            with sync_playwright() as playwright, httpx.Client(timeout=120.0) as client:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport=DESKTOP, device_scale_factor=1)
                context.add_init_script(WATCH)
                page = context.new_page()
                page.set_default_timeout(TIMEOUT_MS * 4)
                page.goto(server.url + "/")
                page.wait_for_function("() => document.body.dataset.capabilities !== undefined")
                for run in range(args.runs):
                    response = _drop(page, args.record)
                    if response.status != 200:
                        print(f"bench/web.py: the page's /chop answered {response.status}", file=sys.stderr)
                        return 1
                    page.wait_for_function(f"() => window.sampleChop.timings().length === {run + 1}")
                    page_ms.append(float(page.evaluate("() => window.sampleChop.timings().at(-1)")))
                    started = time.perf_counter()
                    answer = client.post(server.url + "/chop", files={"file": (args.record.name, body)})
                    api_ms.append((time.perf_counter() - started) * 1000.0)
                    answer.raise_for_status()
                browser.close()
        finally:
            server.stop()
    page_median, api_median = statistics.median(page_ms), statistics.median(api_ms)
    print(f"record: {args.record.name}, {args.runs} paired runs, medians")
    print(f"drop on the page → chops on screen: {page_median:.0f} ms  (runs: {[round(t) for t in page_ms]})")
    print(f"POST /chop straight to the API:     {api_median:.0f} ms  (runs: {[round(t) for t in api_ms]})")
    print(f"page / API: {page_median / api_median:.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
