"""Text for single-quoted MySQL string literals (the escaping of pymysql's `escape_string`).

Kept apart from storage.py so that compiled modules (history rows, see setup.py)
can render SQL without importing the database drivers.
"""

from __future__ import annotations

import re

_NEEDS_ESCAPE = re.compile("[\x00\n\r\\\\'\x1a]")
_ESCAPES = {0: "\\0", ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r", 0x1A: "\\Z", ord('"'): '\\"',
            ord("'"): "\\'"}


def escape_text(text: str) -> str:
    """Text escaped for a single-quoted MySQL string literal (most text needs nothing)."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return text.translate(_ESCAPES)
