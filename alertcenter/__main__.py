"""alertcenter: `python -m alertcenter config.json [--daemon]`.

Receives the FATAL alerts of every daemon (UDP datagrams or TCP lines, see
`framing`) and appends each message to the Redis list `alert:message`
(`writer`), from where a mailer pops them.
"""

from __future__ import annotations

from common.metrics import metrics_for
from common.monitor import Readiness, start_monitor
from common.redis import connect_redis
from common.service import ServiceContext, run_service

from .config import AlertCenterConfig, load_config
from .server import AlertListener
from .writer import AlertWriter


async def serve(config: AlertCenterConfig, ctx: ServiceContext) -> None:
    writer = AlertWriter(connect_redis(config.redis), config.redis_key, config.queue_limit)
    export_metrics(writer)
    await start_monitor(config.monitor, ctx, redis_readiness(writer))
    writer.start()
    ctx.add_cleanup(writer.close)
    listener = AlertListener(config.svr, writer.push)
    await listener.start()
    ctx.add_cleanup(listener.close)
    ctx.ready()
    await ctx.stopping.wait()


def export_metrics(writer: AlertWriter) -> None:
    metrics = metrics_for("alertcenter")
    metrics.counter_from("alerts_received", "Alert messages received", lambda: float(writer.received))
    metrics.counter_from("alerts_written", "Alert messages appended to the Redis list", lambda: float(writer.written))
    metrics.counter_from("alerts_dropped", "Alert messages dropped because the queue was full",
                         lambda: float(writer.dropped))
    metrics.gauge("alerts_queued", "Alert messages waiting to be appended to Redis", lambda: float(writer.queued))


def redis_readiness(writer: AlertWriter) -> Readiness:
    """Ready when Redis answers a PING and the writer's last append did not fail."""
    ready = Readiness()

    async def redis_answers() -> bool:
        return bool(await writer.redis.ping()) and not writer.failing

    ready.add("redis", redis_answers)
    return ready


def main() -> None:
    run_service("alertcenter", load_config, serve)


if __name__ == "__main__":
    main()
