"""Process plumbing shared by every daemon (spec/operations.md §3–§5).

* `acquire_process_lock`: the per-host lock file ``/tmp/<name>.lock`` held with a
  non-blocking ``flock`` for the life of the process (and of its children, which
  inherit the descriptor).  ``$VIABTC_LOCK_DIR`` replaces ``/tmp`` so that
  tests can run several copies side by side.
* `apply_rlimits`: ``process.file_limit`` / ``process.core_limit``.
* `daemonize`: fork, the parent exits 0, the child calls ``setsid``; the
  working directory and stdio are kept.
* `keepalive`: the watchdog.  The daemonised process forks the worker and waits;
  a worker that exits (any status) ends the watchdog with status 0, a worker
  killed by a signal is logged at FATAL (which also alerts) and forked again
  one second later.  Unlike the original, SIGTERM/SIGQUIT to the watchdog are
  forwarded to the worker as SIGTERM and the watchdog waits for it before
  exiting 0, so nothing is left running unwatched; and the worker asks the
  kernel for SIGTERM when the watchdog dies (`set_parent_death_signal`).
* `WorkerSignals`: the worker's signals, first as plain handlers that only
  remember what arrived, then on the event loop: SIGTERM/SIGQUIT stop it
  gracefully, SIGINT too in the foreground (ignored in daemon mode, as the
  original), SIGTTIN/SIGTTOU change log verbosity, SIGUSR1 is only logged,
  SIGPIPE is ignored.

Process titles: the watchdog is ``<name>_monitor``, the worker (and a
foreground process) ``<name>``; the Linux ``comm`` name follows the title
(cut to 15 bytes), so ``pgrep -x <name>`` finds the worker only.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import logging
import os
import resource
import signal
import sys
import time
from collections.abc import Callable

from common.config import ProcessConfig
from common.log import VIP, flush_logs, level_down, level_up

logger = logging.getLogger(__name__)

LOCK_DIR_ENV = "VIABTC_LOCK_DIR"
RESTART_DELAY = 1.0
EXIT_SIGNALS = (signal.SIGTERM, signal.SIGQUIT)
_PR_SET_PDEATHSIG = 1

_lock_fds: dict[str, int] = {}


def lock_path(name: str) -> str:
    return os.path.join(os.environ.get(LOCK_DIR_ENV) or "/tmp", f"{name}.lock")


def acquire_process_lock(name: str) -> bool:
    """Take the lock of `name` for the life of this process; False when another process holds it."""
    if name in _lock_fds:
        return True
    fd = os.open(lock_path(name), os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _lock_fds[name] = fd
    return True


def _raise_limit(which: int, limit: int, field: str) -> str | None:
    """Raise the soft limit `which` to `limit`, and the hard one with it when allowed (root with
    CAP_SYS_RESOURCE).  Where the hard limit may not be raised, the soft one is raised to the hard one
    and the warning saying so is returned (None when `limit` was set)."""
    soft, hard = resource.getrlimit(which)
    if soft == resource.RLIM_INFINITY or soft >= limit:
        return None
    if hard == resource.RLIM_INFINITY or hard >= limit:
        resource.setrlimit(which, (limit, hard))
        return None
    try:
        resource.setrlimit(which, (limit, limit))
        return None
    except (OSError, ValueError):
        pass
    if soft < hard:
        resource.setrlimit(which, (hard, hard))
    return (f"warning: process.{field} {limit} is above this host's hard limit {hard}, which only root may raise: "
            f"using {hard}")


def apply_rlimits(config: ProcessConfig) -> list[str]:
    """Raise the open-file and core-size soft limits to the configured values, or to the host's hard
    limits where those are lower; the warnings for the limits lowered.  OSError on another failure."""
    warnings = []
    if config.file_limit:
        warnings.append(_raise_limit(resource.RLIMIT_NOFILE, config.file_limit, "file_limit"))
    if config.core_limit:
        warnings.append(_raise_limit(resource.RLIMIT_CORE, config.core_limit, "core_limit"))
    return [warning for warning in warnings if warning is not None]


def set_title(title: str) -> None:
    """Set the title shown by ps (and the comm name); a no-op without setproctitle."""
    try:
        from setproctitle import setproctitle
    except ImportError:
        return
    setproctitle(title)


def set_parent_death_signal(signo: int = signal.SIGTERM) -> bool:
    """Ask Linux to send `signo` to this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, int(signo), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _flush_all() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    flush_logs()


def _exit(code: int) -> None:
    _flush_all()
    os._exit(code)


def daemonize() -> None:
    """``daemon(nochdir=1, noclose=1)``: returns in a new session; the calling process exits 0."""
    _flush_all()
    if os.fork():
        os._exit(0)
    os.setsid()


class _Watchdog:
    """The parent side of `keepalive`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.child = 0
        self.stopping = False

    def on_exit_signal(self, signo: int, _frame: object) -> None:
        logger.log(VIP, "[%d]signal: %d (%s) received, stopping worker %d",
                   os.getpid(), signo, signal.Signals(signo).name, self.child)
        self.stopping = True
        if self.child:
            try:
                os.kill(self.child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def install_signals(self) -> None:
        for signo in EXIT_SIGNALS:
            signal.signal(signo, self.on_exit_signal)
        for signo in (signal.SIGINT, signal.SIGPIPE, signal.SIGUSR1, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(signo, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)

    def wait(self) -> None:
        """Wait for the current worker; return only when a new one must be forked."""
        try:
            _, status = os.waitpid(self.child, 0)
        except ChildProcessError as exc:
            if self.stopping:
                _exit(0)
            logger.error("waitpid: %d error: %s", self.child, exc)
            _exit(1)
        pid, self.child = self.child, 0
        if os.WIFEXITED(status) or self.stopping:
            _exit(0)
        if not os.WIFSIGNALED(status):
            logger.error("process: %d terminated, waitpid status: %d", pid, status)
            _exit(1)
        description = signal.strsignal(os.WTERMSIG(status)) or f"signal {os.WTERMSIG(status)}"
        logger.critical("process: %d, name: %s terminated by signal: '%s'", pid, self.name, description)
        flush_logs()
        deadline = time.monotonic() + RESTART_DELAY
        while time.monotonic() < deadline:
            if self.stopping:
                _exit(0)
            time.sleep(0.02)
        if self.stopping:
            _exit(0)


def keepalive(name: str, init_worker: Callable[[], None] | None = None) -> None:
    """Run the watchdog; returns only in a freshly forked worker.

    `init_worker` runs in the worker right after the fork, while SIGTERM,
    SIGQUIT and SIGINT are still blocked: install the worker's signal handlers
    there.  The watchdog itself never returns.
    """
    watchdog = _Watchdog(name)
    blocked = {*EXIT_SIGNALS, signal.SIGINT}
    set_title(f"{name}_monitor")
    watchdog.install_signals()
    while True:
        _flush_all()
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            set_parent_death_signal(signal.SIGTERM)
            if os.getppid() != parent:
                os._exit(0)
            for signo in (signal.SIGUSR1, signal.SIGTTIN, signal.SIGTTOU, signal.SIGCHLD):
                signal.signal(signo, signal.SIG_DFL)
            for signo in EXIT_SIGNALS:
                signal.signal(signo, signal.SIG_DFL)
            set_title(name)
            if init_worker is not None:
                init_worker()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
            return
        watchdog.child = pid
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
        watchdog.wait()


class WorkerSignals:
    """The signals of a worker (or of a foreground process)."""

    HANDLED = (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT, signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR1)

    def __init__(self, *, foreground: bool) -> None:
        self.foreground = foreground
        self.exiting = False
        self._pending: list[int] = []
        self._on_exit: Callable[[], None] | None = None

    def _handled(self) -> tuple[int, ...]:
        if self.foreground:
            return self.HANDLED
        return tuple(s for s in self.HANDLED if s != signal.SIGINT)

    def install(self) -> None:
        """Plain handlers for the time before the event loop runs: remember what arrived."""
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        if not self.foreground:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        for signo in self._handled():
            signal.signal(signo, self._early)

    def _early(self, signo: int, _frame: object) -> None:
        self._pending.append(signo)

    def attach(self, loop: asyncio.AbstractEventLoop, on_exit: Callable[[], None]) -> None:
        """Handle the signals on `loop` from now on; `on_exit` starts the graceful stop."""
        self._on_exit = on_exit
        for signo in self._handled():
            loop.add_signal_handler(signo, self.handle, signo)
        pending, self._pending = self._pending, []
        for signo in pending:
            self.handle(signo)

    def detach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop reacting to signals once the loop is done; exit signals are ignored from then on."""
        for signo in self._handled():
            loop.remove_signal_handler(signo)
            signal.signal(signo, signal.SIG_IGN)

    def handle(self, signo: int) -> None:
        pid = os.getpid()
        signame = signal.Signals(signo).name
        if signo == signal.SIGTTIN:
            logger.log(VIP, "[%d]signal: %d (%s) received, logging level up: %#x", pid, signo, signame, level_up())
        elif signo == signal.SIGTTOU:
            logger.log(VIP, "[%d]signal: %d (%s) received, logging level down: %#x",
                       pid, signo, signame, level_down())
        elif signo == signal.SIGUSR1:
            logger.log(VIP, "[%d]signal: %d (%s) received", pid, signo, signame)
        elif signo == signal.SIGINT and self.exiting:
            logger.log(VIP, "[%d]signal: %d (%s) received again, exiting at once", pid, signo, signame)
            _exit(1)
        else:
            logger.log(VIP, "[%d]signal: %d (%s) received, exiting", pid, signo, signame)
            self.exiting = True
            if self._on_exit is not None:
                self._on_exit()
