"""Response.file / Response.attachment: native, conditional, ranged (part of the response-surface issue)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import RunningServer, start_server

CONTENT = bytes(range(256)) * 400  # 102,400 bytes


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    folder = tmp_path_factory.mktemp("files")
    (folder / "data.bin").write_bytes(CONTENT)
    (folder / "page.html").write_text("<h1>hi</h1>")
    (folder / "big.bin").write_bytes(os.urandom(5 * 1024 * 1024))
    running = start_server("files.py", env={"FILES_DIR": str(folder)})
    yield running, folder
    running.stop()


def test_whole_file_with_validators(files: tuple[RunningServer, Path]) -> None:
    server, _ = files
    with server.client() as http:
        response = http.get("/file/data.bin")
        page = http.get("/file/page.html")
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == str(len(CONTENT))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"].startswith('"')
    assert "GMT" in response.headers["last-modified"]
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.text == "<h1>hi</h1>"


def test_large_file_streams_intact(files: tuple[RunningServer, Path]) -> None:
    server, folder = files
    with server.client() as http:
        response = http.get("/file/big.bin")
    assert response.content == (folder / "big.bin").read_bytes()


def test_conditional_requests_give_304(files: tuple[RunningServer, Path]) -> None:
    server, _ = files
    with server.client() as http:
        first = http.get("/file/data.bin")
        by_etag = http.get("/file/data.bin", headers={"If-None-Match": first.headers["etag"]})
        by_date = http.get(
            "/file/data.bin", headers={"If-Modified-Since": first.headers["last-modified"]}
        )
        stale = http.get("/file/data.bin", headers={"If-None-Match": '"other"'})
    assert (by_etag.status_code, by_etag.content) == (304, b"")
    assert by_etag.headers["etag"] == first.headers["etag"]
    assert by_date.status_code == 304
    assert stale.status_code == 200


def test_ranges(files: tuple[RunningServer, Path]) -> None:
    server, _ = files
    size = len(CONTENT)
    with server.client() as http:
        head = http.get("/file/data.bin", headers={"Range": "bytes=0-9"})
        tail = http.get("/file/data.bin", headers={"Range": "bytes=-100"})
        middle = http.get("/file/data.bin", headers={"Range": "bytes=1000-1999"})
        outside = http.get("/file/data.bin", headers={"Range": f"bytes={size}-"})
        multi = http.get("/file/data.bin", headers={"Range": "bytes=0-1,5-6"})
    assert (head.status_code, head.content, head.headers["content-range"]) == (
        206,
        CONTENT[:10],
        f"bytes 0-9/{size}",
    )
    assert (tail.status_code, tail.content) == (206, CONTENT[-100:])
    assert middle.content == CONTENT[1000:2000]
    assert (outside.status_code, outside.headers["content-range"]) == (416, f"bytes */{size}")
    assert (multi.status_code, len(multi.content)) == (200, size)


def test_attachment_names(files: tuple[RunningServer, Path]) -> None:
    server, _ = files
    with server.client() as http:
        plain = http.get("/download/data.bin")
        renamed = http.get("/download/data.bin", params={"as": "résumé final.pdf"})
    assert plain.headers["content-disposition"] == 'attachment; filename="data.bin"'
    assert renamed.headers["content-disposition"] == (
        "attachment; filename=\"r_sum_ final.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20final.pdf"
    )
    assert renamed.content == CONTENT


def test_missing_file_is_404(files: tuple[RunningServer, Path]) -> None:
    server, _ = files
    with server.client() as http:
        missing = http.get("/file/nope.bin")
        directory = http.get("/download/..")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    assert directory.status_code == 404


def test_head_of_a_file(files: tuple[RunningServer, Path]) -> None:
    server, _ = files
    with server.client() as http:
        response = http.head("/file/data.bin")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(CONTENT))
