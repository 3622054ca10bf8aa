"""Cookies, redirects, Set-Cookie and trusted-proxy headers, served."""

from collections.abc import Iterator

import pytest

from conftest import RawReader, RunningServer, start_server
from hyperdjango import HyperApp
from hyperdjango.response import Response


@pytest.fixture(scope="module")
def extras() -> Iterator[RunningServer]:
    running = start_server("extras.py")
    yield running
    running.stop()


def test_cookies_are_parsed_and_decoded(extras: RunningServer) -> None:
    with extras.client() as http:
        response = http.get(
            "/cookies", headers={"Cookie": 'a=1; b=caf%C3%A9; q="quoted"; bad; =x; a=2'}
        )
    assert response.json() == {"a": "1", "b": "café", "q": "quoted"}


def test_malformed_cookie_header_never_fails(extras: RunningServer) -> None:
    with extras.connect() as sock:
        sock.sendall(b"GET /cookies HTTP/1.1\r\nHost: x\r\nCookie: \xff\xfe=\x80; ok=1;;;=\r\n\r\n")
        response = RawReader(sock).read()
    assert response.status == 200
    assert b'"ok":"1"' in response.body


def test_redirects(extras: RunningServer) -> None:
    with extras.client() as http:
        for status in (301, 302, 303, 307, 308):
            response = http.get("/redirect", params={"to": "/elsewhere?x=1", "status": status})
            assert (response.status_code, response.headers["location"]) == (
                status,
                "/elsewhere?x=1",
            )
        refused = http.get("/redirect", params={"to": "/x", "status": 200})
    assert refused.status_code == 500
    assert "redirect status must be one of" in refused.json()["exception"]


def test_redirect_location_is_validated() -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        Response.redirect("/x\r\nSet-Cookie: evil=1")


def test_set_cookie_and_delete_cookie(extras: RunningServer) -> None:
    with extras.client() as http:
        response = http.get("/set-cookies")
    cookies = response.headers.get_list("set-cookie")
    assert cookies == [
        "session=a%20b%3Bc; Max-Age=3600; Path=/; Secure; HttpOnly; SameSite=Lax",
        "theme=dark; Path=/app; SameSite=Strict",
        "old=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; SameSite=Lax",
    ]


def test_bad_cookie_name_is_a_clear_500(extras: RunningServer) -> None:
    with extras.client() as http:
        response = http.get("/bad-cookie")
    assert response.status_code == 500
    assert "invalid cookie name 'bad name'" in response.json()["exception"]


def test_set_cookie_argument_checks() -> None:
    response = Response()
    with pytest.raises(ValueError, match="requires secure=True"):
        response.set_cookie("a", "b", samesite="none")
    with pytest.raises(ValueError, match="samesite"):
        response.set_cookie("a", "b", samesite="sometimes")
    with pytest.raises(TypeError, match="max_age"):
        response.set_cookie("a", "b", max_age="10")  # type: ignore[arg-type]


def test_forwarded_headers_from_a_trusted_proxy(extras: RunningServer) -> None:
    # Loopback is trusted by default, and the test client connects over loopback.
    with extras.client() as http:
        plain = http.get("/client").json()
        forwarded = http.get(
            "/client",
            headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.7", "X-Forwarded-Proto": "https"},
        ).json()
    assert plain == {"client_ip": "127.0.0.1", "is_secure": False, "peer": "127.0.0.1"}
    assert forwarded == {"client_ip": "198.51.100.7", "is_secure": True, "peer": "127.0.0.1"}


def test_forwarded_headers_from_an_untrusted_peer_are_ignored() -> None:
    running = start_server("extras.py", env={"TRUSTED": "10.0.0.0/8"})
    try:
        with running.client() as http:
            spoofed = http.get(
                "/client", headers={"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https"}
            )
        assert spoofed.json() == {"client_ip": "127.0.0.1", "is_secure": False, "peer": "127.0.0.1"}
    finally:
        running.stop()


def test_trusted_proxies_are_validated() -> None:
    with pytest.raises(ValueError, match="'proxy.local' is not an IP address"):
        HyperApp("x", trusted_proxies=["proxy.local"])
    with pytest.raises(TypeError, match="list"):
        HyperApp("x", trusted_proxies="127.0.0.1")  # type: ignore[arg-type]
    assert HyperApp("x", trusted_proxies=["10.1.2.3/8"]).trusted_proxies == ["10.0.0.0/8"]
