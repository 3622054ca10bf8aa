"""Routers, includes and namespaces, served (the spec's URL Namespaces example)."""

import os

from hyperdjango import HyperApp
from hyperdjango.router import Router

app = HyperApp("blog")


async def list_posts(request):
    return {"view": "list", "link": app.router.reverse("blog:detail", id=1)}


async def post_detail(request, id):
    return {"view": "detail", "id": id}


def add_comment(request, id):
    return {"view": "comment", "id": id, "text": request.text}, 201


async def list_users(request):
    return {"view": "users"}


async def get_stats(request):
    return {"view": "stats", "self": app.router.reverse("api:stats")}


blog = Router()
blog.get("/", list_posts, name="list")
blog.get("/{id:int}", post_detail, name="detail")
blog.post("/{id:int}/comment", add_comment, name="comment")

api = Router()
api.get("/users", list_users, name="users")
api.get("/stats", get_stats, name="stats")

admin = Router()
admin.include("/api", api, namespace="api")

app.router.include("/blog", blog, namespace="blog")
app.router.include("/api/v1", api, namespace="api")
app.router.include("/admin", admin, namespace="admin")


@app.get("/freeze")
async def freeze(request):
    try:
        app.router.get("/late", list_posts)
    except RuntimeError as error:
        return {"error": str(error)}
    return {"error": None}


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "0")))
