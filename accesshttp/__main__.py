"""accesshttp: `python -m accesshttp config.json [--daemon]`, the HTTP JSON-RPC gateway (spec/http-api.md).

This process is the supervisor: it opens the monitor port, binds the HTTP
listening sockets, starts `worker_num` worker processes (accesshttp.worker)
that serve them, restarts a worker that dies, and stops them all on SIGTERM.
"""

from __future__ import annotations

from functools import partial

from common.monitor import MonitorServer
from common.service import ServiceContext, run_service
from common.worker_metrics import supervisor_exposition, workers_readiness
from common.workers import WorkerPool, bind_listeners, close_listeners

from .config import AccessHttpConfig, load_config
from .worker import WORKER_ENV

WORKER_START_TIMEOUT = 60.0


async def serve(config: AccessHttpConfig, ctx: ServiceContext) -> None:
    listeners = bind_listeners(config.svr.bind, config.worker_num)
    pool = WorkerPool("accesshttp", WORKER_ENV, ctx.config_path, listeners)
    workers = pool.monitor_addresses()
    monitor = MonitorServer(config.monitor, workers_readiness(workers), partial(supervisor_exposition, workers))
    await monitor.start()
    ctx.add_cleanup(monitor.close)

    async def stop_workers() -> None:
        await pool.stop()
        close_listeners(listeners)

    ctx.add_cleanup(stop_workers)
    await pool.start(WORKER_START_TIMEOUT + config.connect_wait)
    ctx.ready()
    await ctx.stopping.wait()


def main() -> None:
    run_service("accesshttp", load_config, serve)


if __name__ == "__main__":
    main()
