"""The one start-up sequence every daemon's ``__main__`` runs (spec/operations.md §3).

    run_service("matchengine", load_config, serve)

1. print ``process: <name> version: 0.1.0, compile date: <date>`` on stdout;
2. ``usage: <name> config.json [--daemon]`` and exit 1 without a config file;
3. read the JSON file and build the typed config with ``load(section)``; any
   problem prints one line on stderr (the `ConfigError` text naming the field)
   and exits 1, never a traceback;
4. take the lock file (``process: <name> exist``, exit 1, when held), apply
   the rlimits, open the log (and the alert sender);
5. with ``--daemon``: daemonise and run the watchdog (`common.daemon`); the
   code below runs in the watched worker.  Without it, run in the foreground,
   where Ctrl-C stops the service gracefully;
6. run ``main(config, ctx)`` on a uvloop event loop.  `main` starts its servers,
   calls ``ctx.ready()`` (which logs ``server start`` at vip and prints it on
   stderr), awaits ``ctx.stopping.wait()`` and returns.  The cleanups registered
   with ``ctx.add_cleanup`` then run in reverse order, ``server stop`` is logged
   and the process exits 0.  An exception escaping `main` (or a cleanup) is
   logged at FATAL with its traceback and the exit status is 1; the watchdog
   does not restart a worker that exited.  `StartRefused` is the exception for
   a start the operator must fix (a config that contradicts what the daemon
   finds, e.g. in its database): its text alone is printed on stderr, as one
   line, and logged at FATAL.

Garbage collection is set for daemons that hold a large heap: young
collections as usual, full ones only after 1,000 middle ones (a full one scans
every object; in the publisher they cost 15 % of its CPU), and what exists at
``ctx.ready()`` (modules, the restored books and balances) is frozen out of
them, so a big state does not make long pauses.

The config object built by `load` must have the attributes ``log``
(`LogConfig`), ``alert`` (`AlertConfig`, or None for a daemon that sends no
alerts) and ``process`` (`ProcessConfig`); see `ServiceConfig`.
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, Protocol, TextIO, TypeVar

from common.config import AlertConfig, ConfigError, LogConfig, ProcessConfig, Section, load_config_file
from common.daemon import WorkerSignals, acquire_process_lock, apply_rlimits, daemonize, keepalive, set_title
from common.log import VIP, flush_logs, setup_logging

VERSION = "0.1.0"
DAEMON_OPTION = "--daemon"
GC_THRESHOLDS = (700, 10, 1000)

logger = logging.getLogger(__name__)
# set once a daemon has warned that a configured limit is above the host's: its child processes do not repeat it
LIMITS_WARNED_ENV = "VIABTC_LIMITS_WARNED"


class ServiceConfig(Protocol):
    """What `run_service` needs of a daemon's typed config (plain dataclass fields will do)."""

    @property
    def log(self) -> LogConfig: ...

    @property
    def alert(self) -> AlertConfig | None: ...

    @property
    def process(self) -> ProcessConfig: ...


C = TypeVar("C", bound=ServiceConfig)

Cleanup = Callable[[], Awaitable[object]]


class StartRefused(Exception):
    """`main` will not run: the one line (e.g. ``config error: field 'role': …``) says why."""


class ServiceContext:
    """What `main` gets besides its config: the stop event, readiness and cleanups."""

    def __init__(self, name: str, *, daemon: bool, config_path: str = "") -> None:
        self.name = name
        self.daemon = daemon
        self.config_path = config_path
        self.stopping = asyncio.Event()
        self.is_ready = False
        self._cleanups: list[Cleanup] = []

    def add_cleanup(self, cleanup: Cleanup) -> None:
        """Run `cleanup()` at shutdown; cleanups run in the reverse order of registration."""
        self._cleanups.append(cleanup)

    def ready(self) -> None:
        """The servers are up: log ``server start`` (vip) and print it on stderr, once."""
        if self.is_ready:
            return
        self.is_ready = True
        gc.freeze()
        logger.log(VIP, "server start")
        _print("server start", sys.stderr)

    def stop(self) -> None:
        """Ask `main` to return (what SIGTERM does)."""
        self.stopping.set()

    async def run_cleanups(self) -> bool:
        """Run and forget every cleanup, newest first; False if one of them raised."""
        ok = True
        while self._cleanups:
            cleanup = self._cleanups.pop()
            try:
                await cleanup()
            except Exception:
                logger.critical("cleanup %s failed", getattr(cleanup, "__qualname__", cleanup), exc_info=True)
                ok = False
        return ok


@contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection inside (for bulk loads that make no reference cycles)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _print(text: str, stream: TextIO | None = None) -> None:
    try:
        print(text, file=stream or sys.stdout, flush=True)
    except (OSError, ValueError):
        pass


def _fail(text: str) -> NoReturn:
    _print(text, sys.stderr)
    sys.exit(1)


def compile_date() -> str:
    """The C ``__DATE__ __TIME__`` of the port: the modification time of the main module."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or __file__
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        mtime = os.stat(__file__).st_mtime
    return time.strftime("%b %e %Y %H:%M:%S", time.localtime(mtime))


def program_name(name: str) -> str:
    """How the daemon was started, for the usage line: ``python -m <package>`` or the script's name."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else name
    if os.path.basename(argv0) == "__main__.py":
        return f"python -m {os.path.basename(os.path.dirname(os.path.abspath(argv0)))}"
    return os.path.basename(argv0)


def _parse_args(name: str, argv: list[str]) -> tuple[str, bool]:
    daemon = DAEMON_OPTION in argv
    rest = [a for a in argv if a != DAEMON_OPTION]
    if len(rest) != 1 or rest[0].startswith("--"):
        _print(f"usage: {program_name(name)} config.json [{DAEMON_OPTION}]")
        sys.exit(1)
    return rest[0], daemon


def _load(path: str, load: Callable[[Section], C]) -> C:
    try:
        config = load(load_config_file(path))
    except ConfigError as exc:
        _fail(str(exc))
    except Exception as exc:
        _fail(f"config error: {type(exc).__name__}: {exc}")
    missing = [attr for attr in ("log", "alert", "process") if not hasattr(config, attr)]
    if missing:
        _fail(f"config error: the loaded config has no {', '.join(missing)} attribute")
    return config


async def _serve(name: str, config: C, main: Callable[[C, ServiceContext], Awaitable[None]],
                 signals: WorkerSignals, daemon: bool, config_path: str) -> int:
    loop = asyncio.get_running_loop()
    ctx = ServiceContext(name, daemon=daemon, config_path=config_path)
    signals.attach(loop, ctx.stop)
    code = 0
    try:
        await main(config, ctx)
    except StartRefused as exc:
        logger.critical("%s", exc)
        _print(str(exc), sys.stderr)
        code = 1
    except Exception as exc:
        logger.critical("%s failed: %r", name, exc, exc_info=True)
        code = 1
    except asyncio.CancelledError:
        logger.critical("%s: main was cancelled", name)
        code = 1
    if not await ctx.run_cleanups():
        code = 1
    signals.detach(loop)
    logger.log(VIP, "server stop")
    return code


def run_service(name: str, load: Callable[[Section], C], main: Callable[[C, ServiceContext], Awaitable[None]],
                argv: list[str] | None = None) -> NoReturn:
    """Start the daemon `name` as described in the module docstring; never returns."""
    args = sys.argv[1:] if argv is None else argv
    _print(f"process: {name} version: {VERSION}, compile date: {compile_date()}")
    path, daemon = _parse_args(name, args)
    config = _load(path, load)
    try:
        locked = acquire_process_lock(name)
    except OSError as exc:
        _fail(f"{name}: cannot open lock file: {exc}")
    if not locked:
        _print(f"process: {name} exist")
        sys.exit(1)
    try:
        limit_warnings = apply_rlimits(config.process)
    except (OSError, ValueError) as exc:
        _fail(f"config error: field 'process': cannot set resource limits: {exc}")
    if os.environ.get(LIMITS_WARNED_ENV) == "1":
        limit_warnings = []  # a worker or the publisher of a daemon that has said it already
    os.environ[LIMITS_WARNED_ENV] = "1"  # inherited by the processes it starts
    for warning in limit_warnings:
        _print(warning, sys.stderr)  # before daemonizing: the operator starting it sees it
    try:
        setup_logging(config.log, config.alert, name)
    except ConfigError as exc:
        _fail(str(exc))
    for warning in limit_warnings:
        logger.warning("%s", warning)
    faulthandler.enable()

    signals = WorkerSignals(foreground=not daemon)
    if daemon:
        daemonize()
        keepalive(name, signals.install)
    else:
        signals.install()
        set_title(name)

    import uvloop

    gc.set_threshold(*GC_THRESHOLDS)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        code = asyncio.run(_serve(name, config, main, signals, daemon, os.path.abspath(path)))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        logger.critical("%s: event loop failed", name, exc_info=True)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    flush_logs()
    os._exit(code)
