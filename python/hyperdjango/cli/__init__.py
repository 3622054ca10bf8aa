"""The ``hyper`` command.

    hyper run      --app app:app [--host H] [--port P] [--prod]   serve in the foreground
    hyper start    --app app:app [--port P] [--prod]              serve as a background daemon
    hyper stop     [--port P]                                     SIGTERM, wait, SIGKILL
    hyper restart  --app app:app [--port P] [--prod]              stop + start
    hyper status   [--port P]                                     exit 0 running, 3 not running
    hyper routes   --app app:app                                  print the route table
    hyper systemd  install|uninstall ...                          a systemd unit for the app

One module per concern: ``options`` (the parser, the shared serving options),
``apps`` (importing ``module:attribute``), ``serve`` (run, routes), ``daemon``
(start, stop, restart, status and PID files), ``systemd``, ``build``
(the ``hyper-build`` script). A mistake on the command line is one line on
stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from . import daemon, serve, systemd
from .apps import load_app
from .options import CommandError, OneLineParser

__all__ = ["main", "load_app", "CommandError"]


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="hyper", description="Serve and manage hyperdjango apps.")
    verbs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.add_commands(verbs)
    daemon.add_commands(verbs)
    systemd.add_commands(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hyper`` console script; returns the exit status."""
    arguments = build_parser().parse_args(argv)
    try:
        return int(arguments.handler(arguments) or 0)
    except CommandError as error:
        print(f"hyper: {error}", file=sys.stderr, flush=True)
        return error.exit_code
    except KeyboardInterrupt:
        print("hyper: interrupted", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
