"""The JSON-RPC request envelope (spec/http-api.md §1.3) and the error bodies accesshttp writes itself (§1.4).

A request body is a JSON object with an integer `id` (signed 64-bit), a
string `method` and an array `params`; other keys are ignored.  Parsing is
strict: orjson rejects NaN/Infinity, invalid UTF-8 and trailing garbage, and
`parse_call` also rejects a ``\\u0000`` escape anywhere in a string, as the
original's parser does.  Replies produced here are built from fixed bytes,
never through a JSON encoder.
"""

from __future__ import annotations

from typing import Any

import orjson

from common.errors import INVALID_ARGUMENT, MESSAGES, METHOD_NOT_FOUND, SERVICE_TIMEOUT

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
_NUL_ESCAPE = b"\\u0000"
_BACKSLASH = 0x5C
_loads = orjson.loads
_DecodeError = orjson.JSONDecodeError

Call = tuple[int, str, list[Any]]
REASON_MAX = 200


def parse_call(body: bytes) -> Call | str:
    """(id, method, params) of a well-formed request body; for anything else (→ HTTP 400) the reason,
    naming the member that is wrong ("params: must be an array")."""
    try:
        call = _loads(body)
    except _DecodeError as exc:
        return f"body: not JSON ({exc})"[:REASON_MAX] if body else "body: empty (a JSON-RPC call is POSTed)"
    if type(call) is not dict:
        return "body: must be a JSON object {\"id\", \"method\", \"params\"}"
    try:
        call_id = call["id"]
        method = call["method"]
        params = call["params"]
    except KeyError as missing:
        return f"{missing.args[0]}: missing"
    if type(call_id) is not int or not INT64_MIN <= call_id <= INT64_MAX:
        return "id: must be a 64-bit integer"
    if type(method) is not str:
        return "method: must be a string"
    if type(params) is not list:
        return "params: must be an array"
    # an int needle is a memchr; almost no call has a backslash, so the substring search rarely runs
    if _BACKSLASH in body and _NUL_ESCAPE in body and holds_nul(call):
        return "body: a string holds U+0000"
    return call_id, method, params


def holds_nul(value: Any) -> bool:
    """True if a NUL character is in any string (key or value) inside the decoded JSON `value`."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if "\0" in item:
                return True
        elif kind is list:
            stack.extend(item)
        elif kind is dict:
            for key, inner in item.items():
                if "\0" in key:
                    return True
                stack.append(inner)
    return False


def _error_body(code: int) -> bytes:
    return b'{"error": {"code": %d, "message": "%s"}, "result": null, "id": ' % (code, MESSAGES[code].encode())


_METHOD_NOT_FOUND = _error_body(METHOD_NOT_FOUND) + b"%d}"
_SERVICE_TIMEOUT = _error_body(SERVICE_TIMEOUT) + b"%d}"


def method_not_found(call_id: int) -> bytes:
    """The HTTP 404 body: error 4."""
    return _METHOD_NOT_FOUND % call_id


def service_timeout(call_id: int) -> bytes:
    """The HTTP 504 body: error 5."""
    return _SERVICE_TIMEOUT % call_id


def invalid_argument(call_id: int, reason: str) -> bytes:
    """Error 1, for params the gateway cannot forward (answered with HTTP 200); `reason` is its `data`."""
    return _error_with_data(INVALID_ARGUMENT, reason, call_id)


def not_a_call(reason: str) -> bytes:
    """The HTTP 400 body for a request that is not a JSON-RPC call: error 1, `reason` as its `data`, id null."""
    return _error_with_data(INVALID_ARGUMENT, reason, None)


def _error_with_data(code: int, reason: str, call_id: int | None) -> bytes:
    error = {"code": code, "message": MESSAGES[code], "data": reason}
    return orjson.dumps({"error": error, "result": None, "id": call_id})
