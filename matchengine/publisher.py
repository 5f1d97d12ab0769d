"""The history and message publisher: a replica of the engine that writes what happened.

The engine answers requests and writes the operation log, nothing else.  This
process (started and watched by the engine) follows the committed operation
log, applies each operation to its own copy of the core — the same code, so
the same results — and turns what the core reports into history rows and
Kafka messages.  That keeps history and Kafka off the engine's hot path and
makes both survive any crash:

* history rows are written in batches, one transaction holding the rows of a
  run of operations and the id of the last one (`history_position`), so after
  a crash the rows of exactly the operations after that id are built again —
  never lost, never doubled.  The shard tables are split into HISTORY_STRIPES
  stripes (by shard number), each with its own position row and connection,
  so MariaDB works on one stripe's batch while the other's commits or is
  being built; a stripe's batches commit in order, stripes independently;
* Kafka messages are published in batches and the id of the last operation
  whose messages the broker acknowledged is recorded (`message_position`);
  after a crash those after it are published again (at least once; consumers
  skip deal ids they have seen).  While the broker is away, messages wait in
  memory, bounded, with a FATAL alert as the bound nears;
* slices (snapshots) are taken from this replica, so the engine never pauses
  for one;
* while operations trickle in, the log is read at most every FOLLOW_INTERVAL
  (Kafka latency) and history rows gather for HISTORY_INTERVAL unless a full
  batch is cut sooner: a history batch holds one INSERT per table it touches
  (up to 500), and each costs MariaDB ~85 µs before its first row.

On start it loads the newest slice at or before min(history, message
position), replays silently up to each position and goes on from there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import replace
from typing import Any

import orjson

from common.daemon import set_parent_death_signal
from common.schema import (
    HISTORY_POSITION,
    HISTORY_SHARDS,
    HISTORY_TEMPLATES,
    MESSAGE_POSITION,
    create_table_sql,
    shard_name,
)
from common.service import ServiceContext, run_service
from common.storage import Database, DatabaseError, InsertRows, Statement, UnexpectedRowCount, open_database

from .commands import Commands
from .config import EngineConfig, load_config
from .engine import Engine
from .events import TradeListener
from .fanout import Fanout
from .history import HistoryRows, shape_of
from .message import HEADER_KEY, TOPICS, Messages, header_value, parse_header, tag_messages
from .operlog import READ_PAGE, OperlogCatalog, read_operations
from .slice import ensure_log_tables, load_slice, newest_slice, take_snapshot, write_slice

log = logging.getLogger(__name__)

CHANNEL_ENV = "VIABTC_PUBLISHER_FD"
MAX_HISTORY_ROWS = 300_000
MAX_MESSAGES = 300_000
ALERT_SHARE = 0.8
HISTORY_BATCH_ROWS = 10_000
HISTORY_STRIPES = 4
YIELD_EVERY = 200
STATUS_INTERVAL = 0.1
POLL_INTERVAL = 0.5
FOLLOW_INTERVAL = 0.025
HISTORY_INTERVAL = 0.5
RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)
KAFKA_BATCH_BYTES = 1 << 20


async def ensure_history_tables(db: Database) -> None:
    """Create the history templates, the 100 shards of each, and the position table, if missing."""
    existing = set(await db.list_tables(""))
    statements: list[Statement] = []
    for table in (*HISTORY_TEMPLATES, HISTORY_POSITION):
        if table.name not in existing:
            statements.extend(Statement(sql) for sql in create_table_sql(table, db.dialect))
    for template in HISTORY_TEMPLATES:
        for i in range(HISTORY_SHARDS):
            name = shard_name(template, i)
            if name not in existing:
                statements.extend(Statement(sql) for sql in create_table_sql(template, db.dialect, name))
    if statements:
        await db.transact(statements)


async def read_position(db: Database, table: str, row: int = 1, initial: int = 0) -> int:
    """The position recorded in row `row` of a position table; created holding `initial` if missing."""
    rows = await db.fetchall(f"SELECT `oper_id` FROM `{table}` WHERE `id` = %s", (row,))
    if rows:
        return int(rows[0][0])
    await db.execute(f"INSERT INTO `{table}` (`id`, `oper_id`, `time`) VALUES (%s, %s, %s)",
                     (row, initial, time.time()))
    return initial


def stripe_of(table: str) -> int:
    """History stripe of a shard table (`balance_history_37` → 37 % HISTORY_STRIPES)."""
    return int(table.rsplit("_", 1)[1]) % HISTORY_STRIPES


async def read_stripe_positions(db: Database) -> list[int]:
    """Each stripe's position (row 1 + stripe).  Rows missing beside row 1 start at row 1's position:
    before stripes, row 1 covered every table."""
    first = await read_position(db, HISTORY_POSITION.name)
    return [first] + [await read_position(db, HISTORY_POSITION.name, 1 + stripe, first)
                      for stripe in range(1, HISTORY_STRIPES)]


class Publisher:
    def __init__(self, config: EngineConfig, log_db: Database, history_db: Database) -> None:
        self.config = config
        self.log_db = log_db
        self.history_db = history_db
        self.engine = Engine(config.assets, config.markets)
        self.commands = Commands(self.engine)
        self.history = HistoryRows()
        self.messages = Messages()
        self._fanout = Fanout(self.history, self.messages)
        self.applied_id = 0
        self.history_id = 0      # committed in trade_history, by every stripe
        self.stripe_ids = [0] * HISTORY_STRIPES  # committed by each stripe
        self._stripe_marks: set[int] = set()     # stripe positions a recovery must cut a batch at
        self.message_id = 0      # acknowledged by the broker
        self.history_upto = 0    # last operation whose rows are in `history` or being written
        self.message_upto = 0
        self.committed_hint = 0  # the engine's committed id, as it told us
        self._wakeup = asyncio.Event()
        self._history_batches: list[deque[tuple[int, dict[str, list[tuple[object, ...]]], int]]] = [
            deque() for _ in range(HISTORY_STRIPES)]
        self._queued_rows = 0
        self._batched_upto = 0
        self._last_cut = 0.0
        self._history_idle = [asyncio.Event() for _ in range(HISTORY_STRIPES)]
        for idle in self._history_idle:
            idle.set()
        self._message_idle = asyncio.Event()
        self._message_idle.set()
        self._producer: Any = None
        self.published: dict[str, tuple[int, int]] = {topic: (0, -1) for topic in TOPICS}
        self._producer_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = False
        self._slicing = False
        self.last_slice_time = 0
        self._alerted_bound = False

    # ------------------------------------------------------------ start

    async def recover(self) -> None:
        await ensure_log_tables(self.log_db)
        await ensure_history_tables(self.history_db)
        self.stripe_ids = await read_stripe_positions(self.history_db)
        self.history_id = min(self.stripe_ids)
        self._stripe_marks = {oper_id for oper_id in self.stripe_ids if oper_id > self.history_id}
        self.message_id = await read_position(self.log_db, MESSAGE_POSITION.name)
        start = min(self.history_id, self.message_id)
        info = await newest_slice(self.log_db, start)
        if info is not None:
            await load_slice(self.log_db, self.engine, info)
            self.applied_id = info.end_oper_id
        newest = await newest_slice(self.log_db)
        self.last_slice_time = newest.time if newest else 0
        self.history_upto = self._batched_upto = self.history_id
        self.message_upto = self.message_id
        log.info("publisher recovering from oper id %d (history %s, messages %d)",
                 self.applied_id, "/".join(map(str, self.stripe_ids)), self.message_id)

    # ------------------------------------------------------------ following the log

    def _select_listener(self, oper_id: int) -> None:
        want_history = oper_id > self.history_id
        want_messages = oper_id > self.message_id
        if want_history and want_messages:
            listener: TradeListener | None = self._fanout
        elif want_history:
            listener = self.history
        elif want_messages:
            listener = self.messages
        else:
            listener = None
        if listener is not self.engine.listener:
            self.engine.set_listener(listener)

    def _over_bound(self) -> bool:
        rows = self.history.count + self._queued_rows
        messages = self.messages.count
        near = rows >= ALERT_SHARE * MAX_HISTORY_ROWS or messages >= ALERT_SHARE * MAX_MESSAGES
        if near != self._alerted_bound:
            self._alerted_bound = near
            if near:
                log.critical("publisher buffers near their bound (%d/%d history rows, %d/%d messages): "
                             "is MySQL or Kafka away?", rows, MAX_HISTORY_ROWS, messages, MAX_MESSAGES)
            else:
                log.warning("publisher buffers back below %d%% of their bound", ALERT_SHARE * 100)
        return rows >= MAX_HISTORY_ROWS or messages >= MAX_MESSAGES

    def _cut_history_batch(self) -> None:
        """Close the rows gathered so far into a batch per stripe that ends at an operation boundary.

        Operations that made no rows (an order that only rests) still move the
        position on, in a batch of no rows.  After a crash the stripes may stand
        at different positions; batches are then cut at each of them, and a stripe
        gets no batch for operations its rows were already committed for.
        """
        self._last_cut = time.monotonic()
        if self.history.count or self.history_upto > self._batched_upto:
            upto = self.history_upto
            parts: list[dict[str, list[tuple[object, ...]]]] = [{} for _ in range(HISTORY_STRIPES)]
            counts = [0] * HISTORY_STRIPES
            for table, rows in self.history.take().items():
                stripe = stripe_of(table)
                parts[stripe][table] = rows
                counts[stripe] += len(rows)
            for stripe in range(HISTORY_STRIPES):
                if self.stripe_ids[stripe] < upto:
                    self._history_batches[stripe].append((upto, parts[stripe], counts[stripe]))
                    self._queued_rows += counts[stripe]
            self._batched_upto = upto
            self._kick_history()

    async def follow(self) -> None:
        """Apply committed operations as they appear; wake on the engine's notices or a poll."""
        replay = self.commands.replay
        loop = asyncio.get_running_loop()
        catalog = OperlogCatalog()
        stuck = False  # the engine has committed more than the tables as last listed hold (a new day's table)
        while not self._stopping:
            round_started = loop.time()
            progressed = False
            full = self._over_bound()
            if not full:
                async for rows in read_operations(self.log_db, self.applied_id, catalog=catalog, refresh=stuck):
                    for index, (oper_id, at, entry) in enumerate(rows):
                        if index and not index % YIELD_EVERY:
                            await asyncio.sleep(0)  # let the writers hand the database its next statement
                        self._select_listener(oper_id)
                        self.messages.oper_id = oper_id
                        replay(entry["method"], entry["params"], at)
                        self.applied_id = oper_id
                        if oper_id > self.history_id:
                            self.history_upto = oper_id
                            if self.history.count >= HISTORY_BATCH_ROWS or oper_id in self._stripe_marks:
                                self._cut_history_batch()
                        if oper_id > self.message_id:
                            self.message_upto = oper_id
                    progressed = True
                    self._kick_writers()
                    if self._over_bound() or self._stopping:
                        break
                    await asyncio.sleep(0)
            else:
                log.debug("publisher buffers full: waiting for the writers")
            if progressed:
                stuck = False
                if self.committed_hint - self.applied_id < READ_PAGE and not self._stopping:
                    # a trickle: let operations gather, so that a busy engine does not cost a log read,
                    # a history commit and a Kafka round per group commit
                    await asyncio.sleep(round_started + FOLLOW_INTERVAL - loop.time())
                continue
            self._wakeup.clear()
            if not full and self.committed_hint > self.applied_id:
                if stuck:  # listed afresh and still nothing: the hint is ahead of what is readable yet
                    await asyncio.sleep(FOLLOW_INTERVAL)
                stuck = True
                continue
            try:
                await asyncio.wait_for(self._wakeup.wait(), POLL_INTERVAL)
            except TimeoutError:
                pass

    def _kick_writers(self) -> None:
        self._kick_history()
        if (self.messages.count or self.message_upto > self.message_id) and self._message_idle.is_set():
            self._message_idle.clear()
            self._tasks.append(asyncio.create_task(self._publish()))
        self._tasks = [t for t in self._tasks if not t.done()]

    # ------------------------------------------------------------ history

    def _kick_history(self) -> None:
        gathering = self.history.count or self.history_upto > self._batched_upto
        for stripe, idle in enumerate(self._history_idle):
            if idle.is_set() and (gathering or self._history_batches[stripe]):
                idle.clear()
                self._tasks.append(asyncio.create_task(self._write_history(stripe)))

    async def _write_history(self, stripe: int) -> None:
        batches = self._history_batches[stripe]
        try:
            while True:
                if not batches:
                    # rows gather for HISTORY_INTERVAL unless a full batch is cut sooner: a statement
                    # costs MariaDB ~85 µs before its first row, and a batch has one per table touched
                    wait = self._last_cut + HISTORY_INTERVAL - time.monotonic()
                    if wait > 0 and not self._stopping:
                        await asyncio.sleep(wait)
                        continue
                    self._cut_history_batch()
                if not batches:
                    return
                upto, tables, count = batches.popleft()
                position = Statement(
                    f"UPDATE `{HISTORY_POSITION.name}` SET `oper_id` = %s, `time` = %s WHERE `id` = %s AND `oper_id` = %s",
                    (upto, time.time(), 1 + stripe, self.stripe_ids[stripe]), expect=1)
                ops: list[Any] = [position]
                for table, rows in tables.items():
                    columns, mysql_row = shape_of(table)
                    ops.append(InsertRows(table, columns, rows, mysql_row))
                started = time.monotonic()
                await self._commit_history(ops, upto, stripe)
                log.debug("history stripe %d: %d rows in %d tables up to oper id %d in %.3f s", stripe, count,
                          len(tables), upto, time.monotonic() - started)
                self._queued_rows -= count
                self.stripe_ids[stripe] = upto
                self.history_id = min(self.stripe_ids)
                self._wakeup.set()
        finally:
            self._history_idle[stripe].set()

    async def _commit_history(self, ops: list[Any], upto: int, stripe: int) -> None:
        """Commit rows + position; retried until done.  The position check makes a retry of a batch
        that did commit (the answer was lost) a no-op, and stops a second publisher."""
        attempt = 0
        while True:
            try:
                await self.history_db.transact(ops)
                return
            except UnexpectedRowCount:
                try:
                    current = await read_position(self.history_db, HISTORY_POSITION.name, 1 + stripe)
                except DatabaseError as exc:
                    log.critical("cannot read the history position: %s", exc)
                else:
                    if current == upto:
                        return
                    log.critical("history position of stripe %d is %d, expected %d: another publisher is writing; "
                                 "stopping", stripe, current, self.stripe_ids[stripe])
                    os._exit(1)
            except DatabaseError as exc:
                log.critical("history write up to oper id %d failed: %s", upto, exc)
            await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
            attempt += 1

    # ------------------------------------------------------------ kafka

    async def _ensure_producer(self) -> Any:
        async with self._producer_lock:
            return await self._connect_producer()

    async def _connect_producer(self) -> Any:
        from aiokafka import AIOKafkaProducer

        attempt = 0
        while self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.config.brokers, linger_ms=1, acks=1,
                                        enable_idempotence=False, max_batch_size=KAFKA_BATCH_BYTES,
                                        max_request_size=KAFKA_BATCH_BYTES * 2, request_timeout_ms=10000)
            try:
                await producer.start()
                await self._create_topics()
                await self._load_published_tags()
                self._producer = producer
                log.info("connected to kafka %s", self.config.brokers)
            except Exception as exc:
                await producer.stop()
                log.critical("kafka %s unavailable: %s", self.config.brokers, exc)
                await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
                attempt += 1
        return self._producer

    async def _create_topics(self) -> None:
        """Make sure the three topics exist (one partition) before the first message.

        A broker that creates topics on first use may otherwise have a consumer
        create them first and keep the producer waiting for a leader.
        """
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        admin = AIOKafkaAdminClient(bootstrap_servers=self.config.brokers, request_timeout_ms=10000)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [NewTopic(topic, num_partitions=1, replication_factor=1) for topic in TOPICS
                       if topic not in existing]
            if missing:
                await admin.create_topics(missing)
                log.info("created kafka topics %s", [t.name for t in missing])
        except Exception as exc:
            log.warning("cannot create kafka topics (%s); the broker will create them on first use", exc)
        finally:
            await admin.close()

    async def _load_published_tags(self) -> None:
        """Read the `op` header of the last message of each topic: what the broker already holds."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=self.config.brokers, enable_auto_commit=False, group_id=None,
                                    auto_offset_reset="earliest", request_timeout_ms=10000)
        await consumer.start()
        try:
            for topic in TOPICS:
                tp = TopicPartition(topic, 0)
                consumer.assign([tp])
                end = (await consumer.end_offsets([tp]))[tp]
                if end == 0:
                    self.published[topic] = (0, -1)
                    continue
                # the broker may report the end as the last batch's base offset + 1: read that batch
                consumer.seek(tp, end - 1)
                last = None
                while True:
                    batch = (await consumer.getmany(tp, timeout_ms=2000, max_records=10000)).get(tp, [])
                    if not batch:
                        break
                    last = batch[-1]
                tag = parse_header(last.headers) if last is not None else None
                self.published[topic] = tag if tag is not None else (0, -1)
                log.info("kafka %s: last published message is %s", topic, self.published[topic])
        finally:
            await consumer.stop()

    async def _publish(self) -> None:
        try:
            while self.messages.count or self.message_upto > self.message_id:
                upto = self.message_upto
                taken = self.messages.take()
                await asyncio.gather(*(self._publish_topic(topic, taken[topic]) for topic in TOPICS if taken[topic]))
                self.message_id = upto
                await self._save_message_position()
                self._wakeup.set()
        finally:
            self._message_idle.set()

    async def _publish_topic(self, topic: str, messages: list[tuple[int, bytes]]) -> None:
        """Publish in order, one batch in flight, resending from the first unacknowledged one.

        Messages the broker already holds (by their `op` header) are skipped.
        """
        tagged = tag_messages(messages)
        sent = 0
        attempt = 0
        while sent < len(tagged):
            producer = await self._ensure_producer()
            while sent < len(tagged) and tagged[sent][0] <= self.published[topic]:
                sent += 1
            if sent == len(tagged):
                break
            batch = producer.create_batch()
            end = sent
            while end < len(tagged):
                tag, payload = tagged[end]
                if batch.append(key=None, value=payload, timestamp=None,
                                headers=[(HEADER_KEY, header_value(tag))]) is None:
                    break
                end += 1
            if end == sent:
                log.critical("a %s message of %d bytes is larger than a batch; skipped", topic, len(tagged[sent][1]))
                sent += 1
                continue
            try:
                await (await producer.send_batch(batch, topic, partition=0))
                sent = end
                self.published[topic] = tagged[end - 1][0]
                attempt = 0
            except Exception as exc:
                log.critical("kafka publish to %s failed (%d messages waiting): %s", topic, len(tagged) - sent, exc)
                await self._reset_producer()
                await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
                attempt += 1

    async def _reset_producer(self) -> None:
        """Drop the producer; the next send reconnects and re-reads what the broker holds."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except Exception:
                pass

    async def _save_message_position(self) -> None:
        attempt = 0
        while True:
            try:
                await self.log_db.execute(
                    f"UPDATE `{MESSAGE_POSITION.name}` SET `oper_id` = %s, `time` = %s WHERE `id` = 1",
                    (self.message_id, time.time()))
                return
            except DatabaseError as exc:
                log.critical("cannot record the message position %d: %s", self.message_id, exc)
            await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
            attempt += 1

    # ------------------------------------------------------------ slices

    async def make_slice(self, stamp: int | None = None) -> None:
        if self._slicing:
            return
        self._slicing = True
        try:
            now = int(time.time()) if stamp is None else stamp
            if now <= self.last_slice_time:
                now = self.last_slice_time + 1
            self.engine.expire_updates(time.time())
            snapshot = take_snapshot(self.engine, self.applied_id)
            protect = min(self.history_id, self.message_id)
            await write_slice(self.log_db, snapshot, now, self.config.slice_keeptime, protect)
            self.last_slice_time = now
        except Exception:
            log.critical("making a slice failed", exc_info=True)
        finally:
            self._slicing = False

    async def slice_timer(self) -> None:
        interval = self.config.slice_interval
        while not self._stopping:
            await asyncio.sleep(1.0)
            now = int(time.time())
            if now - self.last_slice_time >= interval and now % interval <= 5:
                await self.make_slice(now)

    # ------------------------------------------------------------ engine channel

    def status(self) -> bytes:
        return orjson.dumps({"applied": self.applied_id, "history": self.history_id, "messages": self.message_id,
                             "history_rows": self.history.count + self._queued_rows, "messages_waiting": self.messages.count,
                             "slice": self.last_slice_time}) + b"\n"

    async def talk_to_engine(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def report() -> None:
            while True:
                writer.write(self.status())
                await writer.drain()
                await asyncio.sleep(STATUS_INTERVAL)

        reporter = asyncio.create_task(report())
        try:
            while True:
                line = await reader.readline()
                if not line:
                    log.info("engine channel closed: stopping")
                    return
                message = orjson.loads(line)
                if "committed" in message:
                    self.committed_hint = message["committed"]
                    self._wakeup.set()
                if message.get("makeslice"):
                    self._tasks.append(asyncio.create_task(self.make_slice()))
        finally:
            reporter.cancel()

    async def drain(self, timeout: float = 10.0) -> None:
        """Stop following and give the writers a moment to write what is buffered."""
        self._stopping = True
        self._wakeup.set()
        deadline = time.monotonic() + timeout
        while (self.history.count or any(self._history_batches) or self.messages.count
               or not all(idle.is_set() for idle in self._history_idle)
               or not self._message_idle.is_set()) and time.monotonic() < deadline:
            self._kick_writers()
            await asyncio.sleep(0.05)
        if self._producer is not None:
            await self._producer.stop()


def publisher_config(sec: Any) -> EngineConfig:
    config = load_config(sec)
    config.log = replace(config.log, path=config.log.path + "_publisher")
    return config


async def serve(config: EngineConfig, ctx: ServiceContext) -> None:
    log_db = open_database(config.db_log)
    history_db = open_database(config.db_history, pool_size=HISTORY_STRIPES)
    await log_db.start()
    await history_db.start()
    ctx.add_cleanup(log_db.close)
    ctx.add_cleanup(history_db.close)
    publisher = Publisher(config, log_db, history_db)
    await publisher.recover()
    ctx.add_cleanup(publisher.drain)

    tasks = [asyncio.create_task(publisher.follow(), name="follow"),
             asyncio.create_task(publisher.slice_timer(), name="slices")]
    fd = os.environ.get(CHANNEL_ENV)
    if fd is not None:
        set_parent_death_signal(signal.SIGTERM)
        sock = socket.socket(fileno=int(fd))
        reader, writer = await asyncio.open_connection(sock=sock)
        channel = asyncio.create_task(publisher.talk_to_engine(reader, writer))
        channel.add_done_callback(lambda _: ctx.stop())
        tasks.append(channel)
    ctx.ready()
    stopper = asyncio.create_task(ctx.stopping.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if task is not stopper and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    for task in tasks:
        task.cancel()


def main() -> None:
    run_service("matchengine_publisher", publisher_config, serve, sys.argv[1:])


if __name__ == "__main__":
    main()
