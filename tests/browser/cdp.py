"""Just enough of the Chrome DevTools Protocol to drive Debian's chromium like a person would.

No browser is downloaded and no driver binary is needed: chromium is started headless with a DevTools
port, and this module talks to it over one WebSocket (``websockets``' synchronous client) using a
flattened session on one page: navigate, type, press Enter, click, wait for something to be true,
take screenshots, download files.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CHROMIUM = "/usr/bin/chromium"
# As root, in a container, offline: no sandbox, no GPU, no QUIC, nothing phoning home.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-crash-reporter",
    "--no-zygote",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    "--lang=vi",
    "--remote-debugging-port=0",
]


# Chromium's crash handler double-forks; in a container whose init does not reap, each run would leave
# zombies. So chromium runs under this small parent, which adopts its orphans and reaps them at the end.
REAPER = r"""
import ctypes, os, signal, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
browser = subprocess.Popen(sys.argv[1:])
signal.signal(signal.SIGTERM, lambda *_: browser.terminate())
browser.wait()
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
"""


class BrowserError(RuntimeError):
    pass


class Browser:
    """A headless chromium with one page; use as a context manager."""

    def __init__(self, downloads: Path, executable: str = CHROMIUM, timeout: float = 30.0):
        self.downloads = downloads
        self.timeout = timeout
        self.profile = Path(tempfile.mkdtemp(prefix="kho-chromium-"))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                REAPER,
                executable,
                *FLAGS,
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.stack = contextlib.ExitStack()
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        try:
            self.ws = self.stack.enter_context(
                connect(self._devtools_url(), max_size=None, open_timeout=timeout)
            )
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime"):
                self.send(f"{domain}.enable")
            downloads.mkdir(parents=True, exist_ok=True)
            self.call(
                "Browser.setDownloadBehavior",
                behavior="allow",
                downloadPath=str(downloads),
                eventsEnabled=True,
            )
        except BaseException:
            self.close()  # no chromium left behind
            raise

    def _devtools_url(self) -> str:
        """Chromium writes its port and browser path to DevToolsActivePort once it listens."""
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited with {self.process.returncode}")
            if marker.exists():
                lines = marker.read_text().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.1)
        raise BrowserError(f"chromium did not open its DevTools port within {self.timeout} s")

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Ask chromium to quit (it then ends and reaps its helper processes), else stop it."""
        try:
            if hasattr(self, "ws"):
                self.ws.send(json.dumps({"id": next(self.ids), "method": "Browser.close", "params": {}}))
            self.process.wait(timeout=10)
        except Exception:  # noqa: BLE001 - not answering: stop it the hard way
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        finally:
            self.stack.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    # --- the protocol ----------------------------------------------------------------------------

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its answer; events that arrive meanwhile are kept."""
        message_id = next(self.ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page."""
        return self.call(method, session=self.session, **params)

    def _receive(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrowserError("chromium did not answer in time")
        try:
            message = json.loads(self.ws.recv(timeout=remaining))
        except TimeoutError:
            raise BrowserError("chromium did not answer in time") from None
        if "method" in message:
            self.events.append(message)
        return message

    def wait_event(self, method: str, timeout: float | None = None, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, event in enumerate(self.events):
                params = event.get("params", {})
                if event["method"] == method and all(params.get(k) == v for k, v in match.items()):
                    return self.events.pop(i)
            try:
                self._receive(deadline)
            except BrowserError:
                raise BrowserError(f"no {method} {match or ''} within the time allowed") from None

    # --- what a person does ----------------------------------------------------------------------

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:80]}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float | None = None) -> Any:
        """Poll a JavaScript expression until it is truthy; its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise BrowserError(f"still false after waiting: {expression[:120]}")

    def type_into(self, selector: str, text: str) -> None:
        """Focus a field, clear it and type ``text`` (Vietnamese included) as keyboard input."""
        self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.focus(); e.select(); }})()"
        )
        self.send("Input.insertText", text=text)

    def press_enter_and_wait(self) -> None:
        self.events.clear()
        for kind in ("keyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13,
                text="\r" if kind == "keyDown" else "",
            )  # fmt: skip
        self.wait_event("Page.loadEventFired")

    def click_and_wait(self, selector: str) -> None:
        """Click the element (scrolled into view, with a real mouse click) and wait for the next page."""
        self.events.clear()
        box = self.wait_for(
            f"""(() => {{
                const e = document.querySelector({json.dumps(selector)});
                if (!e) return null;
                e.scrollIntoView({{block: 'center', behavior: 'instant'}});  // no smooth scrolling
                const r = e.getBoundingClientRect();
                return {{x: r.x + r.width / 2, y: r.y + r.height / 2}};
            }})()"""
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1
            )
        self.wait_event("Page.loadEventFired")

    def download(self, selector: str, timeout: float = 60.0) -> Path:
        """Click a download link; the downloaded file once complete."""
        self.events.clear()
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
        begun = self.wait_event("Browser.downloadWillBegin", timeout=timeout)
        guid = begun["params"]["guid"]
        self.wait_event("Browser.downloadProgress", timeout=timeout, guid=guid, state="completed")
        return self.downloads / begun["params"]["suggestedFilename"]

    def screenshot(self, path: Path) -> Path:
        """The whole page, not only the window, as PNG."""
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 8000), "scale": 1}
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)[
            "data"
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
