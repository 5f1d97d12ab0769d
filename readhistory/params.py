"""Reading readhistory's request parameters (spec/readhistory.md §2, http-api.md §2.2).

The original reads numbers with jansson's ``json_integer_value``, which turns
any non-integer (a string, a real, null) into 0 without a word.  Following the
compatibility policy (spec/README.md rule 2: nonsense such as non-integers
read as 0 gets the protocol's error), the port answers "invalid argument"
for a non-integer where an integer is due.  Integers are then stored in the C
type of the parameter as the original does: user ids in a uint32, order ids
and time bounds in a uint64, offsets and limits in a size_t, the side in an
int.  Strings must be JSON strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.errors import invalid_argument
from common.params import read_integer

U32 = 1 << 32
U64 = 1 << 64
I64_MAX = (1 << 63) - 1
QUERY_LIMIT = 101
STOP_QUERY_LIMIT = 1001


def read_u32(value: Any, name: str) -> int:
    return read_integer(value, name) % U32


def read_u64(value: Any, name: str) -> int:
    return read_integer(value, name) % U64


def read_int32(value: Any, name: str) -> int:
    """An integer stored in a C `int`: wrapped to signed 32 bits."""
    return (read_integer(value, name) + (1 << 31)) % U32 - (1 << 31)


def as_signed64(value: int) -> int:
    """How jansson prints a size_t it was given (`json_integer` takes a signed 64-bit value)."""
    return value - U64 if value > I64_MAX else value


def read_string(value: Any, name: str) -> str:
    """A JSON string; "invalid argument" for anything else.

    A string holding U+0000 is refused too: jansson rejects such a body, and
    the C code would have cut the string at the NUL.
    """
    if type(value) is not str:
        raise invalid_argument(f"{name}: must be a string")
    if "\x00" in value:
        raise invalid_argument(f"{name}: must not hold U+0000")
    return value


def read_user_id(value: Any) -> int:
    user_id = read_u32(value, "user_id")
    if user_id == 0:
        raise invalid_argument("user_id: must not be 0")
    return user_id


def read_order_id(value: Any) -> int:
    order_id = read_u64(value, "order_id")
    if order_id == 0:
        raise invalid_argument("order_id: must not be 0")
    return order_id


def read_time_range(start_value: Any, end_value: Any) -> tuple[int, int]:
    """(start, end) in seconds; 0 means unbounded; start > end (with an end) is invalid."""
    start, end = read_u64(start_value, "start_time"), read_u64(end_value, "end_time")
    if end and start > end:
        raise invalid_argument("start_time: must not be after end_time")
    return start, end


def require_count(params: list[Any], count: int, *, at_least: bool = False) -> None:
    if len(params) < count if at_least else len(params) != count:
        expected = f"at least {count}" if at_least else str(count)
        raise invalid_argument(f"params: expected {expected}, got {len(params)}")


@dataclass(frozen=True, slots=True)
class Page:
    """`offset`/`limit` as the original reads them: size_t values, 1 <= limit <= 101."""

    offset: int
    limit: int

    @classmethod
    def read(cls, offset_value: Any, limit_value: Any, max_limit: int = QUERY_LIMIT) -> Page:
        offset, limit = read_u64(offset_value, "offset"), read_u64(limit_value, "limit")
        if limit == 0 or limit > max_limit:
            raise invalid_argument(f"limit: must be 1 to {max_limit}")
        return cls(offset, limit)

    def sql(self, order: str = "`id` DESC") -> tuple[str, tuple[int, ...]]:
        """The SQL tail and its parameters: newest rows first (`order`), `LIMIT offset, limit` or `LIMIT limit`.

        An offset beyond 2^63 - 1 is lowered to it: both select nothing, and
        SQLite's LIMIT takes signed 64-bit values only.
        """
        if self.offset:
            return f" ORDER BY {order} LIMIT %s, %s", (min(self.offset, I64_MAX), self.limit)
        return f" ORDER BY {order} LIMIT %s", (self.limit,)

    def wrap(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """The result object: the offset and limit echoed as the original prints them, and the records."""
        return {"offset": as_signed64(self.offset), "limit": self.limit, "records": records}


__all__ = [
    "I64_MAX",
    "QUERY_LIMIT",
    "STOP_QUERY_LIMIT",
    "Page",
    "as_signed64",
    "read_int32",
    "read_integer",
    "read_order_id",
    "read_string",
    "read_time_range",
    "read_u32",
    "read_u64",
    "read_user_id",
    "require_count",
]
