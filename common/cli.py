"""A debug command port: one text line in, plain text out (spec/operations.md §12).

Lines end with `\\n` and are at most 4096 bytes (a longer one closes the
connection).  Words are split like redis-cli: spaces separate, `"…"` takes
`\\n \\r \\t \\b \\a \\\\ \\" \\xHH` escapes, `'…'` is literal.  An empty line or
unbalanced quotes produce no output.  The handler gets the words and returns
the reply text (an empty reply sends nothing); it may be a coroutine.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Awaitable, Callable

from .config import Address

log = logging.getLogger(__name__)

MAX_LINE = 4096
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a", "\\": "\\", '"': '"'}

CliHandler = Callable[[list[str]], "str | Awaitable[str]"]


def split_words(line: str) -> list[str] | None:
    """redis-cli style tokenising; None for unbalanced quotes."""
    words: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in " \t\r\n":
            i += 1
        if i >= n:
            return words
        word: list[str] = []
        quote = ""
        while True:
            if i >= n:
                if quote:
                    return None
                break
            ch = line[i]
            if quote == '"':
                if ch == "\\" and i + 3 < n and line[i + 1] == "x" and _is_hex(line[i + 2:i + 4]):
                    word.append(chr(int(line[i + 2:i + 4], 16)))
                    i += 4
                    continue
                if ch == "\\" and i + 1 < n:
                    word.append(_ESCAPES.get(line[i + 1], line[i + 1]))
                    i += 2
                    continue
                if ch == '"':
                    if i + 1 < n and line[i + 1] not in " \t\r\n":
                        return None
                    i += 1
                    break
                word.append(ch)
            elif quote == "'":
                if ch == "\\" and i + 1 < n and line[i + 1] == "'":
                    word.append("'")
                    i += 2
                    continue
                if ch == "'":
                    if i + 1 < n and line[i + 1] not in " \t\r\n":
                        return None
                    i += 1
                    break
                word.append(ch)
            else:
                if ch in " \t\r\n":
                    break
                if ch in "\"'" and not word:
                    quote = ch
                else:
                    word.append(ch)
            i += 1
        words.append("".join(word))


def _is_hex(text: str) -> bool:
    return len(text) == 2 and all(c in "0123456789abcdefABCDEF" for c in text)


class CliServer:
    def __init__(self, address: Address, handler: CliHandler) -> None:
        self.address = address
        self.handler = handler
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        if self.address.kind == "tcp":
            self._server = await asyncio.start_server(self._serve, self.address.host, self.address.port,
                                                      reuse_address=True, limit=MAX_LINE)
        else:
            try:
                os.unlink(self.address.path)
            except FileNotFoundError:
                pass
            self._server = await asyncio.start_unix_server(self._serve, self.address.path, limit=MAX_LINE)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except (asyncio.LimitOverrunError, ValueError):
                    break
                except asyncio.IncompleteReadError:
                    break
                words = split_words(line.decode("utf-8", "replace"))
                if not words:
                    continue
                try:
                    reply = self.handler(words)
                    if inspect.isawaitable(reply):
                        reply = await reply
                except Exception:
                    log.exception("cli command %r failed", words)
                    reply = "internal error\n"
                if reply:
                    writer.write(reply.encode())
                    await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
