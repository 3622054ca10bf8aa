"""The parser and the options every serving verb shares.

``run``, ``start``, ``restart`` and ``systemd install`` take the same serving
options. They are declared once here, in ``SERVER_OPTIONS``: each knows its
flag, how to parse it, which ``HyperApp.run`` keyword it feeds and how to
write it back onto a command line (``hyper start`` forwards them to the
daemon's ``hyper run``; the systemd unit's ``ExecStart`` does the same). A new
serving option (``--workers``, a timeout) is one more entry in the list.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

DEFAULT_PORT = 8000
DEFAULT_HOST = "127.0.0.1"
DEFAULT_SHUTDOWN_TIMEOUT = 30.0


class CommandError(Exception):
    """A failure the user can act on: printed as one ``hyper: ...`` line."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (exit 2), not usage + error."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def port_number(text: str) -> int:
    """A TCP port, 0 to 65535 (0: any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r} (expected 0-65535)") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r} (expected 0-65535)")
    return port


def fixed_port_number(text: str) -> int:
    """A TCP port, 1 to 65535: the daemon verbs name their PID file after it."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r} (expected 1-65535)")
    return port


def seconds(text: str) -> float:
    """A non-negative, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}")
    return value


def add_app_option(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--app",
        required=required,
        metavar="MODULE:ATTRIBUTE",
        help="the HyperApp to serve, e.g. app:app (module app.py, variable app)",
    )


@dataclass(frozen=True)
class ServerOption:
    """One serving option: its flag, its parsing, and where its value goes."""

    flag: str
    dest: str
    help: str
    type: Callable[[str], Any] | None = None
    default: Any = None
    switch: bool = False  # a flag without a value (store_true)
    run_keyword: str | None = None  # the HyperApp.run keyword it sets
    metavar: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Written out at its default too when forwarding explicitly (the unit file's
    # ExecStart); tuning flags stay implicit there unless set.
    spell_default: bool = True

    def add_to(self, parser: argparse.ArgumentParser, port_type: Callable[[str], int]) -> None:
        if self.switch:
            parser.add_argument(self.flag, dest=self.dest, action="store_true", help=self.help)
            return
        parse = port_type if self.dest == "port" else self.type
        parser.add_argument(
            self.flag,
            dest=self.dest,
            type=parse if parse is not None else str,
            default=self.default,
            metavar=self.metavar,
            help=f"{self.help} (default: {self.default})",
            **self.extra,
        )

    def forward(self, arguments: argparse.Namespace, explicit: bool = False) -> list[str]:
        value = getattr(arguments, self.dest)
        if self.switch:
            return [self.flag] if value else []
        if value is None or (value == self.default and not (explicit and self.spell_default)):
            return []
        text = repr(value) if isinstance(value, float) else str(value)
        return [self.flag, text]


SERVER_OPTIONS: list[ServerOption] = [
    ServerOption("--host", "host", "address to listen on", str, DEFAULT_HOST, run_keyword="host"),
    ServerOption("--port", "port", "TCP port", None, DEFAULT_PORT, run_keyword="port"),
    ServerOption(
        "--prod",
        "prod",
        "production mode: no tracebacks, security headers, no /debug/*",
        switch=True,
        run_keyword="prod",
    ),
    ServerOption(
        "--shutdown-timeout",
        "shutdown_timeout",
        "seconds in-flight requests get to finish after SIGTERM/SIGINT",
        seconds,
        DEFAULT_SHUTDOWN_TIMEOUT,
        run_keyword="shutdown_timeout",
        metavar="SECONDS",
    ),
]


def positive_int(text: str) -> int:
    """A whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r} (expected 1 or more)")
    return value


def positive_seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    value = seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r} (must be > 0)")
    return value


def _limit_options() -> list[ServerOption]:
    """--workers and one flag per ``hyperdjango.limits.ServerLimits`` field (same defaults)."""
    from ..limits import ServerLimits

    helps = {
        "header_read_timeout": "seconds a whole request head may take (then 408)",
        "keep_alive_timeout": "seconds an idle keep-alive connection is kept",
        "body_read_timeout": "seconds a request body may stall between reads (then 408)",
        "send_timeout": "seconds a client may take nothing of an answer",
        "max_connections": "open connections per worker (beyond: wait in the backlog)",
        "max_queue": "requests waiting for Python before new ones get 503",
        "max_queue_wait": "seconds of waiting for Python before new requests get 503",
    }
    defaults = ServerLimits()
    options = [
        ServerOption(
            "--workers",
            "workers",
            "worker processes on the port (2+: a supervisor runs them; SIGHUP reloads)",
            positive_int,
            1,
            run_keyword="workers",
            metavar="N",
            spell_default=False,
        )
    ]
    for name in ServerLimits.names():
        default = getattr(defaults, name)
        counted = isinstance(default, int)
        options.append(
            ServerOption(
                "--" + name.replace("_", "-"),
                name,
                helps[name],
                positive_int if counted else positive_seconds,
                default,
                run_keyword=name,
                metavar="N" if counted else "SECONDS",
                spell_default=False,
            )
        )
    return options


SERVER_OPTIONS += _limit_options()


def add_server_options(
    parser: argparse.ArgumentParser, port_type: Callable[[str], int] = port_number
) -> None:
    for option in SERVER_OPTIONS:
        option.add_to(parser, port_type)


def forward_server_options(arguments: argparse.Namespace, explicit: bool = False) -> list[str]:
    """The serving options of ``arguments`` as command-line words (for ``hyper run``);
    ``explicit`` spells out default values too."""
    words: list[str] = []
    for option in SERVER_OPTIONS:
        words += option.forward(arguments, explicit)
    return words


def run_keywords(arguments: argparse.Namespace) -> dict[str, Any]:
    """The serving options of ``arguments`` as ``HyperApp.run`` keywords."""
    return {
        option.run_keyword: getattr(arguments, option.dest)
        for option in SERVER_OPTIONS
        if option.run_keyword is not None
    }


def check_loop_choice() -> None:
    """HYPERDJANGO_LOOP, checked before anything starts: a mistake is one line."""
    from ..eventloop import loop_choice

    try:
        loop_choice()
    except ValueError as error:
        raise CommandError(str(error)) from None
