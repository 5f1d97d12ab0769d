"""common.log and common.alert: level mask, line format, buffering, rotation, alerts."""

from __future__ import annotations

import datetime
import inspect
import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.alert import ALERT_MAGIC, ALERT_MAX_SIZE, build_alert, init_alert, send_alert
from common.config import AlertConfig, ConfigError, LogConfig
from common.log import (
    FLUSH_SIZE,
    INFO,
    NOTICE,
    TRACE,
    VIP,
    LineFormatter,
    LogFileHandler,
    close_logging,
    flush_logs,
    get_level_mask,
    level_down,
    level_up,
    log_file_name,
    parse_flag,
    set_level_mask,
    setup_logging,
)

logger = logging.getLogger("tests.unit.test_log")


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, its handlers and level restored after the test."""
    root = logging.getLogger()
    saved_handlers, saved_level, saved_mask = root.handlers[:], root.level, get_level_mask()
    root.handlers = []
    yield root
    close_logging()
    set_level_mask(saved_mask)
    root.handlers = saved_handlers
    root.setLevel(saved_level)


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    yield sock
    sock.close()


def no_datagram(sock: socket.socket, wait: float = 0.2) -> bool:
    sock.settimeout(wait)
    try:
        sock.recv(65536)
    except TimeoutError:
        return True
    return False


def this_line() -> int:
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


def text_of(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def read_log(path: Path) -> str:
    flush_logs()
    return path.read_text()


def record(message: str, *, created: float | None = None, level: int = INFO) -> logging.LogRecord:
    rec = logging.LogRecord("t", level, "/x/f.py", 7, message, None, None, func="fn")
    if created is not None:
        rec.created = created
    return rec


# ------------------------------------------------------------------ level mask


@pytest.mark.parametrize(("flag", "mask"), [
    ("fatal,info", 0x9),
    ("FATAL error\tWarn\r\ninfo", 0xF),
    ("fatal, error, warn, info, notice, debug, trace, user1, user2", 0x1FF),
    ("debug,bogus,,  ,verbose", 0x20),
    ("", 0),
])
def test_parse_flag(flag: str, mask: int) -> None:
    assert parse_flag(flag) == mask


def test_bit_mask_not_threshold(root: logging.Logger, tmp_path: Path) -> None:
    setup_logging(LogConfig(path=str(tmp_path / "m"), flag="fatal,info"), None, "m")
    logger.critical("c1")
    logger.error("e1")
    logger.warning("w1")
    logger.log(NOTICE, "n1")
    logger.info("i1")
    logger.debug("d1")
    logger.log(VIP, "v1")
    levels = re.findall(r"\[(\w+)\]\w+\.py:\d+\(\w+\): (\w+)", read_log(tmp_path / "m.log"))
    assert levels == [("fatal", "c1"), ("info", "i1"), ("vip", "v1")]


def test_extra_levels_and_vip_always(root: logging.Logger, tmp_path: Path) -> None:
    setup_logging(LogConfig(path=str(tmp_path / "x"), flag="notice trace"), None, "x")
    logger.log(NOTICE, "n1")
    logger.log(TRACE, "t1")
    logger.info("i1")
    logger.critical("c1")
    text = read_log(tmp_path / "x.log")
    assert "[notice]" in text and "[trace]" in text
    assert "i1" not in text and "c1" not in text
    set_level_mask(0)
    logger.log(VIP, "still written")
    logger.critical("c2")
    text = read_log(tmp_path / "x.log")
    assert "[vip]" in text and "still written" in text and "c2" not in text


class Probe:
    """Counts how often a log argument is turned into text."""

    def __init__(self) -> None:
        self.count = 0

    def __str__(self) -> str:
        self.count += 1
        return "probe"


def test_disabled_levels_are_not_formatted(root: logging.Logger, tmp_path: Path) -> None:
    setup_logging(LogConfig(path=str(tmp_path / "p"), flag="fatal,info"), None, "p")
    for handler in root.handlers[:]:
        if not isinstance(handler, LogFileHandler):
            root.removeHandler(handler)
    probe = Probe()
    assert not logger.isEnabledFor(logging.DEBUG)
    logger.debug("%s", probe)
    logger.log(TRACE, "%s", probe)
    logger.error("%s", probe)
    logger.warning("%s", probe)
    assert probe.count == 0
    logger.info("%s", probe)
    assert probe.count == 1
    assert read_log(tmp_path / "p.log").count("probe") == 1


def test_level_up_and_down() -> None:
    saved = get_level_mask()
    try:
        set_level_mask(0xF)
        assert level_up() == 0x1F
        assert level_down() == 0xF
        assert level_down() == 0x7
        set_level_mask(0x9)
        assert level_up() == 0xB
        set_level_mask(0xFF)
        assert level_up() == 0xFF
        set_level_mask(0x1FF)
        assert level_down() == 0x17F
        set_level_mask(0x100)
        assert level_down() == 0x100
        set_level_mask(0)
        assert level_up() == 0x1
        assert logging.getLogger().level == logging.CRITICAL
    finally:
        set_level_mask(saved)


# ------------------------------------------------------------------ line format


def test_line_format(root: logging.Logger, tmp_path: Path) -> None:
    setup_logging(LogConfig(path=str(tmp_path / "f"), flag="info"), None, "f")
    before = datetime.datetime.now()
    line = this_line() + 1
    logger.info("hello %s", "world")
    text = read_log(tmp_path / "f.log")
    m = re.fullmatch(
        rf"\[(\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{6}})\] \[{os.getpid()}\] "
        rf"\[info\]test_log\.py:{line}\(test_line_format\): hello world\n", text)
    assert m, text
    stamp = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
    assert abs((stamp - before).total_seconds()) < 5


def test_line_format_without_pid(root: logging.Logger, tmp_path: Path) -> None:
    setup_logging(LogConfig(path=str(tmp_path / "f"), flag="warn", pid=False), None, "f")
    logger.warning("no pid")
    text = read_log(tmp_path / "f.log")
    assert re.fullmatch(r"\[[\d\- :.]{26}\] \[warn\]test_log\.py:\d+\(\w+\): no pid\n", text), text


def test_exception_has_traceback(root: logging.Logger, tmp_path: Path) -> None:
    setup_logging(LogConfig(path=str(tmp_path / "e"), flag="error"), None, "e")
    try:
        _ = 1 // 0
    except ZeroDivisionError:
        logger.exception("division failed")
    text = read_log(tmp_path / "e.log")
    assert re.search(r"\[error\]test_log\.py:\d+\(test_exception_has_traceback\): division failed\n"
                     r"Traceback \(most recent call last\):\n", text), text
    assert text.rstrip().endswith("ZeroDivisionError: integer division or modulo by zero")


# ------------------------------------------------------------------ buffering


def test_lines_wait_in_buffer_until_32k(tmp_path: Path) -> None:
    handler = LogFileHandler(LogConfig(path=str(tmp_path / "b"), flag="info"), background=False)
    handler.setFormatter(LineFormatter(timestamp=False, pid=False))
    t0 = handler._last_flush
    line = "x" * 990
    written = 0
    while written + 1010 < FLUSH_SIZE:
        handler.handle(record(line, created=t0))
        written += len(line) + 20
    assert text_of(tmp_path / "b.log") == ""
    for _ in range(3):
        handler.handle(record(line, created=t0))
    assert (tmp_path / "b.log").stat().st_size >= FLUSH_SIZE
    handler.close()


def test_line_written_when_10ms_passed(tmp_path: Path) -> None:
    handler = LogFileHandler(LogConfig(path=str(tmp_path / "b"), flag="info"), background=False)
    handler.setFormatter(LineFormatter(timestamp=False, pid=False))
    t0 = handler._last_flush
    handler.handle(record("first", created=t0 + 0.001))
    assert text_of(tmp_path / "b.log") == ""
    handler.handle(record("second", created=t0 + 0.011))
    assert (tmp_path / "b.log").read_text() == "[info]f.py:7(fn): first\n[info]f.py:7(fn): second\n"
    handler.close()


def test_background_flush_without_further_logging(tmp_path: Path) -> None:
    handler = LogFileHandler(LogConfig(path=str(tmp_path / "b"), flag="info"))
    handler.setFormatter(LineFormatter(timestamp=False, pid=False))
    t0 = handler._last_flush
    handler.handle(record("one", created=t0))
    handler.handle(record("two", created=t0))
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and "two" not in text_of(tmp_path / "b.log"):
        time.sleep(0.005)
    assert (tmp_path / "b.log").read_text() == "[info]f.py:7(fn): one\n[info]f.py:7(fn): two\n"
    handler.close()


# ------------------------------------------------------------------ size rotation


def write_lines(handler: LogFileHandler, *texts: str) -> None:
    for text in texts:
        handler.handle(record(text))
        handler.flush()


def rotating(tmp_path: Path, **kw: object) -> LogFileHandler:
    handler = LogFileHandler(LogConfig(path=str(tmp_path / "r"), flag="info", **kw), background=False)  # type: ignore[arg-type]
    handler.setFormatter(LineFormatter(timestamp=False, pid=False))
    return handler


def content(path: Path) -> str:
    return "".join(re.findall(r": (\w)\w*\n", path.read_text()))


def test_size_rotation_chain(tmp_path: Path) -> None:
    handler = rotating(tmp_path, max=100, num=3)
    write_lines(handler, *(c + "x" * 40 for c in "ABCDEFG"))
    assert content(tmp_path / "r.log") == "G"
    assert content(tmp_path / "r.log.1") == "EF"
    assert content(tmp_path / "r.log.2") == "CD"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.log", "r.log.1", "r.log.2"]


def test_size_rotation_num_one_deletes(tmp_path: Path) -> None:
    handler = rotating(tmp_path, max=100, num=1)
    write_lines(handler, *(c + "x" * 40 for c in "ABC"))
    assert content(tmp_path / "r.log") == "C"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.log"]


def test_size_rotation_num_zero_keeps_all(tmp_path: Path) -> None:
    handler = rotating(tmp_path, max=100, num=0)
    write_lines(handler, *(c + "x" * 40 for c in "ABCDEFG"))
    assert [content(tmp_path / n) for n in ("r.log", "r.log.1", "r.log.2", "r.log.3")] == ["G", "EF", "CD", "AB"]


def test_max_zero_never_rotates(tmp_path: Path) -> None:
    handler = rotating(tmp_path, max=0, num=3)
    write_lines(handler, *(c + "x" * 40 for c in "ABCDEFG"))
    assert content(tmp_path / "r.log") == "ABCDEFG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.log"]


# ------------------------------------------------------------------ time modes


def local(*fields: int) -> float:
    return time.mktime((*fields, 0, 0, -1))  # type: ignore[arg-type]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("shift", "name"), [
    ("hour", "t.2024030514.log"),
    ("min", "t.202403051430.log"),
    ("day", "t.20240305.log"),
    ("anything", "t.20240305.log"),
    ("size", "t.log"),
])
def test_time_mode_file_names(tmp_path: Path, shift: str, name: str) -> None:
    clock = Clock(local(2024, 3, 5, 14, 30, 15))
    handler = LogFileHandler(LogConfig(path=str(tmp_path / "t"), flag="info", shift=shift),
                             clock=clock, background=False)
    handler.setFormatter(LineFormatter(timestamp=False, pid=False))
    write_lines(handler, "hello")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert log_file_name("/a/b", "hour", clock(), 2) == "/a/b.2024030514.log.2"


def test_size_rotation_inside_a_period(tmp_path: Path) -> None:
    clock = Clock(local(2024, 3, 5, 14, 30, 15))
    handler = LogFileHandler(LogConfig(path=str(tmp_path / "t"), flag="info", shift="hour", max=50, num=3),
                             clock=clock, background=False)
    handler.setFormatter(LineFormatter(timestamp=False, pid=False))
    write_lines(handler, "A" + "x" * 40, "B" + "x" * 40)
    assert content(tmp_path / "t.2024030514.log") == "B"
    assert content(tmp_path / "t.2024030514.log.1") == "A"


def test_hour_mode_deletes_exactly_keep_periods_back(tmp_path: Path) -> None:
    clock = Clock(local(2024, 3, 5, 14, 30, 15))
    handler = LogFileHandler(LogConfig(path=str(tmp_path / "t"), flag="info", shift="hour", keep=3, num=2),
                             clock=clock, background=False)
    handler.setFormatter(LineFormatter(timestamp=False, pid=False))
    old = ["t.2024030510.log", "t.2024030511.log", "t.2024030511.log.1", "t.2024030511.log.2",
           "t.2024030512.log", "t.2024030513.log"]
    for name in old:
        (tmp_path / name).write_text("old\n")
    write_lines(handler, "now")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["t.2024030510.log", "t.2024030511.log.2", "t.2024030512.log",
                     "t.2024030513.log", "t.2024030514.log"]
    (tmp_path / "t.2024030511.log").write_text("again\n")
    clock.now += 600
    write_lines(handler, "same period")
    assert (tmp_path / "t.2024030511.log").exists()
    clock.now += 3600
    write_lines(handler, "next period")
    assert not (tmp_path / "t.2024030512.log").exists()
    assert (tmp_path / "t.2024030511.log").exists()
    assert (tmp_path / "t.2024030515.log").exists()


def test_day_and_min_modes_delete_keep_periods_back(tmp_path: Path) -> None:
    now = local(2024, 3, 5, 0, 10, 0)
    for shift, victim, survivor in (("day", "d.20240303.log", "d.20240304.log"),
                                    ("min", "d.202403050007.log", "d.202403050008.log")):
        (tmp_path / victim).write_text("old\n")
        (tmp_path / survivor).write_text("old\n")
        handler = LogFileHandler(LogConfig(path=str(tmp_path / "d"), flag="info", shift=shift, keep=2 if shift == "day" else 3),
                                 clock=Clock(now), background=False)
        handler.setFormatter(LineFormatter(timestamp=False, pid=False))
        write_lines(handler, "x")
        assert not (tmp_path / victim).exists()
        assert (tmp_path / survivor).exists()


def test_keep_zero_never_deletes(tmp_path: Path) -> None:
    (tmp_path / "t.2024030511.log").write_text("old\n")
    handler = LogFileHandler(LogConfig(path=str(tmp_path / "t"), flag="info", shift="hour", keep=0),
                             clock=Clock(local(2024, 3, 5, 14, 30, 15)), background=False)
    handler.setFormatter(LineFormatter(timestamp=False, pid=False))
    write_lines(handler, "x")
    assert (tmp_path / "t.2024030511.log").exists()


def test_unusable_log_path_is_a_config_error(root: logging.Logger, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"field 'log.path'"):
        setup_logging(LogConfig(path=str(tmp_path / "file" / "sub" / "x"), flag="info"), None, "x")
    with pytest.raises(ConfigError, match=r"field 'log.path'"):
        setup_logging(LogConfig(path="notanip:99", flag="info"), None, "x")


# ------------------------------------------------------------------ remote log


def test_remote_log_mode(root: logging.Logger, udp: socket.socket) -> None:
    port = udp.getsockname()[1]
    setup_logging(LogConfig(path=f"127.0.0.1:{port}", flag="info", pid=False), None, "r")
    logger.info("over udp")
    flush_logs()
    data = udp.recv(65536)
    assert re.fullmatch(rb"\[[\d\- :.]{26}\] \[info\]test_log\.py:\d+\(test_remote_log_mode\): over udp\n", data)


# ------------------------------------------------------------------ alerts


def test_fatal_sends_alert_datagram(root: logging.Logger, tmp_path: Path, udp: socket.socket) -> None:
    port = udp.getsockname()[1]
    setup_logging(LogConfig(path=str(tmp_path / "a"), flag="fatal,error"),
                  AlertConfig(host="myhost", addr=("127.0.0.1", port)), "a")
    line = this_line() + 1
    logger.critical("boom %d", 7)
    assert udp.recv(65536) == (b"373d26968a5a2b698045myhost: "
                               b"[fatal]test_log.py:%d(test_fatal_sends_alert_datagram): boom 7\n" % line)
    logger.error("not an alert")
    logger.log(VIP, "not an alert either")
    assert no_datagram(udp)
    assert "boom 7" in read_log(tmp_path / "a.log")


def test_no_alert_when_fatal_disabled(root: logging.Logger, tmp_path: Path, udp: socket.socket) -> None:
    port = udp.getsockname()[1]
    setup_logging(LogConfig(path=str(tmp_path / "a"), flag="error,info"),
                  AlertConfig(host="h", addr=("127.0.0.1", port)), "a")
    logger.critical("hidden")
    assert no_datagram(udp)
    assert "hidden" not in read_log(tmp_path / "a.log")


def test_alert_truncated_to_10240_bytes(udp: socket.socket) -> None:
    port = udp.getsockname()[1]
    init_alert(AlertConfig(host="h", addr=("127.0.0.1", port)))
    assert send_alert("x" * 20000)
    data = udp.recv(65536)
    assert len(data) == ALERT_MAX_SIZE
    assert data == ALERT_MAGIC + b"h: " + b"x" * (ALERT_MAX_SIZE - len(ALERT_MAGIC) - 3)
    fits = "y" * (ALERT_MAX_SIZE - len(ALERT_MAGIC) - 4)
    assert send_alert(fits)
    data = udp.recv(65536)
    assert len(data) == ALERT_MAX_SIZE and data.endswith(b"y\n")
    assert build_alert("h", fits + "z") == data[:-1] + b"z"


def test_alert_never_raises(root: logging.Logger, tmp_path: Path) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    dead_port = probe.getsockname()[1]
    probe.close()
    setup_logging(LogConfig(path=str(tmp_path / "a"), flag="fatal"),
                  AlertConfig(host="h", addr=("127.0.0.1", dead_port)), "a")
    started = time.monotonic()
    for i in range(2000):
        logger.critical("nobody listens %d", i)
    assert time.monotonic() - started < 5
    sender = init_alert(AlertConfig(host="h", addr=("127.0.0.1", dead_port)))
    sender.close()
    assert send_alert("on a closed socket") is False
    logger.critical("through a handler whose socket was closed")


def test_alert_of_a_multiline_record_is_one_line() -> None:
    from common.alert import ALERT_MAGIC, build_alert

    assert build_alert("me", "boom\nTraceback:\r\n  x") == ALERT_MAGIC + b"me: boom\\nTraceback:\\n  x\n"
