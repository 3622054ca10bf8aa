"""A real Django project (tests/django_project: sqlite, admin, auth, sessions,
staticfiles) served by ``manage.py runziserver``, checked with real clients."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser import Browser, chromium_path
from servers import free_port, start_command

from conftest import ROOT, RunningServer, recv_all, wait_for

PROJECT = ROOT / "tests" / "django_project"
PASSWORD = "correct horse battery staple"


def manage(env: dict[str, str], *arguments: str, cwd: Path = PROJECT) -> str:
    environment = {**os.environ, **env}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "python"), environment.get("PYTHONPATH")])
    )
    done = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def django_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated sqlite database with a superuser ``admin``."""
    folder = tmp_path_factory.mktemp("django")
    env = {
        "DJANGO_DB": str(folder / "db.sqlite3"),
        "SIGNAL_DIR": str(folder),
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    }
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "createsuperuser", "--noinput", "--username", "admin", "--email", "a@example.com")
    return env


def runziserver(
    env: dict[str, str], *flags: str, cwd: Path = PROJECT, port: int | None = None
) -> RunningServer:
    port = port or free_port()
    command = [sys.executable, "manage.py", "runziserver", f"127.0.0.1:{port}", *flags]
    return start_command(command, port, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def django_server(django_env: dict[str, str]) -> Iterator[RunningServer]:
    """DEBUG=False, no reloader, 4 view threads."""
    running = runziserver(django_env, "--noreload", "--threads", "4")
    yield running
    running.stop()


@pytest.fixture
def http(django_server: RunningServer) -> Iterator[httpx.Client]:
    with django_server.client() as client:
        yield client


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def log_in(http: httpx.Client) -> None:
    page = http.get("/admin/login/?next=/admin/")
    assert page.status_code == 200
    assert "csrftoken" in http.cookies
    response = http.post(
        "/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": csrf_token(page.text),
            "username": "admin",
            "password": PASSWORD,
            "next": "/admin/",
        },
    )
    assert response.status_code == 302, response.text[:500]
    assert response.headers["location"] == "/admin/"
    assert "sessionid" in http.cookies


def test_admin_login_flow(http: httpx.Client) -> None:
    log_in(http)
    index = http.get("/admin/")
    assert index.status_code == 200
    assert "<strong>admin</strong>" in index.text
    assert "Site administration" in index.text


def test_add_an_object_through_the_admin(http: httpx.Client) -> None:
    log_in(http)
    form = http.get("/admin/shop/product/add/")
    assert form.status_code == 200
    response = http.post(
        "/admin/shop/product/add/",
        data={
            "csrfmiddlewaretoken": csrf_token(form.text),
            "name": "Blue teapot",
            "price": "12.50",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.text[:800]
    assert response.headers["location"] == "/admin/shop/product/"
    listing = http.get("/admin/shop/product/")
    assert "Blue teapot" in listing.text


def test_csrf_protected_form(http: httpx.Client) -> None:
    page = http.get("/form/")
    token = csrf_token(page.text)
    greeted = http.post("/form/", data={"csrfmiddlewaretoken": token, "name": "Ada"})
    assert greeted.status_code == 200
    assert "Hello, Ada!" in greeted.text
    with httpx.Client(base_url=str(http.base_url), timeout=10) as stranger:
        assert stranger.post("/form/", data={"name": "Mallory"}).status_code == 403


@pytest.mark.parametrize("size", [10_000, 3 * 1024 * 1024])
def test_upload_integrity(http: httpx.Client, size: int) -> None:
    payload = os.urandom(size)
    response = http.post(
        "/upload/",
        data={"title": "holiday"},
        files={"file": ("photo.bin", payload, "application/octet-stream")},
    )
    assert response.status_code == 200, response.text[:500]
    assert response.json() == {
        "name": "photo.bin",
        "size": size,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "title": "holiday",
    }


def test_first_streamed_chunk_arrives_before_the_view_finishes(
    http: httpx.Client, django_env: dict[str, str]
) -> None:
    signals = Path(django_env["SIGNAL_DIR"])
    with http.stream("GET", "/stream/?key=first") as response:
        chunks = response.iter_raw()
        first = next(chunks)
        # The view is still waiting for the go-ahead: it has not finished.
        assert first.startswith(b"first\n")
        assert not (signals / "first.done").exists()
        (signals / "first.go").write_text("go")
        rest = first + b"".join(chunks)
    assert rest == b"first\nchunk 0\nchunk 1\nchunk 2\n"
    assert (signals / "first.done").exists()


def test_file_response_is_sent_whole(http: httpx.Client) -> None:
    response = http.get("/download/")
    source = (PROJECT / "shop" / "static" / "shop" / "site.css").read_bytes()
    assert response.status_code == 200
    assert response.content == source
    assert response.headers["content-length"] == str(len(source))
    assert response.headers["content-disposition"] == 'attachment; filename="site.css"'


def test_cookies_set_and_read(http: httpx.Client) -> None:
    response = http.get("/cookies/", headers={"cookie": "theme=dark; lang=fr"})
    assert response.json() == {"seen": {"theme": "dark", "lang": "fr"}}
    cookies = response.headers.get_list("set-cookie")
    assert [cookie.split(";")[0] for cookie in cookies] == ["first=1", "second=2"]


def test_404_and_500_with_debug_off(http: httpx.Client) -> None:
    missing = http.get("/no/such/page/")
    assert missing.status_code == 404
    assert "Not Found" in missing.text
    broken = http.get("/boom/")
    assert broken.status_code == 500
    assert "Server Error (500)" in broken.text
    assert "view exploded" not in broken.text


def test_head_is_answered_without_a_body(django_server: RunningServer) -> None:
    with django_server.connect() as sock:
        sock.sendall(b"HEAD /hello/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = recv_all(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == b""


def test_views_run_on_a_thread_pool(
    django_server: RunningServer, django_env: dict[str, str]
) -> None:
    # /wait/ holds its thread until /release/ runs on another one.
    results: list[dict[str, bool]] = []
    waiting = Path(django_env["SIGNAL_DIR"]) / "pool.waiting"
    waiting.unlink(missing_ok=True)

    def waiter() -> None:
        with django_server.client() as client:
            results.append(client.get("/wait/?key=pool", timeout=30).json())

    thread = threading.Thread(target=waiter)
    thread.start()
    # Released only once the first view holds its thread: the second must run beside it.
    wait_for(waiting.exists, what="/wait/ to hold its thread")
    with django_server.client() as client:
        assert client.get("/release/?key=pool").json() == {"ok": True}
    thread.join(30)
    assert results == [{"released": True}]


RAW_REQUEST = (
    b"POST /meta/%7Euser/caf%C3%A9?a=1&b=%20two HTTP/1.1\r\n"
    b"Host: testserver.local:8080\r\n"
    b"User-Agent: meta-compare/1.0\r\n"
    b"Accept: text/html\r\n"
    b"X-Repeated: one\r\n"
    b"X-Repeated: two\r\n"
    b"X_Underscored: dropped\r\n"
    b"Cookie: a=1\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 9\r\n"
    b"Connection: close\r\n"
    b"\r\n"
    b"field=yes"
)


def fetch_meta(port: int) -> dict[str, object]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(RAW_REQUEST)
        raw = recv_all(sock, timeout=10)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), raw[:300]
    if b"chunked" in head.lower():
        decoded, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            decoded, rest = decoded + rest[:size], rest[size + 2 :]
        body = decoded
    return json.loads(body)


# Keys that differ by nature between two servers (ports, software, worker model).
DIFFERENT_BY_NATURE = {"SERVER_PORT", "REMOTE_PORT", "SERVER_SOFTWARE", "wsgi.multithread"}


def test_request_meta_matches_gunicorn(
    django_server: RunningServer, django_env: dict[str, str]
) -> None:
    port = free_port()
    gunicorn = start_command(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "mysite.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--log-level",
            "warning",
        ],  # fmt: skip
        port,
        env=django_env,
        cwd=PROJECT,
    )
    try:
        theirs = fetch_meta(port)
    finally:
        gunicorn.stop()
    ours = fetch_meta(django_server.port)
    process_env = set(os.environ) | set(django_env) | {"PYTHONPATH", "PYTHONUNBUFFERED"}
    keys = (set(theirs) | set(ours)) - DIFFERENT_BY_NATURE - process_env
    keys = {key for key in keys if not key.startswith("gunicorn.") and key != "RUN_MAIN"}
    differences = {
        key: (ours.get(key), theirs.get(key)) for key in keys if ours.get(key) != theirs.get(key)
    }
    assert differences == {}
    # Django decodes the latin-1 tunnelled bytes back into text for META.
    assert ours["PATH_INFO"] == "/meta/~user/café"
    assert ours["HTTP_X_REPEATED"] == "one,two"
    assert "HTTP_X_UNDERSCORED" not in ours
    assert ours["body"] == "field=yes"


def test_sigterm_drains_in_flight_requests_and_exits_zero(django_env: dict[str, str]) -> None:
    running = runziserver(django_env, "--noreload", "--threads", "2")
    answers: list[httpx.Response] = []

    started = Path(django_env["SIGNAL_DIR"]) / "drain.started"
    started.unlink(missing_ok=True)

    def slow() -> None:
        with running.client() as client:
            answers.append(client.get("/slow/?seconds=1.5&key=drain", timeout=30))

    thread = threading.Thread(target=slow)
    thread.start()
    wait_for(started.exists, what="the slow request to reach its view")
    running.process.send_signal(signal.SIGTERM)
    thread.join(30)
    assert running.process.wait(30) == 0
    assert [(answer.status_code, answer.text) for answer in answers] == [(200, "slow done")]


def test_debug_static_files_and_autoreload(django_env: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    env = {**django_env, "DJANGO_DEBUG": "1"}
    running = runziserver(env, cwd=project)  # with the auto-reloader, as runserver
    try:
        with running.client() as client:
            css = client.get("/static/shop/site.css")
            assert css.status_code == 200
            assert css.content == (PROJECT / "shop" / "static" / "shop" / "site.css").read_bytes()
            assert client.get("/version/").text == "one"
            time.sleep(1.5)  # the reloader must have seen the file once before it changes
            (project / "shop" / "version.py").write_text('VERSION = "two"\n')
            deadline = time.monotonic() + 60
            seen = "one"
            while time.monotonic() < deadline and seen != "two":
                time.sleep(0.5)
                try:
                    seen = client.get("/version/").text
                except httpx.HTTPError:
                    pass  # restarting
            assert seen == "two"
    finally:
        os.killpg(running.process.pid, signal.SIGTERM)
        running.process.wait(30)


def test_cli_mistakes_are_one_line(django_env: dict[str, str]) -> None:
    environment = {**os.environ, **django_env, "PYTHONPATH": str(ROOT / "python")}
    done = subprocess.run(
        [sys.executable, "manage.py", "runziserver", "not-a-port", "--noreload"],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "is not a valid port number" in done.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "manage.py", "runziserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=PROJECT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert "Error:" in done.stderr and "in use" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(
    chromium_path() is None,
    reason="Debian's chromium is not installed (.ci/setup.d/40-chromium.sh installs it)",
)
def test_admin_login_in_headless_chromium(django_server: RunningServer) -> None:
    browser = Browser()
    try:
        browser.call("Page.enable")
        login = f"{django_server.url}/admin/login/?next=/admin/"
        loaded = "document.readyState === 'complete' && !!document.querySelector('#id_username')"
        browser.call("Page.navigate", url=login)
        try:
            browser.wait_for(loaded, timeout=30)
        except TimeoutError:  # a navigation lost on a loaded machine: once more, then fail
            browser.call("Page.navigate", url=login)
            browser.wait_for(loaded, timeout=60)
        browser.evaluate(
            "document.querySelector('#id_username').value = 'admin';"
            f"document.querySelector('#id_password').value = {json.dumps(PASSWORD)};"
            "document.querySelector('#login-form').submit(); true"
        )
        browser.wait_for("location.pathname === '/admin/' && document.readyState === 'complete'")
        user = browser.wait_for("document.querySelector('#user-tools strong')?.textContent")
        assert user == "admin"
        assert "Site administration" in browser.evaluate("document.body.innerText")
    finally:
        browser.close()
