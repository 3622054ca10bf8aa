"""The raw WSGI hello for bench/run_django.sh: served by hyperdjango (``python wsgi_raw.py PORT``)
and by Granian (``granian --interface wsgi wsgi_raw:application``)."""

import sys

BODY = b'{"message":"Hello!"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]


if __name__ == "__main__":
    from hyperdjango.wsgi import serve_wsgi

    serve_wsgi(application, "127.0.0.1", int(sys.argv[1]), threads=int(sys.argv[2]), prod=True)
