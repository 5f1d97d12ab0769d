"""The supervisor's worker processes (the original's `worker_num`): start, watch, restart, stop.

Each worker runs `python -m accesshttp.worker <config>` with its listening
sockets and one end of a socket pair (the channel) passed down.  A worker
says ``ready`` on the channel once it serves; `WorkerPool.start` returns
when all have.  A worker that exits while the pool is not stopping is
logged at FATAL and started again after `RESTART_DELAY`.  The workers'
stdout/stderr come back through pipes and are logged line by line, so a
crash before the worker's own log is open is not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys

from .worker import WORKER_ENV, WorkerLaunch

log = logging.getLogger(__name__)

RESTART_DELAY = 1.0
STOP_TIMEOUT = 15.0
_QUIET_LINES = ("server start", "process: ")


class _Worker:
    def __init__(self, index: int, sockets: list[socket.socket]) -> None:
        self.index = index
        self.sockets = sockets
        self.process: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()
        self.started = 0
        self.task: asyncio.Task[None] | None = None


class WorkerPool:
    def __init__(self, config_path: str, listeners: list[list[socket.socket]]) -> None:
        self.config_path = config_path
        self.workers = [_Worker(index, sockets) for index, sockets in enumerate(listeners)]
        self._stopping = False

    async def start(self, timeout: float) -> None:
        """Start every worker and wait until all serve; RuntimeError if one dies or is late."""
        for worker in self.workers:
            worker.task = asyncio.get_running_loop().create_task(self._keep_running(worker),
                                                                 name=f"worker-{worker.index}")
        for worker in self.workers:
            assert worker.task is not None
            ready = asyncio.ensure_future(worker.ready.wait())
            done, _ = await asyncio.wait([ready, worker.task], timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if ready not in done:
                ready.cancel()
                raise RuntimeError(f"accesshttp worker {worker.index} did not start")

    async def stop(self) -> None:
        """SIGTERM every worker and wait for them (SIGKILL after `STOP_TIMEOUT`)."""
        self._stopping = True
        for worker in self.workers:
            process = worker.process
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for worker in self.workers:
            process = worker.process
            if process is not None and process.returncode is None:
                try:
                    await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
                except TimeoutError:
                    log.error("worker %d did not stop in %.0f s: killing it", worker.index, STOP_TIMEOUT)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
            if worker.task is not None:
                worker.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker.task

    async def _keep_running(self, worker: _Worker) -> None:
        while not self._stopping:
            worker.started += 1
            if worker.started > 1 and not worker.ready.is_set():
                return  # died before it ever served: start() reports it
            code = await self._run_once(worker)
            if self._stopping:
                return
            log.critical("accesshttp worker %d exited with status %s; restarting in %.0f s",
                         worker.index, code, RESTART_DELAY)
            await asyncio.sleep(RESTART_DELAY)

    async def _run_once(self, worker: _Worker) -> int | None:
        parent, child = socket.socketpair()
        fds = [sock.fileno() for sock in worker.sockets]
        launch = WorkerLaunch(index=worker.index, channel_fd=child.fileno(), listen_fds=fds)
        env = dict(os.environ, **{WORKER_ENV: launch.to_env()})
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "accesshttp.worker", self.config_path,
                pass_fds=(child.fileno(), *fds), env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        except OSError:
            log.critical("cannot start accesshttp worker %d", worker.index, exc_info=True)
            parent.close()
            return None
        finally:
            child.close()
        worker.process = process
        log.info("accesshttp worker %d started, pid %d", worker.index, process.pid)
        assert process.stdout is not None
        relay = asyncio.ensure_future(self._relay_output(worker, process.stdout))
        reader, writer = await asyncio.open_connection(sock=parent)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                if line.strip() == b"ready":
                    worker.ready.set()
        except ConnectionError:
            pass
        finally:
            writer.close()
        code = await process.wait()
        await relay
        return code

    async def _relay_output(self, worker: _Worker, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await stream.readline()
            except (ValueError, ConnectionError):
                continue
            if not line:
                return
            text = line.decode(errors="replace").rstrip()
            if text and not text.startswith(_QUIET_LINES):
                log.error("worker %d: %s", worker.index, text)
