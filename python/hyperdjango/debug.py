"""The debug-mode error page: the traceback, for the developer, never in prod."""

from __future__ import annotations

import html
import traceback
from typing import Any

from .response import Response

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; margin: 2rem; color: #222; }}
h1 {{ color: #b00020; font-size: 1.4rem; }}
pre {{ background: #f6f6f6; padding: 1rem; overflow-x: auto; border-left: 4px solid #b00020; }}
.meta {{ color: #666; }}
</style></head>
<body>
<h1>{title}</h1>
<p class="meta">{method} {path} &mdash; debug mode (run with prod=True to hide this page)</p>
<pre>{traceback}</pre>
</body></html>
"""


def error_page(request: Any, exception: BaseException) -> Response:
    """500 with the traceback: HTML for browsers, JSON for API clients."""
    lines = traceback.format_exception(type(exception), exception, exception.__traceback__)
    title = f"{type(exception).__name__}: {exception}"
    accept = request.headers.get("accept", "")
    if "text/html" in accept:
        page = _PAGE.format(
            title=html.escape(title),
            method=html.escape(request.method),
            path=html.escape(request.path),
            traceback=html.escape("".join(lines)),
        )
        return Response.html(page, status=500)
    return Response.json(
        {
            "detail": "Internal Server Error",
            "exception": title,
            "traceback": "".join(lines).splitlines(),
        },
        status=500,
    )
