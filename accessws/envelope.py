"""The JSON envelope of the WebSocket API (spec/websocket-api.md §3) and the text frames that carry it.

In: ``{"id": <int>, "method": <str>, "params": [...]}``.  Out: a reply
``{"error": null|{"code", "message"[, "data"]}, "result": ..., "id": <id>}`` (`data`: why an argument is
invalid) or a push
``{"method": "<name>.update", "params": [...], "id": null}``.  Key order is the
original's; whitespace is compact (the spec leaves it free).

Server frames are unmasked, so a push is encoded once — JSON and frame
header — and the same bytes are written to every subscriber.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import orjson

from common.errors import INVALID_ARGUMENT, MESSAGES

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

_FIN_TEXT = 0x81
_HEAD_16 = struct.Struct("!BBH")
_HEAD_64 = struct.Struct("!BBQ")


@dataclass(slots=True)
class Request:
    id: int
    method: str
    params: list[Any]


class BadRequest(Exception):
    """A message that is not a request envelope; `id` is the request's id when it could be read."""

    def __init__(self, reason: str, request_id: int | None = None) -> None:
        super().__init__(reason)
        self.request_id = request_id


def parse_request(data: bytes | str) -> Request:
    """Decode one client message; BadRequest when it is not ``{"id": int, "method": str, "params": []}``."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise BadRequest("not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("not a JSON object")
    request_id = body.get("id")
    if type(request_id) is not int or not INT64_MIN <= request_id <= INT64_MAX:
        raise BadRequest("id is not a 64-bit integer")
    method = body.get("method")
    if not isinstance(method, str):
        raise BadRequest("method is not a string", request_id)
    params = body.get("params")
    if not isinstance(params, list):
        raise BadRequest("params is not an array", request_id)
    return Request(request_id, method, params)


def text_frame(payload: bytes) -> bytes:
    """One unmasked FIN text frame with the minimal length encoding."""
    size = len(payload)
    if size < 126:
        return bytes((_FIN_TEXT, size)) + payload
    if size <= 0xFFFF:
        return _HEAD_16.pack(_FIN_TEXT, 126, size) + payload
    return _HEAD_64.pack(_FIN_TEXT, 127, size) + payload


def reply(request_id: int | None, result: Any) -> bytes:
    return orjson.dumps({"error": None, "result": result, "id": request_id})


def error_reply(request_id: int | None, code: int, message: str | None = None, data: str | None = None) -> bytes:
    """An error reply; `data` (JSON-RPC's optional member: what was wrong) only when there is one."""
    error: dict[str, Any] = {"code": code, "message": message if message is not None else MESSAGES[code]}
    if data is not None:
        error["data"] = data
    return orjson.dumps({"error": error, "result": None, "id": request_id})


def invalid_argument(request_id: int | None, reason: str) -> bytes:
    """Error 1 with `reason` (naming the parameter) as its `data`."""
    return error_reply(request_id, INVALID_ARGUMENT, None, reason)


SUCCESS = {"status": "success"}


def success(request_id: int) -> bytes:
    return reply(request_id, SUCCESS)


def push_frame(method: str, params: list[Any]) -> bytes:
    """The frame of a ``<method>`` notification, ready to be written to every subscriber."""
    return text_frame(orjson.dumps({"method": method, "params": params, "id": None}))
