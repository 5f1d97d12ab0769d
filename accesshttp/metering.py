"""accesshttp's request metrics: every answer counted by JSON-RPC method and error code, and timed.

`metered(handler, methods)` wraps the gateway's handler.  The method label is
the call's ``method`` when it is one the gateway routes (``(unknown)`` for
another name, so a client cannot make up series, ``(invalid)`` for a body
that is no JSON-RPC call, ``GET`` for the page and the OpenRPC document).
An answer counts as an error (``viabtc_accesshttp_http_errors_total``) under
the ``error.code`` of its reply, or ``http_<status>`` for an answer with no
JSON body (400, 413, 500).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from time import perf_counter

from common.metrics import json_rpc_error_code, metrics_for

from .http_server import Handler, Request, Respond
from .responses import RawResponse

_METHOD = re.compile(rb'"method"\s*:\s*"([^"\\]*)"')

REQUESTS = metrics_for("accesshttp").requests("http", "HTTP JSON-RPC calls answered", label="method")


def call_method(request: Request, methods: Collection[str]) -> str:
    """The method label of a request, read with a pattern rather than a second JSON parse (the gateway
    parses the call already; this costs a tenth of it).  A body that holds a ``"method"`` string before
    the call's own (inside ``params``) is counted under that one; the answer is the gateway's all the same."""
    if request.method != "POST":
        return request.method
    found = _METHOD.search(request.body)
    if found is None:
        return "(invalid)"
    method = found.group(1).decode(errors="replace")
    return method if method in methods else "(unknown)"


def reply_code(response: RawResponse) -> int | str:
    """0 for a result; the error code of an error reply; ``http_<status>`` for an answer with no JSON body."""
    data = response.data
    status = data[9:12].decode()
    body = data.partition(b"\r\n\r\n")[2]
    if not body:
        return 0 if status == "200" else f"http_{status}"
    code = json_rpc_error_code(body)
    return f"http_{status}" if code is None else code


def metered(handler: Handler, methods: Collection[str]) -> Handler:
    def handle(request: Request, send: Respond) -> None:
        started = perf_counter()
        method = call_method(request, methods)

        def answer(response: RawResponse) -> None:
            send(response)
            label = "(invalid)" if response.data[9:12] == b"400" else method  # not a JSON-RPC call
            REQUESTS.observe(label, reply_code(response), perf_counter() - started)

        handler(request, answer)

    return handle
