"""The request path of one worker: HTTP request in, one RPC call to the owning backend, reply bytes out.

`Gateway.handle` is the handler of the worker's HTTP server (http_server.py):
it gets a request whose body has arrived whole (bodies over
`svr.max_pkg_size` were answered 413 by the server), validates the envelope,
looks the method up, re-serialises `params` once as the RPC body and
forwards the backend's reply body unchanged, answering through the callback
it is given: at once, or when the backend replies.  Status codes
(spec/http-api.md §1.4):

* 400, empty body, connection closed: not POST, empty or malformed body;
* 413, empty body, connection closed: a body over `svr.max_pkg_size` (the server);
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
from time import perf_counter

import orjson

from common.rpc import HEADER_SIZE, RpcClient, RpcTimeout, RpcUnavailable

from .config import AccessHttpConfig
from .envelope import invalid_argument, method_not_found, not_a_call, parse_call, service_timeout
from .http_server import Request, Respond
from .metering import INVALID, UNKNOWN, answer_counted, count_reply
from .methods import routed_methods
from .openrpc import OPENRPC_FILE, openrpc_document
from .page import MarketPage, owns
from .responses import RawResponse, respond, respond_and_close

log = logging.getLogger(__name__)

OPENRPC_PATH = "/openrpc.json"
__all__ = ["OPENRPC_FILE", "OPENRPC_PATH", "Gateway"]

_Route = tuple[RpcClient, int, int]


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
        self.methods = frozenset(self._routes)
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

    def handle(self, request: Request, send: Respond) -> None:
        """Answer `request` through `send`, now or once the backend replied; each answer is counted
        (metering.py) under the call's method as it is parsed here."""
        started = perf_counter()
        if request.method != "POST":
            answer_counted(send, request.method, self._not_post(request), started)
            return
        call = parse_call(request.body)
        if isinstance(call, str):
            answer_counted(send, INVALID, respond_and_close(400, not_a_call(call)), started)
            return
        call_id, method, params = call
        route = self._routes.get(method)
        if route is None:
            answer_counted(send, UNKNOWN, respond(request, 404, method_not_found(call_id)), started)
            return
        client, command, limit = route
        if not client.connected:
            answer_counted(send, method, respond(request, 500), started)
            return
        try:
            rpc_body = orjson.dumps(params)
        except orjson.JSONEncodeError:  # nested deeper than orjson writes (255 levels)
            reason = "params: nested deeper than 255 levels"
            answer_counted(send, method, respond(request, 200, invalid_argument(call_id, reason)), started)
            return
        if len(rpc_body) > limit:
            reason = f"params: {len(rpc_body)} bytes, more than the {limit} the backend takes"
            answer_counted(send, method, respond(request, 200, invalid_argument(call_id, reason)), started)
            return

        def on_reply(body: bytes | None, error: BaseException | None) -> None:
            if body is not None:
                send(respond(request, 200, body))
                count_reply(method, body, started)
            else:
                answer_counted(send, method, self._failed(request, call_id, error), started)

        try:
            client.request(command, rpc_body, on_reply, req_id=call_id, timeout=self.timeout)
        except RpcUnavailable:
            answer_counted(send, method, respond(request, 500), started)

    @staticmethod
    def _failed(request: Request, call_id: int, error: BaseException | None) -> RawResponse:
        if isinstance(error, RpcTimeout):
            return respond(request, 504, service_timeout(call_id))
        if not isinstance(error, RpcUnavailable):
            log.critical("backend call failed: %r", error)
        return respond(request, 500)

    def _not_post(self, request: Request) -> RawResponse:
        if request.method == "GET":
            if request.path == OPENRPC_PATH:
                return respond(request, 200, self.openrpc)
            if owns(request.path):
                return self.page.respond(request)
        if request.method == "HEAD":
            return respond_and_close(400)  # a HEAD answer carries no body
        return respond_and_close(400, not_a_call(f"request: a JSON-RPC call is a POST, not {request.method[:20]}"))
