"""`./run.sh --standby`: the local exchange with a failover pair of matchengines on SQLite (docs/failover.md).

The two engines share the SQLite trade_log; the lease's liveness lock is a record
lock on a file beside it.  A kill -9 of the leading engine: the standby takes over
and the exchange goes on answering writes through HTTP; the launcher starts the
killed engine again and it comes back as the standby.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import time
from pathlib import Path

from deploy.launcher.layout import Ports, busy_ports
from tests.e2e.deploy_support import wait_for
from tests.e2e.test_deploy_launcher import Http, Launcher

ENGINES = {"matchengine": "matchengine_cli", "matchengine_standby": "matchengine_standby_cli"}


class StandbyLauncher(Launcher):
    def command(self, *args: str) -> list[str]:
        return [*super().command(*args), "--standby"]


def free_offset() -> int:
    """A port offset whose every port, the standby's too, is free."""
    for _ in range(100):
        offset = random.randrange(20000, 50000)
        if not busy_ports(Ports(offset, standby=True)):
            return offset
    raise AssertionError("no free set of ports for the launcher")


def role(cli_port: int) -> dict[str, str]:
    try:
        with socket.create_connection(("127.0.0.1", cli_port), timeout=5) as sock:
            sock.sendall(b"role\n")
            sock.shutdown(socket.SHUT_WR)
            text = b""
            while chunk := sock.recv(65536):
                text += chunk
    except OSError:
        return {}
    return dict(line.split(": ", 1) for line in text.decode().splitlines() if ": " in line)


def test_the_standby_takes_over_on_one_machine(tmp_path: Path) -> None:
    offset = free_offset()
    ports = Ports(offset, standby=True)
    launcher = StandbyLauncher(tmp_path / "data", offset)
    try:
        launcher.start()
        http = Http(ports["http"])
        roles = {name: role(ports[cli]).get("role") for name, cli in ENGINES.items()}
        assert roles == {"matchengine": "leader", "matchengine_standby": "standby"}, roles
        http.call("balance.update", [1, "BTC", "deposit", 1, "5", {}])

        os.kill(launcher.state()["children"]["matchengine"], signal.SIGKILL)
        killed_at = time.monotonic()
        http.until("balance.update", [1, "BTC", "deposit", 2, "5", {}], lambda result: True)
        assert time.monotonic() - killed_at < 5
        assert role(ports["matchengine_standby_cli"])["role"] == "leader"
        assert http.call("balance.query", [1, "BTC"])["BTC"]["available"] == "10"
        wait_for(lambda: role(ports["matchengine_cli"]).get("role") == "standby", 30,
                 "the killed engine is not back as the standby")
        assert "matchengine was killed by SIGKILL: starting it again" in launcher.text()
        assert launcher.stop(signal.SIGTERM) == 0
    finally:
        launcher.kill()
