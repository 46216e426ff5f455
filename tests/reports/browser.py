"""A tiny Chrome DevTools Protocol client over the real browser's websocket, for the report tests.

Starts Debian's headless `chromium` on a loopback debugging port (port 0: the browser picks one
and writes it to DevToolsActivePort), opens a page and records what a user's browser would:
console errors, uncaught exceptions, every network request, the time to the load event, and
screenshots. Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from shadowpilot.reports.pdf import find_chromium, headless_args


@dataclass
class PageLog:
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    load_s: float | None = None  # navigation to the load event
    painted_s: float | None = None  # navigation to the first frames drawn after it


class Browser:
    """One headless Chromium; `open()` a page, then `evaluate`, `screenshot`; `close()` when done."""

    def __init__(self, profile: Path, timeout_s: float = 30.0):
        exe = find_chromium()
        if exe is None:
            raise RuntimeError("chromium is not installed")
        self.timeout_s = timeout_s
        self.proc = subprocess.Popen(
            [
                exe,
                *headless_args(profile),
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--hide-scrollbars",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not open its debugging port")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        # entered by hand: the connection lives as long as this Browser (close() closes it)
        self.ws = connect(f"ws://127.0.0.1:{port}{path}", proxy=None, max_size=None, open_timeout=timeout_s).__enter__()
        self.ids = itertools.count(1)
        self.session: str | None = None
        self.log = PageLog()

    def _send(self, method: str, params: dict[str, Any] | None = None, session: bool = True) -> dict[str, Any]:
        msg_id = next(self.ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._recv(deadline)
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _recv(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer from chromium")
        msg = json.loads(self.ws.recv(timeout=remaining))
        self._record(msg)
        return msg

    def _record(self, msg: dict[str, Any]) -> None:
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.log.console_errors.append(" ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
        elif method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            self.log.console_errors.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            self.log.console_errors.append(p["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            self.log.requests.append(p["request"]["url"])

    def open(self, url: str, width: int = 1280, height: int = 900, mobile: bool = False) -> PageLog:
        """Load `url` in a fresh tab at the given viewport; wait for the load event."""
        target = self._send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)[
            "sessionId"
        ]
        self.log = PageLog()
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._send(f"{domain}.enable")
        self._send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )
        start = time.monotonic()
        self._send("Page.navigate", {"url": url})
        deadline = start + self.timeout_s
        while True:
            if self._recv(deadline).get("method") == "Page.loadEventFired":
                break
        self.log.load_s = time.monotonic() - start
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))", await_promise=True)
        self.log.painted_s = time.monotonic() - start
        return self.log

    def emulate_media(self, media: str) -> None:
        """Lay the page out for `print` (the print stylesheet, unpaginated) or `screen`."""
        self._send("Emulation.setEmulatedMedia", {"media": media})
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))", await_promise=True)

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        params = {"expression": expression, "returnByValue": True, "awaitPromise": await_promise}
        result = self._send("Runtime.evaluate", params)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = True, max_height: int = 16000) -> Path:
        """A PNG of the page (the whole page by default, up to max_height px). The viewport is
        stretched to the page first, so content that renders only on screen (the report's cases
        use content-visibility: auto) is drawn."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            w = self.evaluate("document.documentElement.scrollWidth")
            h = min(max_height, self.evaluate("document.documentElement.scrollHeight"))
            mobile = bool(self.evaluate("window.innerWidth < 600"))
            self._send(
                "Emulation.setDeviceMetricsOverride",
                {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": mobile},
            )
            self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))", await_promise=True)
            params["clip"] = {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}
        data = self._send("Page.captureScreenshot", params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def settle(self, seconds: float = 0.2) -> None:
        """Read events for a moment (late console errors or requests after load)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                self._recv(deadline)
            except TimeoutError:
                return

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
