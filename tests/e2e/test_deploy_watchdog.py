"""The watchdog model of `--daemon` (spec/operations.md §3, §5) with a real daemon: readhistory on SQLite.

* the daemonised process is a watchdog titled ``readhistory_monitor`` whose
  child, the worker, is titled ``readhistory``; both hold the lock file
  ``$VIABTC_LOCK_DIR/readhistory.lock``, a second copy is refused;
* kill -9 of the worker: FATAL log, a new worker serves within 2 s;
* SIGTERM to the watchdog stops the worker gracefully and nothing is left;
  kill -9 of the watchdog stops the worker too (parent-death signal).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.e2e.deploy_support import (
    comm,
    is_running,
    lock_holders,
    lock_is_free,
    readhistory_config,
    rpc_port,
    title,
    wait_answering,
    wait_for,
    watchdog_and_worker,
)
from tests.support import ROOT

RESTART_BUDGET = 2.0


@dataclass
class DaemonisedReadhistory:
    workdir: Path

    def __post_init__(self) -> None:
        self.config = readhistory_config(self.workdir)
        self.config_path = self.workdir / "readhistory.json"
        self.config_path.write_bytes(orjson.dumps(self.config))
        self.output = self.workdir / "readhistory.out"
        self.lock_dir = self.workdir / "run"
        self.lock_dir.mkdir(exist_ok=True)

    @property
    def lock(self) -> Path:
        return self.lock_dir / "readhistory.lock"

    @property
    def port(self) -> int:
        return rpc_port(self.config)

    @property
    def log_text(self) -> str:
        return (self.workdir / "log" / "readhistory.log").read_text(errors="replace")

    def launch(self) -> subprocess.CompletedProcess[bytes]:
        """`python -m readhistory config.json --daemon`: returns when the launching process has exited."""
        env = dict(os.environ, VIABTC_LOCK_DIR=str(self.lock_dir), PYTHONPATH=str(ROOT))
        with open(self.output, "ab") as out:
            return subprocess.run([sys.executable, "-m", "readhistory", str(self.config_path), "--daemon"],
                                  cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  env=env, timeout=30)

    def starts(self) -> int:
        return self.output.read_text(errors="replace").count("server start") if self.output.exists() else 0

    def kill_all(self) -> None:
        for pid in lock_holders(self.lock):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def daemonised(tmp_path: Path) -> Iterator[DaemonisedReadhistory]:
    service = DaemonisedReadhistory(tmp_path)
    assert service.launch().returncode == 0
    try:
        wait_for(lambda: service.starts() == 1, 20, "readhistory did not print 'server start'")
        wait_answering(service.port)
        yield service
    finally:
        service.kill_all()


def test_titles_lock_and_a_second_copy(daemonised: DaemonisedReadhistory) -> None:
    watchdog, worker = watchdog_and_worker(daemonised.lock)
    assert title(watchdog) == "readhistory_monitor"
    assert title(worker) == "readhistory"
    assert comm(worker) == "readhistory"
    assert comm(watchdog) == "readhistory_mon"  # the title cut to 15 bytes
    assert daemonised.lock.exists() and not lock_is_free(daemonised.lock)

    second = daemonised.launch()
    assert second.returncode == 1
    assert daemonised.output.read_text().rstrip().endswith("process: readhistory exist")
    assert lock_holders(daemonised.lock) == {watchdog, worker}


def test_a_killed_worker_serves_again_within_two_seconds_and_sigterm_leaves_nothing(
        daemonised: DaemonisedReadhistory) -> None:
    watchdog, worker = watchdog_and_worker(daemonised.lock)
    killed_at = time.monotonic()
    os.kill(worker, signal.SIGKILL)
    wait_answering(daemonised.port, timeout=5)
    back_after = time.monotonic() - killed_at
    assert back_after < RESTART_BUDGET, f"serving again only after {back_after:.2f} s"
    print(f"worker killed -> serving again after {back_after:.2f} s")

    new_watchdog, new_worker = watchdog_and_worker(daemonised.lock)
    assert new_watchdog == watchdog and new_worker != worker and not is_running(worker)
    assert title(new_worker) == "readhistory"
    assert f"process: {worker}, name: readhistory terminated by signal: 'Killed'" in daemonised.log_text
    assert "[fatal]" in daemonised.log_text

    os.kill(watchdog, signal.SIGTERM)
    wait_for(lambda: not lock_holders(daemonised.lock), 10, "readhistory still holds its lock")
    assert not is_running(watchdog) and not is_running(new_worker)
    assert lock_is_free(daemonised.lock)
    assert daemonised.log_text.count("server stop") == 1  # the worker stopped gracefully


def test_a_killed_watchdog_takes_its_worker_along(daemonised: DaemonisedReadhistory) -> None:
    watchdog, worker = watchdog_and_worker(daemonised.lock)
    os.kill(watchdog, signal.SIGKILL)
    wait_for(lambda: not is_running(worker), 10, "the worker outlived its watchdog")
    assert lock_is_free(daemonised.lock)
    assert "server stop" in daemonised.log_text
