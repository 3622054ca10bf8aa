"""Router: includes, namespaces, reverse, matching from Python (issue: routing)."""

import random
import string
import uuid

import pytest

from hyperdjango import HyperApp
from hyperdjango.router import NoReverseMatch, Router


async def handler(request, **params):
    return params


def blog_router() -> Router:
    blog = Router()
    blog.get("/", handler, name="list")
    blog.get("/{id:int}", handler, name="detail")
    blog.post("/{id:int}/comment", handler, name="comment")
    return blog


def make_app() -> HyperApp:
    app = HyperApp("x")
    api = Router()
    api.get("/users", handler, name="users")
    api.get("/stats", handler, name="stats")
    app.router.include("/blog", blog_router(), namespace="blog")
    app.router.include("/api/v1", api, namespace="api")
    return app


def test_spec_example_reverse() -> None:
    router = make_app().router
    assert router.reverse("blog:detail", id=42) == "/blog/42"
    assert router.reverse("blog:list") == "/blog/"
    assert router.reverse("api:users") == "/api/v1/users"


def test_included_routes_resolve() -> None:
    router = make_app().router
    route, params = router.match("GET", "/blog/42")  # type: ignore[misc]
    assert (route.name, params) == ("blog:detail", {"id": 42})
    assert router.match("GET", "/blog/")[0].name == "blog:list"  # type: ignore[index]
    assert router.match("POST", "/blog/7/comment")[0].name == "blog:comment"  # type: ignore[index]
    assert router.match("GET", "/blog/x") is None


def test_nested_namespaces() -> None:
    inner = Router()
    inner.get("/{slug:slug}", handler, name="page")
    middle = Router()
    middle.include("/docs", inner, namespace="docs")
    middle.get("/", handler, name="home")
    app = HyperApp("x")
    app.router.include("/site", middle, namespace="site")
    assert app.router.reverse("site:docs:page", slug="intro") == "/site/docs/intro"
    assert app.router.reverse("site:home") == "/site/"
    assert app.router.match("GET", "/site/docs/intro")[0].name == "site:docs:page"  # type: ignore[index]


def test_decorated_app_routes_take_names() -> None:
    app = HyperApp("x")

    @app.get("/users/{id:int}", name="user")
    async def user(request, id):
        return {}

    assert app.router.reverse("user", id=5) == "/users/5"


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("blog:nope", {}, "no route named 'blog:nope'"),
        ("blog:detail", {}, "missing id"),
        ("blog:detail", {"id": 1, "x": 2}, "unexpected x"),
        ("blog:detail", {"id": "abc"}, "does not match converter 'int'"),
        ("blog:detail", {"id": -3}, "does not match converter 'int'"),
        ("blog:detail", {"id": True}, "does not match converter 'int'"),
        ("blog:detail", {"id": 1.5}, "does not match converter 'int'"),
    ],
)
def test_reverse_errors_name_the_route_and_problem(name: str, params: dict, message: str) -> None:
    with pytest.raises(NoReverseMatch, match=message):
        make_app().router.reverse(name, **params)


def test_reverse_encodes_values() -> None:
    app = HyperApp("x")
    app.router.get("/names/{name}", handler, name="name")
    app.router.get("/files/{path:path}", handler, name="file")
    assert app.router.reverse("name", name="a b/c") == "/names/a%20b%2Fc"
    assert app.router.reverse("file", path="docs/a b.md") == "/files/docs/a%20b.md"
    assert app.router.match("GET", "/names/a%20b%2Fc")[1] == {"name": "a b/c"}  # type: ignore[index]


def test_reverse_resolve_round_trip_on_generated_values() -> None:
    app = HyperApp("x")
    patterns = {
        "int": "/r/{a:int}/x",
        "str": "/r/{a}/y",
        "slug": "/r/{a:slug}/z",
        "uuid": "/r/{a:uuid}/w",
        "path": "/p/{a:path}",
        "multi": "/m/{a:int}/{b}/{c:slug}/{d:uuid}",
    }
    for name, pattern in patterns.items():
        app.router.get(pattern, handler, name=name)
    rng = random.Random(1234)

    def text(alphabet: str) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))

    generators = {
        "int": lambda: rng.randint(0, 10**12),
        "str": lambda: text(string.ascii_letters + string.digits + " -_.~é/%?#&+"),
        "slug": lambda: text(string.ascii_letters + string.digits + "-"),
        "uuid": lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "path": lambda: "/".join(
            text(string.ascii_lowercase + " é") for _ in range(rng.randint(1, 4))
        ),
    }
    for _ in range(200):
        for name in ("int", "str", "slug", "uuid", "path"):
            value = generators[name]()
            path = app.router.reverse(name, a=value)
            route, params = app.router.match("GET", path)  # type: ignore[misc]
            assert route.name == name and params == {"a": value}, (name, value, path)
        values = {
            "a": generators["int"](),
            "b": generators["str"](),
            "c": generators["slug"](),
            "d": generators["uuid"](),
        }
        route, params = app.router.match("GET", app.router.reverse("multi", **values))  # type: ignore[misc]
        assert route.name == "multi" and params == values


def test_include_validation() -> None:
    app = HyperApp("x")
    with pytest.raises(ValueError, match="prefix"):
        app.router.include("blog", blog_router())
    with pytest.raises(TypeError, match="Router"):
        app.router.include("/blog", object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="namespace"):
        app.router.include("/blog", blog_router(), namespace="a:b")
    app.router.include("/blog", blog_router(), namespace="blog")
    with pytest.raises(ValueError, match="already used"):
        app.router.include("/blog2", blog_router(), namespace="blog")


def test_include_conflict_names_both_routes() -> None:
    app = HyperApp("x")
    app.router.get("/blog/{pk:int}", handler)
    with pytest.raises(ValueError, match=r"/blog/\{id:int\}.*/blog/\{pk:int\}"):
        app.router.include("/blog", blog_router(), namespace="blog")


def test_route_table_rows() -> None:
    rows = make_app().router.table()
    assert ("GET", "/blog/{id:int}", "blog:detail", "test_router.handler") in rows
