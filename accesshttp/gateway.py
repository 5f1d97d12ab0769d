"""The request path of one worker: HTTP request in, one RPC call to the owning backend, reply bytes out.

`Gateway.handle` is the plain handler given to aiohttp's low-level
`web.Server` (no application, routing or middleware).  Per request it reads
the body (bounded by `svr.max_pkg_size`), validates the envelope, looks the
method up, re-serialises `params` once as the RPC body and forwards the
backend's reply body unchanged.  Status codes (spec/http-api.md §1.4):

* 400, empty body, connection closed: not POST, empty or malformed body;
* 413, empty body, connection closed: a body over `svr.max_pkg_size`;
* 404 + error 4: unknown method;
* 500, empty body: the owning backend is not connected (or the connection
  closed while the call was in flight);
* 504 + error 5: no reply within `timeout`;
* 200: the backend's reply, or error 1 when the params would make a frame
  larger than the backend accepts (see config.py, `request_limit`) or are
  nested too deeply to be written again (over 254 levels).

A client that sends ``Expect: 100-continue`` gets ``100 Continue`` before
its body is read (unless the announced length is over the limit: 413).

``GET /openrpc.json`` answers the OpenRPC document of the API, ``GET /ui/...``
the market page (page.py); every other GET is a 400 like any non-POST.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestPayloadError

from common.rpc import HEADER_SIZE, RpcClient, RpcTimeout, RpcUnavailable

from .config import AccessHttpConfig
from .envelope import invalid_argument, method_not_found, parse_call, service_timeout
from .methods import routed_methods
from .openrpc import OPENRPC_FILE, openrpc_document
from .page import MarketPage, owns
from .responses import RawResponse, respond, respond_and_close

log = logging.getLogger(__name__)

OPENRPC_PATH = "/openrpc.json"
__all__ = ["OPENRPC_FILE", "OPENRPC_PATH", "Gateway", "complete_body"]

_Route = tuple[RpcClient, int, int]


def complete_body(content: StreamReader) -> bytes:
    """The body of a request that has fully arrived.

    A body that came in one piece is taken from the reader's buffer:
    `read_nowait` would give the same bytes but then always calls
    `resume_reading`, which feeds the HTTP parser an empty chunk and
    resumes the transport: 4.5 % of the gateway's instructions per request
    (valgrind).  Any other case, or an aiohttp without that buffer, reads
    normally.
    """
    buffer = getattr(content, "_buffer", None)
    if buffer is not None and len(buffer) == 1 and not getattr(content, "_buffer_offset", 1):
        return bytes(buffer[0])
    return content.read_nowait()


class Gateway:
    """The backends' RPC clients of one worker and the HTTP handler that uses them."""

    def __init__(self, config: AccessHttpConfig) -> None:
        self.timeout = config.timeout
        self.body_limit = config.svr.max_pkg_size
        self.clients = {name: RpcClient(backend.client) for name, backend in config.backends.items()}
        self._routes: dict[str, _Route] = {
            method: (self.clients[route.backend], route.command,
                     config.backends[route.backend].request_limit - HEADER_SIZE)
            for method, route in routed_methods(config.config_methods).items()
        }
        self.openrpc = openrpc_document(self._routes)
        self.page = MarketPage(config.ui)

    async def start(self) -> None:
        for client in self.clients.values():
            await client.start()

    async def wait_backends(self, seconds: float) -> None:
        """Give the backends up to `seconds` to connect; log the ones that did not."""
        names = list(self.clients)
        connected = await asyncio.gather(*(self.clients[name].wait_connected(seconds) for name in names))
        for name, ok in zip(names, connected, strict=True):
            if not ok:
                log.warning("backend %s is not connected yet: its methods answer HTTP 500 meanwhile", name)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()

    async def handle(self, request: web.BaseRequest) -> RawResponse:
        if request.method != "POST":
            return self._not_post(request)
        content = request.content
        body: bytes | None
        if content.is_eof():
            body = complete_body(content)
            if len(body) > self.body_limit:
                return respond_and_close(413)
        else:
            try:
                body = await self._read_body(request)
            except RequestPayloadError:
                return respond_and_close(400)
            if body is None:
                return respond_and_close(413)
        call = parse_call(body)
        if call is None:
            return respond_and_close(400)
        call_id, method, params = call
        route = self._routes.get(method)
        if route is None:
            return respond(request, 404, method_not_found(call_id))
        client, command, limit = route
        if not client.connected:
            return respond(request, 500)
        try:
            rpc_body = orjson.dumps(params)
        except orjson.JSONEncodeError:  # nested deeper than orjson writes (255 levels)
            return respond(request, 200, invalid_argument(call_id))
        if len(rpc_body) > limit:
            return respond(request, 200, invalid_argument(call_id))
        try:
            reply = await client.call(command, rpc_body, req_id=call_id, timeout=self.timeout)
        except RpcTimeout:
            return respond(request, 504, service_timeout(call_id))
        except RpcUnavailable:
            return respond(request, 500)
        return respond(request, 200, reply)

    async def _read_body(self, request: web.BaseRequest) -> bytes | None:
        """The body of a request still arriving; None as soon as it exceeds the limit."""
        limit = self.body_limit
        length = request.content_length
        if length is not None and length > limit:
            return None
        if request.headers.get("Expect", "").lower() == "100-continue" and request.transport is not None:
            request.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = bytearray()
        content = request.content
        while True:
            chunk = await content.readany()
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > limit:
                return None

    def _not_post(self, request: web.BaseRequest) -> RawResponse:
        if request.method == "GET":
            if request.path == OPENRPC_PATH:
                return respond(request, 200, self.openrpc)
            if owns(request.path):
                return self.page.respond(request)
        return respond_and_close(400)
