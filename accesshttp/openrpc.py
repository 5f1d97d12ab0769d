"""The OpenRPC document the gateway serves at ``GET /openrpc.json``: openrpc.json, less the methods it does not route."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import orjson

OPENRPC_FILE = Path(__file__).with_name("openrpc.json")


def openrpc_document(routed: Collection[str]) -> bytes:
    """The document listing exactly the `routed` methods (the file as it is when it lists no other)."""
    raw = OPENRPC_FILE.read_bytes()
    document = orjson.loads(raw)
    methods = [method for method in document["methods"] if method["name"] in routed]
    if len(methods) == len(document["methods"]):
        return raw
    document["methods"] = methods
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
