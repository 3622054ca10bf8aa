"""``hyper systemd install | uninstall``: a production systemd unit for the app.

The unit runs ``hyper run --prod`` in the foreground (``Type=exec``); systemd
stops it with SIGTERM and waits ``TimeoutStopSec`` (the drain timeout) before
SIGKILL, which ``KillMode=mixed`` sends to every process of the unit. It is
named ``hyperdjango-<app name>.service`` and written to /etc/systemd/system as
root, to the working directory otherwise (``--dir`` or ``--stdout`` to choose).
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .apps import load_app
from .options import CommandError, add_app_option, add_server_options, forward_server_options

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
UNIT_PREFIX = "hyperdjango-"


def add_commands(verbs: Any) -> None:
    systemd = verbs.add_parser(
        "systemd",
        help="install or remove a systemd unit for the app",
        description="Generate, install and remove a production systemd unit.",
    )
    actions = systemd.add_subparsers(dest="action", required=True, metavar="ACTION")
    install = actions.add_parser(
        "install",
        help="write hyperdjango-<name>.service (and enable it with --enable)",
        description="Write hyperdjango-<name>.service, <name> being the HyperApp's name: to "
        "/etc/systemd/system as root, to the working directory otherwise. The unit serves "
        "in production mode (--prod) from the working directory.",
    )
    add_app_option(install)
    add_server_options(install)
    install.add_argument(
        "--user",
        help="the (non-root) user to run as (default: owner of the working directory, "
        "or nobody when that is root)",
    )
    _add_location_options(install)
    install.add_argument(
        "--stdout", action="store_true", help="print the unit instead of writing it"
    )
    install.add_argument(
        "--enable",
        action="store_true",
        help="then run systemctl daemon-reload and systemctl enable --now",
    )
    install.set_defaults(handler=install_command)

    uninstall = actions.add_parser(
        "uninstall",
        help="disable and remove the unit installed from this directory",
        description="Stop, disable and remove the hyperdjango unit whose WorkingDirectory is "
        "the working directory (--name or --app to choose one when there are several).",
    )
    _add_location_options(uninstall)
    uninstall.add_argument("--name", help="the unit to remove, e.g. hyperdjango-myapp")
    add_app_option(uninstall, required=False)
    uninstall.set_defaults(handler=uninstall_command)


def _add_location_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        "--output-dir",
        dest="directory",
        type=Path,
        metavar="DIR",
        help="where the unit lives (default: /etc/systemd/system as root, else the working "
        "directory)",
    )


def unit_name(app_name: str) -> str:
    """``hyperdjango-<name>.service``, with characters systemd does not allow replaced."""
    safe = re.sub(r"[^A-Za-z0-9_.\-]", "-", app_name).strip("-.") or "app"
    return f"{UNIT_PREFIX}{safe}.service"


def default_directory() -> Path:
    return SYSTEM_UNIT_DIR if os.geteuid() == 0 else Path.cwd()


#: Unprivileged accounts to fall back on, most conventional first (systemd
#: warns about "nobody": files it owns are shared with every other such service).
FALLBACK_USERS = ("www-data", "http", "nginx", "nobody")


def default_user(directory: Path) -> str:
    """Who the service runs as: the sudo caller, the folder's owner, or a web account; not root."""
    if os.environ.get("SUDO_USER") not in (None, "", "root"):
        return os.environ["SUDO_USER"]
    try:
        owner = pwd.getpwuid(directory.stat().st_uid).pw_name
    except (KeyError, OSError):
        owner = "root"
    if owner != "root":
        return owner
    for name in FALLBACK_USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    return "nobody"


def quote(word: str) -> str:
    """One ExecStart word, quoted for systemd's command-line syntax where needed."""
    escaped = word.replace("%", "%%").replace("$", "$$")
    if escaped and not re.search(r"[\s\"'\\;]", escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}s"


def render_unit(
    app_name: str, arguments: argparse.Namespace, user: str, working_directory: Path
) -> str:
    """The unit file's text."""
    command = [
        str(Path(sys.executable).absolute()),
        "-m",
        "hyperdjango.cli",
        "run",
        "--app",
        arguments.app,
        *forward_server_options(arguments, explicit=True),
    ]
    timeout = _seconds(arguments.shutdown_timeout)
    return f"""\
# Generated by `hyper systemd install`. Re-run it to change the options.
[Unit]
Description=hyperdjango app {app_name} ({arguments.app} on port {arguments.port})
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
User={user}
WorkingDirectory={str(working_directory).replace("%", "%%")}
ExecStart={" ".join(quote(word) for word in command)}
Environment=PYTHONUNBUFFERED=1
# Graceful shutdown: SIGTERM drains in-flight requests for up to the drain
# timeout, then SIGKILL goes to every process left (KillMode=mixed).
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec={timeout}
Restart=on-failure
RestartSec=5
# Hardening: the file system is read-only to the service, /tmp is its own.
PrivateTmp=true
ProtectSystem=strict
NoNewPrivileges=true
LimitNOFILE=65536
LimitNPROC=4096

[Install]
WantedBy=multi-user.target
"""


def install_command(arguments: argparse.Namespace) -> int:
    app = load_app(arguments.app)
    arguments.prod = True  # the unit is for production
    working_directory = Path.cwd().resolve()
    user = arguments.user or default_user(working_directory)
    if user == "root" or user == "0":
        raise CommandError("refusing User=root; name a non-root user with --user")
    text = render_unit(app.name, arguments, user, working_directory)
    name = unit_name(app.name)
    if arguments.stdout:
        sys.stdout.write(text)
        return 0
    directory = (arguments.directory or default_directory()).resolve()
    if not directory.is_dir():
        raise CommandError(f"{directory} is not a directory")
    path = directory / name
    try:
        path.write_text(text)
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror}") from None
    print(f"hyper: wrote {path} (User={user})", flush=True)
    if arguments.enable:
        target = name if directory == SYSTEM_UNIT_DIR else str(path)
        _systemctl("daemon-reload")
        _systemctl("enable", "--now", target)
        print(f"hyper: enabled and started {name}", flush=True)
    elif directory == SYSTEM_UNIT_DIR:
        print(f"hyper: start it with: systemctl daemon-reload && systemctl enable --now {name}")
    return 0


def uninstall_command(arguments: argparse.Namespace) -> int:
    directory = (arguments.directory or default_directory()).resolve()
    if arguments.name or arguments.app:
        name = arguments.name or unit_name(load_app(arguments.app).name)
        if not name.endswith(".service"):
            name += ".service"
        candidates = [directory / name] if (directory / name).is_file() else []
    else:
        here = Path.cwd().resolve()
        candidates = [
            path
            for path in sorted(directory.glob(f"{UNIT_PREFIX}*.service"))
            if _working_directory(path) == here
        ]
    if not candidates:
        raise CommandError(f"no hyperdjango unit for {Path.cwd()} in {directory}")
    if len(candidates) > 1:
        names = ", ".join(path.stem for path in candidates)
        raise CommandError(f"several units match ({names}); choose one with --name")
    path = candidates[0]
    if shutil.which("systemctl") is not None and os.geteuid() == 0:
        _systemctl("disable", "--now", path.name, required=False)
    path.unlink()
    if shutil.which("systemctl") is not None and os.geteuid() == 0:
        _systemctl("daemon-reload", required=False)
    print(f"hyper: removed {path}", flush=True)
    return 0


def _working_directory(unit: Path) -> Path | None:
    try:
        for line in unit.read_text().splitlines():
            if line.startswith("WorkingDirectory="):
                return Path(line.partition("=")[2].strip().replace("%%", "%"))
    except OSError:
        return None
    return None


def _systemctl(*words: str, required: bool = True) -> None:
    if shutil.which("systemctl") is None:
        raise CommandError("systemctl not found: is this a systemd machine?")
    result = subprocess.run(["systemctl", *words], capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()
        message = (
            f"systemctl {' '.join(words)} failed: {reason[-1] if reason else result.returncode}"
        )
        if required:
            raise CommandError(message)
        print(f"hyper: warning: {message}", file=sys.stderr, flush=True)
