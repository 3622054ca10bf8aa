"""Includes and namespaces against a real server; the CLI's route table and run."""

import subprocess
import sys
from collections.abc import Iterator

import pytest

from conftest import APPS, ROOT, RunningServer, start_server


@pytest.fixture(scope="module")
def blog() -> Iterator[RunningServer]:
    running = start_server("blog.py")
    yield running
    running.stop()


def test_included_routes_are_served(blog: RunningServer) -> None:
    with blog.client() as http:
        assert http.get("/blog/").json() == {"view": "list", "link": "/blog/1"}
        assert http.get("/blog/42").json() == {"view": "detail", "id": 42}
        comment = http.post("/blog/42/comment", content="nice")
        assert (comment.status_code, comment.json()) == (
            201,
            {"view": "comment", "id": 42, "text": "nice"},
        )
        assert http.get("/api/v1/users").json() == {"view": "users"}
        assert http.get("/api/v1/stats").json() == {"view": "stats", "self": "/api/v1/stats"}
        assert http.get("/admin/api/users").json() == {"view": "users"}


def test_trailing_slash_policy_is_a_308(blog: RunningServer) -> None:
    with blog.client() as http:
        response = http.get("/blog?page=2")
        assert response.status_code == 308
        assert response.headers["location"] == "/blog/?page=2"
        response = http.get("/api/v1/users/")
        assert (response.status_code, response.headers["location"]) == (308, "/api/v1/users")
        assert http.get("/blog/42/").status_code == 308
        assert http.get("/blog/nope/").status_code == 404


def test_options_and_head_on_included_routes(blog: RunningServer) -> None:
    with blog.client() as http:
        options = http.options("/blog/42/comment")
        assert options.status_code == 204
        assert options.headers["allow"] == "OPTIONS, POST"
        head = http.head("/blog/42")
        assert head.status_code == 200
        assert head.content == b""
        assert int(head.headers["content-length"]) == len(b'{"view":"detail","id":42}')


def test_routes_are_frozen_once_serving(blog: RunningServer) -> None:
    with blog.client() as http:
        error = http.get("/freeze").json()["error"]
    assert "frozen once the server has started" in error


def test_cli_prints_the_route_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hyperdjango.cli", "routes", "--app", "blog:app"],
        cwd=APPS,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["METHODS", "PATTERN", "NAME", "HANDLER"]
    assert any(line.split()[:3] == ["GET", "/blog/{id:int}", "blog:detail"] for line in lines)
    assert any(
        line.split()[:3] == ["POST", "/blog/{id:int}/comment", "blog:comment"] for line in lines
    )
    assert any("blog.post_detail" in line for line in lines)


def test_cli_reports_a_bad_app_reference() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hyperdjango.cli", "routes", "--app", "blog:nothing"],
        cwd=APPS,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "not a HyperApp" in result.stderr


def test_cli_run_serves_the_app(tmp_path) -> None:
    script = tmp_path / "run_cli.py"
    script.write_text(
        "import sys\nfrom hyperdjango.cli import main\n"
        f"sys.path.insert(0, {str(APPS)!r})\n"
        "sys.exit(main(['run', '--app', 'blog:app', '--port', '0']))\n"
    )
    running = start_server(script)
    try:
        with running.client() as http:
            assert http.get("/blog/3").json() == {"view": "detail", "id": 3}
    finally:
        assert running.stop() == 0


def test_examples_quickstart_via_cli_route_listing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hyperdjango.cli", "routes", "--app", "hello:app"],
        cwd=ROOT / "examples",
        capture_output=True,
        text=True,
        check=True,
    )
    assert "/users" in result.stdout
