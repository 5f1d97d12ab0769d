"""One accessws worker: backends, subscriptions, Kafka readers and the WebSocket server.

`run_worker` is the whole of what the original calls a worker.  With
`worker_num` 1 it runs inside the `accessws` process itself; with more, the
supervisor (`accessws/__main__.py`) starts `python -m accessws.worker
config.json` `worker_num` times and hands each its listening sockets through
the environment variable `WORKER_ENV` (the worker's index, the descriptor of
a channel to the supervisor and those of its sockets).  Such a worker logs to
``<log.path>_worker<index>``, its lock is ``accessws_worker<index>``, it
writes ``ready`` on the channel once it serves and stops when the channel
closes or the supervisor dies.  Workers share nothing: each polls the
backends and reads the Kafka topics for its own clients, as the original's.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from common.config import ConfigError, Section
from common.daemon import set_parent_death_signal
from common.decimals import install_context
from common.metrics import metrics_for
from common.monitor import MonitorServer, Readiness
from common.service import ServiceContext, run_service
from common.workers import WorkerLaunch

from .auth import Authenticator
from .backends import Backend, Backends, QueryCache
from .config import AccessWsConfig, load_config
from .depth import DepthFeed
from .kafka_input import TopicConsumer, parse_balance_message, parse_order_message, parse_stop_message
from .market_feeds import DealsFeed, KlineFeed, PriceFeed, StatusFeed
from .methods import Feeds, Methods
from .server import WsServer
from .user_feeds import AssetNotifier, OrderNotifier

log = logging.getLogger("accessws")

WORKER_ENV = "VIABTC_ACCESSWS_WORKER"
KAFKA_START_WAIT = 10.0


def make_order_handler(orders: OrderNotifier, assets: AssetNotifier) -> Callable[[bytes], None]:
    def handle(value: bytes) -> None:
        message = parse_order_message(value)
        if message is None:
            log.error("orders: invalid message %.200r", value)
            return
        assets.on_change(message.user, message.stock)
        assets.on_change(message.user, message.money)
        orders.on_order(message.user, message.event, message.order)

    return handle


def make_stop_handler(orders: OrderNotifier, assets: AssetNotifier) -> Callable[[bytes], None]:
    """A stop's funds are frozen from its PUT to its CANCEL or firing: its balances change with each event."""
    def handle(value: bytes) -> None:
        message = parse_stop_message(value)
        if message is None:
            log.error("stops: invalid message %.200r", value)
            return
        if message.stock is not None:
            assets.on_change(message.user, message.stock)
        if message.money is not None:
            assets.on_change(message.user, message.money)
        orders.on_stop(message.user, message.market, message.event, message.stop)

    return handle


def make_balance_handler(assets: AssetNotifier) -> Callable[[bytes], None]:
    def handle(value: bytes) -> None:
        parsed = parse_balance_message(value)
        if parsed is None:
            log.error("balances: invalid message %.200r", value)
            return
        assets.on_change(*parsed)

    return handle


async def run_worker(config: AccessWsConfig, ctx: ServiceContext, sockets: list[socket.socket] | None,
                     readiness: Readiness | None = None) -> WsServer:
    """Start everything a worker serves; the WebSocket server opens last, once Kafka is positioned.

    `readiness` (the monitor's, when it runs in this process) gets a check per backend (connected) and
    one for the broker (every topic reader connected, its last fetch not failed)."""
    install_context()
    timeout = config.backend_timeout
    backends = Backends(Backend(config.matchengine, timeout), Backend(config.marketprice, timeout),
                        Backend(config.readhistory, timeout))
    for backend in backends.all():
        await backend.start()
        ctx.add_cleanup(backend.close)
        if readiness is not None:
            readiness.add(backend.name, partial(getattr, backend, "connected"))
    auth = Authenticator(config.auth_url, config.sign_url, timeout)
    await auth.start()
    ctx.add_cleanup(auth.close)

    intervals = config.intervals
    me, mp = backends.matchengine, backends.marketprice
    orders = OrderNotifier()
    assets = AssetNotifier(me)
    ctx.add_cleanup(assets.stop)
    feeds = Feeds(
        kline=KlineFeed(mp, intervals.kline),
        depth=DepthFeed(me, intervals.depth, config.depth_limit, config.depth_merge),
        price=PriceFeed(mp, intervals.price),
        state=StatusFeed(mp, intervals.state, today=False),
        today=StatusFeed(mp, intervals.today, today=True),
        deals=DealsFeed(mp, intervals.deals),
        orders=orders.subscriptions,
        assets=assets.subscriptions,
    )
    for feed in feeds.polled():
        feed.start()
        ctx.add_cleanup(feed.stop)
    export_subscriptions(feeds)

    consumers = [TopicConsumer(config.orders, make_order_handler(orders, assets)),
                 TopicConsumer(config.balances, make_balance_handler(assets)),
                 TopicConsumer(config.stops, make_stop_handler(orders, assets))]
    for consumer in consumers:
        consumer.start()
        ctx.add_cleanup(consumer.stop)
    if readiness is not None:
        readiness.add("kafka", lambda: all(consumer.reader.connected for consumer in consumers))
    for consumer in consumers:
        if not await consumer.wait_positioned(KAFKA_START_WAIT):
            log.critical("kafka %s: topic %s not reachable yet; reading it from its end once it is",
                         consumer.config.brokers, consumer.config.topic)

    server = WsServer(config.svr, Methods(backends, QueryCache(config.cache_timeout), auth, feeds))
    await server.start(sockets)
    ctx.add_cleanup(server.close)
    return server


def export_subscriptions(feeds: Feeds) -> None:
    """viabtc_accessws_subscriptions{family}: the sessions subscribed to each family, read at scrape time."""
    polled = dict(zip(("kline", "depth", "price", "state", "today", "deals"), feeds.polled(), strict=True))
    users = {"order": feeds.orders, "asset": feeds.assets}

    def subscribed() -> dict[tuple[object, ...], float]:
        counts: dict[tuple[object, ...], float] = {(family,): float(len(feed.keys_of))
                                                   for family, feed in polled.items()}
        for family, subscriptions in users.items():
            counts[(family,)] = float(sum(len(sessions) for sessions in subscriptions.by_user.values()))
        return counts

    metrics_for("accessws").gauge("subscriptions", "Sessions subscribed, by family", subscribed, ("family",))


def launch_from_env() -> WorkerLaunch:
    return WorkerLaunch.from_env(WORKER_ENV, "accessws")


def worker_config(sec: Section) -> AccessWsConfig:
    config = load_config(sec)
    config.log = replace(config.log, path=f"{config.log.path}_worker{launch_from_env().index}")
    return config


async def serve_worker(config: AccessWsConfig, ctx: ServiceContext) -> None:
    launch = launch_from_env()
    set_parent_death_signal(signal.SIGTERM)
    readiness = Readiness()
    monitor_socket = launch.monitor_socket()
    if monitor_socket is not None:  # the supervisor reads this worker's metrics there (common.worker_metrics)
        monitor = MonitorServer(None, readiness)
        await monitor.serve_on(monitor_socket)
        ctx.add_cleanup(monitor.close)
    await run_worker(config, ctx, launch.sockets(), readiness)
    await launch.serve_until_released(ctx.stopping, ctx.ready)


def main() -> None:
    try:
        index = launch_from_env().index
    except (ConfigError, ValueError, KeyError, TypeError) as exc:
        print(f"accessws.worker: {exc}", file=sys.stderr)
        sys.exit(1)
    run_service(f"accessws_worker{index}", worker_config, serve_worker, sys.argv[1:])


if __name__ == "__main__":
    main()
