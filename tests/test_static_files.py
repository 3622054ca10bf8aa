"""HyperApp(static=...): native static files, traversal-safe, off in production."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import RawReader, RunningServer, start_server
from hyperdjango import HyperApp


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    base = tmp_path_factory.mktemp("site")
    static = base / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "style.css").write_text("body { color: red }")
    (static / "app.js").write_text("console.log(1)")
    (base / "secret.txt").write_text("top secret")
    os.symlink(base / "secret.txt", static / "escape.txt")
    running = start_server("static_site.py", env={"STATIC_DIR": str(static)})
    yield running, base
    running.stop()


def raw_get(server: RunningServer, target: str) -> tuple[int, bytes]:
    with server.connect() as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        response = RawReader(sock).read()
    return response.status, response.body


def test_serves_files_with_types_and_validators(site: tuple[RunningServer, Path]) -> None:
    server, _ = site
    with server.client() as http:
        css = http.get("/static/css/style.css")
        js = http.get("/static/app.js")
        again = http.get("/static/css/style.css", headers={"If-None-Match": css.headers["etag"]})
        ranged = http.get("/static/css/style.css", headers={"Range": "bytes=0-3"})
        assert http.get("/").json() == {"page": "index"}
    assert (css.status_code, css.text) == (200, "body { color: red }")
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert again.status_code == 304
    assert (ranged.status_code, ranged.content) == (206, b"body")


@pytest.mark.parametrize(
    "target",
    [
        "/static/../secret.txt",
        "/static/css/../../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E%2Fsecret.txt",
        "/static/css%2F..%2F..%2Fsecret.txt",
        "/static/..%5Csecret.txt",
        "/static//etc/passwd",
        "/static/%2Fetc%2Fpasswd",
        "/static/css/style.css%00.txt",
        "/static/escape.txt",
        "/static/missing.css",
        "/static/css",
    ],
)
def test_traversal_and_escapes_are_404(site: tuple[RunningServer, Path], target: str) -> None:
    server, _ = site
    status, body = raw_get(server, target)
    assert status == 404, target
    assert b"top secret" not in body


def test_prod_does_not_serve_static(site: tuple[RunningServer, Path]) -> None:
    _, base = site
    running = start_server("static_site.py", env={"STATIC_DIR": str(base / "static"), "PROD": "1"})
    try:
        with running.client() as http:
            assert http.get("/static/css/style.css").status_code == 404
    finally:
        running.stop()


def test_missing_static_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        HyperApp("x", static=tmp_path / "nope")
