"""The ``hyper`` command: ``hyper run --app module:app`` and ``hyper routes --app module:app``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from .app import HyperApp

__all__ = ["main", "load_app"]


def load_app(reference: str) -> HyperApp:
    """Import ``"package.module:attribute"`` and return the ``HyperApp`` it names."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise SystemExit(
            f"hyper: --app must look like module:app (e.g. app:app), not {reference!r}"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise SystemExit(f"hyper: cannot import {module_name!r}: {error}") from error
    app = getattr(module, attribute, None)
    if not isinstance(app, HyperApp):
        found = "nothing" if app is None else f"a {type(app).__name__}"
        raise SystemExit(f"hyper: {reference!r} is {found}, not a HyperApp")
    return app


def print_routes(app: HyperApp) -> None:
    rows = [("METHODS", "PATTERN", "NAME", "HANDLER")]
    rows += [
        (methods, pattern, name or "-", handler)
        for methods, pattern, name, handler in app.router.table()
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)),
            row[3],
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hyper", description="Serve and inspect hyperdjango apps."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve an app in the foreground")
    run.add_argument("--app", required=True, help="module:attribute of the HyperApp, e.g. app:app")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--prod", action="store_true", help="production mode")
    routes = commands.add_parser("routes", help="print the route table")
    routes.add_argument(
        "--app", required=True, help="module:attribute of the HyperApp, e.g. app:app"
    )
    arguments = parser.parse_args(argv)
    app = load_app(arguments.app)
    if arguments.command == "routes":
        print_routes(app)
    else:
        app.run(host=arguments.host, port=arguments.port, prod=arguments.prod)
    return 0


if __name__ == "__main__":
    sys.exit(main())
