"""The HTTP/1.1 connection against curl, a client with its own ideas about
100-continue, chunked uploads and HTTP/1.0."""

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import RunningServer

CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(CURL is None, reason="curl is not installed (.ci/run installs it)")


def curl(*arguments: str) -> subprocess.CompletedProcess[bytes]:
    assert CURL is not None
    return subprocess.run(
        [CURL, "--silent", "--show-error", "--max-time", "10", *arguments],
        capture_output=True,
        check=True,
    )


def test_plain_get_with_headers(server: RunningServer) -> None:
    result = curl("--include", f"{server.url}/")
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\ncontent-length: 20\r\n" in head
    assert b"\r\ndate: " in head
    assert body == b'{"message":"Hello!"}'


def test_expect_continue_upload(server: RunningServer, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 160  # 40 KiB, under the test app's 64 KiB limit
    upload = tmp_path / "payload.bin"
    upload.write_bytes(payload)
    result = curl(
        "--verbose",
        "--header",
        "Expect: 100-continue",
        "--data-binary",
        f"@{upload}",
        f"{server.url}/echo/bytes",
    )
    assert result.stdout == payload
    assert b"HTTP/1.1 100 Continue" in result.stderr  # the interim answer curl waited for


def test_chunked_upload(server: RunningServer, tmp_path: Path) -> None:
    payload = b"chunk me " * 3000
    upload = tmp_path / "payload.txt"
    upload.write_bytes(payload)
    result = curl(
        "--verbose",
        "--header",
        "Transfer-Encoding: chunked",
        "--data-binary",
        f"@{upload}",
        f"{server.url}/echo/bytes",
    )
    assert b"Transfer-Encoding: chunked" in result.stderr
    assert result.stdout == payload


def test_http_10_and_keep_alive_reuse(server: RunningServer) -> None:
    old = curl("--http1.0", "--include", f"{server.url}/")
    assert old.stdout.startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"connection: close" in old.stdout.lower()
    # Two URLs on one command line: curl reuses the connection if the server kept it.
    reused = curl("--verbose", f"{server.url}/", f"{server.url}/users/5")
    assert reused.stdout == b'{"message":"Hello!"}{"id":5,"type":"int"}'
    assert b"Re-using existing connection" in reused.stderr


def test_oversized_upload_is_refused_without_continue(
    server: RunningServer, tmp_path: Path
) -> None:
    upload = tmp_path / "big.bin"
    upload.write_bytes(b"x" * (256 * 1024))
    result = subprocess.run(
        [
            CURL,
            "--silent",
            "--verbose",
            "--max-time",
            "10",
            "--header",
            "Expect: 100-continue",
            "--data-binary",
            f"@{upload}",
            "--write-out",
            "%{http_code}",
            f"{server.url}/echo/bytes",
        ],
        capture_output=True,
    )
    assert result.stdout.endswith(b"413")
    assert b"100 Continue" not in result.stderr
