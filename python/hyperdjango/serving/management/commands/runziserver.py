"""``manage.py runziserver [addr:port]``: the project's WSGI_APPLICATION on the native server.

Flags follow ``runserver`` (``--ipv6``, ``--noreload``, ``--nostatic``,
``--insecure``, ``--skip-checks``), plus ``--threads`` (the view thread pool),
``--prod`` (production: no reloader, no static files, no tracebacks in 500s),
``--max-body-size``, ``--shutdown-timeout`` (the drain deadline, as
``HyperApp.run``) and ``--workers N``: with N >= 2 this process becomes the
supervisor of ``hyper run --workers`` (``hyperdjango.workers``) over N worker
processes on the port, each a fresh run of this command (docs/workers.md).

WebSocket upgrades go to the project's ``ASGI_APPLICATION`` (the setting
Channels and daphne use) as ASGI ``websocket`` scopes, on the native server's
WebSocket protocol (see ``hyperdjango.asgi_upgrades``); without the setting
they reach the WSGI application as ordinary GET requests.
"""

from __future__ import annotations

import errno
import os
import sys
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.runserver import Command as RunserverCommand
from django.db import connections
from django.utils import autoreload

from hyperdjango.eventloop import loop_choice
from hyperdjango.lifecycle import DEFAULT_SHUTDOWN_TIMEOUT, check_shutdown_timeout
from hyperdjango.workers import current_worker
from hyperdjango.wsgi import DEFAULT_MAX_BODY_SIZE, serve_wsgi

ERRORS = {
    errno.EACCES: "You don't have permission to access that port.",
    errno.EADDRINUSE: "That port is already in use.",
    errno.EADDRNOTAVAIL: "That IP address can't be assigned to.",
}


class Command(RunserverCommand):
    help = "Serves the project's WSGI application on hyperdjango's native HTTP server."

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--threads",
            type=int,
            default=16,
            help="Size of the thread pool that runs views (default 16).",
        )
        parser.add_argument(
            "--prod",
            action="store_true",
            help="Production mode: no auto-reloader, no static files, no tracebacks in 500s.",
        )
        parser.add_argument(
            "--max-body-size",
            type=int,
            default=DEFAULT_MAX_BODY_SIZE,
            help="Largest accepted request body in bytes (413 beyond; bodies over 1 MB go to disk).",
        )
        parser.add_argument(
            "--workers",
            default="1",
            metavar="N",
            help="Worker processes on the port (default 1; 2 or more: a supervisor runs them, "
            "SIGHUP reloads them with zero downtime; no auto-reloader then).",
        )
        parser.add_argument(
            "--shutdown-timeout",
            default=str(DEFAULT_SHUTDOWN_TIMEOUT),
            metavar="SECONDS",
            help="Seconds in-flight requests get to finish after SIGTERM/SIGINT (default 30).",
        )
        parser.add_argument(
            "--nostatic",
            action="store_false",
            dest="use_static_handler",
            help="Do not serve static files (as runserver --nostatic).",
        )
        parser.add_argument(
            "--insecure",
            action="store_true",
            dest="insecure_serving",
            help="Serve static files even if DEBUG is False (as runserver --insecure).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        threads = options["threads"]
        if threads < 1:
            raise CommandError(f"--threads must be at least 1, not {threads}.")
        if options["max_body_size"] < 0:
            raise CommandError("--max-body-size must not be negative.")
        options["workers"] = _whole_number(options["workers"])
        try:
            options["shutdown_timeout"] = check_shutdown_timeout(float(options["shutdown_timeout"]))
        except ValueError:
            raise CommandError(
                f"--shutdown-timeout must be a non-negative number of seconds, "
                f"not {options['shutdown_timeout']!r}."
            ) from None
        try:
            loop_choice()  # HYPERDJANGO_LOOP (the WebSocket upgrades' loop): one clear line
        except ValueError as error:
            raise CommandError(f"{error}.") from None
        if options["prod"] or options["workers"] > 1:
            # Workers reload on SIGHUP (new code imported, zero downtime), not on file changes.
            options["use_reloader"] = False
        super().handle(*args, **options)

    def get_handler(self, *args: Any, **options: Any) -> Any:
        """The WSGI_APPLICATION, wrapped to serve static files as runserver does."""
        handler = super().get_handler(*args, **options)
        serve_static = options.get("use_static_handler", True) and not options.get("prod")
        if (
            serve_static
            and (settings.DEBUG or options.get("insecure_serving"))
            and "django.contrib.staticfiles" in settings.INSTALLED_APPS
        ):
            from django.contrib.staticfiles.handlers import StaticFilesHandler

            return StaticFilesHandler(handler)
        return handler

    def inner_run(self, *args: Any, **options: Any) -> None:
        autoreload.raise_last_exception()
        # A worker of --workers N: the supervisor ran the checks once for all.
        if current_worker() is None:
            if not options["skip_checks"]:
                self.stdout.write("Performing system checks...\n\n")
                self.check(display_num_errors=True)
            self.check_migrations()
        for connection in connections.all(initialized_only=True):
            connection.close()
        handler = self.get_handler(*args, **options)
        websockets = self.websocket_application()
        try:
            serve_wsgi(
                handler,
                self.addr,
                int(self.port),
                threads=options["threads"],
                prod=options["prod"],
                max_body_size=options["max_body_size"],
                script_name=os.environ.get("SCRIPT_NAME", "").rstrip("/"),
                name=settings.SETTINGS_MODULE or "django",
                on_ready=self.ready,
                shutdown_timeout=options["shutdown_timeout"],
                workers=options["workers"],
                asgi_application=websockets,
            )
        except OSError as error:
            text = ERRORS.get(error.errno or 0, str(error))
            self.stderr.write(f"Error: {text}")
            # Inside the reloader this runs on a thread, where sys.exit would not end the process.
            os._exit(1)

    def websocket_application(self) -> Any:
        """The ``ASGI_APPLICATION`` setting's app, which takes the WebSocket upgrades
        (None without the setting: upgrades then reach the WSGI application as
        ordinary requests)."""
        reference = getattr(settings, "ASGI_APPLICATION", None)
        if not reference:
            return None
        from django.utils.module_loading import import_string

        try:
            application = import_string(reference)
        except ImportError as error:
            self.stderr.write(f"Error: ASGI_APPLICATION {reference!r} cannot be imported: {error}")
            os._exit(1)
        if not callable(application):
            self.stderr.write(f"Error: ASGI_APPLICATION {reference!r} is not an ASGI application.")
            os._exit(1)
        return application

    def ready(self, host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        self.stdout.write(
            f"{datetime.now().strftime('%B %d, %Y - %X')}\n"
            f"Django version {self.get_version()}, using settings {settings.SETTINGS_MODULE!r}\n"
            f"Starting hyperdjango server at http://{shown}:{port}/\n"
            "Quit the server with CONTROL-C."
        )
        sys.stdout.flush()


def _whole_number(text: str) -> int:
    """``--workers``: 1 or more (checked here so a mistake is one ``CommandError`` line)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise CommandError(f"--workers must be a whole number of 1 or more, not {text!r}.")
    return value
