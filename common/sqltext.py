"""Text for single-quoted MySQL string literals (the escaping of pymysql's `escape_string`).

Kept apart from storage.py so that it can be compiled (setup.py) and used by
compiled modules (history rows) without importing the database drivers.
"""

from __future__ import annotations

from typing import Final

_ESCAPES: Final = {0: "\\0", ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r", 0x1A: "\\Z",
                   ord('"'): '\\"', ord("'"): "\\'"}


def escape_text(text: str) -> str:
    """Text escaped for a single-quoted MySQL string literal (most text needs nothing)."""
    if ("'" in text or "\\" in text or "\n" in text or "\r" in text or "\x00" in text
            or "\x1a" in text):  # a few scans of a short string cost less than a regex search
        return text.translate(_ESCAPES)
    return text
