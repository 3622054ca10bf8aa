"""``hyper run`` (serve in the foreground) and ``hyper routes`` (print the route table)."""

from __future__ import annotations

import argparse
from typing import Any

from ..app import HyperApp
from ..lifecycle import ListenError
from ..limits import ServerLimits
from .apps import load_app
from .options import (
    CommandError,
    add_app_option,
    add_server_options,
    check_loop_choice,
    forward_server_options,
    run_keywords,
)


def add_commands(verbs: Any) -> None:
    run = verbs.add_parser(
        "run",
        help="serve an app in the foreground (Ctrl+C or SIGTERM stops it gracefully)",
        description="Serve an app in the foreground until SIGTERM or Ctrl+C: the listener "
        "closes, in-flight requests finish (up to --shutdown-timeout), on_shutdown hooks run, "
        "exit 0. A second Ctrl+C stops at once.",
    )
    add_app_option(run, required=False)
    run.add_argument(
        "--wsgi",
        metavar="MODULE:ATTRIBUTE",
        help="serve a WSGI application instead (Django's wsgi.application, a Flask app, ...); "
        "see docs/django.md",
    )
    run.add_argument(
        "--asgi",
        metavar="MODULE:ATTRIBUTE",
        help="with --wsgi: an ASGI application that takes the WebSocket upgrades "
        "(a Channels router, a HyperApp, ...); see docs/django.md",
    )
    run.add_argument(
        "--threads",
        type=int,
        default=16,
        help="with --wsgi: threads that run the application's views (default: 16)",
    )
    add_server_options(run)
    run.add_argument(
        "--reload",
        action="store_true",
        help="development: restart the app's process when a .py file under the current "
        "folder changes, keeping the listening socket open (no request is refused)",
    )
    # The worker side of --reload: serve the socket the reloading parent passed down.
    run.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)
    run.add_argument(
        "--pid-file",
        metavar="PATH",
        help="write the server's PID here while it serves (hyper start uses .hyper.<port>.pid)",
    )
    run.set_defaults(handler=run_command)

    routes = verbs.add_parser(
        "routes",
        help="print the route table",
        description="Print every route: methods, pattern, name and handler.",
    )
    add_app_option(routes)
    routes.set_defaults(handler=routes_command)


def run_command(arguments: argparse.Namespace) -> int:
    check_loop_choice()
    if arguments.wsgi is not None and arguments.reload:
        raise CommandError("--reload serves a HyperApp (--app), not --wsgi")
    if arguments.wsgi is not None:
        if arguments.app is not None:
            raise CommandError("give --app (a HyperApp) or --wsgi (a WSGI application), not both")
        return run_wsgi(arguments)
    if arguments.asgi is not None:
        raise CommandError("--asgi takes the WebSocket upgrades of a --wsgi application")
    if arguments.app is None:
        raise CommandError("--app is required (or --wsgi module:application for a WSGI app)")
    if arguments.reload:
        if arguments.prod:
            raise CommandError("--reload is for development; it cannot be combined with --prod")
        from ..reload_supervisor import run_with_reload

        return run_with_reload(
            arguments.app, arguments.host, arguments.port, forward_server_options(arguments)
        )
    app = load_app(arguments.app)
    try:
        app.run(
            **run_keywords(arguments), pid_file=arguments.pid_file, listen_fd=arguments.listen_fd
        )
    except ListenError as error:
        raise CommandError(str(error)) from None
    return 0


def run_wsgi(arguments: argparse.Namespace) -> int:
    """``hyper run --wsgi module:application``: any WSGI app on the native server."""
    from ..wsgi import serve_wsgi

    if arguments.threads < 1:
        raise CommandError(f"--threads must be at least 1, not {arguments.threads}")
    application = load_application(arguments.wsgi, "--wsgi", "WSGI")
    upgrades = (
        None if arguments.asgi is None else load_application(arguments.asgi, "--asgi", "ASGI")
    )
    keywords = run_keywords(arguments)
    limits = ServerLimits.from_options({name: keywords[name] for name in ServerLimits.names()})
    try:
        serve_wsgi(
            application,
            arguments.host,
            arguments.port,
            threads=arguments.threads,
            prod=arguments.prod,
            shutdown_timeout=arguments.shutdown_timeout,
            name=arguments.wsgi,
            pid_file=arguments.pid_file,
            limits=limits,
            workers=arguments.workers,
            asgi_application=upgrades,
        )
    except OSError as error:
        raise CommandError(str(error)) from None
    return 0


def load_application(reference: str, option: str, kind: str) -> Any:
    """``module:attribute`` for ``--wsgi``/``--asgi``; a mistake is one clear line."""
    from ..wsgi import load_wsgi_application

    try:
        return load_wsgi_application(reference, option=option, kind=kind)
    except ValueError as error:
        raise CommandError(str(error)) from None
    except Exception as error:  # noqa: BLE001 - the user's module failed: one line
        raise CommandError(
            f"cannot import {reference!r}: {type(error).__name__}: {error}"
        ) from None


def routes_command(arguments: argparse.Namespace) -> int:
    print_routes(load_app(arguments.app))
    return 0


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
