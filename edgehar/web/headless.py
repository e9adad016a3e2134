"""Headless Chromium driven over the DevTools protocol, for the page's tests, its benchmark and
the README screenshot: no package beyond the standard library (``--remote-debugging-pipe``:
JSON messages separated by NUL bytes on file descriptors 3 and 4).

    with Chromium() as browser:
        page = browser.new_page()
        page.goto(url)
        page.wait_for("window.edgehar && window.edgehar.ready === true")
        page.evaluate("document.title")

``--virtual-time-budget`` is not used: it freezes ``performance.now()``, and the benchmark times
the page with it.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


class DevToolsError(RuntimeError):
    pass


class Chromium:
    """One headless browser process and its DevTools pipe."""

    def __init__(self, browser: str | None = None, width: int = 1100, height: int = 800):
        self.browser = browser or find_browser()
        if self.browser is None:
            raise DevToolsError("no Chromium installed (Debian: apt-get install chromium)")
        self.size = (width, height)
        self._id = 0
        self._events: list[dict] = []
        self._buf = b""

    def __enter__(self) -> Chromium:
        self._profile = tempfile.TemporaryDirectory()
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # the child reads commands on fd 3 and writes replies on fd 4
        self.proc = subprocess.Popen(
            [self.browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--remote-debugging-pipe", "--hide-scrollbars",
             f"--user-data-dir={self._profile.name}", f"--window-size={self.size[0]},{self.size[1]}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # fds 3 and 4 are made in the child (dup2 leaves them inheritable); the parent's
            # other descriptors are not inheritable (PEP 446), so none else leaks
            close_fds=False, preexec_fn=_fds(to_child_r, from_child_w))
        os.close(to_child_r)
        os.close(from_child_w)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        self._profile.cleanup()

    # --- the protocol -----------------------------------------------------------------------

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        return self._id

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from Chromium")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                data = os.read(self._from_child, 1 << 20)
                if not data:
                    raise DevToolsError("Chromium closed its DevTools pipe")
                self._buf += data
        raw, _, self._buf = self._buf.partition(b"\0")
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 60) -> dict:
        want = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(max(deadline - time.monotonic(), 0.001))
            if msg.get("id") == want:
                if "error" in msg:
                    raise DevToolsError(f"{method}: {msg['error'].get('message')}")
                return msg.get("result", {})
            if "method" in msg:
                self._events.append(msg)

    def new_page(self) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        for domain in ("Page", "Runtime"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride",
                  {"width": self.size[0], "height": self.size[1], "deviceScaleFactor": 1,
                   "mobile": False})
        return page


def _fds(read_end: int, write_end: int):
    def setup() -> None:   # in the child, before exec: the pipe ends become fds 3 and 4
        r, w = os.dup(read_end), os.dup(write_end)
        os.dup2(r, 3)
        os.dup2(w, 4)
    return setup


class Page:
    def __init__(self, browser: Chromium, session: str, target: str):
        self.browser, self.session, self.target = browser, session, target

    def call(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        return self.browser.call(method, params, self.session, timeout)

    def goto(self, url: str, timeout: float = 60) -> None:
        self.call("Page.navigate", {"url": url}, timeout)

    def evaluate(self, expression: str, timeout: float = 120):
        """The JSON value of ``expression`` (promises awaited); a thrown error raises."""
        r = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                           "returnByValue": True}, timeout)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise DevToolsError(d.get("exception", {}).get("description") or d.get("text"))
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 120, poll: float = 0.05):
        """Poll until ``expression`` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression, timeout)
            except DevToolsError:
                value = None   # the page is navigating
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout} s for {expression}")
            time.sleep(poll)

    def set_file(self, selector: str, path: str | os.PathLike[str]) -> None:
        """Choose ``path`` in the file <input> (what a user's pick or drop hands the page)."""
        doc = self.call("DOM.getDocument")["root"]["nodeId"]
        node = self.call("DOM.querySelector", {"nodeId": doc, "selector": selector})["nodeId"]
        self.call("DOM.setFileInputFiles", {"files": [str(Path(path).resolve())], "nodeId": node})

    def offline(self, on: bool = True) -> None:
        """DevTools' network emulation: no network for this page (and its service worker's
        fetches fail as the page's would)."""
        self.call("Network.enable")
        self.call("Network.emulateNetworkConditions",
                  {"offline": on, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})

    def screenshot(self, path: str | os.PathLike[str], full_page: bool = True) -> None:
        params = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            m = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": m["width"], "height": m["height"],
                              "scale": 1}
        data = self.call("Page.captureScreenshot", params)["data"]
        Path(path).write_bytes(base64.b64decode(data))
