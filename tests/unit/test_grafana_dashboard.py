"""deploy/grafana/exchange.json names only metrics some daemon exports.

The registries are filled as the daemons fill them (the modules that count,
the RPC servers of the three backends, the export functions each daemon calls
at start, on stand-in objects) and every name of the dashboard's queries must
be a sample name of their exposition.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import accesshttp.metering
import accessws.session
import matchengine.operlog
import matchengine.server
import readhistory.server
from accessws.config import WsServerConfig
from accessws.server import WsServer
from accessws.worker import export_subscriptions
from alertcenter.__main__ import export_metrics as export_alertcenter
from alertcenter.writer import AlertWriter
from common.config import ServerConfig, parse_address
from common.kafka import PartitionReader
from common.metrics import process_registry
from common.rpc import RpcServer
from marketprice.monitoring import export_metrics as export_marketprice
from marketprice.state import Markets
from matchengine.monitoring import export_metrics as export_matchengine
from matchengine.role import RoleStatus

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "exchange.json"
METRIC_NAME = re.compile(r"\b((?:viabtc|process)_[a-z0-9_]+)\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
MODULES_THAT_COUNT = (accesshttp.metering, accessws.session, matchengine.operlog, matchengine.server,
                      readhistory.server)


def exported_names() -> set[str]:
    server = ServerConfig(bind=[parse_address("tcp@127.0.0.1:0")], max_pkg_size=1024)
    for backend in ("matchengine", "marketprice", "readhistory"):
        RpcServer(server, {}, name=backend)
    export_matchengine(cast(Any, SimpleNamespace(engine=None, status=RoleStatus("sole"), operlog=None,
                                                 leadership=None)))
    export_marketprice(PartitionReader("127.0.0.1:1", "deals"), Markets())
    export_alertcenter(AlertWriter(None, "alert", 10))
    WsServer(WsServerConfig(server=server, protocol="chat", origin=""), cast(Any, None))
    no_one = SimpleNamespace(keys_of={}, by_user={})
    export_subscriptions(cast(Any, SimpleNamespace(polled=lambda: (no_one,) * 6, orders=no_one, assets=no_one)))
    names = set()
    for family in process_registry().collect():
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_every_metric_of_the_dashboard_is_exported() -> None:
    assert MODULES_THAT_COUNT
    exported = exported_names()
    used = {name for expr in dashboard_queries() for name in METRIC_NAME.findall(expr)}
    assert len(used) > 30
    assert sorted(used - exported) == []


def test_the_dashboard_shows_every_daemon() -> None:
    text = " ".join(dashboard_queries())
    for daemon in ("matchengine", "marketprice", "readhistory", "accesshttp", "accessws", "alertcenter"):
        assert f"viabtc_{daemon}_" in text, daemon
