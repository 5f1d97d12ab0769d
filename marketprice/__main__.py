"""marketprice: `python -m marketprice config.json [--daemon]`.

Start-up, in order (spec/marketprice.md §5.3): get the market list (from
accesshttp, or the matchengine when configured; retried until it answers;
read again later when a request names a market added since, refresh.py);
load each market and the stored progress from Redis (retried while Redis is
away); serve RPC; consume the `deals` topic after the last applied deal;
flush to Redis every `flush_interval` seconds, trim memory hourly and Redis
daily.  A graceful stop (SIGTERM/SIGQUIT) stops consuming and writes a last
flush, so a restart re-reads nothing (the original drops up to 10 s of
writes and re-reads them from Kafka).
"""

from __future__ import annotations

import asyncio
import logging

from common.decimals import install_context
from common.kafka import PartitionReader
from common.monitor import start_monitor
from common.redis import connect_redis
from common.rpc import RpcServer
from common.service import ServiceContext, run_service

from .config import MarketpriceConfig, load_config
from .consumer import DealsConsumer
from .market_list import MarketListSource, fetch_market_names
from .monitoring import export_metrics, readiness
from .persist import Persister, Stopped
from .refresh import MarketRefresher
from .server import MarketpriceService
from .state import Markets
from .store import KlineStore

log = logging.getLogger("marketprice")


async def serve(config: MarketpriceConfig, ctx: ServiceContext) -> None:
    install_context()
    redis = connect_redis(config.redis)
    ctx.add_cleanup(redis.aclose)
    markets = Markets(config.kline_open)
    store = KlineStore(redis, config.retention, config.key_prefix)
    apply_lock = asyncio.Lock()
    persister = Persister(store, markets, config.flush_interval, apply_lock)
    reader = PartitionReader(config.deals.brokers, config.deals.topic, config.deals.partition, name="deals")
    export_metrics(reader, markets)
    await start_monitor(config.monitor, ctx, readiness(redis, reader))

    source = MarketListSource(config.accesshttp, config.matchengine)
    await source.start()
    ctx.add_cleanup(source.close)
    names = await fetch_market_names(source, ctx.stopping)
    if names is None:
        return
    try:
        await persister.load(names, ctx.stopping)
    except Stopped:
        return

    refresher = MarketRefresher(source.names, persister.add_listed)
    ctx.add_cleanup(refresher.stop)
    service = MarketpriceService(markets, config.retention, config.cache_timeout, refresher=refresher)
    rpc = RpcServer(config.svr, service.handlers(), debug=config.debug, name="marketprice")
    await rpc.start()
    ctx.add_cleanup(rpc.close)

    ctx.add_cleanup(reader.stop)
    consumer = DealsConsumer(reader, markets, persister.add_market, apply_lock)
    workers = [asyncio.create_task(coro, name=name) for name, coro in (
        ("deals-consumer", consumer.run()),
        ("redis-flush", persister.flush_forever()),
        ("memory-prune", persister.prune_memory_forever()),
        ("redis-prune", persister.prune_redis_forever()),
    )]
    stop = asyncio.create_task(ctx.stopping.wait(), name="stop")
    ctx.ready()
    done, _ = await asyncio.wait([stop, *workers], return_when=asyncio.FIRST_COMPLETED)
    for task in (stop, *workers):
        task.cancel()
    await asyncio.gather(stop, *workers, return_exceptions=True)
    if stop not in done:
        # a worker died: the state may be half-applied, so it is not flushed
        crashed = next(task for task in workers if task in done)
        raise RuntimeError(f"{crashed.get_name()} stopped unexpectedly") from crashed.exception()
    if await persister.flush():
        progress = markets.progress
        log.info("final flush done: last applied deal %d at offset %d", progress.deal_id, progress.offset)


def main() -> None:
    run_service("marketprice", load_config, serve)


if __name__ == "__main__":
    main()
