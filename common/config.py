"""JSON config files read into typed objects, with one clear line per mistake.

Every daemon reads one JSON file whose field names are the original's
(spec/operations.md §8).  `Section` wraps one JSON object and reads typed fields
from it; a missing required field or a value of the wrong type raises
`ConfigError` whose message names the field by its dotted path, e.g.
``config error: field 'svr.max_pkg_size': must be a positive integer``.
The shared objects (log, alert, process, servers, clients, databases) are
dataclasses built by the `*_config` functions below.
"""

from __future__ import annotations

import builtins
import os
from dataclasses import dataclass, field
from typing import Any

import orjson

REQUIRED: Any = object()


class ConfigError(Exception):
    """A config problem; str() is the one line printed before exiting."""


class Section:
    """Typed access to one JSON object of a config file.

    The getters are named after the types they return, so inside this class
    `str`, `int`, `bool` and `list` in an annotation mean the methods: the
    annotations after them spell the types as `builtins.str` and so on.
    """

    def __init__(self, data: dict[str, Any], path: str = "") -> None:
        self.data = data
        self.path = path

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"config error: field '{self.name(key)}': {problem}")

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, default: Any) -> Any:
        if key in self.data:
            return self.data[key]
        if default is REQUIRED:
            raise self.error(key, "required field is missing")
        return default

    def raw(self, key: str, default: Any = REQUIRED) -> Any:
        return self._get(key, default)

    def str(self, key: str, default: Any = REQUIRED, *, max_len: int | None = None,
            non_empty: bool = False) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self.error(key, "must be a string")
        if non_empty and not value:
            raise self.error(key, "must not be empty")
        if max_len is not None and len(value.encode()) > max_len:
            raise self.error(key, f"must be at most {max_len} bytes")
        return value

    def int(self, key: builtins.str, default: Any = REQUIRED, *, min: int | None = None,
            max: int | None = None) -> int:
        value = self._get(key, default)
        if type(value) is not int:
            raise self.error(key, "must be an integer")
        if min is not None and value < min:
            raise self.error(key, f"must be >= {min}")
        if max is not None and value > max:
            raise self.error(key, f"must be <= {max}")
        return value

    def real(self, key: builtins.str, default: Any = REQUIRED, *, min: float | None = None,
             positive: bool = False) -> float:
        value = self._get(key, default)
        if type(value) not in (int, float):
            raise self.error(key, "must be a number")
        if min is not None and value < min:
            raise self.error(key, f"must be >= {min}")
        if positive and value <= 0:
            raise self.error(key, "must be > 0")
        return float(value)

    def bool(self, key: builtins.str, default: Any = REQUIRED) -> builtins.bool:
        value = self._get(key, default)
        if type(value) is not bool:
            raise self.error(key, "must be true or false")
        return value

    def list(self, key: builtins.str, default: Any = REQUIRED, *,
             non_empty: builtins.bool = False) -> builtins.list[Any]:
        value = self._get(key, default)
        if not isinstance(value, list):
            raise self.error(key, "must be an array")
        if non_empty and not value:
            raise self.error(key, "must not be empty")
        return value

    def str_list(self, key: builtins.str, default: Any = REQUIRED, *,
                 non_empty: builtins.bool = False) -> builtins.list[builtins.str]:
        items = self.list(key, default, non_empty=non_empty)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise self.error(f"{key}[{i}]", "must be a string")
        return items

    def str_or_list(self, key: builtins.str, default: Any = REQUIRED) -> builtins.list[builtins.str]:
        """A string or a non-empty array of strings (`bind`, `addr`)."""
        value = self._get(key, default)
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return list(value)
        raise self.error(key, "must be a string or a non-empty array of strings")

    def section(self, key: builtins.str, default: Any = REQUIRED) -> Section:
        value = self._get(key, default)
        if not isinstance(value, dict):
            raise self.error(key, "must be an object")
        return Section(value, self.name(key))

    def sections(self, key: builtins.str, default: Any = REQUIRED, *,
                 non_empty: builtins.bool = False) -> builtins.list[Section]:
        items = self.list(key, default, non_empty=non_empty)
        result = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.error(f"{key}[{i}]", "must be an object")
            result.append(Section(item, f"{self.name(key)}[{i}]"))
        return result


def load_config_file(path: str) -> Section:
    """Read and parse a JSON config file; ConfigError on any failure."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ConfigError(f"config error: cannot read '{path}': {exc.strerror}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"config error: '{path}' is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config error: '{path}' must hold a JSON object")
    return Section(data)


# ---------------------------------------------------------------- addresses

@dataclass(frozen=True, slots=True)
class Address:
    """`tcp@HOST:PORT`, `udp@HOST:PORT`, `stream@/path`, `dgram@/path`, `seqpacket@/path`."""

    kind: str
    host: str = ""
    port: int = 0
    path: str = ""

    @property
    def is_stream(self) -> bool:
        return self.kind in ("tcp", "stream", "seqpacket")

    def __str__(self) -> str:
        if self.kind in ("tcp", "udp"):
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"{self.kind}@{host}:{self.port}"
        return f"{self.kind}@{self.path}"


def parse_address(text: str) -> Address:
    """Parse the original's address syntax; ValueError with a reason if bad."""
    kind, sep, rest = text.partition("@")
    kind = kind.lower()
    if not sep or not rest:
        raise ValueError(f"bad address '{text}' (expected type@address)")
    if kind in ("tcp", "udp"):
        host, sep, port_text = rest.rpartition(":")
        if not sep or not host:
            raise ValueError(f"bad address '{text}' (expected {kind}@host:port)")
        host = host.strip("[]")
        try:
            port = int(port_text, 0)
        except ValueError:
            raise ValueError(f"bad port in address '{text}'") from None
        if not 0 <= port <= 65535:
            raise ValueError(f"bad port in address '{text}'")
        return Address(kind, host=host, port=port)
    if kind in ("stream", "dgram", "seqpacket"):
        if len(rest.encode()) >= 108:
            raise ValueError(f"unix path too long in '{text}'")
        return Address(kind, path=rest)
    raise ValueError(f"unknown address type in '{text}'")


def address_list(sec: Section, key: str, default: Any = REQUIRED) -> list[Address]:
    texts = sec.str_or_list(key, default)
    result = []
    for text in texts:
        try:
            result.append(parse_address(text))
        except ValueError as exc:
            raise sec.error(key, str(exc)) from None
    return result


def host_port(sec: Section, key: str, default: Any = REQUIRED) -> tuple[str, int]:
    """An `ip:port` string (alert.addr, Redis addresses)."""
    return _host_port_text(sec, key, sec.str(key, default))


def _host_port_text(sec: Section, key: str, text: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise sec.error(key, f"'{text}' is not host:port")
    return host.strip("[]"), int(port_text)


# ---------------------------------------------------------------- shared objects

LOG_LEVELS = ("fatal", "error", "warn", "info", "notice", "debug", "trace", "user1", "user2")


@dataclass(slots=True)
class LogConfig:
    path: str
    flag: str
    shift: str = "size"
    pid: bool = True
    max: int = 100_000_000
    num: int = 100
    keep: int = 7


def log_config(sec: Section) -> LogConfig:
    log = sec.section("log")
    return LogConfig(
        path=log.str("path", non_empty=True),
        flag=log.str("flag"),
        shift=log.str("shift", "size"),
        pid=log.bool("pid", True),
        max=log.int("max", 100_000_000, min=0),
        num=log.int("num", 100, min=0),
        keep=log.int("keep", 7, min=0),
    )


@dataclass(slots=True)
class AlertConfig:
    host: str
    addr: tuple[str, int]


def alert_config(sec: Section) -> AlertConfig:
    alert = sec.section("alert")
    return AlertConfig(host=alert.str("host"), addr=host_port(alert, "addr"))


@dataclass(slots=True)
class ProcessConfig:
    file_limit: int = 0
    core_limit: int = 0


def process_config(sec: Section) -> ProcessConfig:
    if not sec.has("process"):
        return ProcessConfig()
    proc = sec.section("process")
    return ProcessConfig(file_limit=proc.int("file_limit", 0, min=0), core_limit=proc.int("core_limit", 0, min=0))


@dataclass(slots=True)
class ServerConfig:
    """A listening server: RPC (`svr` of the backends), plain (`monitor`) or HTTP/WS."""

    bind: list[Address]
    max_pkg_size: int
    buf_limit: int = 0
    read_mem: int = 0
    write_mem: int = 0
    heartbeat_check: bool = True
    keep_alive: int = 3600


def server_config(sec: Section, key: str = "svr", *, heartbeat_default: bool = True) -> ServerConfig:
    svr = sec.section(key)
    return ServerConfig(
        bind=address_list(svr, "bind"),
        max_pkg_size=svr.int("max_pkg_size", min=1),
        buf_limit=svr.int("buf_limit", 0, min=0),
        read_mem=svr.int("read_mem", 0, min=0),
        write_mem=svr.int("write_mem", 0, min=0),
        heartbeat_check=svr.bool("heartbeat_check", heartbeat_default),
        keep_alive=svr.int("keep_alive", 3600, min=0),
    )


def monitor_config(sec: Section, key: str = "monitor") -> ServerConfig | None:
    """The optional monitor port (HTTP: /metrics, /healthz, /readyz) on `tcp@` or `stream@` addresses."""
    if not sec.has(key):
        return None
    monitor = sec.section(key)
    config = ServerConfig(bind=address_list(monitor, "bind"), max_pkg_size=monitor.int("max_pkg_size", 1024, min=1))
    for address in config.bind:
        if address.kind not in ("tcp", "stream"):
            raise monitor.error("bind", f"'{address}': the monitor listens on tcp@ or stream@ addresses only")
    return config


@dataclass(slots=True)
class ClientConfig:
    """An RPC client of a backend (`matchengine`, `marketprice`, `readhistory`)."""

    name: str
    addr: list[Address]
    max_pkg_size: int
    buf_limit: int = 0
    reconnect_timeout: float = 1.0
    heartbeat_timeout: float = 3.0


def client_config(sec: Section, key: str) -> ClientConfig:
    clt = sec.section(key)
    addrs = address_list(clt, "addr")
    if len({a.kind for a in addrs}) > 1:
        raise clt.error("addr", "all addresses must be of the same type")
    reconnect = clt.real("reconnect_timeout", 0.0, min=0)
    heartbeat = clt.real("heartbeat_timeout", 0.0)
    heartbeat = 3.0 if heartbeat <= 0 else min(max(heartbeat, 2.0), 600.0)
    return ClientConfig(
        name=clt.str("name"),
        addr=addrs,
        max_pkg_size=clt.int("max_pkg_size", min=1),
        buf_limit=clt.int("buf_limit", 0, min=0),
        reconnect_timeout=reconnect if reconnect > 0 else 1.0,
        heartbeat_timeout=heartbeat,
    )


@dataclass(slots=True)
class DatabaseConfig:
    """MySQL (`host`, `user`, `pass`, `name`, ...) or, for the embedded default, SQLite (`sqlite`: path)."""

    sqlite_path: str = ""
    host: str = ""
    port: int = 3306
    user: str = ""
    password: str = ""
    name: str = ""
    charset: str = "utf8"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return bool(self.sqlite_path)

    def describe(self) -> str:
        if self.is_sqlite:
            return f"sqlite:{self.sqlite_path}"
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.name}"


def database_config(sec: Section, key: str) -> DatabaseConfig:
    return database_of(sec.section(key))


def database_of(db: Section) -> DatabaseConfig:
    """The database an object of the config describes (`database_config` reads one by its key)."""
    if db.has("sqlite"):
        path = db.str("sqlite", non_empty=True)
        return DatabaseConfig(sqlite_path=os.path.abspath(path))
    return DatabaseConfig(
        host=db.str("host", non_empty=True),
        port=db.int("port", 3306, min=1, max=65535),
        user=db.str("user"),
        password=db.str("pass"),
        name=db.str("name", non_empty=True),
        charset=db.str("charset", "utf8"),
    )


@dataclass(slots=True)
class RedisConfig:
    """Redis Sentinel (`name`, `addr` list) or a plain server (`host`/`port`, or `url`)."""

    sentinel_name: str = ""
    sentinels: list[tuple[str, int]] = field(default_factory=list)
    url: str = ""
    db: int = 0

    @property
    def is_sentinel(self) -> bool:
        return bool(self.sentinels)


def redis_config(sec: Section, key: str = "redis") -> RedisConfig:
    red = sec.section(key)
    db = red.int("db", 0, min=0)
    if red.has("url"):
        return RedisConfig(url=red.str("url", non_empty=True), db=db)
    if red.has("host"):
        host = red.str("host", non_empty=True)
        port = red.int("port", 6379, min=1, max=65535)
        return RedisConfig(url=f"redis://{host}:{port}", db=db)
    addrs = red.str_list("addr", non_empty=True)
    sentinels = [_host_port_text(red, f"addr[{i}]", text) for i, text in enumerate(addrs)]
    return RedisConfig(sentinel_name=red.str("name", non_empty=True), sentinels=sentinels, db=db)


@dataclass(slots=True)
class KafkaConsumerConfig:
    brokers: str
    topic: str
    partition: int = 0
    limit: int = 1000


def kafka_consumer_config(sec: Section, key: str) -> KafkaConsumerConfig:
    kc = sec.section(key)
    return KafkaConsumerConfig(
        brokers=kc.str("brokers", non_empty=True),
        topic=kc.str("topic", non_empty=True),
        partition=kc.int("partition", 0, min=0),
        limit=kc.int("limit", 1000, min=1),
    )
