"""Shared set-up for the browser tests: Debian's Chromium driven by Playwright.

Locally, when Chromium or Playwright is missing, the browser tests skip and say
how to install them; under CI (the CI environment variable is set) they fail
instead, so a green CI always means they ran.
"""

import functools
import http.server
import os
import shutil
import socketserver
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
INSTALL = "apt-get update && apt-get install -y chromium (Debian), then make test"


def require(condition, why):
    """Skip with `why` locally; fail under CI, where the tests must run."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI must run the browser tests)")
    pytest.skip(why)


def launch(playwright):
    require(Path(CHROMIUM).exists() or shutil.which("chromium"),
            f"Chromium is not installed: {INSTALL}")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory):
    """Serve `directory` on 127.0.0.1 in a thread; returns (base URL, server)."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def keep_offline(page, base):
    """Abort every request that leaves `base`; returns the list they are recorded in."""
    outside = []

    def route(route):
        url = route.request.url
        if url.startswith(base) or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", route)
    return outside
