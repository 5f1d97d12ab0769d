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
    """An error answered to the caller as {"code": code, "message": message}."""

    __slots__ = ("code", "message")

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        self.message = message if message is not None else MESSAGES[code]
        super().__init__(code, self.message)

    def to_json(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}


def invalid_argument() -> RpcError:
    return RpcError(INVALID_ARGUMENT)
