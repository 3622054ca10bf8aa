"""Issue 9's references, compared on the same inputs: our served answers
against Django's own code (QueryDict for query strings, HttpResponseRedirect
for redirect targets), which the issue names as the expected behaviour."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator

import pytest

from conftest import RawReader, RunningServer, start_server

django = pytest.importorskip("django")
from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(DEFAULT_CHARSET="utf-8", ALLOWED_HOSTS=["*"])
from django.core.exceptions import DisallowedRedirect as DjangoDisallowedRedirect  # noqa: E402
from django.http import HttpResponseRedirect, QueryDict  # noqa: E402


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        "hostile.py", env={"SAVE_DIR": str(tmp_path_factory.mktemp("reference"))}
    )
    yield running
    running.stop()


def served(server: RunningServer, target: str):
    with server.connect(timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return RawReader(sock).read()


QUERIES = [
    "a=1;b=2&c=3",
    "a=1&a=2&b=",
    "q=hello+world&x=%2F&y=%26",
    "empty&=value&&",
    "k;=v;&;",
    "caf%C3%A9=%C3%A9t%C3%A9",
    "bad=%ff%fe&ok=1",
    "semi=a;b;c",
    "plus=a+b%2Bc",
    "broken=%zz%4&x",
]


@pytest.mark.parametrize("query", QUERIES)
def test_query_parsing_matches_django(hostile: RunningServer, query: str) -> None:
    ours = json.loads(served(hostile, f"/touch/q?{query}").body)["query"]
    theirs = [[key, value] for key, values in QueryDict(query).lists() for value in values]
    # Django groups repeated keys; compare as multisets of pairs in key order.
    assert sorted(map(tuple, ours)) == sorted(map(tuple, theirs))


REDIRECTS = [
    "/café?x=é",
    "/a b",
    "/already%20encoded/caf%C3%A9",
    "/back\\slash",
    "https://example.com/ü?q=1#frag",
    "/x?next=/y&z=[1]",
    "//cdn.example.com/lib.js",
    "ftp://files.example.com/a b",
]


@pytest.mark.parametrize("target", REDIRECTS)
def test_redirect_location_matches_django(hostile: RunningServer, target: str) -> None:
    response = served(hostile, "/go?to=" + urllib.parse.quote(target, safe=""))
    assert response.status == 302
    assert response.header("location") == HttpResponseRedirect(target)["Location"]


@pytest.mark.parametrize(
    "target",
    ["javascript:alert(1)", "data:text/html,x", "vbscript:x", "file:///etc/passwd", "mailto:a@b"],
)
def test_unsafe_redirects_are_refused_like_django(hostile: RunningServer, target: str) -> None:
    with pytest.raises(DjangoDisallowedRedirect):
        HttpResponseRedirect(target)
    response = served(hostile, "/go?to=" + urllib.parse.quote(target, safe=""))
    assert response.status == 400
    assert response.header("location") is None
