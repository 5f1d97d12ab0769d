"""What the market page's browser tests share: the exchange `./run.sh` runs, and headless Chromium.

`LocalExchange` runs `python -m deploy.launcher run` (what `./run.sh` runs:
every daemon, the demo auth endpoint, the page configured for its own
accessws) on a fresh data directory and a free `--port-offset`, and can start
its trader (`demo --trade`).  `launch_chromium` starts Debian's chromium
through Playwright (never a browser of Playwright's own: none can be
downloaded here), with the flags a closed network needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from deploy.launcher.layout import Ports, busy_ports
from tests.support import ROOT, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# where the screenshots are kept (ignored by git); VIABTC_TEST_ARTIFACTS moves them
ARTIFACTS = Path(os.environ.get("VIABTC_TEST_ARTIFACTS", ROOT / "test-artifacts"))
START_TIMEOUT = 90.0
BROWSER_NICENESS = -10


def require_browser() -> None:
    """Skip without chromium or Playwright on a developer's machine; fail in CI, which installs both."""
    missing = [what for what, ok in (("chromium (apt-get install chromium)", Path(CHROMIUM).exists()),
                                     ("playwright (pip install -e '.[test]')", _has_playwright())) if not ok]
    if missing:
        message = f"the browser tests need {' and '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium, headless, its session favoured by the scheduler (see `favour_session`)."""
    marker = f"--viabtc-test-browser={uuid.uuid4().hex}"  # an unknown switch: ignored, but it finds the process
    # Playwright gives the browser a fresh profile directory of its own (--user-data-dir)
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, marker])
    favour_session(marker)
    return browser


def favour_session(marker: str) -> None:
    """Give the browser's session (Playwright starts it in one of its own) autogroup niceness -10.

    The kernel shares the CPU between sessions first (sched_autogroup_enabled), and this box is shared with
    other sessions' daemons and test suites: a page task of 5 ms of CPU then waits behind them and takes
    40-80 ms of wall time, which the Long Tasks API counts against the page.  Favoured, the browser gets a
    core when it wants one, as it would on its user's machine; it uses about a tenth of one.  Without the
    right to raise a priority (not root) the browser runs as it is.
    """
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                with contextlib.suppress(OSError):
                    (entry / "autogroup").write_text(f"{BROWSER_NICENESS}\n")
                return


def free_port_offset() -> int:
    for _ in range(100):
        offset = random.randrange(20000, 50000)
        if not busy_ports(Ports(offset)):
            return offset
    raise RuntimeError("no free set of ports for the launcher")


class LocalExchange:
    """The launcher as a real process on `workdir`/data."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.offset = free_port_offset()
        self.ports = Ports(self.offset)
        self.output = workdir / "launcher.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self.traders: list[subprocess.Popen[bytes]] = []
        self.next_id = 1

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, PYTHONPATH=str(ROOT))

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "deploy.launcher", *args, "--data", str(self.data),
                "--port-offset", str(self.offset)]

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def start(self) -> LocalExchange:
        with open(self.output, "ab") as out:
            self.proc = subprocess.Popen(self.command("run"), stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                         start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not (self.data / "run" / "launcher.json").exists():
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < deadline, f"not up after {START_TIMEOUT} s:\n{self.text()}"
            time.sleep(0.1)
        return self

    def state(self) -> dict[str, Any]:
        return orjson.loads((self.data / "run" / "launcher.json").read_bytes())

    @property
    def ui_url(self) -> str:
        return self.ports.ui_url

    def kill_child(self, name: str) -> int:
        """SIGKILL one daemon (the launcher starts it again after a second); its pid."""
        pid = int(self.state()["children"][name])
        os.kill(pid, signal.SIGKILL)
        return pid

    def call(self, method: str, params: list[Any]) -> Any:
        """A JSON-RPC call to accesshttp that must succeed: its result."""
        body = orjson.dumps({"id": self.next_id, "method": method, "params": params})
        self.next_id += 1
        request = urllib.request.Request(self.ports.http_url, data=body)
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = orjson.loads(response.read())
        assert answer["error"] is None, (method, params, answer)
        return answer["result"]

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """A GET of `path` on accesshttp: status, headers (lower-case names), body."""
        request = urllib.request.Request(self.ports.http_url.rstrip("/") + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()

    def last_deal_id(self, market: str) -> int:
        deals = self.call("market.deals", [market, 1, 0])
        return int(deals[0]["id"]) if deals else 0

    def start_trader(self, rate: float, market: str) -> subprocess.Popen[bytes]:
        """`demo --trade` on one market, until stopped."""
        out = open(self.workdir / f"trader-{market}.out", "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(self.command("demo", "--trade", "--rate", str(rate), "--market", market),
                                stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        out.close()
        self.traders.append(proc)
        return proc

    def stop_trader(self, proc: subprocess.Popen[bytes]) -> int:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return int(proc.returncode)

    def stop(self) -> None:
        for proc in self.traders:
            self.stop_trader(proc)
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def artifact(name: str) -> Path:
    """Where a test keeps a file for people to look at (a screenshot)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


class PrefixProxy:
    """One host in front of the exchange, as nginx might be: accesshttp under `prefix` (``location /exchange/``)
    and accessws at ``/ws/``; the page's config.json is answered with the websocket on that path."""

    def __init__(self, target: str, ws_target: str, prefix: str = "/exchange/") -> None:
        self.target = target.rstrip("/")
        self.ws_target = ws_target
        self.prefix = prefix
        self.websockets = 0
        self._open: set[web.WebSocketResponse] = set()
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="prefix-proxy", daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def start(self) -> PrefixProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_get("/ws/", self._websocket)
        app.router.add_route("*", self.prefix + "{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        url = f"{self.target}/{request.match_info['tail']}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        if request.match_info["tail"] == "ui/config.json":
            headers.pop("If-None-Match", None)
        async with self._session.request(request.method, url, data=await request.read(), headers=headers,
                                         allow_redirects=False) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items()
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "date")}
        if request.match_info["tail"] == "ui/config.json":
            config = orjson.loads(gzip.decompress(body) if kept.pop("Content-Encoding", "") == "gzip" else body)
            body = orjson.dumps({**config, "ws_url": "/ws/"})
            kept.pop("ETag", None)
        return web.Response(status=answer.status, body=body, headers=kept)

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        assert self._session is not None
        self.websockets += 1
        browser = web.WebSocketResponse()
        await browser.prepare(request)
        self._open.add(browser)
        async with self._session.ws_connect(self.ws_target) as upstream:
            async def down() -> None:
                async for message in upstream:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        await browser.send_str(message.data)
                await browser.close()

            pump = asyncio.get_running_loop().create_task(down())
            async for message in browser:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await upstream.send_str(message.data)
            pump.cancel()
        self._open.discard(browser)
        return browser

    def stop(self) -> None:
        async def shutdown() -> None:
            for browser in list(self._open):
                await browser.close()
            if self._runner is not None:
                await self._runner.cleanup()
            if self._session is not None:
                await self._session.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
