"""The demo auth endpoint: accessws's `auth_url` in the local exchange, where a token names the user.

accessws asks `auth_url` who a client is (`server.auth`, spec/websocket-api.md
§6.1): ``GET`` with the client's token in the ``Authorization`` header.  This
endpoint answers ``demo:<user id>`` with that user (``{"code": 0, "message":
null, "data": {"user_id": <id>}}``) and anything else with a refusal (code
401 and a message, which accessws hands to the client as error 11).  It is
what lets the market page's demo panel follow a user's orders and balances
on `./run.sh` — a local exchange whose HTTP API already lets anyone act for
any user; a real deployment's `auth_url` is its frontend's login check.  It
listens on the loopback address only, on a free port, in a thread of the
launcher.
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from .layout import LOOPBACK

TOKEN_PREFIX = "demo:"
MAX_USER_ID = 0xFFFFFFFF
AUTH_PATH = "/auth"


def demo_user(token: str) -> int | None:
    """The user a demo token names (``demo:42`` → 42), or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    digits = token[len(TOKEN_PREFIX):]
    if not digits.isascii() or not digits.isdigit() or len(digits) > 10:
        return None
    user = int(digits)
    return user if 0 < user <= MAX_USER_ID else None


def auth_reply(token: str) -> dict[str, Any]:
    """The reply accessws expects from `auth_url` for `token` (accessws/auth.py)."""
    user = demo_user(token)
    if user is None:
        return {"code": 401, "message": f"not a demo token: use '{TOKEN_PREFIX}<user id>'", "data": None}
    return {"code": 0, "message": None, "data": {"user_id": user}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: accessws reuses its connections

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != AUTH_PATH:
            self._send(HTTPStatus.NOT_FOUND, {"code": 404, "message": "not found", "data": None})
            return
        self._send(HTTPStatus.OK, auth_reply(self.headers.get("Authorization", "")))

    def _send(self, status: HTTPStatus, reply: dict[str, Any]) -> None:
        body = orjson.dumps(reply)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


class DemoAuthServer:
    """The endpoint on a free loopback port, served by a daemon thread until `stop`."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer((LOOPBACK, 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-auth", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}{AUTH_PATH}"

    def start(self) -> DemoAuthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
