"""The OpenRPC document accesshttp serves (accesshttp/openrpc.json), checked statically.

It must list exactly the 37 methods the gateway can route (the original's 23
and the 14 beyond it), every reference must
resolve, and every example must fit its method: the right number of
positional params, each value valid for its param's schema, and the result
valid for the result schema.  (tests/e2e/test_accesshttp_openrpc.py replays
the examples against running daemons.)  The validator below covers the part
of JSON Schema the document uses.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from accesshttp.gateway import OPENRPC_FILE
from accesshttp.methods import METHODS

DOC: dict[str, Any] = orjson.loads(OPENRPC_FILE.read_bytes())
TYPES: dict[str, type] = {"object": dict, "array": list, "string": str, "null": type(None), "boolean": bool}


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        path = node["$ref"]
        assert path.startswith("#/"), path
        target: Any = DOC
        for part in path[2:].split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def type_matches(value: Any, kind: str) -> bool:
    if kind == "integer":
        return type(value) is int
    if kind == "number":
        return type(value) in (int, float)
    return isinstance(value, TYPES[kind]) and not (kind != "boolean" and type(value) is bool)


def problems(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    schema = resolve(schema)
    found: list[str] = []
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not problems(value, s, where)]
        return [] if len(matching) == 1 else [f"{where}: matches {len(matching)} of oneOf"]
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(type_matches(value, k) for k in kinds):
            return [f"{where}: {value!r} is not of type {kinds}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{where}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in {schema['enum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        found.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        found += [f"{where}: missing {key}" for key in schema.get("required", []) if key not in value]
        for key, item in value.items():
            if key in properties:
                found += problems(item, properties[key], f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{where}: unexpected key {key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                found += problems(item, schema["additionalProperties"], f"{where}.{key}")
    if isinstance(value, list):
        items = schema.get("items")
        if len(value) < schema.get("minItems", 0):
            found.append(f"{where}: fewer than {schema['minItems']} items")
        if isinstance(items, list):
            if len(value) > len(items) and schema.get("additionalItems") is False:
                found.append(f"{where}: more than {len(items)} items")
            for i, (item, item_schema) in enumerate(zip(value, items, strict=False)):
                found += problems(item, item_schema, f"{where}[{i}]")
        elif isinstance(items, dict):
            for i, item in enumerate(value):
                found += problems(item, items, f"{where}[{i}]")
    return found


def all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        refs = [node["$ref"]] if "$ref" in node else []
        return refs + [r for value in node.values() for r in all_refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in all_refs(value)]
    return []


def test_lists_exactly_the_routed_methods() -> None:
    names = [method["name"] for method in DOC["methods"]]
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(METHODS)
    assert DOC["openrpc"].startswith("1.")


def test_every_reference_resolves() -> None:
    for ref in all_refs(DOC):
        resolve({"$ref": ref})


def test_schema_checker_can_fail() -> None:
    order = {"$ref": "#/components/schemas/Order"}
    assert problems({"id": 1}, order)
    assert problems("8000.0.0", {"$ref": "#/components/schemas/Decimal"})
    assert problems("NaN", {"$ref": "#/components/schemas/Decimal"})
    assert problems([1, "0", "0", "0", "0", "0", "0"], {"$ref": "#/components/schemas/Kline"})
    assert not problems("-1.5e-8", {"$ref": "#/components/schemas/Decimal"})


@pytest.mark.parametrize("method", DOC["methods"], ids=lambda m: m["name"])
def test_examples_fit_their_method(method: dict[str, Any]) -> None:
    params = method["params"]
    required = sum(1 for p in params if p.get("required"))
    assert method["examples"], f"{method['name']} has no example"
    assert method["paramStructure"] == "by-position"
    for example in method["examples"]:
        given = example["params"]
        assert len(given) >= required, example["name"]
        for position, pair in enumerate(given):
            descriptor = params[min(position, len(params) - 1)]
            assert pair["name"] == descriptor["name"], example["name"]
            assert not problems(pair["value"], descriptor["schema"], pair["name"]), (example["name"], pair)
        result = example["result"]["value"]
        assert not problems(result, method["result"]["schema"]), (example["name"], problems(
            result, method["result"]["schema"]))


@pytest.mark.parametrize("method", DOC["methods"], ids=lambda m: m["name"])
def test_errors_are_documented_codes(method: dict[str, Any]) -> None:
    codes = [resolve(e)["code"] for e in method["errors"]]
    assert 5 in codes  # every method can time out at the gateway
    assert set(codes) <= {1, 2, 3, 5, 10, 11, 12, 13}
    readhistory = METHODS[method["name"]].backend == "readhistory"
    assert (2 in codes) == (readhistory or method["name"] in ("order.put_limit", "order.put_market"))
    assert (13 in codes) == (method["name"] in ("order.put_limit", "order.put_market"))
    writes = {"balance.update", "asset.lock", "asset.unlock", "config.update_asset", "config.update_market"} | {
        name for name in METHODS if name.startswith(("order.put", "order.cancel"))}
    assert (3 in codes) == (readhistory or method["name"] in writes), method["name"]
