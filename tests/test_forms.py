"""request.form: urlencoded and native multipart, spooling, limits, safe save (part of the request-surface issue)."""

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import RawReader, RunningServer, start_server


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    save_dir = tmp_path_factory.mktemp("saved")
    running = start_server("forms.py", env={"SAVE_DIR": str(save_dir)})
    yield running, save_dir
    running.stop()


def test_urlencoded_fields(forms: tuple[RunningServer, Path]) -> None:
    server, _ = forms
    with server.client() as http:
        response = http.post(
            "/form", data={"name": "Ada Lovelace", "tag": ["a", "b"], "x": "1+1=2 & more"}
        )
    assert response.json() == {
        "body_in_memory": True,
        "name": ["Ada Lovelace"],
        "tag": ["a", "b"],
        "x": ["1+1=2 & more"],
    }


def test_multipart_fields_and_files(forms: tuple[RunningServer, Path]) -> None:
    server, _ = forms
    small = b"hello\r\n--not-a-boundary\r\n" * 10
    with server.client() as http:
        response = http.post(
            "/form",
            data={"title": "Résumé"},
            files=[
                ("doc", ("notes.txt", small, "text/plain")),
                ("doc", ("b.bin", b"\x00\x01", "application/x-bin")),
            ],
        )
    body = response.json()
    assert body["body_in_memory"] is True
    assert body["title"] == ["Résumé"]
    assert [item["filename"] for item in body["doc"]] == ["notes.txt", "b.bin"]
    assert body["doc"][0] == {
        "filename": "notes.txt",
        "content_type": "text/plain",
        "size": len(small),
        "sha256": hashlib.sha256(small).hexdigest(),
        "in_memory": True,
        "spool_path": None,
    }


def test_large_upload_is_spooled_and_removed_after_the_request(
    forms: tuple[RunningServer, Path],
) -> None:
    server, _ = forms
    payload = os.urandom(3 * 1024 * 1024)
    with server.client() as http:
        body = http.post("/form", files={"big": ("big.bin", payload)}).json()
    # The body went to disk as it arrived, and the part to its own spool file.
    assert body["body_in_memory"] is False
    item = body["big"][0]
    assert item["in_memory"] is False
    assert item["size"] == len(payload)
    assert item["sha256"] == hashlib.sha256(payload).hexdigest()
    deadline = time.monotonic() + 5
    while os.path.exists(item["spool_path"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(item["spool_path"]), "temporary upload file outlived its request"


def test_save_cannot_escape_the_directory(forms: tuple[RunningServer, Path]) -> None:
    server, save_dir = forms
    with server.client() as http:
        response = http.post("/save", files={"file": ("../../etc/evil.txt", b"x")})
    assert response.json() == {"saved": "evil.txt", "safe_filename": "evil.txt"}
    assert (save_dir / "evil.txt").read_bytes() == b"x"


def raw_post(server: RunningServer, content_type: str, body: bytes) -> tuple[int, bytes]:
    with server.connect() as sock:
        head = f"POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body)
        response = RawReader(sock).read()
    return response.status, response.body


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("multipart/form-data", b"--x\r\n\r\n--x--", 400, b"without a boundary"),
        ("multipart/form-data; boundary=x", b"garbage", 400, b"Malformed multipart body"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nno end',
            400,
            b"missing closing boundary",
        ),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nContent-Type: text/plain\r\n\r\nv\r\n--x--",
            400,
            b"Content-Disposition",
        ),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\r\n--x--',
            400,
            b"not valid UTF-8",
        ),
    ],
)
def test_malformed_multipart_is_400(
    forms: tuple[RunningServer, Path], content_type: str, body: bytes, status: int, message: bytes
) -> None:
    server, _ = forms
    got_status, got_body = raw_post(server, content_type, body)
    assert got_status == status
    assert message in got_body


def test_too_many_parts_is_413(forms: tuple[RunningServer, Path]) -> None:
    server, _ = forms
    part = b'--x\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n'
    status, body = raw_post(server, "multipart/form-data; boundary=x", part * 1001 + b"--x--")
    assert status == 413
    assert b"Too many multipart parts" in body


def test_oversized_field_is_413(forms: tuple[RunningServer, Path]) -> None:
    server, _ = forms
    body = (
        b'--x\r\nContent-Disposition: form-data; name="essay"\r\n\r\n'
        + b"w" * (1024 * 1024 + 1)
        + b"\r\n--x--"
    )
    status, answer = raw_post(server, "multipart/form-data; boundary=x", body)
    assert status == 413
    assert b'Form field \\"essay\\" is too large' in answer


def test_server_keeps_serving_after_bad_forms(forms: tuple[RunningServer, Path]) -> None:
    server, _ = forms
    raw_post(server, "multipart/form-data; boundary=x", b"--x")
    with server.client() as http:
        assert http.post("/form", data={"ok": "1"}).json() == {"body_in_memory": True, "ok": ["1"]}


def test_chunked_large_upload_is_spooled_as_it_arrives(forms: tuple[RunningServer, Path]) -> None:
    server, _ = forms
    payload = os.urandom(2 * 1024 * 1024)
    head = b'--zz\r\nContent-Disposition: form-data; name="f"; filename="f.bin"\r\n\r\n'

    def chunks() -> Iterator[bytes]:
        yield head
        for start in range(0, len(payload), 256 * 1024):
            yield payload[start : start + 256 * 1024]
        yield b"\r\n--zz--\r\n"

    with server.client() as http:
        response = http.post(
            "/form", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=zz"}
        )
    body = response.json()
    assert body["body_in_memory"] is False
    assert body["f"][0]["sha256"] == hashlib.sha256(payload).hexdigest()


def test_saving_a_large_upload_copies_exactly_its_bytes(forms: tuple[RunningServer, Path]) -> None:
    server, save_dir = forms
    payload = os.urandom(2 * 1024 * 1024 + 17)
    with server.client() as http:
        response = http.post("/save", data={"note": "x"}, files={"file": ("big.bin", payload)})
    assert response.json()["saved"] == "big.bin"
    assert (save_dir / "big.bin").read_bytes() == payload
