"""A Flask application for ``hyper run --wsgi flask_app:app`` (tests/test_wsgi_cli.py)."""

from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.get("/")
def index():
    return jsonify(message="Hello from Flask", server=request.environ.get("SERVER_SOFTWARE"))


@app.post("/echo")
def echo():
    upload = request.files.get("file")
    return jsonify(
        name=request.form.get("name"),
        upload=len(upload.read()) if upload else None,
        query=request.args.get("q"),
    )


@app.get("/stream")
def stream():
    return Response((f"part {number}\n" for number in range(3)), mimetype="text/plain")
