"""``hyper start | stop | restart | status``: a background server per port.

``hyper start`` runs ``python -m hyperdjango.cli run ... --pid-file
.hyper.<port>.pid`` in a new session, its stdout and stderr appended to
``.hyper.<port>.log``, and returns once that process has written its PID file
(after binding and running the startup hooks) and answers on the port, or
fails with the reason from the log. The PID file therefore always holds the
PID of the serving process itself, and the server removes it as the last step
of its shutdown.

A PID file is believed only if its process is alive (not a zombie) and its
command line names that very PID file; anything else (a dead process, a PID
reused by another program) is stale and treated as "not running".
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .apps import load_app
from .options import (
    CommandError,
    add_app_option,
    add_server_options,
    check_loop_choice,
    fixed_port_number,
    forward_server_options,
    seconds,
)

PID_FILE = ".hyper.{port}.pid"
LOG_FILE = ".hyper.{port}.log"
STOP_TIMEOUT = 30.0
START_TIMEOUT = 30.0
NOT_RUNNING = 3  # LSB: "program is not running"


def add_commands(verbs: Any) -> None:
    start = verbs.add_parser(
        "start",
        help="serve an app as a background daemon",
        description="Start the server in the background: PID in .hyper.<port>.pid, output in "
        ".hyper.<port>.log (both in the working directory). Returns once it answers.",
    )
    _add_start_options(start)
    start.set_defaults(handler=start_command)

    stop = verbs.add_parser(
        "stop",
        help="stop the daemon on a port (SIGTERM, then SIGKILL after --timeout)",
        description="Send SIGTERM to the daemon started here for --port, wait for its graceful "
        "exit (up to --timeout seconds), then SIGKILL; remove its PID file.",
    )
    _add_port_option(stop)
    _add_stop_timeout(stop)
    stop.set_defaults(handler=stop_command)

    restart = verbs.add_parser(
        "restart",
        help="stop the daemon on a port (if running), then start it again",
        description="hyper stop, then hyper start, with the same options.",
    )
    _add_start_options(restart)
    _add_stop_timeout(restart)
    restart.set_defaults(handler=restart_command)

    status = verbs.add_parser(
        "status",
        help="is a daemon running on a port? (exit 0 running, 3 not)",
        description="Print PID, port and uptime of the daemon started here for --port. "
        "Exit status 0 when it runs, 3 when it does not (LSB).",
    )
    _add_port_option(status)
    status.set_defaults(handler=status_command)


def _add_start_options(parser: argparse.ArgumentParser) -> None:
    add_app_option(parser)
    add_server_options(parser, port_type=fixed_port_number)
    parser.add_argument(
        "--wait",
        type=seconds,
        default=START_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the server to answer (default: {START_TIMEOUT:g})",
    )


def _add_port_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=fixed_port_number, default=8000, help="TCP port (default: 8000)"
    )


def _add_stop_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=STOP_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait after SIGTERM before SIGKILL (default: {STOP_TIMEOUT:g})",
    )


@dataclass(frozen=True)
class Daemon:
    """The daemon of one port, run from one directory: its PID and log files."""

    port: int
    directory: Path

    @property
    def pid_path(self) -> Path:
        return self.directory / PID_FILE.format(port=self.port)

    @property
    def log_path(self) -> Path:
        return self.directory / LOG_FILE.format(port=self.port)

    def recorded_pid(self) -> int | None:
        try:
            text = self.pid_path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() and int(text) > 0 else None

    def running_pid(self) -> int | None:
        """The PID from the PID file if that process is alive and is this daemon."""
        pid = self.recorded_pid()
        if pid is None or not process_alive(pid):
            return None
        command_line = process_command_line(pid)
        if command_line is not None and str(self.pid_path).encode() not in command_line:
            return None  # the PID now belongs to another program
        return pid

    def remove_pid_file(self, pid: int | None = None) -> None:
        """Removes the PID file (only if it still names ``pid``, when given)."""
        if pid is None or self.recorded_pid() == pid:
            try:
                self.pid_path.unlink()
            except FileNotFoundError:
                pass


def process_alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped) counts as gone."""
    stat = _proc_stat(pid)
    if stat is not None:
        return stat[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_command_line(pid: int) -> bytes | None:
    """The process's argv (NUL-separated), or None where /proc is not available."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def process_uptime(pid: int) -> float | None:
    """Seconds since the process started (Linux /proc), or None if unknown."""
    stat = _proc_stat(pid)
    if stat is None:
        return None
    try:
        started_ticks = int(stat[19])  # field 22 of /proc/<pid>/stat
        system_uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, system_uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def format_duration(total: float) -> str:
    minutes, secs = divmod(int(total), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    clock = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days}d {clock}" if days else clock


# -- verbs ------------------------------------------------------------------------


def start_command(arguments: argparse.Namespace) -> int:
    check_loop_choice()
    daemon = Daemon(arguments.port, Path.cwd())
    running = daemon.running_pid()
    if running is not None:
        raise CommandError(
            f"already running on port {daemon.port} (PID {running}); "
            f"hyper stop --port {daemon.port} first, or hyper restart"
        )
    daemon.remove_pid_file()  # stale, if there is one
    load_app(arguments.app)  # a bad --app fails here, in one line, before anything starts
    pid = _spawn(daemon, arguments)
    print(
        f"hyper: started {arguments.app} on port {daemon.port} "
        f"(PID {pid}; log {daemon.log_path.name})",
        flush=True,
    )
    return 0


def _spawn(daemon: Daemon, arguments: argparse.Namespace) -> int:
    command = [
        sys.executable,
        "-m",
        "hyperdjango.cli",
        "run",
        "--app",
        arguments.app,
        *forward_server_options(arguments),
        "--port",
        str(daemon.port),
        "--pid-file",
        str(daemon.pid_path),
    ]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        log_file = daemon.log_path.open("ab")
    except OSError as error:
        raise CommandError(f"cannot write {daemon.log_path}: {error.strerror}") from None
    with log_file as log:
        log.write(f"--- hyper start {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
        log.flush()
        log_offset = log.tell()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=daemon.directory,
            env=environment,
            start_new_session=True,  # no controlling terminal: Ctrl+C here does not reach it
        )
    deadline = time.monotonic() + arguments.wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            reason = _last_line(daemon.log_path, log_offset) or f"exit status {process.returncode}"
            raise CommandError(f"the server did not start: {reason} (log: {daemon.log_path.name})")
        if daemon.recorded_pid() == process.pid and answers(arguments.host, daemon.port):
            return process.pid
        time.sleep(0.05)
    process.kill()
    process.wait()
    daemon.remove_pid_file(process.pid)
    raise CommandError(
        f"the server did not answer on port {daemon.port} within {arguments.wait:g} s; "
        f"stopped it (log: {daemon.log_path.name})"
    )


def _last_line(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            lines = log.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.strip():
            return line.strip().removeprefix("hyper: ")
    return ""


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if an HTTP server on ``host:port`` answers a request."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host in ("::", "[::]"):
        host = "::1"
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=timeout) as connection:
            connection.sendall(
                b"HEAD /.hyper/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            )
            return connection.recv(16).startswith(b"HTTP/1.")
    except OSError:
        return False


def stop_command(arguments: argparse.Namespace) -> int:
    daemon = Daemon(arguments.port, Path.cwd())
    pid = daemon.running_pid()
    if pid is None:
        stale = daemon.pid_path.exists()
        daemon.remove_pid_file()
        note = f" (removed stale {daemon.pid_path.name})" if stale else ""
        print(f"hyper: not running on port {daemon.port}{note}", flush=True)
        return 0
    stop(daemon, pid, arguments.timeout)
    return 0


def stop(daemon: Daemon, pid: int, timeout: float) -> None:
    """SIGTERM, wait up to ``timeout`` s for a graceful exit, then SIGKILL."""
    started = time.monotonic()
    _signal(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        how = f"stopped gracefully in {time.monotonic() - started:.1f} s"
    else:
        _signal(pid, signal.SIGKILL)
        if not _wait_gone(pid, 10.0):
            raise CommandError(f"PID {pid} survived SIGKILL; is it stuck in the kernel?")
        how = f"did not stop within {timeout:g} s: killed"
    daemon.remove_pid_file(pid)
    print(f"hyper: port {daemon.port} (PID {pid}) {how}", flush=True)


def _signal(pid: int, number: signal.Signals) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass
    except PermissionError as error:
        raise CommandError(f"not allowed to signal PID {pid}: {error.strerror}") from None


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def restart_command(arguments: argparse.Namespace) -> int:
    check_loop_choice()
    daemon = Daemon(arguments.port, Path.cwd())
    load_app(arguments.app)  # do not stop a working server for a typo in --app
    pid = daemon.running_pid()
    if pid is not None:
        stop(daemon, pid, arguments.timeout)
    return start_command(arguments)


def status_command(arguments: argparse.Namespace) -> int:
    daemon = Daemon(arguments.port, Path.cwd())
    pid = daemon.running_pid()
    if pid is None:
        stale = " (stale PID file)" if daemon.pid_path.exists() else ""
        print(f"hyper: not running on port {daemon.port}{stale}", flush=True)
        return NOT_RUNNING
    uptime = process_uptime(pid)
    shown = format_duration(uptime) if uptime is not None else "unknown"
    print(f"hyper: running on port {daemon.port} (PID {pid}, uptime {shown})", flush=True)
    workers = worker_pids(pid)
    if workers:
        listed = " ".join(str(worker) for worker in workers)
        print(f"hyper: {len(workers)} workers (supervisor PID {pid}): {listed}", flush=True)
    return 0


def worker_pids(pid: int) -> list[int]:
    """The worker processes of a ``--workers N`` supervisor: its children."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return sorted(int(child) for child in children if child.isdigit())
