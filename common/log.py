"""The original's logger (spec/operations.md §6) on top of the stdlib `logging` module.

Every module logs through ``logging.getLogger(__name__)``; `setup_logging` points
the root logger at one buffered, self-rotating log file (or a UDP log server)
and, when an alert config is given, at the alert sender (`common.alert`).

Levels are the original's, mapped onto stdlib numbers: ``fatal`` = CRITICAL,
``error``, ``warn`` = WARNING, ``info``, ``notice`` (15: between info and debug, as in the original), ``debug``,
``trace`` (5), ``user1`` (4), ``user2`` (3), and ``vip`` (60), which is written
whatever the flag says.  Use ``logger.log(NOTICE, ...)``, ``logger.log(TRACE, ...)``
and ``logger.log(VIP, ...)`` for the levels the stdlib has no method for.

The ``flag`` is a bit mask, not a threshold: ``"fatal,info"`` writes fatal and
info lines but not error or warn.  The root logger's level is set to the lowest
enabled level, so calls below it return at once without building a record;
records inside the enabled range whose bit is off (a hole in the mask) are
dropped by a handler filter before any formatting.

Line format: ``[YYYY-MM-DD HH:MM:SS.uuuuuu] [<pid>] [<level>]<file>:<line>(<function>): <message>``.
Lines are buffered and written when 10 ms have passed since the last write or
32 KiB are waiting, checked at each record and by a small timer thread that
needs no event loop.
"""

from __future__ import annotations

import atexit
import datetime
import logging
import os
import re
import socket
import threading
import time
import weakref
from collections.abc import Callable

from common.alert import AlertHandler, init_alert
from common.config import AlertConfig, ConfigError, LogConfig

FATAL = logging.CRITICAL
ERROR = logging.ERROR
WARN = logging.WARNING
NOTICE = 15
INFO = logging.INFO
DEBUG = logging.DEBUG
TRACE = 5
USER1 = 4
USER2 = 3
VIP = 60

LEVEL_BITS: dict[str, int] = {
    "fatal": 0x1,
    "error": 0x2,
    "warn": 0x4,
    "info": 0x8,
    "notice": 0x10,
    "debug": 0x20,
    "trace": 0x40,
    "user1": 0x80,
    "user2": 0x100,
}
_LEVELNO_OF_NAME: dict[str, int] = {
    "fatal": FATAL,
    "error": ERROR,
    "warn": WARN,
    "info": INFO,
    "notice": NOTICE,
    "debug": DEBUG,
    "trace": TRACE,
    "user1": USER1,
    "user2": USER2,
}
_VERBOSITY_BITS = 8

FLUSH_INTERVAL = 0.010
FLUSH_SIZE = 32 * 1024
BUFFER_SIZE = 64 * 1024
_MAX_DATAGRAM = 65000

SHIFT_SIZE = "size"
SHIFT_MIN = "min"
SHIFT_HOUR = "hour"
SHIFT_DAY = "day"


def _build_level_tables() -> tuple[list[int], list[str]]:
    """Bit and name for every level number below VIP: those of the nearest defined level at or below it."""
    bits = [0] * VIP
    names = ["user2"] * VIP
    ordered = sorted((levelno, name) for name, levelno in _LEVELNO_OF_NAME.items())
    for n in range(VIP):
        for levelno, name in ordered:
            if levelno <= n:
                bits[n] = LEVEL_BITS[name]
                names[n] = name
    return bits, names


_BIT_OF_LEVELNO, _NAME_OF_LEVELNO = _build_level_tables()

for _name, _levelno in (("notice", NOTICE), ("trace", TRACE), ("user1", USER1), ("user2", USER2), ("vip", VIP)):
    logging.addLevelName(_levelno, _name.upper())


def level_name(levelno: int) -> str:
    """The original's name of a level number (``fatal`` for CRITICAL, ``vip`` from 60 up)."""
    if levelno >= VIP:
        return "vip"
    return _NAME_OF_LEVELNO[max(levelno, 0)]


def parse_flag(text: str) -> int:
    """The level bit mask of a `log.flag` string; separators are any of ``, \\t\\r\\n``, unknown tokens ignored."""
    mask = 0
    for token in re.split(r"[,\s]+", text):
        mask |= LEVEL_BITS.get(token.lower(), 0)
    return mask


def format_mask(mask: int) -> str:
    """The level names of a mask, comma separated (e.g. ``fatal,error,info``)."""
    return ",".join(name for name, bit in LEVEL_BITS.items() if mask & bit)


class _LevelMask:
    """The enabled-level mask shared by every handler of `setup_logging`."""

    __slots__ = ("bits",)

    def __init__(self) -> None:
        self.bits = 0xFF

    def filter(self, record: logging.LogRecord) -> bool:
        n = record.levelno
        return n >= VIP or (n >= 0 and bool(_BIT_OF_LEVELNO[n] & self.bits))


_mask = _LevelMask()


def _alert_filter(record: logging.LogRecord) -> bool:
    return FATAL <= record.levelno < VIP


def _threshold(mask: int) -> int:
    enabled = [levelno for name, levelno in _LEVELNO_OF_NAME.items() if mask & LEVEL_BITS[name]]
    return min(enabled) if enabled else VIP


def get_level_mask() -> int:
    return _mask.bits


def set_level_mask(mask: int) -> None:
    """Enable exactly the levels of `mask` (the root logger's level follows)."""
    _mask.bits = mask
    logging.getLogger().setLevel(_threshold(mask))


def level_up() -> int:
    """SIGTTIN: enable the lowest disabled level among the first 8 bits; returns the new mask."""
    mask = _mask.bits
    for i in range(_VERBOSITY_BITS):
        if not mask & (1 << i):
            mask |= 1 << i
            break
    set_level_mask(mask)
    return mask


def level_down() -> int:
    """SIGTTOU: disable the highest enabled level among the first 8 bits; returns the new mask."""
    mask = _mask.bits
    for i in reversed(range(_VERBOSITY_BITS)):
        if mask & (1 << i):
            mask &= ~(1 << i)
            break
    set_level_mask(mask)
    return mask


class LineFormatter(logging.Formatter):
    """``[time] [pid] [level]file:line(function): message``; time and pid are optional."""

    def __init__(self, *, timestamp: bool = True, pid: bool = True) -> None:
        super().__init__()
        self.timestamp = timestamp
        self.pid = pid
        self._pid_prefix = ""
        self._second = -1
        self._second_text = ""
        self.refresh_pid()

    def refresh_pid(self) -> None:
        self._pid_prefix = f"[{os.getpid()}] " if self.pid else ""

    def _time_prefix(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._second = second
        usec = min(int((created - second) * 1_000_000), 999_999)
        return f"[{self._second_text}.{usec:06d}] "

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        if record.stack_info:
            message = f"{message}\n{self.formatStack(record.stack_info)}"
        head = self._time_prefix(record.created) if self.timestamp else ""
        return (f"{head}{self._pid_prefix}[{level_name(record.levelno)}]"
                f"{record.filename}:{record.lineno}({record.funcName}): {message}")


def shift_mode(shift: str) -> str:
    """`log.shift`: ``size``, ``hour``, ``min``; anything else is daily."""
    return shift if shift in (SHIFT_SIZE, SHIFT_HOUR, SHIFT_MIN) else SHIFT_DAY


def _stamp(mode: str, when: float) -> str:
    t = time.localtime(when)
    if mode == SHIFT_MIN:
        return time.strftime(".%Y%m%d%H%M", t)
    if mode == SHIFT_HOUR:
        return time.strftime(".%Y%m%d%H", t)
    if mode == SHIFT_DAY:
        return time.strftime(".%Y%m%d", t)
    return ""


def log_file_name(base: str, mode: str, when: float, index: int = 0) -> str:
    """``<base>.log[.<i>]`` in size mode, ``<base>.<stamp>.log[.<i>]`` in time modes."""
    suffix = f".log.{index}" if index else ".log"
    return f"{base}{_stamp(mode, when)}{suffix}"


def _expired_time(mode: str, when: float, keep: int) -> float:
    if mode == SHIFT_MIN:
        return when - 60 * keep
    if mode == SHIFT_HOUR:
        return when - 3600 * keep
    day = datetime.date.fromtimestamp(when) - datetime.timedelta(days=keep)
    return time.mktime(day.timetuple()) + 12 * 3600


def parse_remote_path(path: str) -> tuple[str, int] | None:
    """``ip:port`` of remote log mode, None for a file path; ValueError when malformed."""
    if ":" not in path:
        return None
    tokens = [t for t in re.split(r"[:\s]+", path) if t]
    if len(tokens) < 2:
        raise ValueError(f"'{path}' is not ip:port")
    try:
        socket.inet_aton(tokens[0])
    except OSError:
        raise ValueError(f"'{tokens[0]}' is not an IPv4 address") from None
    if not tokens[1].isdigit() or not 0 < int(tokens[1]) <= 65535:
        raise ValueError(f"bad port in '{path}'")
    return tokens[0], int(tokens[1])


_live_handlers: weakref.WeakSet[LogFileHandler] = weakref.WeakSet()


class LogFileHandler(logging.Handler):
    """Buffered writer of formatted lines to a rotating file or, in remote mode, to ip:port over UDP.

    Files are opened in append mode for each write and closed again, so that
    external tools may move them.  `clock` gives the time used for file names,
    rotation and deletion (tests inject one).  With ``background=False`` no timer
    thread is started and lines wait for the next record, `flush` or 32 KiB.
    """

    def __init__(self, config: LogConfig, *, clock: Callable[[], float] = time.time,
                 background: bool = True) -> None:
        super().__init__()
        self.base = config.path
        self.mode = shift_mode(config.shift)
        self.max_size = config.max
        self.num = config.num
        self.keep = config.keep
        self.no_shift = False
        self.remote = parse_remote_path(config.path)
        self.clock = clock
        self.background = background
        self._chunks: list[bytes] = []
        self._size = 0
        self._last_flush = time.time()
        self._cleaned_stamp = ""
        self._sock: socket.socket | None = None
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        _live_handlers.add(self)

    def open_check(self) -> None:
        """Create the current log file now, so that an unusable path fails at start-up."""
        if self.remote is not None:
            return
        path = log_file_name(self.base, self.mode, self.clock())
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o664))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
        except Exception:
            self.handleError(record)
            return
        if self._size + len(data) > BUFFER_SIZE:
            self._flush_locked()
        was_empty = not self._size
        self._chunks.append(data)
        self._size += len(data)
        if self._size >= FLUSH_SIZE or record.created - self._last_flush >= FLUSH_INTERVAL:
            self._flush_locked()
        elif was_empty and self.background:
            self._wake_flusher()

    def flush(self) -> None:
        self.acquire()
        try:
            self._flush_locked()
        finally:
            self.release()

    def close(self) -> None:
        self._stop_flusher()
        self.flush()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        super().close()

    def after_fork_in_child(self) -> None:
        self._chunks = []
        self._size = 0
        self._wake = threading.Event()
        self._thread = None
        if isinstance(self.formatter, LineFormatter):
            self.formatter.refresh_pid()

    def _wake_flusher(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._flusher, args=(self._wake,),
                                            name="log-flusher", daemon=True)
            self._thread.start()
        self._wake.set()

    def _stop_flusher(self) -> None:
        wake, self._wake = self._wake, threading.Event()
        self._thread = None
        wake.set()

    def _flusher(self, wake: threading.Event) -> None:
        while True:
            wake.wait()
            if wake is not self._wake:
                return
            wake.clear()
            time.sleep(FLUSH_INTERVAL)
            self.flush()

    def _flush_locked(self) -> None:
        if not self._size:
            return
        data = b"".join(self._chunks)
        self._chunks = []
        self._size = 0
        self._last_flush = time.time()
        try:
            if self.remote is not None:
                self._send_remote(data)
            else:
                self._write_file(data)
        except OSError:
            pass

    def _send_remote(self, data: bytes) -> None:
        if self._sock is None:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.setblocking(False)
        assert self.remote is not None
        for start in range(0, len(data), _MAX_DATAGRAM):
            try:
                self._sock.sendto(data[start:start + _MAX_DATAGRAM], self.remote)
            except OSError:
                return

    def _write_file(self, data: bytes) -> None:
        now = self.clock()
        path = log_file_name(self.base, self.mode, now)
        if not self.no_shift:
            self._rotate_if_full(path, now)
            self._delete_expired(now)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o664)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)

    def _chain_length(self, when: float) -> int:
        """`num`, or with num == 0 the number of existing files of the chain."""
        if self.num:
            return self.num
        count = 0
        while os.path.exists(log_file_name(self.base, self.mode, when, count)):
            count += 1
        return count

    def _rotate_if_full(self, path: str, now: float) -> None:
        if self.max_size <= 0:
            return
        try:
            if os.stat(path).st_size < self.max_size:
                return
        except FileNotFoundError:
            return
        if self.num == 1:
            os.unlink(path)
            return
        last = self.num - 2 if self.num else self._chain_length(now) - 1
        for i in range(last, -1, -1):
            src = log_file_name(self.base, self.mode, now, i)
            if os.path.exists(src):
                os.rename(src, log_file_name(self.base, self.mode, now, i + 1))

    def _delete_expired(self, now: float) -> None:
        if self.mode == SHIFT_SIZE or self.keep <= 0:
            return
        stamp = _stamp(self.mode, now)
        if stamp == self._cleaned_stamp:
            return
        self._cleaned_stamp = stamp
        expired = _expired_time(self.mode, now, self.keep)
        for i in range(self._chain_length(expired)):
            try:
                os.unlink(log_file_name(self.base, self.mode, expired, i))
            except FileNotFoundError:
                pass


def _before_fork() -> None:
    for handler in list(_live_handlers):
        handler.flush()


def _after_fork_in_child() -> None:
    for handler in list(_live_handlers):
        handler.after_fork_in_child()


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)

_installed: list[logging.Handler] = []
_file_handler: LogFileHandler | None = None


def setup_logging(config: LogConfig, alert: AlertConfig | None, process_name: str) -> None:
    """Send the root logger's records to the configured log (and FATAL ones to alertcenter).

    Raises ConfigError, naming the field, when the log path or the alert
    address cannot be used.  Calling it again replaces the previous set-up.
    """
    global _file_handler
    close_logging()
    try:
        handler = LogFileHandler(config)
    except ValueError as exc:
        raise ConfigError(f"config error: field 'log.path': {exc}") from None
    try:
        handler.open_check()
    except OSError as exc:
        raise ConfigError(f"config error: field 'log.path': cannot open log file of {process_name}: "
                          f"{exc.strerror}: '{exc.filename}'") from None
    handler.setFormatter(LineFormatter(pid=config.pid))
    handler.addFilter(_mask)
    handlers: list[logging.Handler] = [handler]
    if alert is not None:
        alert_handler = AlertHandler(init_alert(alert))
        alert_handler.setLevel(FATAL)
        alert_handler.setFormatter(LineFormatter(timestamp=False, pid=False))
        alert_handler.addFilter(_alert_filter)
        alert_handler.addFilter(_mask)
        handlers.append(alert_handler)
    root = logging.getLogger()
    for h in handlers:
        root.addHandler(h)
    _installed.extend(handlers)
    _file_handler = handler
    set_level_mask(parse_flag(config.flag))
    logging.captureWarnings(True)


def set_no_shift() -> None:
    """Never rotate nor delete files from this process (extra workers sharing one file)."""
    if _file_handler is not None:
        _file_handler.no_shift = True


def flush_logs() -> None:
    """Write out every buffered line now (shutdown, before exit or exec)."""
    for handler in list(_live_handlers):
        handler.flush()


def close_logging() -> None:
    """Flush and remove the handlers installed by `setup_logging`."""
    global _file_handler
    root = logging.getLogger()
    for handler in _installed:
        root.removeHandler(handler)
        handler.close()
    _installed.clear()
    _file_handler = None


atexit.register(flush_logs)
