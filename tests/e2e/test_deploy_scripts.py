"""deploy/<daemon>/shell/restart.sh and check_alive.sh, run against a real daemon (readhistory on SQLite).

Each test installs the readhistory module directory as in production
(`<dir>/conf/config.json`, `<dir>/shell/*.sh`) under its tmp path, with its
own lock directory, and drives it only through the scripts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.e2e.deploy_support import (
    DEPLOY,
    is_running,
    lock_holders,
    lock_is_free,
    readhistory_config,
    rpc_port,
    wait_answering,
    wait_for,
    watchdog_and_worker,
)
from tests.support import ROOT

DAEMONS = ("matchengine", "marketprice", "readhistory", "accesshttp", "accessws", "alertcenter")


@dataclass
class InstalledModule:
    """A copy of deploy/readhistory with a test config, run through its shell scripts."""

    root: Path

    def __post_init__(self) -> None:
        shutil.copytree(DEPLOY / "readhistory" / "shell", self.root / "shell")
        (self.root / "conf").mkdir()
        self.config = readhistory_config(self.root)
        self.write_config(self.config)
        self.lock_dir = self.root / "run"

    def write_config(self, config: dict[str, object]) -> None:
        (self.root / "conf" / "config.json").write_bytes(orjson.dumps(config))

    @property
    def lock(self) -> Path:
        return self.lock_dir / "readhistory.lock"

    @property
    def port(self) -> int:
        return rpc_port(self.config)

    def env(self, **extra: str) -> dict[str, str]:
        return dict(os.environ, VIABTC_LOCK_DIR=str(self.lock_dir), VIABTC_PYTHON=sys.executable,
                    PYTHONPATH=str(ROOT), **extra)

    def script(self, name: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.root / "shell" / name)], capture_output=True, text=True,
                              env=self.env(**extra), timeout=60, cwd="/")

    def kill_all(self) -> None:
        for pid in lock_holders(self.lock):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def module(tmp_path: Path) -> Iterator[InstalledModule]:
    installed = InstalledModule(tmp_path / "readhistory")
    try:
        yield installed
    finally:
        installed.kill_all()


def test_every_daemon_has_the_scripts_of_the_template() -> None:
    for name in DAEMONS:
        for script in ("restart.sh", "check_alive.sh"):
            path = DEPLOY / name / "shell" / script
            template = (DEPLOY / "templates" / script).read_text()
            assert path.read_text() == template.replace("__NAME__", name), f"{path} differs from the template"
            assert os.access(path, os.X_OK), f"{path} is not executable"


def test_check_alive_starts_a_dead_daemon_and_restart_replaces_a_live_one(module: InstalledModule) -> None:
    started = module.script("check_alive.sh")
    assert started.returncode == 0, started.stderr
    assert "readhistory: not running, starting it" in started.stdout
    assert "readhistory: started" in started.stdout
    wait_answering(module.port)
    first = watchdog_and_worker(module.lock)

    quiet = module.script("check_alive.sh")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    assert watchdog_and_worker(module.lock) == first

    restarted = module.script("restart.sh")
    assert restarted.returncode == 0, restarted.stderr
    assert restarted.stdout.splitlines()[:2] == [f"readhistory: stopping ({' '.join(map(str, sorted(first)))})",
                                                 "readhistory: stopped"]
    second = watchdog_and_worker(module.lock)
    assert not set(first) & set(second) and not any(is_running(pid) for pid in first)
    wait_answering(module.port)
    log = (module.root / "log" / "readhistory.log").read_text()
    assert "signal: 3 (SIGQUIT) received" in log and log.count("server stop") == 1

    for pid in second:  # the host lost the daemon (OOM killer, kill -9 of both)
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: lock_is_free(module.lock), 10, "the killed daemon still holds its lock")
    revived = module.script("check_alive.sh")
    assert revived.returncode == 0, revived.stderr
    assert "not running, starting it" in revived.stdout
    wait_answering(module.port)
    assert not set(watchdog_and_worker(module.lock)) & set(second)
    assert (module.root / "log" / "readhistory.out").read_text().count("server start") == 3


SLOW_HOLDER = textwrap.dedent("""
    import fcntl, os, signal, sys, time
    fd = os.open(sys.argv[1], os.O_RDONLY | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def slow_exit(signo, frame):
        open(sys.argv[2], "w").write(signal.Signals(signo).name)
        time.sleep(float(sys.argv[3]))
        sys.exit(0)

    signal.signal(signal.SIGQUIT, slow_exit if float(sys.argv[3]) >= 0 else signal.SIG_IGN)
    print("locked", flush=True)
    time.sleep(60)
""")


def hold_lock(module: InstalledModule, stop_seconds: float) -> tuple[subprocess.Popen[str], Path]:
    """A process holding the daemon's lock that needs `stop_seconds` to stop on SIGQUIT (< 0: ignores it)."""
    module.lock_dir.mkdir(exist_ok=True)
    marker = module.root / "signal-received"
    holder = subprocess.Popen([sys.executable, "-c", SLOW_HOLDER, str(module.lock), str(marker), str(stop_seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    return holder, marker


def test_restart_waits_for_a_slow_stop_instead_of_failing(module: InstalledModule) -> None:
    """The original's `sleep 1` relaunched while the old copy still held the lock ("process exist")."""
    holder, marker = hold_lock(module, stop_seconds=2.0)
    try:
        started = time.monotonic()
        result = module.script("restart.sh")
        took = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 0, result.stdout + result.stderr
    assert marker.read_text() == "SIGQUIT"
    assert took >= 2.0
    assert "readhistory: stopped" in result.stdout and "readhistory: started" in result.stdout
    wait_answering(module.port)


def test_restart_gives_up_on_a_copy_that_does_not_stop(module: InstalledModule) -> None:
    holder, _ = hold_lock(module, stop_seconds=-1)
    try:
        result = module.script("restart.sh", VIABTC_STOP_TIMEOUT="1")
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    assert f"readhistory: still running after 1 s (pids: {holder.pid}); not restarted" in result.stderr
    assert not (module.root / "log" / "readhistory.out").exists()


def test_restart_reports_a_config_error(module: InstalledModule) -> None:
    module.config["worker_num"] = "ten"
    module.write_config(module.config)
    result = module.script("restart.sh")
    assert result.returncode == 1
    assert "config error: field 'worker_num': must be an integer" in result.stderr
    assert lock_is_free(module.lock)
