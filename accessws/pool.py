"""The worker processes of one accessws (`worker_num` > 1): started, watched, restarted, stopped.

Each worker is `python -m accessws.worker <config>` with its listening
sockets and a channel passed as inherited descriptors.  `start` waits until
every worker has written ``ready``.  A worker that dies is started again
after `RESTART_DELAY` (as the original's watchdog does); its clients
reconnect to whichever worker the kernel gives them.  `stop` sends SIGTERM
and waits, killing a worker that does not stop in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys

from .worker import WORKER_ENV, WorkerLaunch

log = logging.getLogger(__name__)

RESTART_DELAY = 1.0
STOP_TIMEOUT = 10.0


class WorkerPool:
    def __init__(self, config_path: str, listeners: list[list[socket.socket]]) -> None:
        self.config_path = config_path
        self.listeners = listeners
        self.processes: list[asyncio.subprocess.Process | None] = [None] * len(listeners)
        self._ready = [asyncio.Event() for _ in listeners]
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self, timeout: float) -> None:
        """Start every worker; RuntimeError if they are not all serving within `timeout` s."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._keep_running(index), name=f"accessws-worker{index}")
                       for index in range(len(self.listeners))]
        try:
            async with asyncio.timeout(timeout):
                for event in self._ready:
                    await event.wait()
        except TimeoutError:
            raise RuntimeError(f"accessws workers not serving after {timeout:.0f} s") from None

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p is not None and p.returncode is None]

    async def _keep_running(self, index: int) -> None:
        while not self._stopping:
            code = await self._run_once(index)
            if self._stopping:
                return
            log.critical("accessws worker %d exited with status %s; restarting in %.0f s", index, code, RESTART_DELAY)
            await asyncio.sleep(RESTART_DELAY)

    async def _run_once(self, index: int) -> int | None:
        parent, child = socket.socketpair()
        fds = [sock.fileno() for sock in self.listeners[index]]
        launch = WorkerLaunch(index=index, channel_fd=child.fileno(), listen_fds=fds)
        env = dict(os.environ, **{WORKER_ENV: launch.to_env()})
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "accessws.worker", self.config_path,
                pass_fds=(child.fileno(), *fds), env=env)
        except OSError:
            log.critical("cannot start accessws worker %d", index, exc_info=True)
            parent.close()
            child.close()
            return None
        child.close()
        self.processes[index] = process
        reader, writer = await asyncio.open_connection(sock=parent)
        try:
            with contextlib.suppress(ConnectionError):
                while line := await reader.readline():
                    if line == b"ready\n":
                        log.info("accessws worker %d (pid %d) serving", index, process.pid)
                        self._ready[index].set()
            return await process.wait()
        finally:
            writer.close()

    async def stop(self) -> None:
        self._stopping = True
        running = [p for p in self.processes if p is not None and p.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in running:
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                log.error("accessws worker %d did not stop in %.0f s; killing it", process.pid, STOP_TIMEOUT)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
