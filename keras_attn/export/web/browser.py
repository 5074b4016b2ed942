"""The page served from 127.0.0.1 and driven in headless Chromium (Python
`playwright`), as a user would use it.

`serve` serves a folder on a free local port; `browser` starts Chromium
with a fresh profile and blocks (and lists) every request to another host;
`open_page`, `classify_files` and `show_attention` use the page through its
controls (the file input, the attention box). The check (`check.py`) and the
tests drive the page with these functions; `browser_missing` says why they
cannot run here (no playwright, no Chromium).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import threading
import time

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",  # MediaPipe's GPU delegate does not work headless
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
PLAYWRIGHT_HINT = "pip install playwright (the project's test extra has it)"
CHROMIUM_HINT = (
    "no Chromium found: apt-get install chromium (or set KERAS_ATTN_CHROMIUM "
    "to a Chromium or Chrome binary)"
)


def find_chromium() -> str | None:
    """A Chromium or Chrome binary: `KERAS_ATTN_CHROMIUM`, else on PATH."""
    named = os.environ.get("KERAS_ATTN_CHROMIUM")
    if named:
        return named
    for name in (
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ):
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_missing() -> str | None:
    """Why the page cannot be checked here (None: it can)."""
    import importlib.util

    if importlib.util.find_spec("playwright") is None:
        return f"playwright is not installed: {PLAYWRIGHT_HINT}"
    if find_chromium() is None:
        return CHROMIUM_HINT
    return None


@contextlib.contextmanager
def serve(folder: str):
    """Serves `folder` on 127.0.0.1 (a free port); yields its base URL."""
    import http.server

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {
            **http.server.SimpleHTTPRequestHandler.extensions_map,
            ".mjs": "text/javascript",
            ".js": "text/javascript",
            ".wasm": "application/wasm",
        }

        def log_message(self, *args):  # quiet
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=folder)
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def browser(base: str, extra_args: tuple[str, ...] = ()):
    """Headless Chromium with a fresh profile; yields `(page, log)`. Every
    request that is not to `base` (or a blob/data URL) is blocked and
    listed in `log["blocked"]`; console lines and page errors are kept.
    `extra_args`: more Chromium flags (e.g. a fake camera)."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="keras_attn_chromium_")
    log = {"console": [], "page_errors": [], "blocked": []}

    def route(request_route):
        url = request_route.request.url
        if url.startswith((base, "blob:", "data:")):
            return request_route.continue_()
        log["blocked"].append(url)
        return request_route.abort()

    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=find_chromium(),
                headless=True,
                args=[*CHROMIUM_FLAGS, *extra_args],
                viewport={"width": 1000, "height": 900},
            )
            try:
                context.route("**/*", route)
                page = context.pages[0] if context.pages else context.new_page()
                page.on(
                    "console", lambda m: log["console"].append(f"{m.type}: {m.text}")
                )
                page.on("pageerror", lambda e: log["page_errors"].append(str(e)))
                log["browser"] = context.browser.version if context.browser else None
                yield page, log
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def open_page(page, url: str, timeout_s: float = 60) -> dict:
    """Opens the page and waits until it is ready or shows an error; returns
    `{ok, loadMs | error}` and the seconds it took."""
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_function(
        "window.ready !== undefined || document.getElementById('error').textContent",
        timeout=timeout_s * 1000,
    )
    ready = page.evaluate("window.ready ?? null")
    if ready is None:
        ready = {"ok": False, "error": page.inner_text("#error")}
    ready["seconds"] = round(time.perf_counter() - start, 2)
    return ready


def classify_files(page, files: list[str], timeout_s: float = 60) -> list[dict]:
    """Each file through the page's file input, as a user picks it; returns
    the page's result for each: `{top: [{index, label, score}], ms}` or
    `{error}`."""
    results = []
    for i, file in enumerate(files):
        page.set_input_files("#file", file)
        page.wait_for_function(
            "n => Number(document.body.dataset.classified || 0) >= n",
            arg=i + 1,
            timeout=timeout_s * 1000,
        )
        results.append(page.evaluate("window.lastResult"))
    return results


def show_attention(page, timeout_s: float = 120) -> dict:
    """Ticks the attention box for the photo shown; returns the map's shape,
    LiteRT.js's time and top-1, or `{error}`."""
    page.check("#attention")
    page.wait_for_function(
        "Number(document.body.dataset.attention || 0) >= 1 || "
        "!document.getElementById('attention').checked",
        timeout=timeout_s * 1000,
    )
    if not page.is_checked("#attention"):
        return {"error": page.inner_text("#error")}
    return page.evaluate("window.lastAttention")
