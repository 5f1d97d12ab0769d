"""matchengine: `python -m matchengine config.json [--daemon]`.

Start-up, in order: open the `trade_log` database; restore the state from the
newest slice and the operation log after it (an asset or market the config
file defines with another precision than they do stops the start); write the
assets and markets added live back to the config source if it lacks them;
start the operation-log writer; start (and watch) the history/message
publisher; serve RPC and the debug CLI.
Stopping reverses it: no new requests, every logged operation committed, the
publisher drained, databases closed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time

import orjson

from common.cli import CliServer
from common.rpc import RpcServer
from common.service import ServiceContext, collector_paused, run_service
from common.storage import Database, open_database

from .cli import EngineCli
from .commands import OP_UPDATE_ASSET_CONFIG, OP_UPDATE_MARKET_CONFIG, Commands, LogEntry, ReplayError
from .config import ConfigSource, EngineConfig, load_config
from .engine import Engine
from .operlog import OperlogWriter, read_operations
from .publisher import CHANNEL_ENV
from .server import EngineService, PublisherState
from .slice import SliceMismatch, ensure_log_tables, load_slice, newest_slice

log = logging.getLogger("matchengine")

RESTART_DELAY = 1.0
SLICE_WAIT = 120.0


async def restore(engine: Engine, db: Database) -> tuple[int, float]:
    """Load the newest slice and replay the log after it; (last operation id, its time)."""
    started = time.monotonic()
    info = await newest_slice(db)
    last_id, last_time = 0, 0.0
    if info is not None:
        try:
            await load_slice(db, engine, info)
        except SliceMismatch as exc:
            raise RuntimeError(str(exc)) from None
        last_id = info.end_oper_id
        log.info("slice %d loaded (oper id %d) in %.3f s", info.time, last_id, time.monotonic() - started)
    commands = Commands(engine)
    replayed = 0
    try:
        with collector_paused():  # replay makes no reference cycles; scans of the growing state would be waste
            async for operations in read_operations(db, last_id):
                commands.replay_all(operations)
                last_id, last_time = operations[-1][0], operations[-1][1]
                replayed += len(operations)
    except ReplayError as exc:
        raise RuntimeError(str(exc)) from None
    log.info("replayed %d operations up to id %d in %.3f s", replayed, last_id, time.monotonic() - started)
    return last_id, last_time


def write_back_added(source: ConfigSource, engine: Engine, entries: list[LogEntry]) -> None:
    """After a logged write: the assets and markets it added go to the config source."""
    for method, params in entries:
        if method == OP_UPDATE_ASSET_CONFIG:
            source.write_back([engine.assets[params[0]["name"]]], [])
        elif method == OP_UPDATE_MARKET_CONFIG:
            source.write_back([], [engine.markets[params[0]["name"]].spec])


class PublisherLink:
    """Runs the publisher child, restarts it when it dies, and talks to it over a socket pair."""

    def __init__(self, config_path: str, state: PublisherState) -> None:
        self.config_path = config_path
        self.state = state
        self.last_slice = 0
        self._writer: asyncio.StreamWriter | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._slice_event = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="publisher-link")

    def notify_committed(self, oper_id: int) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(b'{"committed":%d}\n' % oper_id)

    async def request_slice(self) -> bool:
        writer = self._writer
        if writer is None or writer.is_closing():
            return False
        before = self.last_slice
        self._slice_event.clear()
        writer.write(b'{"makeslice":true}\n')
        deadline = time.monotonic() + SLICE_WAIT
        while self.last_slice == before and time.monotonic() < deadline:
            try:
                await asyncio.wait_for(self._slice_event.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
            self._slice_event.clear()
        return self.last_slice != before

    async def _run(self) -> None:
        while not self._stopping:
            parent, child = socket.socketpair()
            env = dict(os.environ, **{CHANNEL_ENV: str(child.fileno())})
            try:
                self._process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "matchengine.publisher", self.config_path,
                    pass_fds=(child.fileno(),), env=env, stdout=asyncio.subprocess.DEVNULL)
            except OSError:
                log.critical("cannot start the publisher", exc_info=True)
                parent.close()
                child.close()
                await asyncio.sleep(RESTART_DELAY)
                continue
            child.close()
            reader, self._writer = await asyncio.open_connection(sock=parent)
            try:
                while True:
                    line = await reader.readline()
                    if not line:
                        break
                    self._update(orjson.loads(line))
            except (ConnectionError, orjson.JSONDecodeError):
                pass
            self._writer.close()
            self._writer = None
            code = await self._process.wait()
            if self._stopping:
                return
            log.critical("publisher exited with status %s; restarting in %.0f s", code, RESTART_DELAY)
            await asyncio.sleep(RESTART_DELAY)

    def _update(self, status: dict[str, int]) -> None:
        state = self.state
        state.applied = status["applied"]
        state.history = status["history"]
        state.messages = status["messages"]
        state.history_rows = status["history_rows"]
        state.messages_waiting = status["messages_waiting"]
        state.updated_at = time.monotonic()
        if status.get("slice", 0) != self.last_slice:
            self.last_slice = status.get("slice", 0)
            self._slice_event.set()

    async def stop(self, timeout: float = 15.0) -> None:
        self._stopping = True
        if self._writer is not None:
            self._writer.close()
        if self._process is not None and self._process.returncode is None:
            try:
                await asyncio.wait_for(self._process.wait(), timeout)
            except TimeoutError:
                log.error("publisher did not stop in %.0f s; killing it", timeout)
                self._process.kill()
                await self._process.wait()
        if self._task is not None:
            self._task.cancel()


async def serve(config: EngineConfig, ctx: ServiceContext) -> None:
    db = open_database(config.db_log)
    await db.start()
    ctx.add_cleanup(db.close)
    await ensure_log_tables(db)

    engine = Engine(config.assets, config.markets)
    last_id, last_time = await restore(engine, db)
    source = ConfigSource(config.exchange_file or ctx.config_path)
    written = source.write_back(list(engine.assets.values()), [m.spec for m in engine.markets.values()])
    if written:
        log.info("%d assets and markets of the slice and log written back to %s", written, source.path)

    state = PublisherState()
    state.enabled = config.publisher
    link = PublisherLink(ctx.config_path, state)
    operlog = OperlogWriter(db, last_id, on_commit=link.notify_committed)
    operlog.start()
    state.applied = state.history = state.messages = last_id if not config.publisher else 0

    service = EngineService(engine, operlog, durable=config.durable_reply, cache_timeout=config.cache_timeout,
                            max_publish_lag=config.max_publish_lag, publisher=state)
    service.last_time = last_time
    service.on_logged = lambda entries: write_back_added(source, engine, entries)
    if config.publisher:
        link.start()
        ctx.add_cleanup(link.stop)
    ctx.add_cleanup(operlog.stop)
    expiry = asyncio.create_task(service.expire_guard_forever())

    rpc = RpcServer(config.svr, service.handlers(), debug=config.debug, name="matchengine")
    await rpc.start()
    ctx.add_cleanup(rpc.close)
    cli = CliServer(config.cli, EngineCli(engine, operlog, state, link.request_slice))
    await cli.start()
    ctx.add_cleanup(cli.close)

    ctx.ready()
    await ctx.stopping.wait()
    expiry.cancel()


def main() -> None:
    run_service("matchengine", load_config, serve)


if __name__ == "__main__":
    main()
