"""Issue point 5: the request object."""

import httpx


def test_method_path_query_headers(client: httpx.Client) -> None:
    response = client.get(
        "/echo?page=1&tag=a&tag=b&q=hello+world",
        headers=[("X-Multi", "one"), ("x-multi", "two"), ("Content-Type", "text/x")],
    )
    body = response.json()
    assert body["method"] == "GET"
    assert body["path"] == "/echo"
    assert body["query"] == {"page": "1", "tag": "a", "q": "hello world"}
    assert body["tags"] == ["a", "b"]
    assert body["content_type"] == "text/x"
    assert body["x_multi"] == ["one", "two"]
    assert body["http_version"] == "HTTP/1.1"


def test_percent_decoded_path(client: httpx.Client) -> None:
    assert client.get("/names/caf%C3%A9").json() == {"name": "café"}


def test_json_body(client: httpx.Client) -> None:
    response = client.post("/echo/json", json={"a": [1, 2, {"b": None}]})
    assert response.json() == {"json": {"a": [1, 2, {"b": None}]}}


def test_malformed_json_is_400(client: httpx.Client) -> None:
    response = client.post(
        "/echo/json", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Malformed JSON body")


def test_empty_json_body_is_400(client: httpx.Client) -> None:
    response = client.post("/echo/json")
    assert response.status_code == 400
    assert "empty" in response.json()["detail"]


def test_text_uses_the_declared_charset(client: httpx.Client) -> None:
    utf8 = client.post("/echo/text", content="héllo".encode())
    assert utf8.json() == {"text": "héllo"}
    latin1 = client.post(
        "/echo/text",
        content="héllo".encode("latin-1"),
        headers={"content-type": "text/plain; charset=latin-1"},
    )
    assert latin1.json() == {"text": "héllo"}


def test_undecodable_text_is_400(client: httpx.Client) -> None:
    response = client.post("/echo/text", content=b"\xff\xfe\xfa")
    assert response.status_code == 400
    assert "utf-8" in response.json()["detail"]
    unknown = client.post(
        "/echo/text", content=b"x", headers={"content-type": "text/plain; charset=klingon"}
    )
    assert unknown.status_code == 400


def test_bytes_round_trip(client: httpx.Client) -> None:
    payload = bytes(range(256)) * 100
    response = client.post("/echo/bytes", content=payload)
    assert response.content == payload


def test_no_data_leaks_between_requests(client: httpx.Client) -> None:
    first = client.post("/echo?x=1", content=b"first body", headers={"X-Multi": "a"}).json()
    second = client.get("/echo").json()
    assert first["length"] == len(b"first body")
    assert second == {**second, "query": {}, "tags": [], "x_multi": [], "length": 0}
