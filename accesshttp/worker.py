"""One accesshttp worker process: `python -m accesshttp.worker config.json`, started by the supervisor.

The supervisor passes, in the environment variable `WORKER_ENV`, the
worker's index, the descriptor of its channel (a socket pair: the worker
writes ``ready`` once it serves, and stops when the channel closes) and the
descriptors of its listening sockets (see listeners.py).  The worker has its
own backend connections and serves HTTP on those sockets with aiohttp's
low-level server.  It logs to ``<log.path>_worker<index>`` and its lock is
``accesshttp_worker<index>``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass, replace
from typing import Any, cast

import orjson
from aiohttp import web

from common.config import ConfigError, Section
from common.daemon import set_parent_death_signal
from common.service import ServiceContext, run_service

from .config import AccessHttpConfig, load_config
from .gateway import Gateway
from .listeners import BACKLOG

log = logging.getLogger(__name__)

WORKER_ENV = "VIABTC_ACCESSHTTP_WORKER"
SHUTDOWN_GRACE = 5.0
NO_IDLE_TIMEOUT = 10 * 365 * 86400.0
LINGER = 2.0


@dataclass(slots=True)
class WorkerLaunch:
    """What the supervisor hands a worker."""

    index: int
    channel_fd: int
    listen_fds: list[int]

    def to_env(self) -> str:
        return orjson.dumps({"index": self.index, "channel": self.channel_fd, "listen": self.listen_fds}).decode()


def launch_from_env() -> WorkerLaunch:
    text = os.environ.get(WORKER_ENV)
    if not text:
        raise ConfigError(f"accesshttp.worker is started by accesshttp (no {WORKER_ENV} in the environment)")
    data = orjson.loads(text)
    return WorkerLaunch(index=int(data["index"]), channel_fd=int(data["channel"]),
                        listen_fds=[int(fd) for fd in data["listen"]])


def worker_config(sec: Section) -> AccessHttpConfig:
    config = load_config(sec)
    config.log = replace(config.log, path=f"{config.log.path}_worker{launch_from_env().index}")
    return config


def make_http_server(gateway: Gateway, config: AccessHttpConfig) -> web.Server:
    keep_alive = float(config.svr.keep_alive) or NO_IDLE_TIMEOUT
    # lingering: after an early answer (413) the rest of the body is read and dropped for at most
    # LINGER seconds, so that the client gets the answer rather than a connection reset
    return web.Server(cast(Any, gateway.handle), keepalive_timeout=keep_alive, access_log=None,
                      auto_decompress=False, lingering_time=LINGER)


async def serve(config: AccessHttpConfig, ctx: ServiceContext) -> None:
    launch = launch_from_env()
    set_parent_death_signal(signal.SIGTERM)
    gateway = Gateway(config)
    await gateway.start()
    ctx.add_cleanup(gateway.close)
    await gateway.wait_backends(config.connect_wait)

    http = make_http_server(gateway, config)
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(http, sock=socket.socket(fileno=fd), backlog=BACKLOG)
               for fd in launch.listen_fds]

    async def stop_serving() -> None:
        for server in servers:
            server.close()
        http.pre_shutdown()  # idle keep-alive connections close now, busy ones after their response
        await http.shutdown(SHUTDOWN_GRACE)

    ctx.add_cleanup(stop_serving)

    reader, writer = await asyncio.open_connection(sock=socket.socket(fileno=launch.channel_fd))
    writer.write(b"ready\n")
    ctx.ready()
    supervisor_gone = asyncio.ensure_future(reader.read())
    stopping = asyncio.ensure_future(ctx.stopping.wait())
    await asyncio.wait([supervisor_gone, stopping], return_when=asyncio.FIRST_COMPLETED)
    if not stopping.done():
        log.error("the supervisor closed the channel: stopping")
    supervisor_gone.cancel()
    stopping.cancel()
    writer.close()


def main() -> None:
    try:
        index = launch_from_env().index
    except (ConfigError, ValueError, KeyError, TypeError) as exc:
        print(f"accesshttp.worker: {exc}", file=sys.stderr)
        sys.exit(1)
    run_service(f"accesshttp_worker{index}", worker_config, serve, sys.argv[1:])


if __name__ == "__main__":
    main()
