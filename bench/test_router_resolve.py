"""Route resolution from Python, crossing included (run by `make bench`, not by `make test`).

.venv/bin/python -m pytest bench/test_router_resolve.py --benchmark-only
"""

import re
import sys
from pathlib import Path

import pytest

from hyperdjango import HyperApp

ROUTES_FILE = Path(__file__).parent.parent / "benches" / "github_routes.rs"


def load_routes() -> list[tuple[str, str]]:
    """The same ~130 GitHub-like routes as the criterion benchmark."""
    return re.findall(r'\(\s*"([A-Z]+)",\s*"([^"]+)",?\s*\)', ROUTES_FILE.read_text())


async def handler(request, **params):
    return params


@pytest.fixture(scope="module")
def app() -> HyperApp:
    app = HyperApp("bench")
    for method, pattern in load_routes():
        app.route(pattern, [method])(handler)
    assert len(app.router.routes) > 100
    return app


@pytest.mark.parametrize(
    "path",
    ["/rate_limit", "/users/octocat", "/repos/rust-lang/rust/issues/12345/comments/987654"],
    ids=["static", "one-param", "four-params"],
)
def test_resolve(benchmark, app: HyperApp, path: str) -> None:
    result = benchmark(app.router.resolve, "GET", path)
    assert result[0] == "found"


def test_match_with_conversion(benchmark, app: HyperApp) -> None:
    route, params = benchmark(
        app.router.match, "GET", "/repos/rust-lang/rust/issues/12345/comments/987654"
    )
    assert params == {
        "owner": "rust-lang",
        "repo": "rust",
        "issue_number": 12345,
        "comment_id": 987654,
    }


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "--benchmark-only"]))
