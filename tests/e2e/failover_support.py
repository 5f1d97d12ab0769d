"""What the failover tests share: a pair of engines on one log, their roles, a gateway in front of both."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.conftest import start_engine
from tests.e2e.accesshttp_stack import accesshttp_config, wait_backend
from tests.support import Daemon, cli_command, engine_config, engine_port

EXCHANGE = "test-exchange"


def pair_configs(workdir: Path, *, log_db: str, history_db: str, brokers: str, sqlite: bool = False,
                 **overrides: Any) -> list[dict[str, Any]]:
    """Two engine configs of one failover pair (role "standby"), each with its own directory (lock, log)."""
    configs = []
    for name in ("a", "b"):
        directory = workdir / name
        directory.mkdir(exist_ok=True)
        config = engine_config(directory, log_db=log_db, history_db=history_db, brokers=brokers, **overrides)
        if sqlite:
            config["db_log"] = {"sqlite": str(workdir / f"{log_db}.db")}
            config["db_history"] = {"sqlite": str(workdir / f"{history_db}.db")}
        config.setdefault("role", "standby")
        config.setdefault("exchange", EXCHANGE)
        configs.append(config)
    return configs


def pair(workdir: Path, **kwargs: Any) -> list[Daemon]:
    return [Daemon("matchengine", config, workdir / name)
            for name, config in zip(("a", "b"), pair_configs(workdir, **kwargs), strict=True)]


def role_of(engine: Daemon) -> dict[str, str]:
    """The CLI `role` lines as a dict ({} while the CLI does not answer)."""
    try:
        text = cli_command(engine.config, "role", timeout=5)
    except OSError:
        return {}
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def wait_role(engine: Daemon, role: str, timeout: float = 60.0, *, current: bool = False,
              daemonized: bool = False) -> dict[str, str]:
    """Wait until `engine` plays `role` (a standby, with `current`, no more than 100 operations behind).
    `daemonized`: started with --daemon (the process started has exited; its worker answers the CLI)."""
    deadline = time.monotonic() + timeout
    while True:
        info = role_of(engine)
        if info.get("role") == role and (not current or int(info.get("lag", "1000000")) < 100):
            return info
        assert daemonized or engine.alive(), engine.log_text()[-3000:]
        assert time.monotonic() < deadline, f"{engine.workdir.name} is not {role}: {info}"
        time.sleep(0.02)


def start_pair(engines: list[Daemon]) -> None:
    """Start both: the first leads, the second stands by."""
    start_engine(engines[0])
    wait_role(engines[0], "leader")
    start_engine(engines[1])
    wait_role(engines[1], "standby", current=True)


def gateway_for(workdir: Path, engines: list[Daemon], **overrides: Any) -> Daemon:
    """An accesshttp whose matchengine client lists both engines (and retries its list every 0.1 s)."""
    config = accesshttp_config(workdir, engine=engine_port(engines[0].config), **overrides)
    config["matchengine"]["addr"] = [f"tcp@127.0.0.1:{engine_port(e.config)}" for e in engines]
    config["matchengine"]["reconnect_timeout"] = 0.1
    gateway = Daemon("accesshttp", config, workdir)
    gateway.start(timeout=120)
    wait_backend(int(config["svr"]["bind"][0].rsplit(":", 1)[1]), "market.list", [])
    return gateway
