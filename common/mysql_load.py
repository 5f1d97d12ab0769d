"""Rows sent to MySQL by `LOAD DATA LOCAL INFILE` from memory instead of multi-row INSERTs.

MariaDB spends less per row on a LOAD DATA than on an INSERT's VALUES list
(no SQL parse of every value: 5-25 % less CPU per history row on this
project's machine, ../shared/bench/LIMITS.md), so the history writer sends
its batches this way.  The rows keep the text the INSERT path renders — each
row an SQL value tuple `(1,2.5,'a\\'b')` — one per line, and the statement
tells the server to read exactly that: fields separated by commas, optionally
enclosed in single quotes, backslash escapes (escape_text's `\\'`, `\\\\`,
`\\n`, `\\r`, `\\0`, `\\Z` read back as the same characters), lines from `(` to
`)` + newline.  A real newline never occurs inside a value (it is escaped), so
a line ends only where a row does.

The "file" is a buffer this client registered on the connection under a
unique name; the server's request for it is answered from memory (no disk, no
thread).  A request for any other name — a server asking for a file of this
host — is refused: that is also safer than the driver's own handler, which
opens whatever path the server names.

With LOCAL the server turns row errors (duplicate keys, values that do not
fit) into warnings and skips or adjusts the row, so the caller checks each
load: exactly as many rows as sent and no warning, or the transaction is
rolled back (`check_load`).
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

_BUFFERS = "_viabtc_local_buffers"
_NAMES = itertools.count(1)
MAX_PACKET = 2**24 - 1
# the server (local_infile=OFF) does not take LOCAL loads: MariaDB's 4166, MySQL's 1148 and 3948
LOCAL_INFILE_REFUSED = (4166, 1148, 3948)


class LoadRefused(Exception):
    """A LOAD DATA did not write exactly the rows sent, or the server asked for a buffer it was not given."""

    def __init__(self, message: str) -> None:
        super().__init__(1105, message)  # ER_UNKNOWN_ERROR, as a MySQL error's (code, message) arguments


class MemoryLocalFile:
    """Answers the server's request for a LOCAL INFILE from the connection's registered buffers
    (replaces aiomysql's LoadLocalFile, which reads the named path from disk)."""

    def __init__(self, filename: bytes | str, connection: Any) -> None:
        self.filename = filename
        self.connection = connection

    async def send_data(self) -> None:
        self.connection._ensure_alive()
        send_buffer(self.connection, self.filename)


def send_buffer(conn: Any, filename: bytes | str) -> None:
    """Send the registered buffer the server asked for, then the empty packet that ends it (the protocol
    needs it in every case); LoadRefused if this client registered no such buffer."""
    name = filename.decode(errors="replace") if isinstance(filename, (bytes, bytearray)) else filename
    data = getattr(conn, _BUFFERS, {}).pop(name, None)
    try:
        if data is not None:
            view = memoryview(data)
            for start in range(0, len(view), MAX_PACKET):
                conn.write_packet(bytes(view[start:start + MAX_PACKET]))
    finally:
        conn.write_packet(b"")
    if data is None:
        raise LoadRefused(f"the server asked for {name!r}, which this client did not offer")


def install() -> None:
    """Make aiomysql answer LOCAL INFILE requests from registered buffers only (idempotent)."""
    import aiomysql.connection

    aiomysql.connection.LoadLocalFile = MemoryLocalFile


def load_statement(conn: Any, table: str, columns: tuple[str, ...], rows: str) -> tuple[str, str]:
    """Register `rows` (SQL value tuples, one a line) as a buffer on `conn`; the LOAD DATA statement that
    reads it, as (head, rest) for common.storage's packets."""
    name = f"viabtc-rows-{next(_NAMES)}"
    buffers = getattr(conn, _BUFFERS, None)
    if buffers is None:
        buffers = {}
        setattr(conn, _BUFFERS, buffers)
    buffers[name] = (rows + "\n").encode()
    return f"LOAD DATA LOCAL INFILE '{name}'", _load_tail(table, columns)


@functools.lru_cache(maxsize=4096)
def _load_tail(table: str, columns: tuple[str, ...]) -> str:
    column_list = ", ".join(f"`{c}`" for c in columns)
    return (f" INTO TABLE `{table}` CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '''' ESCAPED BY '\\\\' "
            f"LINES STARTING BY '(' TERMINATED BY ')\\n' ({column_list})")


def forget_buffers(conn: Any) -> None:
    """Drop buffers a failed statement never asked for."""
    buffers = getattr(conn, _BUFFERS, None)
    if buffers:
        buffers.clear()


def check_load(table: str, sent: int, written: int, warnings: int) -> None:
    if written != sent or warnings:
        raise LoadRefused(f"LOAD DATA into {table} wrote {written} of {sent} rows with {warnings} warnings")
