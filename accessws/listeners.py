"""The listening sockets of the WebSocket server, bound once and shared by the worker processes.

With several workers, each gets its own socket per `tcp@` address, all bound
to the same port with SO_REUSEPORT, so the kernel spreads new connections
over the workers; a `stream@` (unix) address has one socket that every worker
accepts from.  (The original passes each accepted socket from a listener
process to a random worker instead; the effect — connections spread over
workers that share nothing — is the same.)  The supervisor keeps its copies
open, so while a worker restarts, the connections meant for it wait in the
backlog instead of being refused.
"""

from __future__ import annotations

import contextlib
import os
import socket

from common.config import Address


def listening_socket(address: Address, read_mem: int = 0, write_mem: int = 0, *,
                     reuse_port: bool = False, port: int | None = None) -> socket.socket:
    """A bound, listening, non-blocking socket for `tcp@host:port` or `stream@/path` (unlinked first, 0777)."""
    if address.kind == "tcp":
        family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        sock = socket.create_server((address.host, address.port if port is None else port), family=family,
                                    backlog=socket.SOMAXCONN, reuse_port=reuse_port)
    elif address.kind == "stream":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(address.path)
        os.chmod(address.path, 0o777)
        sock.listen(socket.SOMAXCONN)
    else:
        raise ValueError(f"cannot listen on {address}")
    if read_mem:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, read_mem)
    if write_mem:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, write_mem)
    sock.setblocking(False)
    return sock


def bind_listeners(addresses: list[Address], workers: int, read_mem: int = 0,
                   write_mem: int = 0) -> list[list[socket.socket]]:
    """For each worker, one listening socket per address (in the order of `addresses`)."""
    per_worker: list[list[socket.socket]] = [[] for _ in range(workers)]
    try:
        for address in addresses:
            if address.kind == "tcp":
                port = address.port
                for sockets in per_worker:
                    sock = listening_socket(address, read_mem, write_mem, reuse_port=workers > 1, port=port)
                    sockets.append(sock)
                    port = sock.getsockname()[1]  # with port 0, the other workers join the port the first got
            else:
                sock = listening_socket(address, read_mem, write_mem)
                for sockets in per_worker:
                    sockets.append(sock)
    except BaseException:
        close_listeners(per_worker)
        raise
    return per_worker


def close_listeners(per_worker: list[list[socket.socket]]) -> None:
    for sockets in per_worker:
        for sock in sockets:
            sock.close()


def unlink_unix_paths(addresses: list[Address]) -> None:
    for address in addresses:
        if address.kind == "stream":
            with contextlib.suppress(OSError):
                os.unlink(address.path)
