"""One accesshttp worker process: `python -m accesshttp.worker config.json`, started by the supervisor.

The supervisor passes, in the environment variable `WORKER_ENV`, the
worker's index, the descriptor of its channel (a socket pair: the worker
writes ``ready`` once it serves, and stops when the channel closes) and the
descriptors of its listening sockets (see listeners.py).  The worker has its
own backend connections and serves HTTP on those sockets (http_server.py).
It logs to ``<log.path>_worker<index>`` and its lock is
``accesshttp_worker<index>``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from dataclasses import replace
from functools import partial

from common.config import ConfigError, Section
from common.daemon import set_parent_death_signal
from common.monitor import MonitorServer, Readiness
from common.service import ServiceContext, run_service
from common.workers import WorkerLaunch

from .config import AccessHttpConfig, load_config
from .gateway import Gateway
from .http_server import HttpServer

log = logging.getLogger(__name__)

WORKER_ENV = "VIABTC_ACCESSHTTP_WORKER"
SHUTDOWN_GRACE = 5.0
LINGER = 2.0


def launch_from_env() -> WorkerLaunch:
    return WorkerLaunch.from_env(WORKER_ENV, "accesshttp")


def worker_config(sec: Section) -> AccessHttpConfig:
    config = load_config(sec)
    config.log = replace(config.log, path=f"{config.log.path}_worker{launch_from_env().index}")
    return config


def make_http_server(gateway: Gateway, config: AccessHttpConfig) -> HttpServer:
    # lingering: after an early answer (413) the rest of the body is read and dropped for at most
    # LINGER seconds, so that the client gets the answer rather than a connection reset
    return HttpServer(gateway.handle, body_limit=config.svr.max_pkg_size, keep_alive=float(config.svr.keep_alive),
                      linger=LINGER)


def gateway_readiness(gateway: Gateway) -> Readiness:
    """Ready when every backend the gateway forwards to is connected."""
    ready = Readiness()
    for name, client in gateway.clients.items():
        ready.add(name, partial(getattr, client, "connected"))
    return ready


async def serve(config: AccessHttpConfig, ctx: ServiceContext) -> None:
    launch = launch_from_env()
    set_parent_death_signal(signal.SIGTERM)
    gateway = Gateway(config)
    await gateway.start()
    ctx.add_cleanup(gateway.close)
    await gateway.wait_backends(config.connect_wait)

    monitor = MonitorServer(None, gateway_readiness(gateway))  # read by the supervisor (common.worker_metrics)
    monitor_socket = launch.monitor_socket()
    if monitor_socket is not None:
        await monitor.serve_on(monitor_socket)
        ctx.add_cleanup(monitor.close)

    http = make_http_server(gateway, config)
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(http, sock=sock) for sock in launch.sockets()]

    async def stop_serving() -> None:
        for server in servers:
            server.close()
        http.pre_shutdown()  # idle keep-alive connections close now, busy ones after their response
        await http.shutdown(SHUTDOWN_GRACE)

    ctx.add_cleanup(stop_serving)

    await launch.serve_until_released(ctx.stopping, ctx.ready)


def main() -> None:
    try:
        index = launch_from_env().index
    except (ConfigError, ValueError, KeyError, TypeError) as exc:
        print(f"accesshttp.worker: {exc}", file=sys.stderr)
        sys.exit(1)
    run_service(f"accesshttp_worker{index}", worker_config, serve, sys.argv[1:])


if __name__ == "__main__":
    main()
