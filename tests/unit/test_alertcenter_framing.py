"""alertcenter's framing: magic check, line splitting of datagrams and streams, ``\\r`` stripping."""

from __future__ import annotations

import pytest

from alertcenter.framing import FramingError, LineReader, message_of, split_datagram
from common.alert import ALERT_MAGIC, build_alert

M = ALERT_MAGIC


def test_a_line_needs_the_magic() -> None:
    assert message_of(M + b"matchengine: [fatal]x.py:1(f): boom") == b"matchengine: [fatal]x.py:1(f): boom"
    assert message_of(M + b"text\r") == b"text"
    assert message_of(M + b"text\r\r") == b"text\r"
    assert message_of(M) == b""
    assert message_of(M[:19]) is None
    assert message_of(b"x" + M + b"text") is None
    assert message_of(b"") is None


def test_datagrams_give_every_line_and_an_unterminated_tail() -> None:
    assert split_datagram(M + b"one\n", 10240) == ([b"one"], 0)
    assert split_datagram(M + b"one\r\n" + M + b"two\n", 10240) == ([b"one", b"two"], 0)
    assert split_datagram(M + b"one\nbad line\n" + M + b"three", 10240) == ([b"one", b"three"], 1)
    assert split_datagram(b"no magic at all\n", 10240) == ([], 1)
    assert split_datagram(b"\n", 10240) == ([], 1)
    assert split_datagram(b"", 10240) == ([], 0)
    assert split_datagram(M + b"binary \x00\xff ok\n", 10240) == ([b"binary \x00\xff ok"], 0)


def test_a_long_datagram_is_cut_to_the_read_buffer() -> None:
    data = M + b"a" * 20000 + b"\n"
    messages, invalid = split_datagram(data, 10240)
    assert (messages, invalid) == ([b"a" * (10240 - len(M))], 0)


def test_an_alert_truncated_by_its_sender_still_arrives() -> None:
    datagram = build_alert("marketprice", "x" * 20000)
    assert len(datagram) == 10240 and not datagram.endswith(b"\n")
    messages, _ = split_datagram(datagram, 10240)
    assert messages == [datagram[len(M):]]


def test_stream_lines_across_chunks() -> None:
    reader = LineReader(64)
    assert reader.feed(M + b"he") == []
    assert reader.feed(b"llo\r\n" + M + b"wor") == [b"hello"]
    assert reader.feed(b"ld\n" + M + b"x\n" + M) == [b"world", b"x"]
    assert reader.feed(b"tail") == []
    assert reader.finish() == b"tail"
    assert reader.finish() is None


def test_stream_errors_keep_the_lines_before_them() -> None:
    reader = LineReader(64)
    with pytest.raises(FramingError) as exc:
        reader.feed(M + b"good\nshort\n" + M + b"never\n")
    assert exc.value.messages == [b"good"]
    with pytest.raises(FramingError):
        LineReader(64).feed(M + b"y" * 44)  # 64 bytes and still no newline
    assert LineReader(64).feed(M + b"y" * 43 + b"\n") == [b"y" * 43]
    with pytest.raises(FramingError):
        LineReader(64).feed(M + b"y" * 44 + b"\n")  # a 65-byte line
    assert LineReader(64).finish() is None
    reader = LineReader(64)
    reader.feed(b"garbage without newline")
    assert reader.finish() is None
