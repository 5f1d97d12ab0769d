"""common.service / common.daemon: a throw-away service run as a real process.

Covers config errors, the lock file, signals in the foreground, and the
watchdog of ``--daemon`` mode (restart after kill -9, clean stop on SIGTERM,
worker stopped when the watchdog dies).
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAME = "testsvc"

SERVICE = '''
import asyncio
import os
import resource
from dataclasses import dataclass

from common.config import AlertConfig, LogConfig, ProcessConfig, Section, alert_config, log_config, process_config
from common.service import ServiceContext, run_service


@dataclass
class Config:
    log: LogConfig
    alert: AlertConfig | None
    process: ProcessConfig
    workdir: str
    mode: str


def load(sec: Section) -> Config:
    return Config(log_config(sec), alert_config(sec) if sec.has("alert") else None, process_config(sec),
                  sec.str("workdir"), sec.str("mode", "serve"))


async def main(cfg: Config, ctx: ServiceContext) -> None:
    async def first_cleanup() -> None:
        with open(os.path.join(cfg.workdir, "cleanup"), "a") as f:
            f.write(f"second {os.getpid()}\\n")

    async def second_cleanup() -> None:
        with open(os.path.join(cfg.workdir, "cleanup"), "a") as f:
            f.write(f"first {os.getpid()}\\n")

    ctx.add_cleanup(first_cleanup)
    ctx.add_cleanup(second_cleanup)
    pidfile = os.path.join(cfg.workdir, "worker.pid")
    with open(pidfile + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {os.getppid()}")
    os.replace(pidfile + ".tmp", pidfile)
    if cfg.mode == "crash":
        raise RuntimeError("boom")
    ctx.ready()
    import gc
    with open(os.path.join(cfg.workdir, "gc"), "w") as f:
        f.write(f"{gc.get_threshold()} {gc.get_freeze_count() > 0}")
    await ctx.stopping.wait()


if __name__ == "__main__":
    run_service("testsvc", load, main)
'''


class Service:
    """The throw-away service of one test: its files, config and processes."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.script = tmp / "svc.py"
        self.script.write_text(SERVICE)
        self.config = tmp / "config.json"
        self.log = tmp / "svc.log"
        self.pidfile = tmp / "worker.pid"
        self.cleanup = tmp / "cleanup"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "VIABTC_LOCK_DIR": str(tmp)}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pids: set[int] = set()
        self.write_config()

    def write_config(self, **changes: object) -> None:
        data: dict[str, object] = {
            "log": {"path": str(self.tmp / "svc"), "flag": "fatal,error,warn,info"},
            "workdir": str(self.tmp),
        }
        data.update(changes)
        self.config.write_text(json.dumps(data))

    def start(self, *args: str, tag: str = "") -> subprocess.Popen[bytes]:
        stdout = open(self.tmp / f"stdout{tag}", "wb")  # noqa: SIM115
        stderr = open(self.tmp / f"stderr{tag}", "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, str(self.script), *args], cwd=self.tmp, env=self.env,
                                stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
        stdout.close()
        stderr.close()
        self.procs.append(proc)
        return proc

    def run(self, *args: str, tag: str = "", timeout: float = 10) -> tuple[int, str, str]:
        proc = self.start(*args, tag=tag)
        code = proc.wait(timeout)
        return code, self.out(tag), self.err(tag)

    def out(self, tag: str = "") -> str:
        return (self.tmp / f"stdout{tag}").read_text()

    def err(self, tag: str = "") -> str:
        return (self.tmp / f"stderr{tag}").read_text()

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def worker(self, previous: int = 0, timeout: float = 5) -> tuple[int, int]:
        """(worker pid, its parent pid) once a worker other than `previous` is ready."""
        found = wait_for(lambda: self.pidfile.exists() and int(self.pidfile.read_text().split()[0]) != previous,
                         timeout)
        assert found, f"no new worker; stderr: {self.err()}; log: {self.log_text()}"
        pid, ppid = map(int, self.pidfile.read_text().split())
        self.pids.update(p for p in (pid, ppid) if p != os.getpid())
        return pid, ppid

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for pid in self.pids:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Service]:
    service = Service(tmp_path)
    yield service
    service.kill_all()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def alive(pid: int) -> bool:
    """Running, i.e. neither gone nor a zombie waiting for a reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


# ------------------------------------------------------------------ start-up errors


def test_usage_without_config(svc: Service) -> None:
    code, out, err = svc.run()
    assert code == 1
    assert out.startswith(f"process: {NAME} version: 0.1.0, compile date: ")
    assert "usage: svc.py config.json [--daemon]" in out
    assert err == ""


@pytest.mark.parametrize(("change", "expected"), [
    ("missing file", "cannot read"),
    ("bad json", "is not valid JSON"),
    ("missing field", "field 'log.flag': required field is missing"),
    ("wrong type", "field 'workdir': must be a string"),
    ("bad nested type", "field 'log.max': must be an integer"),
])
def test_bad_config_exits_with_one_line(svc: Service, change: str, expected: str) -> None:
    args = [str(svc.config)]
    if change == "missing file":
        args = [str(svc.tmp / "nope.json")]
    elif change == "bad json":
        svc.config.write_text('{"log": {')
    elif change == "missing field":
        svc.write_config(log={"path": str(svc.tmp / "svc")})
    elif change == "wrong type":
        svc.write_config(workdir=5)
    else:
        svc.write_config(log={"path": str(svc.tmp / "svc"), "flag": "info", "max": 1.5})
    code, _, err = svc.run(*args)
    assert code == 1
    assert len(err.splitlines()) == 1, err
    assert expected in err
    assert "Traceback" not in err


# ------------------------------------------------------------------ foreground


def test_foreground_lock_signals_and_clean_stop(svc: Service) -> None:
    proc = svc.start(str(svc.config))
    pid, _ = svc.worker()
    assert pid == proc.pid
    assert wait_for(lambda: "server start" in svc.err())
    assert comm(pid) == NAME

    code, out, _ = svc.run(str(svc.config), tag="2")
    assert code == 1
    assert f"process: {NAME} exist" in out

    os.kill(pid, signal.SIGTTIN)
    assert wait_for(lambda: "(SIGTTIN) received, logging level up: 0x1f" in svc.log_text())
    os.kill(pid, signal.SIGTTOU)
    assert wait_for(lambda: "(SIGTTOU) received, logging level down: 0xf" in svc.log_text())
    os.kill(pid, signal.SIGTTOU)
    assert wait_for(lambda: "(SIGTTOU) received, logging level down: 0x7" in svc.log_text())
    os.kill(pid, signal.SIGUSR1)
    assert wait_for(lambda: "signal: 10 (SIGUSR1) received" in svc.log_text())
    assert proc.poll() is None

    os.kill(pid, signal.SIGTERM)
    assert proc.wait(5) == 0
    assert svc.cleanup.read_text() == f"first {pid}\nsecond {pid}\n"
    log = svc.log_text()
    assert f"[{pid}] [vip]service.py:" in log
    assert log.index("server start") < log.index("(SIGTERM) received, exiting") < log.index("server stop")
    with open(svc.tmp / f"{NAME}.lock", "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_full_collections_are_rare_and_the_start_up_heap_is_frozen(svc: Service) -> None:
    proc = svc.start(str(svc.config))
    svc.worker()
    gc_file = svc.tmp / "gc"
    # the worker creates the file, then writes it: wait for the text, not for the file
    assert wait_for(lambda: gc_file.exists() and gc_file.read_text() != "")
    assert gc_file.read_text() == "(700, 10, 1000) True"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_foreground_ctrl_c_stops_gracefully(svc: Service) -> None:
    proc = svc.start(str(svc.config))
    pid, _ = svc.worker()
    os.kill(pid, signal.SIGINT)
    assert proc.wait(5) == 0
    assert svc.cleanup.read_text() == f"first {pid}\nsecond {pid}\n"


def test_exception_in_main_is_fatal_and_exits_1(svc: Service) -> None:
    svc.write_config(mode="crash")
    code, _, _ = svc.run(str(svc.config))
    assert code == 1
    log = svc.log_text()
    assert "[fatal]service.py:" in log and f"{NAME} failed: RuntimeError('boom')" in log
    assert "Traceback (most recent call last):" in log
    assert "server stop" in log
    assert svc.cleanup.exists()


# ------------------------------------------------------------------ daemon mode


def test_daemon_restarts_killed_worker_and_stops_on_sigterm(svc: Service) -> None:
    alerts = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    alerts.bind(("127.0.0.1", 0))
    alerts.settimeout(3)
    svc.write_config(alert={"host": "tester", "addr": f"127.0.0.1:{alerts.getsockname()[1]}"})

    code, _, _ = svc.run(str(svc.config), "--daemon")
    assert code == 0
    worker, watchdog = svc.worker()
    assert comm(worker) == NAME
    assert comm(watchdog) == f"{NAME}_monitor"[:15]

    os.kill(worker, signal.SIGKILL)
    killed_at = time.monotonic()
    new_worker, new_watchdog = svc.worker(previous=worker, timeout=3)
    assert time.monotonic() - killed_at < 2.0
    assert new_watchdog == watchdog and alive(new_worker)
    assert not alive(worker)
    alert = alerts.recv(65536)
    alerts.close()
    assert alert.startswith(b"373d26968a5a2b698045tester: [fatal]daemon.py:")
    assert alert.endswith(b"process: %d, name: %s terminated by signal: 'Killed'\n" % (worker, NAME.encode()))
    assert f"process: {worker}, name: {NAME} terminated by signal: 'Killed'" in svc.log_text()

    os.kill(watchdog, signal.SIGTERM)
    assert wait_for(lambda: not alive(watchdog) and not alive(new_worker), 5)
    assert svc.cleanup.read_text() == f"first {new_worker}\nsecond {new_worker}\n"
    assert svc.log_text().count("server stop") == 1


def test_daemon_worker_stops_when_watchdog_dies(svc: Service) -> None:
    assert svc.run(str(svc.config), "--daemon")[0] == 0
    worker, watchdog = svc.worker()
    os.kill(watchdog, signal.SIGKILL)
    assert wait_for(lambda: not alive(worker), 5)
    assert svc.cleanup.read_text() == f"first {worker}\nsecond {worker}\n"


def test_daemon_worker_exit_ends_watchdog(svc: Service) -> None:
    svc.write_config(mode="crash")
    assert svc.run(str(svc.config), "--daemon")[0] == 0
    worker, watchdog = svc.worker()
    assert wait_for(lambda: not alive(worker) and not alive(watchdog), 5)
    assert "terminated by signal" not in svc.log_text()
    assert f"{NAME} failed: RuntimeError('boom')" in svc.log_text()
    assert svc.cleanup.read_text().count("first") == 1


def test_a_limit_above_the_hard_one_is_lowered_to_it_with_one_warning() -> None:
    # in a child process: the test run's own limits stay as they are
    code = (
        "import resource\n"
        "from common.config import ProcessConfig\n"
        "from common.daemon import apply_rlimits\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 1024), hard))\n"
        "if hard == resource.RLIM_INFINITY:\n"
        "    print('unlimited')\n"
        "else:\n"
        "    print(apply_rlimits(ProcessConfig(file_limit=hard + 1)))\n"
        "    print(resource.getrlimit(resource.RLIMIT_NOFILE))\n"
        "    print(apply_rlimits(ProcessConfig(file_limit=hard)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    if lines == ["unlimited"]:
        pytest.skip("no hard file limit on this host")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if os.geteuid() == 0 and lines[0] == "[]":
        pytest.skip("root with CAP_SYS_RESOURCE may raise the hard limit: nothing to lower")
    assert lines == [
        f"[\"warning: process.file_limit {hard + 1} is above this host's hard limit {hard}, which only root may "
        f"raise: using {hard}\"]",
        f"({hard}, {hard})",
        "[]",
    ]
