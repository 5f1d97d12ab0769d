"""Reading a request's parameters, shared by the daemons' handlers: error 1 with a reason naming the parameter."""

from __future__ import annotations

from typing import Any

from common.errors import invalid_argument


def read_integer(value: Any, name: str) -> int:
    """A JSON integer (bools are not); "invalid argument" for any other value, naming the parameter `name`."""
    if type(value) is not int:
        raise invalid_argument(f"{name}: must be an integer")
    return value
