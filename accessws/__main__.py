"""accessws: `python -m accessws config.json [--daemon]`, the WebSocket gateway (spec/websocket-api.md).

With `worker_num` 1 (the default) this process is the worker (see
`accessws/worker.py`) and also opens the monitor port.  With more, it is the
supervisor, like the original's listener: it opens the monitor port, binds
the WebSocket listening sockets and runs `worker_num` worker processes on
them (`accessws/pool.py`), restarting any that dies.
"""

from __future__ import annotations

from functools import partial

from common.monitor import MonitorServer, Readiness
from common.service import ServiceContext, run_service
from common.worker_metrics import supervisor_exposition, workers_readiness
from common.workers import WorkerPool, bind_listeners, close_listeners, unlink_unix_paths

from .config import AccessWsConfig, load_config
from .worker import WORKER_ENV, run_worker

WORKER_START_TIMEOUT = 60.0


async def serve(config: AccessWsConfig, ctx: ServiceContext) -> None:
    if config.worker_num == 1:
        readiness = Readiness()
        monitor = MonitorServer(config.monitor, readiness)
        await monitor.start()
        ctx.add_cleanup(monitor.close)
        await run_worker(config, ctx, None, readiness)
    else:
        server = config.svr.server
        listeners = bind_listeners(server.bind, config.worker_num, server.read_mem, server.write_mem)
        pool = WorkerPool("accessws", WORKER_ENV, ctx.config_path, listeners)
        workers = pool.monitor_addresses()
        monitor = MonitorServer(config.monitor, workers_readiness(workers), partial(supervisor_exposition, workers))
        await monitor.start()
        ctx.add_cleanup(monitor.close)

        async def stop_workers() -> None:
            await pool.stop()
            close_listeners(listeners)
            unlink_unix_paths(server.bind)

        ctx.add_cleanup(stop_workers)
        await pool.start(WORKER_START_TIMEOUT)
    ctx.ready()
    await ctx.stopping.wait()


def main() -> None:
    run_service("accessws", load_config, serve)


if __name__ == "__main__":
    main()
