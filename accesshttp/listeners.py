"""The HTTP listening sockets, bound once by the supervisor and handed to the workers.

Each worker gets its own socket per `tcp@` address, all bound to the same
port with SO_REUSEPORT, so the kernel spreads new connections over the
workers (the original passes accepted sockets from a listener process to
its workers instead; spec/rpc.md §10.3 leaves the scheme free).  The
supervisor keeps its copies open, so while a worker restarts the
connections hashed to its socket wait in the backlog rather than being
refused.  A `stream@` (unix) address has one socket shared by every worker.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat

from common.config import Address

BACKLOG = 1024


def bind_listeners(addresses: list[Address], workers: int) -> list[list[socket.socket]]:
    """For each worker, one listening socket per address; OSError if an address cannot be bound."""
    per_worker: list[list[socket.socket]] = [[] for _ in range(workers)]
    try:
        for address in addresses:
            if address.kind == "tcp":
                port = address.port
                for sockets in per_worker:
                    sock = _tcp_listener(address.host, port)
                    sockets.append(sock)
                    port = sock.getsockname()[1]  # a port 0 address: the others join the port the first got
            elif address.kind == "stream":
                sock = _unix_listener(address.path)
                for sockets in per_worker:
                    sockets.append(sock)
            else:
                raise OSError(f"cannot serve HTTP on {address}")
    except BaseException:
        close_listeners(per_worker)
        raise
    return per_worker


def close_listeners(per_worker: list[list[socket.socket]]) -> None:
    for sockets in per_worker:
        for sock in sockets:
            sock.close()


def _tcp_listener(host: str, port: int) -> socket.socket:
    family, kind, proto, _, sockaddr = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(sockaddr)
        sock.listen(BACKLOG)
        sock.set_inheritable(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _unix_listener(path: str) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock
