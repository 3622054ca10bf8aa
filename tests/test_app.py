"""HyperApp's Python API: registration checks and argument validation (no server needed)."""

import inspect

import pytest

from hyperdjango import HyperApp
from hyperdjango.datastructures import Headers, QueryDict
from hyperdjango.exceptions import HTTPException
from hyperdjango.response import Response


async def handler(request):
    return {}


def test_run_defaults_match_the_spec() -> None:
    parameters = inspect.signature(HyperApp.run).parameters
    assert parameters["host"].default == "127.0.0.1"
    assert parameters["port"].default == 8000
    assert parameters["prod"].default is False


def test_max_body_size_default_is_10_mb() -> None:
    assert HyperApp("x").max_body_size == 10 * 1024 * 1024
    assert HyperApp("x", max_body_size=5).max_body_size == 5


@pytest.mark.parametrize("value", [-1, "10", 1.5, True])
def test_bad_max_body_size(value: object) -> None:
    with pytest.raises(ValueError, match="max_body_size"):
        HyperApp("x", max_body_size=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"port": -1}, "port"), ({"port": "80"}, "port"), ({"host": ""}, "host")],
)
def test_bad_run_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HyperApp("x").run(**kwargs)


def test_decorators_return_the_handler() -> None:
    app = HyperApp("x")
    for register in (app.get, app.post, app.put, app.patch, app.delete):
        assert register("/" + register.__name__)(handler) is handler
    assert app.route("/multi", methods=["GET", "post"])(handler) is handler
    assert app.router.routes[-1].methods == ("GET", "POST")


def test_async_and_sync_handlers_are_told_apart() -> None:
    app = HyperApp("x")

    def plain(request):
        return {}

    app.get("/a")(handler)
    app.get("/b")(plain)
    assert [route.is_async for route in app.router.routes] == [True, False]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("/a/{x:float}", "unknown converter"),
        ("/a/{x", "pattern"),
        ("/a/{}", "pattern"),
        ("/a/{x}/{x}", "pattern"),
        ("no-slash", "starting with '/'"),
        ("/a/{p:path}/b", "pattern"),
    ],
)
def test_bad_patterns_fail_at_registration(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HyperApp("x").get(pattern)(handler)


def test_conflicting_routes_fail_at_registration_naming_both() -> None:
    app = HyperApp("x")
    app.get("/users/{id:int}")(handler)
    with pytest.raises(ValueError) as raised:
        app.get("/users/{pk:int}")(handler)
    assert "/users/{pk:int}" in str(raised.value) and "/users/{id:int}" in str(raised.value)


def test_a_failed_registration_leaves_nothing_behind() -> None:
    app = HyperApp("x")
    app.post("/things")(handler)
    with pytest.raises(ValueError):
        app.route("/things", methods=["GET", "POST"])(handler)
    assert app.router.resolve("GET", "/things")[0] == "method_not_allowed"


def test_unknown_method_and_non_callable() -> None:
    app = HyperApp("x")
    with pytest.raises(ValueError, match="unknown HTTP method"):
        app.route("/a", methods=["FETCH"])(handler)
    with pytest.raises(TypeError, match="list"):
        app.route("/a", methods="GET")(handler)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        app.router.get("/a", "not a function")  # type: ignore[arg-type]


def test_resolve_from_python() -> None:
    app = HyperApp("x")
    app.get("/users/{id:int}")(handler)
    assert app.router.resolve("GET", "/users/5") == ("found", 0, {"id": "5"})
    assert app.router.resolve("GET", "/users/x") == ("not_found",)
    assert app.router.resolve("POST", "/users/5")[0] == "method_not_allowed"


def test_headers_are_case_insensitive_and_multi_valued() -> None:
    headers = Headers([("Content-Type", "text/plain"), ("Set-Cookie", "a=1")])
    assert headers["content-type"] == "text/plain"
    headers.add("set-cookie", "b=2")
    assert headers.getlist("SET-COOKIE") == ["a=1", "b=2"]
    headers["Set-Cookie"] = "c=3"
    assert headers.getlist("set-cookie") == ["c=3"]
    del headers["CONTENT-TYPE"]
    assert "content-type" not in headers
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        headers["X-Bad"] = "a\r\nb"


def test_query_dict() -> None:
    query = QueryDict([("tag", "a"), ("tag", "b"), ("q", "x")])
    assert query == {"tag": "a", "q": "x"}
    assert query.getlist("tag") == ["a", "b"]
    assert query.getlist("missing") == []


def test_response_builders() -> None:
    response = Response.json({"key": "value"}, status=201)
    assert (response.status_code, response.body) == (201, b'{"key":"value"}')
    assert response.headers["content-type"] == "application/json"
    assert Response.html("<h1>Hi</h1>").headers["content-type"] == "text/html; charset=utf-8"
    assert Response.text("x", status=404).status == 404
    with pytest.raises(ValueError, match="status"):
        Response(b"", status=99)
    with pytest.raises(TypeError, match="bytes or str"):
        Response(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Out of range float"):
        Response.json({"x": float("nan")})


def test_http_exception() -> None:
    error = HTTPException(404)
    assert (error.status_code, error.detail) == (404, "Not Found")
    with pytest.raises(ValueError, match="400 to 599"):
        HTTPException(200)
