"""The supervisor's listening sockets (docs/workers.md).

By default one listening socket, bound once by the supervisor and inherited
by every worker: one kernel accept queue for all, so a worker that stops
accepting leaves nothing behind. ``SO_REUSEPORT`` (one socket and one queue
per worker) exists only to measure that choice (bench/run_reuseport.sh):
closing such a socket resets the connections still waiting in its queue.
"""

from __future__ import annotations

import socket

__all__ = ["REUSE_PORT_ENV", "bind_listener", "reuse_port_listener"]

#: Benchmark-only (bench/run_reuseport.sh): ``1`` gives each worker its own
#: ``SO_REUSEPORT`` listener instead of the shared one, to measure the choice.
REUSE_PORT_ENV = "HYPERDJANGO_REUSEPORT"


def bind_listener(
    host: str, port: int, backlog: int = 1024, *, reuse_port: bool = False
) -> socket.socket:
    """The listening socket every worker inherits (``::`` means IPv6 only, as natively).

    With ``reuse_port`` (benchmark only) it is bound with ``SO_REUSEPORT`` but
    does not listen: it only holds the port, and each worker gets its own
    listening socket on it (``reuse_port_listener``).
    """
    bare = host.strip("[]")
    family, _, _, _, address = socket.getaddrinfo(
        bare, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        listener.bind(address)
        if not reuse_port:
            listener.listen(backlog)
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(not reuse_port)
    return listener


def reuse_port_listener(holder: socket.socket, backlog: int = 1024) -> socket.socket:
    """A worker's own ``SO_REUSEPORT`` listening socket on ``holder``'s address."""
    listener = socket.socket(holder.family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if holder.family == socket.AF_INET6:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        listener.bind(holder.getsockname())
        listener.listen(backlog)
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener
