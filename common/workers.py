"""Several worker processes serving one port (the gateways' `worker_num`).

The supervisor binds the listening sockets once (`bind_listeners`): each
worker gets its own socket per `tcp@` address, all bound to one port with
SO_REUSEPORT so the kernel spreads new connections over the workers, while a
`stream@` (unix) address has one socket every worker accepts from.  (The
original passes accepted sockets from a listener process to its workers;
spec/rpc.md §10.3 leaves the scheme free.)  The supervisor keeps its copies
open, so while a worker restarts, connections meant for it wait in the
backlog instead of being refused.

`WorkerPool` starts `python -m <package>.worker <config>` per worker with its
sockets and a channel (a socket pair) passed as inherited descriptors, described
by `WorkerLaunch` in an environment variable.  A worker writes ``ready`` on
the channel once it serves and stops when the channel closes.  A worker that
dies is started again after `RESTART_DELAY`; its stdout/stderr are logged
line by line, so a crash before its own log is open is not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from .config import Address, ConfigError

log = logging.getLogger(__name__)

RESTART_DELAY = 1.0
STOP_TIMEOUT = 15.0
_QUIET_LINES = ("server start", "process: ")


# ---------------------------------------------------------------- sockets

def listening_socket(address: Address, read_mem: int = 0, write_mem: int = 0, *,
                     reuse_port: bool = False, port: int | None = None) -> socket.socket:
    """A bound, listening, non-blocking socket for `tcp@host:port` or `stream@/path` (made 0777)."""
    if address.kind == "tcp":
        family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        sock = socket.create_server((address.host, address.port if port is None else port), family=family,
                                    backlog=socket.SOMAXCONN, reuse_port=reuse_port)
    elif address.kind == "stream":
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.stat(address.path).st_mode):
                os.unlink(address.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(address.path)
        os.chmod(address.path, 0o777)
        sock.listen(socket.SOMAXCONN)
    else:
        raise OSError(f"cannot listen on {address}")
    if read_mem:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, read_mem)
    if write_mem:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, write_mem)
    sock.setblocking(False)
    return sock


def bind_listeners(addresses: list[Address], workers: int, read_mem: int = 0,
                   write_mem: int = 0) -> list[list[socket.socket]]:
    """For each worker, one listening socket per address (in the order of `addresses`)."""
    per_worker: list[list[socket.socket]] = [[] for _ in range(workers)]
    try:
        for address in addresses:
            if address.kind == "tcp":
                port = address.port
                for sockets in per_worker:
                    sock = listening_socket(address, read_mem, write_mem, reuse_port=True, port=port)
                    sockets.append(sock)
                    port = sock.getsockname()[1]  # with port 0, the other workers join the port the first got
            else:
                sock = listening_socket(address, read_mem, write_mem)
                for sockets in per_worker:
                    sockets.append(sock)
    except BaseException:
        close_listeners(per_worker)
        raise
    return per_worker


def close_listeners(per_worker: list[list[socket.socket]]) -> None:
    for sockets in per_worker:
        for sock in sockets:
            sock.close()


def unlink_unix_paths(addresses: list[Address]) -> None:
    for address in addresses:
        if address.kind == "stream":
            with contextlib.suppress(OSError):
                os.unlink(address.path)


# ---------------------------------------------------------------- worker side

@dataclass(slots=True)
class WorkerLaunch:
    """What the supervisor hands a worker: its index, its channel and its listening sockets."""

    index: int
    channel_fd: int
    listen_fds: list[int]
    monitor_fd: int = -1  # where the supervisor reads the worker's metrics (`worker_metrics`)

    def to_env(self) -> str:
        return orjson.dumps({"index": self.index, "channel": self.channel_fd, "listen": self.listen_fds,
                             "monitor": self.monitor_fd}).decode()

    @classmethod
    def from_env(cls, variable: str, program: str) -> WorkerLaunch:
        text = os.environ.get(variable)
        if not text:
            raise ConfigError(f"{program}.worker is started by {program} (no {variable} in the environment)")
        data = orjson.loads(text)
        return cls(index=int(data["index"]), channel_fd=int(data["channel"]),
                   listen_fds=[int(fd) for fd in data["listen"]], monitor_fd=int(data.get("monitor", -1)))

    def sockets(self) -> list[socket.socket]:
        return [socket.socket(fileno=fd) for fd in self.listen_fds]

    def monitor_socket(self) -> socket.socket | None:
        """The listening socket on which this worker serves its metrics to the supervisor."""
        return socket.socket(fileno=self.monitor_fd) if self.monitor_fd >= 0 else None

    async def serve_until_released(self, stopping: asyncio.Event, on_ready: Callable[[], None]) -> None:
        """Tell the supervisor "ready", then wait until it closes the channel or `stopping` is set."""
        reader, writer = await asyncio.open_connection(sock=socket.socket(fileno=self.channel_fd))
        writer.write(b"ready\n")
        on_ready()
        gone = asyncio.ensure_future(reader.read())
        stop = asyncio.ensure_future(stopping.wait())
        await asyncio.wait([gone, stop], return_when=asyncio.FIRST_COMPLETED)
        if not stop.done():
            log.error("the supervisor closed the channel: stopping")
        gone.cancel()
        stop.cancel()
        writer.close()


# ---------------------------------------------------------------- supervisor side

def worker_monitor_address(package: str, index: int) -> str:
    """The unix address, in the abstract namespace (nothing on disk), of one worker's monitor."""
    return f"\0viabtc-{package}-{os.getpid()}-worker{index}"


def worker_monitor_socket(package: str, index: int) -> socket.socket:
    """A listening socket on `worker_monitor_address`."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(worker_monitor_address(package, index))
    sock.listen(16)
    sock.setblocking(False)
    return sock


class _Worker:
    def __init__(self, index: int, sockets: list[socket.socket], monitor: socket.socket) -> None:
        self.index = index
        self.sockets = sockets
        self.monitor = monitor
        self.process: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()
        self.started = 0
        self.task: asyncio.Task[None] | None = None


class WorkerPool:
    """Starts, watches, restarts and stops the `<package>.worker` processes."""

    def __init__(self, package: str, env_variable: str, config_path: str,
                 listeners: list[list[socket.socket]]) -> None:
        self.package = package
        self.env_variable = env_variable
        self.config_path = config_path
        self.workers = [_Worker(index, sockets, worker_monitor_socket(package, index))
                        for index, sockets in enumerate(listeners)]
        self._stopping = False

    def monitor_addresses(self) -> list[tuple[int, str]]:
        """(index, unix address) of each worker's monitor, where `common.worker_metrics` scrapes it."""
        return [(worker.index, worker_monitor_address(self.package, worker.index)) for worker in self.workers]

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers if w.process is not None and w.process.returncode is None]

    async def start(self, timeout: float) -> None:
        """Start every worker and wait until all serve; RuntimeError if one dies first or is late."""
        loop = asyncio.get_running_loop()
        for worker in self.workers:
            worker.task = loop.create_task(self._keep_running(worker), name=f"{self.package}-worker{worker.index}")
        for worker in self.workers:
            assert worker.task is not None
            ready = asyncio.ensure_future(worker.ready.wait())
            done, _ = await asyncio.wait([ready, worker.task], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if ready not in done:
                ready.cancel()
                raise RuntimeError(f"{self.package} worker {worker.index} did not start")

    async def stop(self) -> None:
        """SIGTERM every worker and wait for them (SIGKILL after `STOP_TIMEOUT`)."""
        self._stopping = True
        running = [w for w in self.workers if w.process is not None and w.process.returncode is None]
        for worker in running:
            assert worker.process is not None
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)
        for worker in running:
            assert worker.process is not None
            try:
                await asyncio.wait_for(worker.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                log.error("%s worker %d did not stop in %.0f s: killing it", self.package, worker.index, STOP_TIMEOUT)
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                await worker.process.wait()
        for worker in self.workers:
            if worker.task is not None:
                worker.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker.task
            worker.monitor.close()

    async def _keep_running(self, worker: _Worker) -> None:
        while not self._stopping:
            worker.started += 1
            if worker.started > 1 and not worker.ready.is_set():
                return  # died before it ever served: start() reports it
            code = await self._run_once(worker)
            if self._stopping:
                return
            log.critical("%s worker %d exited with status %s; restarting in %.0f s",
                         self.package, worker.index, code, RESTART_DELAY)
            await asyncio.sleep(RESTART_DELAY)

    async def _run_once(self, worker: _Worker) -> int | None:
        parent, child = socket.socketpair()
        fds = [sock.fileno() for sock in worker.sockets]
        launch = WorkerLaunch(index=worker.index, channel_fd=child.fileno(), listen_fds=fds,
                              monitor_fd=worker.monitor.fileno())
        env = dict(os.environ, **{self.env_variable: launch.to_env()})
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", f"{self.package}.worker", self.config_path,
                pass_fds=(child.fileno(), *fds, worker.monitor.fileno()), env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        except OSError:
            log.critical("cannot start %s worker %d", self.package, worker.index, exc_info=True)
            parent.close()
            return None
        finally:
            child.close()
        worker.process = process
        log.info("%s worker %d started, pid %d", self.package, worker.index, process.pid)
        assert process.stdout is not None
        relay = asyncio.ensure_future(self._relay_output(worker, process.stdout))
        reader, writer = await asyncio.open_connection(sock=parent)
        try:
            while line := await reader.readline():
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
                log.error("%s worker %d: %s", self.package, worker.index, text)
