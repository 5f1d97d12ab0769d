"""One Redis MULTI/EXEC transaction streamed in chunks over a single connection.

redis-py's pipeline encodes every command of a transaction in one go, which
for a flush of a few hundred thousand buckets blocks the event loop for
seconds.  Here the commands are encoded by a small RESP writer (only byte
strings are ever sent) and written chunk by chunk, reading the ``+QUEUED``
replies in between, so the loop keeps serving while a large flush goes out.
Redis applies nothing before EXEC: a connection lost half-way, or any error,
drops the whole transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.exceptions import ResponseError


def encode_command(*args: bytes) -> bytes:
    """The RESP encoding of one command."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


MULTI = encode_command(b"MULTI")
EXEC = encode_command(b"EXEC")


class TransactionFailed(ResponseError):
    """Redis refused the transaction (EXEC answered with an error or nil)."""


async def run_transaction(redis: Any, chunks: Iterable[list[bytes]]) -> list[Any]:
    """Send MULTI, every encoded command of `chunks`, then EXEC; the EXEC results.

    `chunks` may be a generator: it is consumed while the transaction is
    being sent, one chunk per write.
    """
    pool = redis.connection_pool
    connection = await pool.get_connection()
    try:
        await connection.send_packed_command(MULTI)
        await connection.read_response()
        for chunk in chunks:
            if not chunk:
                continue
            await connection.send_packed_command(b"".join(chunk))
            for _ in chunk:
                await connection.read_response()
        await connection.send_packed_command(EXEC)
        results = await connection.read_response()
        if not isinstance(results, list):
            raise TransactionFailed(f"EXEC answered {results!r}")
        return results
    except BaseException:
        # Redis discards a transaction whose connection goes away before EXEC
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)
