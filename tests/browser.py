"""Headless Chromium driven over the DevTools protocol (no Selenium needed): just
enough to load a page, run JavaScript in it and wait for a condition."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from typing import Any

import httpx
from websockets.sync.client import connect


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless Chromium with one page."""

    def __init__(self, timeout: float = 60.0) -> None:
        executable = chromium_path()
        if executable is None:
            raise RuntimeError("chromium is not installed")
        self.profile = tempfile.mkdtemp(prefix="hyperdjango-chromium-")
        self.process = subprocess.Popen(
            [
                executable,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        port = None
        while port is None:
            line = self.process.stderr.readline()
            match = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if match:
                port = int(match.group(1))
            elif not line or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not start its DevTools endpoint")
        pages = [
            t for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json() if t["type"] == "page"
        ]
        self.exits = contextlib.ExitStack()
        self.socket = self.exits.enter_context(
            connect(pages[0]["webSocketDebuggerUrl"], max_size=None)
        )
        self.ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except RuntimeError:
                value = None  # the page is navigating
            if value:
                return value
            time.sleep(0.1)
        try:
            where = self.evaluate(
                "location.href + ' ' + document.readyState + ' ' + document.documentElement.outerHTML.slice(0, 400)"
            )
        except RuntimeError as error:
            where = f"(page unreachable: {error})"
        raise TimeoutError(f"{expression!r} never became true; the page is at {where}")

    def close(self) -> None:
        if getattr(self, "exits", None) is not None:
            self.exits.close()
        self.process.kill()
        self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)
