"""Issue points 2 and 3: methods, sync/async handlers, typed path parameters."""

import threading
import time
import uuid

import httpx
import pytest

from conftest import RunningServer


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("PUT", {"updated": 7, "body": {"a": 1}}),
        ("PATCH", {"patched": 7}),
    ],
)
def test_method_decorators(client: httpx.Client, method: str, expected: dict) -> None:
    response = client.request(method, "/users/7", json={"a": 1})
    assert response.status_code == 200
    assert response.json() == expected


def test_delete_decorator(client: httpx.Client) -> None:
    response = client.delete("/users/7")
    assert response.status_code == 204
    assert response.content == b""


def test_route_with_several_methods(client: httpx.Client) -> None:
    assert client.get("/items").json() == {"method": "GET"}
    assert client.post("/items").json() == {"method": "POST"}
    assert client.put("/items").status_code == 405


def test_int_parameter_is_an_int(client: httpx.Client) -> None:
    assert client.get("/users/42").json() == {"id": 42, "type": "int"}
    assert client.get("/users/007").json() == {"id": 7, "type": "int"}
    huge = "9" * 30
    assert client.get(f"/users/{huge}").json() == {"id": int(huge), "type": "int"}


@pytest.mark.parametrize("path", ["/users/abc", "/users/-1", "/users/4.2", "/users/", "/users/1a"])
def test_int_mismatch_is_404(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (404, 308)
    if response.status_code == 404:
        assert response.json() == {"detail": "Not Found"}


def test_str_parameter(client: httpx.Client) -> None:
    assert client.get("/users/by-name/ada").json() == {"username": "ada"}
    assert client.get("/names/hello%20world").json() == {"name": "hello world"}
    # %2F inside one segment stays in that segment's value.
    assert client.get("/names/a%2Fb").json() == {"name": "a/b"}


def test_slug_parameter(client: httpx.Client) -> None:
    assert client.get("/articles/my-article-2").json() == {"slug": "my-article-2"}
    assert client.get("/articles/not_a_slug").status_code == 404
    assert client.get("/articles/sp%20ace").status_code == 404


def test_uuid_parameter(client: httpx.Client) -> None:
    value = str(uuid.uuid4())
    assert client.get(f"/items/{value}").json() == {"item_id": value, "type": "str"}
    assert client.get(f"/items/{value.upper()}").status_code == 200
    assert client.get("/items/550e8400-e29b-41d4-a716-446655440000").status_code == 200
    assert client.get("/items/not-a-uuid").status_code == 404
    assert client.get(f"/items/{uuid.uuid1()}").status_code == 404  # not version 4
    assert client.get(f"/items/{value}x").status_code == 404


def test_path_parameter_takes_the_rest(client: httpx.Client) -> None:
    assert client.get("/files/docs/guide/intro.md").json() == {"path": "docs/guide/intro.md"}
    assert client.get("/files/a%20b/c").json() == {"path": "a b/c"}
    assert client.get("/files/").status_code in (404, 308)


def test_blocking_sync_handler_does_not_stall_others(server: RunningServer) -> None:
    results: dict[str, float] = {}

    def slow() -> None:
        with server.client() as http:
            started = time.monotonic()
            assert http.get("/sync/sleep").json() == {"slept": 1}
            results["slow"] = time.monotonic() - started

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.2)  # the slow request is now sleeping on the pool
    with server.client() as http:
        started = time.monotonic()
        for _ in range(20):
            assert http.get("/").status_code == 200
        fast = time.monotonic() - started
    thread.join()
    assert results["slow"] >= 1.0
    assert fast < 0.8, f"20 quick requests took {fast:.2f}s while a sync handler slept"


def test_sync_handler_runs_on_the_pool(client: httpx.Client) -> None:
    body = client.get("/sync/info/5").json()
    assert body["n"] == 5
    assert body["thread"].startswith("hyperdjango-sync")
    assert body["path"] == "/sync/info/5"


def test_async_handler_that_suspends(client: httpx.Client) -> None:
    assert client.get("/async/sleep").json() == {"slept": 0.05}


def test_concurrent_suspended_handlers_overlap(server: RunningServer) -> None:
    async def many() -> float:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            started = time.monotonic()
            responses = await __import__("asyncio").gather(
                *(http.get("/async/sleep") for _ in range(50))
            )
            assert all(response.status_code == 200 for response in responses)
            return time.monotonic() - started

    elapsed = __import__("asyncio").run(many())
    assert elapsed < 2.0, f"50 concurrent 50 ms handlers took {elapsed:.2f}s: they did not overlap"


def test_contextvars_are_isolated_per_request(server: RunningServer) -> None:
    import asyncio

    async def many() -> list[dict]:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            responses = await asyncio.gather(
                *(http.get(f"/contextvar/v{index}") for index in range(30))
            )
            return [response.json() for response in responses]

    bodies = asyncio.run(many())
    for index, body in enumerate(bodies):
        assert body == {"before": None, "after": f"v{index}"}
