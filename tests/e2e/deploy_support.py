"""What the deploy tests share: a readhistory on a SQLite file, lock-file holders, process states, RPC polls."""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from pathlib import Path
from typing import Any

from common.config import ClientConfig, parse_address
from common.rpc import RpcClient
from deploy.initdb import TRADE_HISTORY, create_sqlite
from tests.support import base_config, free_port

ORDER_FINISHED = 208
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def readhistory_config(workdir: Path) -> dict[str, Any]:
    """A readhistory on a fresh SQLite history database (tables created by deploy.initdb)."""
    database = workdir / "trade_history.db"
    if not database.exists():
        create_sqlite(TRADE_HISTORY, str(database))
    config = base_config("readhistory", workdir)
    config.update({
        "svr": {"bind": [f"tcp@127.0.0.1:{free_port()}"], "max_pkg_size": 100000, "heartbeat_check": False},
        "db_history": {"sqlite": str(database)},
        "worker_num": 2,
    })
    return config


def rpc_port(config: dict[str, Any]) -> int:
    return int(config["svr"]["bind"][0].rsplit(":", 1)[1])


async def _poll_answer(port: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while time.monotonic() < deadline:
        client = RpcClient(ClientConfig(name="probe", addr=[parse_address(f"tcp@127.0.0.1:{port}")],
                                        max_pkg_size=100000, reconnect_timeout=0.05))
        await client.start()
        try:
            if await client.wait_connected(0.2):
                result = await client.call_json(ORDER_FINISHED, [1, "BTCUSDT", 0, 0, 0, 10], timeout=0.5)
                assert result == {"offset": 0, "limit": 10, "records": []}
                return time.monotonic() - started
        except (ConnectionError, TimeoutError):
            pass
        finally:
            await client.close()
        await asyncio.sleep(0.02)
    raise TimeoutError(f"readhistory on port {port} does not answer after {timeout} s")


def wait_answering(port: int, timeout: float = 10.0) -> float:
    """Poll readhistory with `order.finished` until it answers; the seconds it took."""
    return asyncio.run(_poll_answer(port, timeout))


def lock_holders(lock: Path) -> set[int]:
    """The live processes that have `lock` open (what restart.sh signals)."""
    target = str(lock.resolve())
    holders = set()
    for pid_text in os.listdir("/proc"):
        if not pid_text.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid_text}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid_text}/fd/{fd}") == target:
                    holders.add(int(pid_text))
                    break
            except OSError:
                continue
    return {pid for pid in holders if is_running(pid)}


def lock_is_free(lock: Path) -> bool:
    fd = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def is_running(pid: int) -> bool:
    """True if `pid` exists and is not a zombie (an exited process whose parent has not reaped it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def title(pid: int) -> str:
    """What ps shows for `pid` (the command line, rewritten by setproctitle)."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode().strip()


def comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout} s")
        time.sleep(0.02)


def watchdog_and_worker(lock: Path, timeout: float = 10.0) -> tuple[int, int]:
    """The two processes of a `--daemon` service: (watchdog, worker), found through its lock file."""
    pair: list[int] = []

    def found() -> bool:
        holders = lock_holders(lock)
        if len(holders) != 2:
            return False
        first, second = sorted(holders)
        pair[:] = [first, second] if parent_of(second) == first else [second, first]
        return parent_of(pair[1]) == pair[0]

    wait_for(found, timeout, f"no watchdog + worker pair holds {lock}")
    return pair[0], pair[1]
