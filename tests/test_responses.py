"""Issue point 4: what handlers may return and how it is serialised."""

import json

import httpx


def test_dict_becomes_json(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Hello!"}


def test_list_becomes_json(client: httpx.Client) -> None:
    response = client.get("/return/list")
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [1, "two", None, True, 2.5, {"nested": ["x"]}]


def test_json_escaping_and_big_ints(client: httpx.Client) -> None:
    response = client.get("/return/unicode")
    assert response.json() == {"text": 'héllo "quoted" \n ✓', "big": 2**70}
    # Non-ASCII is sent as UTF-8, not \u escapes (ensure_ascii=False).
    assert "héllo".encode() in response.content


def test_str_is_plain_text(client: httpx.Client) -> None:
    response = client.get("/return/str")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "hello"


def test_bytes_are_octet_stream(client: httpx.Client) -> None:
    response = client.get("/return/bytes")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == b"\x00\x01binary"


def test_body_status_tuple(client: httpx.Client) -> None:
    response = client.get("/return/tuple2")
    assert response.status_code == 202
    assert response.json() == {"accepted": True}


def test_body_status_headers_tuple(client: httpx.Client) -> None:
    response = client.get("/return/tuple3")
    assert response.status_code == 201
    assert response.headers["x-thing"] == "yes"
    # A header given by the handler replaces the default content type.
    assert response.headers.get_list("content-type") == ["text/x-custom"]
    assert response.text == "made"


def test_response_object_with_mutable_headers(client: httpx.Client) -> None:
    response = client.get("/return/response")
    assert response.status_code == 203
    assert response.json() == {"x": 1}
    assert response.headers["x-custom"] == "value"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]


def test_response_html_and_text(client: httpx.Client) -> None:
    html = client.get("/return/html")
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert html.text == "<h1>Hello</h1>"
    text = client.get("/return/text")
    assert text.status_code == 404
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text == "Not Found"


def test_other_json_values(client: httpx.Client) -> None:
    assert client.get("/return/int").json() == 42
    none = client.get("/return/none")
    assert none.headers["content-type"] == "application/json"
    assert none.json() is None


def test_http_exception_becomes_its_status(client: httpx.Client) -> None:
    response = client.get("/raise/http")
    assert response.status_code == 418
    assert response.json() == {"detail": "I'm a teapot"}
    assert response.headers["x-tea"] == "earl grey"


def test_http_exception_after_await(client: httpx.Client) -> None:
    response = client.get("/async/sleep-error")
    assert response.status_code == 409
    assert response.json() == {"detail": "conflict after await"}


def test_unserialisable_result_is_a_clear_500(client: httpx.Client) -> None:
    response = client.get("/return/unserialisable")
    assert response.status_code == 500
    body = response.json()
    assert "not JSON serializable" in body["exception"]


def test_header_injection_is_refused(client: httpx.Client) -> None:
    response = client.get("/return/bad-header")
    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    assert "CR, LF or NUL" in response.json()["exception"]


def test_bad_status_is_a_clear_500(client: httpx.Client) -> None:
    response = client.get("/return/bad-status")
    assert response.status_code == 500
    assert "1000" in json.dumps(response.json())
