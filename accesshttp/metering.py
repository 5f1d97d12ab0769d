"""accesshttp's request metrics: every answer counted by JSON-RPC method and error code, and timed.

The gateway counts each answer as it sends it (gateway.py), under the method
label it knows from parsing the call: the call's ``method`` when it is one the
gateway routes (``(unknown)`` for another name, so a client cannot make up
series), ``(invalid)`` for a body that is no JSON-RPC call or any other
answer with HTTP status 400, the HTTP method (``GET``) for the page and the
OpenRPC document.  An answer counts as an error
(``viabtc_accesshttp_http_errors_total``) under the ``error.code`` of its
reply, or ``http_<status>`` for an answer with no JSON body (400, 500).
Answers the HTTP server makes before any handler (413, malformed HTTP) are
not counted.
"""

from __future__ import annotations

from time import perf_counter

from common.metrics import json_rpc_error_code, metrics_for

from .http_server import Respond
from .responses import RawResponse

REQUESTS = metrics_for("accesshttp").requests("http", "HTTP JSON-RPC calls answered", label="method")
INVALID = "(invalid)"
UNKNOWN = "(unknown)"
_observe = REQUESTS.observe


def reply_code(response: RawResponse) -> int | str:
    """0 for a result; the error code of an error reply; ``http_<status>`` for an answer with no JSON body."""
    data = response.data
    return body_code(data.partition(b"\r\n\r\n")[2], data[9:12].decode())


def body_code(body: bytes, status: str = "200") -> int | str:
    """`reply_code` of an answer with HTTP status `status` and body `body`."""
    if not body:
        return 0 if status == "200" else f"http_{status}"
    code = json_rpc_error_code(body)
    return f"http_{status}" if code is None else code


def answer_counted(send: Respond, method: str, response: RawResponse, started: float) -> None:
    """Send `response` and count it under `method` (``(invalid)`` if it is a 400), timed from `started`."""
    send(response)
    label = INVALID if response.data[9:12] == b"400" else method
    _observe(label, reply_code(response), perf_counter() - started)


def count_reply(method: str, body: bytes, started: float) -> None:
    """Count a backend's reply `body`, answered with HTTP 200, as `answer_counted` would."""
    _observe(method, body_code(body), perf_counter() - started)
