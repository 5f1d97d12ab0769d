"""Test-wide setup: the exchange decimal context, and fixtures for real services."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from common.decimals import install_context
from tests.support import Broker, Daemon, PrivateMariadb, drop_databases, engine_config, unique_name

install_context()


@pytest.fixture
def broker() -> Iterator[Broker]:
    """A fresh Kafka-compatible broker for one test."""
    b = Broker().start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def second_mariadb() -> Iterator[PrivateMariadb]:
    """A second MariaDB server (own datadir and port), shared by the tests of a session, removed afterwards."""
    server = PrivateMariadb(Path(tempfile.mkdtemp(prefix="viabtc_mariadb_"))).start()
    yield server
    server.stop()


@pytest.fixture
def mysql_names() -> Iterator[Callable[[str], str]]:
    """Unique MySQL database names, dropped after the test."""
    created: list[str] = []

    def make(prefix: str) -> str:
        name = unique_name(f"t_{prefix}")
        created.append(name)
        return name

    yield make
    drop_databases(*created)


@pytest.fixture
def engine_factory(tmp_path: Path, broker: Broker, mysql_names: Callable[[str], str]) -> Iterator[
        Callable[..., Daemon]]:
    """Start real matchengine processes on fresh databases (or SQLite files) and a fresh broker."""
    daemons: list[Daemon] = []

    def make(*, sqlite: bool = False, start: bool = True, **overrides: Any) -> Daemon:
        config = engine_config(tmp_path, log_db=mysql_names("log"), history_db=mysql_names("history"),
                               brokers=broker.address, sqlite=sqlite, **overrides)
        daemon = Daemon("matchengine", config, tmp_path)
        daemons.append(daemon)
        if start:
            start_engine(daemon)
        return daemon

    yield make
    for daemon in daemons:
        daemon.stop()


def start_engine(daemon: Daemon, timeout: float = 120.0) -> Daemon:
    from tests.support import cli_port

    daemon.start(wait=False)
    daemon.wait_ready(timeout, port=cli_port(daemon.config))
    return daemon
