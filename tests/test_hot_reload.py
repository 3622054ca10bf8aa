"""hyperdjango.hot_reload served: a real server, real file edits in a temporary folder.

Each test copies a small app into tmp_path and serves it with a HotReloader
watching that folder. Edits are atomic saves (write a temporary file, then
rename it over the original), as editors do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from conftest import RunningServer, start_server

APP_MODULE = """
from hyperdjango import HyperApp

app = HyperApp("reloadable")
"""

HANDLERS = """
VERSION = {version}


async def hello(request):
    return {{"version": VERSION}}


def sync_hello(request):
    return {{"sync_version": VERSION}}
"""

VIEWS = """
from app_module import app


@app.get("/decorated")
async def decorated(request):
    return {{"decorated": {version}}}
"""

PAGE = '<!doctype html><html><body><h1 id="title">{title}</h1></body></html>'

SERVE = """
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import app_module
import handlers
import views  # noqa: F401 - registers /decorated on the app
from hyperdjango import _reload_serving
from hyperdjango.hot_reload import HotReloader
from hyperdjango.response import Response

app = app_module.app
app.get("/hello")(handlers.hello)
app.get("/sync-hello")(handlers.sync_hello)
reloader = HotReloader(watch_dirs=[str(HERE)], extensions=[".py", ".html"])
hits = {"page": 0}


@app.get("/page")
async def page(request):
    hits["page"] += 1
    return Response.html((HERE / "page.html").read_text())


@app.get("/state")
async def state(request):
    listeners = sum(len(served.listeners) for served in _reload_serving._served)
    return {"reloads": reloader.reloads, "page_hits": hits["page"], "listeners": listeners}


reloader.start()
app.run(host=os.environ["HOST"], port=int(os.environ["PORT"]), prod=os.environ.get("PROD") == "1")
"""


def save(path: Path, text: str) -> None:
    """An editor's atomic save: a temporary file renamed over the original."""
    temporary = path.with_name(f".{path.name}.swp")
    temporary.write_text(text)
    os.replace(temporary, path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app_module.py").write_text(APP_MODULE)
    (tmp_path / "handlers.py").write_text(HANDLERS.format(version=1))
    (tmp_path / "views.py").write_text(VIEWS.format(version=1))
    (tmp_path / "page.html").write_text(PAGE.format(title="first"))
    (tmp_path / "notes.txt").write_text("notes\n")
    (tmp_path / "serve.py").write_text(SERVE)
    return tmp_path


def serve(project: Path, prod: bool = False) -> RunningServer:
    return start_server(project / "serve.py", env={"PROD": "1" if prod else "0"})


@pytest.fixture
def served(project: Path) -> Iterator[RunningServer]:
    running = serve(project)
    yield running
    running.stop()


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def get(server: RunningServer, path: str) -> httpx.Response:
    return httpx.get(server.url + path, timeout=10)


def test_edited_handler_module_serves_new_code(project: Path, served: RunningServer) -> None:
    assert get(served, "/hello").json() == {"version": 1}
    assert get(served, "/sync-hello").json() == {"sync_version": 1}
    assert get(served, "/decorated").json() == {"decorated": 1}
    edited = time.monotonic()
    save(project / "handlers.py", HANDLERS.format(version=2))
    assert wait_for(lambda: get(served, "/hello").json() == {"version": 2})
    print(f"new answer {time.monotonic() - edited:.2f} s after the save")
    assert get(served, "/sync-hello").json() == {"sync_version": 2}
    # a module that registers its own routes with decorators
    save(project / "views.py", VIEWS.format(version=2))
    assert wait_for(lambda: get(served, "/decorated").json() == {"decorated": 2})
    assert get(served, "/hello").json() == {"version": 2}
    assert get(served, "/state").json()["reloads"] == 2


def test_other_extensions_do_nothing(project: Path, served: RunningServer) -> None:
    save(project / "notes.txt", "changed\n")
    (project / "data.json").write_text("{}")
    time.sleep(2)  # well past the debounce: a reload would have happened by now
    assert get(served, "/state").json()["reloads"] == 0
    # the watcher is alive: a matching change right after is seen
    save(project / "page.html", PAGE.format(title="second"))
    assert wait_for(lambda: get(served, "/state").json()["reloads"] == 1)


def test_syntax_error_keeps_old_code_and_fix_recovers(project: Path, served: RunningServer) -> None:
    save(project / "handlers.py", HANDLERS.format(version=2))
    assert wait_for(lambda: get(served, "/hello").json() == {"version": 2})
    save(project / "handlers.py", "def broken(:\n")
    assert wait_for(lambda: "hot reload failed" in "".join(served.output))
    log = "".join(served.output)
    assert "SyntaxError" in log
    assert get(served, "/hello").json() == {"version": 2}
    assert get(served, "/state").json()["reloads"] == 1
    save(project / "handlers.py", HANDLERS.format(version=3))
    assert wait_for(lambda: get(served, "/hello").json() == {"version": 3})


def test_sse_endpoint_emits_one_reload_event_per_reload(
    project: Path, served: RunningServer
) -> None:
    with httpx.Client(base_url=served.url, timeout=15) as client:
        with client.stream("GET", "/__hyper/reload") as events:
            assert events.status_code == 200
            assert events.headers["content-type"].startswith("text/event-stream")
            lines = events.iter_lines()
            assert next(lines) == "retry: 500"

            def next_event() -> list[str]:
                received: list[str] = []
                for line in lines:
                    if line:
                        received.append(line)
                    elif received:
                        return received
                return received

            save(project / "handlers.py", HANDLERS.format(version=2))
            assert next_event() == ["event: reload", "data: 1"]
            save(project / "page.html", PAGE.format(title="second"))
            assert next_event() == ["event: reload", "data: 2"]


def test_html_carries_the_refresh_script_with_right_length(served: RunningServer) -> None:
    response = get(served, "/page")
    body = response.content
    assert b'EventSource("/__hyper/reload")' in body
    assert body.index(b"<script>") < body.index(b"</body>")
    assert int(response.headers["content-length"]) == len(body)
    # JSON is left alone
    assert "script" not in get(served, "/hello").text


def test_never_active_in_production(project: Path) -> None:
    running = serve(project, prod=True)
    try:
        assert get(running, "/__hyper/reload").status_code == 404
        assert b"<script>" not in get(running, "/page").content
        save(project / "handlers.py", HANDLERS.format(version=2))
        time.sleep(2)
        assert get(running, "/hello").json() == {"version": 1}
        assert "never active in production" in "".join(running.output)
    finally:
        running.stop()


# -- a real browser -------------------------------------------------------------------------


def _devtools_port(profile: Path) -> int | None:
    marker = profile / "DevToolsActivePort"
    if marker.exists():
        first = marker.read_text().split("\n", 1)[0].strip()
        if first.isdigit():
            return int(first)
    return None


def _evaluate(websocket_url: str, expression: str) -> object:
    from websockets.sync.client import connect

    with connect(websocket_url, open_timeout=10, max_size=None) as devtools:
        devtools.send(
            json.dumps(
                {
                    "id": 1,
                    "method": "Runtime.evaluate",
                    "params": {"expression": expression, "returnByValue": True},
                }
            )
        )
        while True:
            message = json.loads(devtools.recv(timeout=10))
            if message.get("id") == 1:
                return message.get("result", {}).get("result", {}).get("value")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_browser_page_refreshes_itself_after_template_edit(
    project: Path, served: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    profile = tmp_path_factory.mktemp("chromium-profile")
    browser = subprocess.Popen(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            served.url + "/page",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: _devtools_port(profile) is not None, timeout=60)
        port = _devtools_port(profile)

        def page_socket() -> str | None:
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
            pages = [t for t in targets if t.get("type") == "page" and "/page" in t.get("url", "")]
            return pages[0]["webSocketDebuggerUrl"] if pages else None

        assert wait_for(lambda: page_socket() is not None, timeout=30)
        socket_url = page_socket()
        assert socket_url is not None

        def title() -> object:
            return _evaluate(socket_url, "document.getElementById('title')?.textContent")

        assert wait_for(lambda: title() == "first", timeout=30)
        # the page's script is listening before the template changes
        assert wait_for(lambda: get(served, "/state").json()["listeners"] >= 1, timeout=30)
        hits = get(served, "/state").json()["page_hits"]
        save(project / "page.html", PAGE.format(title="second"))
        assert wait_for(lambda: title() == "second", timeout=30)
        assert get(served, "/state").json()["page_hits"] > hits  # the browser fetched it again
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()
