"""The matchengine lease: which engine leads the exchange, and the fence on its operation log.

docs/failover.md gives the design and the argument for its safety.  In short:

* one row `leader_lease` in trade_log holds the term; taking the lease moves
  it from t to t+1 in one UPDATE that only one engine can win;
* every operation-log commit of the leader of term t starts with
  `UPDATE leader_lease SET writer_term = t …` in the same packet, and the
  CHECK constraint `writer_term = term` makes the server refuse it — and so
  the whole commit — once the term has moved on (`fence_statement`);
* a *liveness lock* tells a waiting engine at once that the leader of term t
  is gone: MySQL `GET_LOCK` of a per-term name on a dedicated connection, or a
  record lock on byte t of a file beside the SQLite log; a leader that
  stops renewing (`beat` no longer moves) for `lease_timeout` is replaced too.

`judge` is the pure decision a waiting engine makes from what it sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from common.config import DatabaseConfig
from common.schema import LEADER_LEASE
from common.service import StartRefused
from common.storage import Database, DatabaseError, Statement, UnexpectedRowCount

log = logging.getLogger(__name__)

ROLE_SOLE = "sole"
ROLE_STANDBY = "standby"
ROLES = (ROLE_SOLE, ROLE_STANDBY)
LEASE_ROW = 1
TABLE = LEADER_LEASE.name


@dataclass(slots=True)
class LeaseRow:
    """What the lease row says."""

    exchange: str
    term: int
    holder: str
    role: str
    oper_id: int
    beat: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a waiting engine does next: take the lease (`take`, by expiry if `expired`), wait, or refuse
    to run (`refusal` is the one line to stop with)."""

    take: bool = False
    expired: bool = False
    refusal: str = ""


WAIT = Verdict()


def judge(row: LeaseRow, *, role: str, exchange: str, lock_free: bool, still_for: float, timeout: float,
          waited: float) -> Verdict:
    """The decision of an engine of `role` that wants to lead `exchange`.

    `lock_free`: the liveness lock of the row's term is free (its holder is gone);
    `still_for`: for how long the row's (term, beat) has not moved, as this engine saw it;
    `waited`: for how long this engine has waited for the lease.  A live holder whose role does
    not go with this engine's (a sole engine meets any leader, a standby meets a sole one) makes it
    refuse once it has waited for `timeout`: long enough for a lease held by a dead host's lingering
    connection to expire.
    """
    if row.exchange != exchange:
        return Verdict(refusal=exchange_refusal(row.exchange, exchange))
    if row.term == 0 or lock_free:
        return Verdict(take=True)
    if still_for >= timeout:
        return Verdict(take=True, expired=True)
    if (role == ROLE_SOLE or row.role == ROLE_SOLE) and waited >= timeout:
        return Verdict(refusal=second_leader_refusal(row, role))
    return WAIT


def exchange_refusal(stored: str, configured: str) -> str:
    return (f"config error: field 'exchange': the operation log in db_log belongs to exchange '{stored}', "
            f"this config names '{configured}'")


def second_leader_refusal(row: LeaseRow, role: str) -> str:
    if role == ROLE_SOLE:
        return (f"config error: field 'role': {row.holder} (role '{row.role}') leads exchange '{row.exchange}' "
                f"(term {row.term}); a second engine of an exchange must run with role 'standby', "
                f"and so must the first")
    return (f"config error: field 'role': {row.holder} leads exchange '{row.exchange}' (term {row.term}) as its "
            f"sole engine; the two engines of a pair both run with role 'standby'")


def holder_name() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


# ---------------------------------------------------------------- liveness locks

class LivenessLock:
    """One lock per term, held by the leader of that term for as long as its process lives."""

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def acquire(self, term: int, wait: float = 0.0) -> bool:
        """Hold the lock of `term` (waiting up to `wait` s); False if another process holds it."""
        raise NotImplementedError

    async def release(self, term: int) -> None:
        raise NotImplementedError

    async def holds(self, term: int) -> bool:
        """Whether this process still holds the lock of `term` (a MySQL connection can drop it)."""
        raise NotImplementedError


class MysqlLivenessLock(LivenessLock):
    """`GET_LOCK('viabtc.<sha1 of the database name>.<term>')` on a connection of its own: MySQL frees it
    the moment that connection ends, which a killed process's kernel does at once."""

    def __init__(self, config: DatabaseConfig) -> None:
        self.config = config
        self._conn: Any = None
        self._prefix = ""
        self._held: set[int] = set()

    def name(self, term: int) -> str:
        return f"{self._prefix}.{term}"

    async def open(self) -> None:
        import aiomysql

        if self._conn is not None:
            return
        self._held.clear()  # a new session holds nothing
        try:
            conn = await aiomysql.connect(host=self.config.host, port=self.config.port, user=self.config.user,
                                          password=self.config.password, db=self.config.name, autocommit=True,
                                          connect_timeout=5)
            async with conn.cursor() as cur:
                await cur.execute("SELECT DATABASE()")
                (database,) = await cur.fetchone()
        except Exception as exc:
            raise DatabaseError(2013, f"lease connection: {type(exc).__name__}: {exc}") from None
        # the same name for every engine of this log, whatever host name each one reaches the server by
        self._prefix = "viabtc." + hashlib.sha1(str(database).encode()).hexdigest()[:20]
        self._conn = conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        self._held.clear()
        if conn is not None:
            conn.close()

    async def _query(self, sql: str, params: tuple[Any, ...]) -> Any:
        await self.open()
        try:
            async with self._conn.cursor() as cur:
                await cur.execute(sql, params)
                row = await cur.fetchone()
                return row[0] if row else None
        except Exception as exc:
            await self.close()
            raise DatabaseError(2013, f"lease connection: {type(exc).__name__}: {exc}") from None

    async def acquire(self, term: int, wait: float = 0.0) -> bool:
        if term in self._held:
            return True
        got = await self._query("SELECT GET_LOCK(%s, %s)", (self.name(term), wait)) == 1
        if got:
            self._held.add(term)
        return got

    async def release(self, term: int) -> None:
        if term in self._held:
            self._held.discard(term)
            with contextlib.suppress(DatabaseError):
                await self._query("SELECT RELEASE_LOCK(%s)", (self.name(term),))

    async def holds(self, term: int) -> bool:
        if term not in self._held or self._conn is None:
            return False
        try:
            return bool(await self._query("SELECT IS_USED_LOCK(%s) = CONNECTION_ID()", (self.name(term),)))
        except DatabaseError:
            return False


class FileLivenessLock(LivenessLock):
    """A record lock on byte `term` of `<trade_log.db>-lease`, on a descriptor of its own: the kernel drops it
    when the process dies.  Open-file-description locks (Linux), so that two locks of one process conflict
    as those of two processes do, and closing another descriptor of the file does not drop them."""

    POLL = 0.005

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1
        self._held: set[int] = set()

    async def open(self) -> None:
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    async def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._held.clear()

    def _set(self, kind: int, term: int) -> bool:
        try:
            fcntl.fcntl(self._fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi4x", kind, os.SEEK_SET, term, 1, 0))
        except OSError:
            return False
        return True

    async def acquire(self, term: int, wait: float = 0.0) -> bool:
        await self.open()
        if term in self._held:
            return True
        deadline = time.monotonic() + wait
        while not self._set(fcntl.F_WRLCK, term):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self.POLL)
        self._held.add(term)
        return True

    async def release(self, term: int) -> None:
        if term in self._held and self._fd >= 0:
            self._set(fcntl.F_UNLCK, term)
        self._held.discard(term)

    async def holds(self, term: int) -> bool:
        return term in self._held and self._fd >= 0


def liveness_lock(config: DatabaseConfig) -> LivenessLock:
    if config.is_sqlite:
        return FileLivenessLock(config.sqlite_path + "-lease")
    return MysqlLivenessLock(config)


# ---------------------------------------------------------------- the lease row

class Lease:
    """This engine's side of the lease: reading it, taking it, fencing commits with it, giving it up."""

    def __init__(self, db: Database, lock: LivenessLock, *, exchange: str, role: str, timeout: float) -> None:
        self.db = db
        self.lock = lock
        self.exchange = exchange
        self.role = role
        self.timeout = timeout
        self.holder = holder_name()
        self.term = 0  # the term this engine leads, 0 while it does not

    async def prepare(self) -> None:
        """Create the row of a new log, name the exchange of an unnamed one, refuse another exchange's
        log, and refuse a server that does not enforce the fence's CHECK constraint."""
        await self.lock.open()
        rows = await self.db.fetchall(f"SELECT `exchange` FROM `{TABLE}` WHERE `id` = %s", (LEASE_ROW,))
        if not rows:
            try:
                await self.db.execute(
                    f"INSERT INTO `{TABLE}` (`id`, `exchange`, `term`, `writer_term`, `holder`, `role`, `oper_id`, "
                    "`beat`, `since`) VALUES (%s, %s, 0, 0, '', '', 0, 0, 0)", (LEASE_ROW, self.exchange))
            except DatabaseError as exc:
                if not exc.is_duplicate:  # another engine created it first
                    raise
            rows = await self.db.fetchall(f"SELECT `exchange` FROM `{TABLE}` WHERE `id` = %s", (LEASE_ROW,))
        stored = rows[0][0]
        if stored == "" and self.exchange:
            await self.db.execute(f"UPDATE `{TABLE}` SET `exchange` = %s WHERE `id` = %s AND `exchange` = ''",
                                  (self.exchange, LEASE_ROW))
            log.warning("the operation log now belongs to exchange '%s'", self.exchange)
        elif stored != self.exchange:
            raise StartRefused(exchange_refusal(stored, self.exchange))
        await self._check_fence_enforced()

    async def _check_fence_enforced(self) -> None:
        try:
            await self.db.transact([
                Statement(f"UPDATE `{TABLE}` SET `writer_term` = `term` + 1 WHERE `id` = %s", (LEASE_ROW,)),
                Statement(f"SELECT 1 FROM `{TABLE}` WHERE `id` = 0", expect=1)])  # rolls the update back
        except DatabaseError as exc:
            if exc.is_check_failure:
                return
            raise
        except UnexpectedRowCount:
            pass
        raise StartRefused(f"the trade_log database ({self.db.dialect}) does not enforce CHECK constraints, which "
                           "the lease's fence needs (MariaDB >= 10.2, MySQL >= 8.0.16)")

    async def read(self) -> LeaseRow:
        rows = await self.db.fetchall(
            f"SELECT `exchange`, `term`, `holder`, `role`, `oper_id`, `beat` FROM `{TABLE}` WHERE `id` = %s",
            (LEASE_ROW,))
        exchange, term, holder, role, oper_id, beat = rows[0]
        return LeaseRow(exchange, int(term), holder, role, int(oper_id), int(beat))

    async def take(self, row: LeaseRow, *, expired: bool) -> bool:
        """Move the term on from `row.term`; True if this engine now leads (`self.term`).

        The lock of the new term is taken first, so that whoever reads the new term finds it held.
        With `expired`, only if the leader has not renewed since `row` was read.
        """
        new_term = row.term + 1
        if not await self.lock.acquire(new_term):
            return False
        sql = (f"UPDATE `{TABLE}` SET `term` = %s, `writer_term` = %s, `holder` = %s, `role` = %s, "
               "`beat` = `beat` + 1, `since` = %s WHERE `id` = %s AND `term` = %s")
        params: tuple[Any, ...] = (new_term, new_term, self.holder, self.role, time.time(), LEASE_ROW, row.term)
        if expired:
            sql += " AND `beat` = %s"
            params += (row.beat,)
        try:
            took = await self.db.execute(sql, params) == 1
        except BaseException:
            await self.lock.release(new_term)
            raise
        await self.lock.release(row.term)
        if not took:
            await self.lock.release(new_term)
            return False
        self.term = new_term
        return True

    def fence_statement(self, oper_id: int) -> Statement:
        """The first statement of every operation-log commit (and, alone, of a renewal)."""
        return Statement(f"UPDATE `{TABLE}` SET `writer_term` = %s, `oper_id` = %s, `beat` = `beat` + 1 "
                         "WHERE `id` = %s", (self.term, oper_id, LEASE_ROW))

    async def still_held(self) -> bool:
        """The liveness lock of this engine's term is held (taken again if its connection was lost)."""
        if await self.lock.holds(self.term):
            return True
        try:
            return await self.lock.acquire(self.term)
        except DatabaseError:
            return False

    async def resign(self) -> None:
        """Let a standby take over at once: free the liveness lock (the row keeps the term)."""
        term, self.term = self.term, 0
        if term:
            with contextlib.suppress(DatabaseError):
                await self.lock.release(term)

    async def close(self) -> None:
        await self.resign()
        await self.lock.close()
