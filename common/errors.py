"""Error codes and messages carried in RPC reply bodies (spec/rpc.md §3.3)."""

from __future__ import annotations

INVALID_ARGUMENT = 1
INTERNAL_ERROR = 2
SERVICE_UNAVAILABLE = 3
METHOD_NOT_FOUND = 4
SERVICE_TIMEOUT = 5
REQUIRE_AUTH = 6

MESSAGES = {
    INVALID_ARGUMENT: "invalid argument",
    INTERNAL_ERROR: "internal error",
    SERVICE_UNAVAILABLE: "service unavailable",
    METHOD_NOT_FOUND: "method not found",
    SERVICE_TIMEOUT: "service timeout",
    REQUIRE_AUTH: "require authentication",
}


class RpcError(Exception):
    """An error answered to the caller as {"code": code, "message": message}.

    `data` is JSON-RPC's optional member of the error object: a one-line reason
    (for example "amount: must be a positive decimal") that says what was wrong
    without changing the code and message clients match on.
    """

    __slots__ = ("code", "data", "message")

    def __init__(self, code: int, message: str | None = None, data: str | None = None) -> None:
        self.code = code
        self.message = message if message is not None else MESSAGES[code]
        self.data = data
        super().__init__(code, self.message)

    def to_json(self) -> dict[str, object]:
        if self.data is None:
            return {"code": self.code, "message": self.message}
        return {"code": self.code, "message": self.message, "data": self.data}


def invalid_argument(reason: str) -> RpcError:
    """Error 1, with `reason` (what was wrong, naming the parameter) as the error's `data`."""
    return RpcError(INVALID_ARGUMENT, None, reason)


def quoted(value: object, limit: int = 40) -> str:
    """`value` as it reads in an error reason: a string quoted, cut to `limit` characters."""
    text = value if type(value) is str else str(value)
    return repr(text[:limit])
