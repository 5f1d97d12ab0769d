"""Where the local exchange keeps its files, and which ports it uses.

Everything lives in one data directory (default ``./data``):

    conf/<daemon>.json       the generated daemon configs (rewritten at every start)
    exchange.json            assets and markets; written with the samples on the first start, then read
    trade_log.db             SQLite stand-in for the MySQL `trade_log` database
    trade_history.db         SQLite stand-in for `trade_history`
    redis/                   the Redis server's files (appendonly + RDB), so k-lines survive restarts
    log/<daemon>.log         the daemons' logs; log/<name>.out their stdout/stderr
    run/                     lock files of the daemons and of the launcher, launcher.json (ports, pids)
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"

# The original's sample ports (spec/operations.md §1).
ORIGINAL_PORTS = {
    "http": 8080,
    "http_monitor": 8081,
    "ws": 8090,
    "ws_monitor": 8091,
    "matchengine": 7316,
    "matchengine_cli": 7317,
    "marketprice": 7416,
    "readhistory": 7424,
    "alertcenter": 4444,
    # the monitor ports (GET /metrics, /healthz, /readyz) of the daemons the original gave none, on its plan
    "matchengine_monitor": 7318,
    "marketprice_monitor": 7417,
    "readhistory_monitor": 7425,
    "alertcenter_monitor": 4445,
}
PORT_ROLES = {
    "http": "accesshttp HTTP",
    "http_monitor": "accesshttp monitor",
    "ws": "accessws websocket",
    "ws_monitor": "accessws monitor",
    "matchengine": "matchengine RPC",
    "matchengine_cli": "matchengine CLI",
    "marketprice": "marketprice RPC",
    "readhistory": "readhistory RPC",
    "alertcenter": "alertcenter",
    "matchengine_monitor": "matchengine monitor",
    "marketprice_monitor": "marketprice monitor",
    "readhistory_monitor": "readhistory monitor",
    "alertcenter_monitor": "alertcenter monitor",
}
# The second matchengine of `--standby` (docs/failover.md), next to the first one's ports.
STANDBY_PORTS = {
    "matchengine_standby": 7326,
    "matchengine_standby_cli": 7327,
    "matchengine_standby_monitor": 7328,
}
PORT_ROLES.update({"matchengine_standby": "standby matchengine RPC",
                   "matchengine_standby_cli": "standby matchengine CLI",
                   "matchengine_standby_monitor": "standby matchengine monitor"})
UDP_TOO = ("alertcenter",)


@dataclass(frozen=True, slots=True)
class Ports:
    """The fixed ports of the daemons: the original's, each plus `offset` (with `standby`, the second
    matchengine's too)."""

    offset: int = 0
    standby: bool = False

    def __getitem__(self, role: str) -> int:
        return {**ORIGINAL_PORTS, **STANDBY_PORTS}[role] + self.offset

    def items(self) -> list[tuple[str, int]]:
        roles = [*ORIGINAL_PORTS, *(STANDBY_PORTS if self.standby else ())]
        return [(role, self[role]) for role in roles]

    @property
    def http_url(self) -> str:
        return f"http://{LOOPBACK}:{self['http']}/"

    @property
    def ui_url(self) -> str:
        return f"{self.http_url}ui/"

    @property
    def ws_url(self) -> str:
        return f"ws://{LOOPBACK}:{self['ws']}/"


def port_is_free(port: int, *, udp: bool = False) -> bool:
    """True if a server could bind `port` on the loopback address now (TIME_WAIT does not count)."""
    kinds = [socket.SOCK_STREAM, socket.SOCK_DGRAM] if udp else [socket.SOCK_STREAM]
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                return False
    return True


def busy_ports(ports: Ports) -> list[tuple[str, int]]:
    return [(role, port) for role, port in ports.items() if not port_is_free(port, udp=role in UDP_TOO)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class DataDir:
    """The paths inside one data directory."""

    root: Path

    @classmethod
    def at(cls, path: str | Path) -> DataDir:
        return cls(Path(path).expanduser().resolve())

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def redis(self) -> Path:
        return self.root / "redis"

    @property
    def exchange_file(self) -> Path:
        return self.root / "exchange.json"

    @property
    def trade_log_db(self) -> Path:
        return self.root / "trade_log.db"

    @property
    def trade_history_db(self) -> Path:
        return self.root / "trade_history.db"

    @property
    def state_file(self) -> Path:
        return self.run / "launcher.json"

    @property
    def lock_file(self) -> Path:
        return self.run / "launcher.lock"

    def config_file(self, daemon: str) -> Path:
        return self.conf / f"{daemon}.json"

    def output_file(self, name: str) -> Path:
        return self.log / f"{name}.out"

    def create(self) -> None:
        for path in (self.root, self.conf, self.log, self.run, self.redis):
            path.mkdir(parents=True, exist_ok=True)
