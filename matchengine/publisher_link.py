"""The engine's side of its publisher: a child process, restarted when it dies, and a channel to it.

The engine tells the publisher (over a socket pair) how far the operation log
is committed and when to make a slice; the publisher reports, ten times a
second, how far its replica, its history and its messages are
(`PublisherState`).  The publisher learns the engine's lease term from its
environment, so that it stops once another engine leads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
from typing import Any

import orjson

from .publisher import CHANNEL_ENV, TERM_ENV
from .server import PublisherState

log = logging.getLogger(__name__)

RESTART_DELAY = 1.0
SLICE_WAIT = 120.0


class PublisherLink:
    """Runs the publisher child, restarts it when it dies, and talks to it over a socket pair."""

    def __init__(self, config_path: str, state: PublisherState, term: int = 0) -> None:
        self.config_path = config_path
        self.state = state
        self.term = term
        self.last_slice = 0
        self._writer: asyncio.StreamWriter | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._slice_event = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="publisher-link")

    def notify_committed(self, oper_id: int) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(b'{"committed":%d}\n' % oper_id)

    async def request_slice(self) -> bool:
        writer = self._writer
        if writer is None or writer.is_closing():
            return False
        before = self.last_slice
        self._slice_event.clear()
        writer.write(b'{"makeslice":true}\n')
        deadline = time.monotonic() + SLICE_WAIT
        while self.last_slice == before and time.monotonic() < deadline:
            try:
                await asyncio.wait_for(self._slice_event.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
            self._slice_event.clear()
        return self.last_slice != before

    async def _run(self) -> None:
        while not self._stopping:
            parent, child = socket.socketpair()
            env = dict(os.environ, **{CHANNEL_ENV: str(child.fileno()), TERM_ENV: str(self.term)})
            try:
                self._process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "matchengine.publisher", self.config_path,
                    pass_fds=(child.fileno(),), env=env, stdout=asyncio.subprocess.DEVNULL)
            except OSError:
                log.critical("cannot start the publisher", exc_info=True)
                parent.close()
                child.close()
                await asyncio.sleep(RESTART_DELAY)
                continue
            child.close()
            reader, self._writer = await asyncio.open_connection(sock=parent)
            try:
                while True:
                    line = await reader.readline()
                    if not line:
                        break
                    self._update(orjson.loads(line))
            except (ConnectionError, orjson.JSONDecodeError):
                pass
            self._writer.close()
            self._writer = None
            code = await self._process.wait()
            if self._stopping:
                return
            log.critical("publisher exited with status %s; restarting in %.0f s", code, RESTART_DELAY)
            await asyncio.sleep(RESTART_DELAY)

    def _update(self, status: dict[str, Any]) -> None:
        state = self.state
        state.applied = status["applied"]
        state.history = status["history"]
        state.messages = status["messages"]
        state.history_rows = status["history_rows"]
        state.messages_waiting = status["messages_waiting"]
        state.stripes = status.get("stripes", [])
        state.history_failing = status.get("history_failing", False)
        state.messages_failing = status.get("messages_failing", False)
        state.updated_at = time.monotonic()
        state.known = True
        if status.get("slice", 0) != self.last_slice:
            self.last_slice = status.get("slice", 0)
            self._slice_event.set()

    async def stop(self, timeout: float = 15.0) -> None:
        self._stopping = True
        if self._writer is not None:
            self._writer.close()
        if self._process is not None and self._process.returncode is None:
            try:
                await asyncio.wait_for(self._process.wait(), timeout)
            except TimeoutError:
                log.error("publisher did not stop in %.0f s; killing it", timeout)
                self._process.kill()
                await self._process.wait()
        if self._task is not None:
            self._task.cancel()
