"""How alertcenter cuts received bytes into alert messages (spec/alertcenter.md §2.2, §2.3).

A message is a line: the 20-byte ASCII magic, the text, ``\\n``.  The text is
what follows the magic up to the newline, with one trailing ``\\r`` removed.
A line that does not start with the magic (which covers lines of 20 bytes or
less) is invalid.

UDP: every line of a datagram is a message.  The last piece of a datagram
may lack its newline (an alert longer than 10240 bytes was cut by its sender,
which drops the newline); it still counts as a line.  Datagrams longer than
the read buffer (`max_pkg_size`) are cut to it first, as a fixed-size
receive buffer would cut them.

TCP: lines are taken one after another from the stream.  An invalid line,
or `max_pkg_size` bytes without a newline, is a protocol error and the caller
closes the connection.  A valid unterminated line left when the peer closes
is still a message.
"""

from __future__ import annotations

from common.alert import ALERT_MAGIC

MAGIC_SIZE = len(ALERT_MAGIC)


class FramingError(Exception):
    """A stream peer broke the line protocol; `messages` are the valid lines that came before."""

    def __init__(self, reason: str, messages: list[bytes]) -> None:
        super().__init__(reason)
        self.messages = messages


def message_of(line: bytes) -> bytes | None:
    """The text of one line (without its ``\\n``), or None when the line is invalid."""
    if not line.startswith(ALERT_MAGIC):
        return None
    text = line[MAGIC_SIZE:]
    return text[:-1] if text.endswith(b"\r") else text


def split_datagram(data: bytes, max_size: int) -> tuple[list[bytes], int]:
    """(messages, invalid line count) of one datagram, cut to `max_size` bytes."""
    data = data[:max_size]
    lines = data.split(b"\n")
    if not lines[-1]:
        lines.pop()
    messages: list[bytes] = []
    invalid = 0
    for line in lines:
        message = message_of(line)
        if message is None:
            invalid += 1
        else:
            messages.append(message)
    return messages, invalid


class LineReader:
    """Reassembles the lines of one stream connection."""

    __slots__ = ("_buffer", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        """The messages completed by `data`; FramingError at the first invalid or oversized line."""
        buffer = self._buffer + data if self._buffer else data
        messages: list[bytes] = []
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            if end + 1 - start > self.max_size:
                raise FramingError(f"line of {end + 1 - start} bytes exceeds {self.max_size}", messages)
            message = message_of(buffer[start:end])
            if message is None:
                raise FramingError(f"invalid line: {buffer[start:min(end, start + 64)]!r}", messages)
            messages.append(message)
            start = end + 1
        rest = buffer[start:]
        if len(rest) >= self.max_size:
            raise FramingError(f"{len(rest)} bytes without a newline (limit {self.max_size})", messages)
        self._buffer = rest
        return messages

    def finish(self) -> bytes | None:
        """At end of stream: the message of a valid unterminated last line, if any."""
        rest, self._buffer = self._buffer, b""
        return message_of(rest) if rest else None
