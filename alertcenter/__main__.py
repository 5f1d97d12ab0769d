"""alertcenter: `python -m alertcenter config.json [--daemon]`.

Receives the FATAL alerts of every daemon (UDP datagrams or TCP lines, see
`framing`) and appends each message to the Redis list `alert:message`
(`writer`), from where a mailer pops them.
"""

from __future__ import annotations

from common.redis import connect_redis
from common.service import ServiceContext, run_service

from .config import AlertCenterConfig, load_config
from .server import AlertListener
from .writer import AlertWriter


async def serve(config: AlertCenterConfig, ctx: ServiceContext) -> None:
    writer = AlertWriter(connect_redis(config.redis), config.redis_key, config.queue_limit)
    writer.start()
    ctx.add_cleanup(writer.close)
    listener = AlertListener(config.svr, writer.push)
    await listener.start()
    ctx.add_cleanup(listener.close)
    ctx.ready()
    await ctx.stopping.wait()


def main() -> None:
    run_service("alertcenter", load_config, serve)


if __name__ == "__main__":
    main()
