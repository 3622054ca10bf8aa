"""A raw WSGI application served by hyperdjango.wsgi.serve_wsgi (tests/test_wsgi.py)."""

import json
import os
import sys
import threading
import time

from hyperdjango.wsgi import serve_wsgi

closed = {"count": 0}
# /sleep views running now (/sleeping), so a test can signal once one is in flight.
sleeping = {"count": 0}
lock = threading.Lock()


class Closing:
    """An iterable whose close() is counted (PEP 3333: always called)."""

    def __init__(self, chunks, fail_at=None):
        self.chunks = chunks
        self.fail_at = fail_at

    def __iter__(self):
        for index, chunk in enumerate(self.chunks):
            if index == self.fail_at:
                raise RuntimeError("iteration failed")
            yield chunk

    def close(self):
        with lock:
            closed["count"] += 1


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"Hello, world!"]
    if path == "/environ":
        body = environ["wsgi.input"].read()
        values = {k: v for k, v in environ.items() if isinstance(v, (str, bool, int, tuple))}
        values["body"] = body.decode("latin-1")
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(values).encode()]
    if path.startswith("/echo-path/"):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"path_info": path, "raw_uri": environ["RAW_URI"]}).encode()]
    if path == "/lines":
        stream = environ["wsgi.input"]
        lines = [stream.readline().decode(), stream.readline(3).decode()]
        rest = [line.decode() for line in stream]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"lines": lines, "rest": rest}).encode()]
    if path == "/size":
        data = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"size": len(data)}).encode()]
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return Closing([b"then ", b"returned"])
    if path == "/exc-info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("changed my mind")
        except ValueError:
            start_response("503 Service Unavailable", [("X-Reason", "exc")], sys.exc_info())
        return [b"replaced"]
    if path == "/fail-midway":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing([b"a", b"b", b"c"], fail_at=1)
    if path == "/raise":
        raise KeyError("no such thing")
    if path == "/pid":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [
            json.dumps({"pid": os.getpid(), "multiprocess": environ["wsgi.multiprocess"]}).encode()
        ]
    if path == "/sleep":
        with lock:
            sleeping["count"] += 1
        try:
            time.sleep(float(environ.get("QUERY_STRING") or "1"))
        finally:
            with lock:
                sleeping["count"] -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"slept"]
    if path == "/sleeping":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(sleeping).encode()]
    if path == "/closed":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(closed).encode()]
    if path == "/cookies":
        start_response(
            "200 OK",
            [
                ("Set-Cookie", "a=1; Path=/"),
                ("Set-Cookie", "b=2; Path=/"),
                ("Content-Type", "text/plain"),
            ],
        )
        return Closing([b"two cookies"])
    if path.startswith("/bad/"):
        return bad_answer(path.removeprefix("/bad/"), start_response)
    if path == "/joined":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"one ", b"two ", b"", b"three"]
    if path == "/file":
        handle = open(__file__, "rb")
        start_response("200 OK", [("Content-Type", "text/x-python")])
        return environ["wsgi.file_wrapper"](handle, 8192)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"nope"]


class Failing:
    def __iter__(self):
        raise RuntimeError("failed before the first chunk")


def bad_answer(kind, start_response):
    """Applications that break PEP 3333 in one way each: every one is a 500."""
    if kind == "status-text":
        start_response("OK", [])
    elif kind == "status-type":
        start_response(200, [])
    elif kind == "twice":
        start_response("200 OK", [])
        start_response("200 OK", [])
    elif kind == "header-value":
        start_response("200 OK", [("X-Bad", "a\r\nInjected: yes")])
    elif kind == "header-shape":
        start_response("200 OK", [("X-Only-A-Name",)])
    elif kind == "body-str":
        start_response("200 OK", [])
        return ["text is not bytes"]
    elif kind == "body-str-tuple":
        start_response("200 OK", [])
        return ("text is not bytes",)
    elif kind == "iterator-fails-first":
        start_response("200 OK", [])
        return Failing()
    elif kind == "no-start":
        return [b"no start_response"]
    return [b"unreachable"]


if __name__ == "__main__":
    serve_wsgi(
        application,
        os.environ.get("HOST", "127.0.0.1"),
        int(os.environ.get("PORT", "0")),
        threads=4,
        prod=os.environ.get("PROD") == "1",
        max_body_size=4 * 1024 * 1024,
        name="wsgi-test",
    )
