"""`python -m deploy.launcher run`: the whole exchange on one machine, as children of one process.

Start-up, each step waiting for the previous one to be up: the Kafka broker
(and its three topics), the Redis server, the SQLite tables, then the six
daemons in dependency order — alertcenter (the alert path first), matchengine
(restores its state from slice + operation log), readhistory, accesshttp,
marketprice (asks accesshttp for the market list), accessws.  Then it prints
the market page's, HTTP and websocket URLs and watches: a daemon killed by a signal is
started again after one second, as the original's watchdog does; one that
exits on its own stops the whole exchange (something is wrong with it).

SIGINT (Ctrl-C), SIGTERM, SIGQUIT and SIGHUP stop everything in reverse
order: the gateways, marketprice (last flush to Redis), readhistory, the
matchengine (commits its log, drains history and Kafka), alertcenter, then
Redis (writes its files) and the broker.

Unless it is given another `auth_url`, the launcher serves accessws's auth
endpoint itself: the demo endpoint (demo_auth.py) where the token
``demo:<user id>`` names the user, and the market page's demo panel is on.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time
from pathlib import Path

import orjson

from common.config import ConfigError

from . import configs as cfg
from .children import Child, Interrupted, StartFailed
from .demo_auth import DemoAuthServer
from .infra import broker_child, create_databases, create_topics, redis_child, wait_redis
from .layout import PORT_ROLES, DataDir, Ports, busy_ports, free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = {"matchengine": 600.0}
DEFAULT_START_TIMEOUT = 120.0
STOP_TIMEOUT = {"matchengine": 300.0, "marketprice": 120.0}
DEFAULT_STOP_TIMEOUT = 30.0
RESTART_DELAY = 1.0
EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP)


def say(text: str) -> None:
    print(text, flush=True)


def daemon_env(data: DataDir) -> dict[str, str]:
    """The daemons' environment: their lock files in the data directory, the project importable."""
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, VIABTC_LOCK_DIR=str(data.run),
                PYTHONPATH=f"{PROJECT_ROOT}{os.pathsep}{path}" if path else str(PROJECT_ROOT))


class Launcher:
    def __init__(self, data: DataDir, ports: Ports, *, auth_url: str | None = None,
                 sign_url: str = cfg.DEFAULT_SIGN_URL) -> None:
        self.data = data
        self.ports = ports
        self.auth_url = auth_url  # None: the launcher's demo auth endpoint
        self.sign_url = sign_url
        self.demo_auth: DemoAuthServer | None = None
        self.children: list[Child] = []
        self.stop_requested = False
        self.infra = cfg.Infrastructure(0, 0)
        self._lock_fd = -1

    # ------------------------------------------------------------ signals

    def _on_signal(self, signo: int, _frame: object) -> None:
        if not self.stop_requested:
            say(f"\n{signal.Signals(signo).name} received: stopping the exchange")
        self.stop_requested = True

    def _stopping(self) -> bool:
        return self.stop_requested

    # ------------------------------------------------------------ start-up

    def _take_lock(self) -> bool:
        fd = os.open(self.data.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _prepare(self) -> bool:
        """Lock the data directory, check the ports, write the configs; False (after saying why) on failure."""
        self.data.create()
        if not self._take_lock():
            say(f"another launcher is running on {self.data.root} (see {self.data.state_file})")
            return False
        busy = busy_ports(self.ports)
        if busy:
            for role, port in busy:
                say(f"port {port} ({PORT_ROLES[role]}) is in use")
            say("stop what uses it, or move every port with --port-offset N (e.g. --port-offset 10000)")
            return False
        broker_port = free_port()
        redis_port = free_port()
        while redis_port == broker_port:
            redis_port = free_port()
        auth_url = self.auth_url
        if auth_url is None:
            self.demo_auth = DemoAuthServer().start()
            auth_url = self.demo_auth.url
        infra = cfg.Infrastructure(broker_port, redis_port, auth_url, self.sign_url, demo=self.demo_auth is not None)
        try:
            configs = cfg.build_configs(self.data, self.ports, infra)
            for name, config in configs.items():
                cfg.validate(name, config)
        except ConfigError as exc:
            say(f"{exc} (in the config built for {self.data.root}; assets and markets: {self.data.exchange_file})")
            return False
        cfg.write_configs(self.data, configs)
        self.infra = infra
        return True

    def _start_infrastructure(self) -> None:
        broker = broker_child(self.data, self.infra.broker_port)
        self._start(broker, port=self.infra.broker_port, timeout=30.0)
        create_topics(self.infra.brokers)
        redis = redis_child(self.data, self.infra.redis_port)
        self._start(redis, port=self.infra.redis_port, timeout=30.0)
        wait_redis(self.infra.redis_port)
        create_databases(self.data)

    def _daemon_child(self, name: str) -> Child:
        package = cfg.PACKAGE.get(name, name)
        argv = [sys.executable, "-m", package, str(self.data.config_file(name))]
        env = daemon_env(self.data)
        if package != name:  # a second copy of a daemon: its lock file in a directory of its own
            lock_dir = self.data.run / name
            lock_dir.mkdir(exist_ok=True)
            env["VIABTC_LOCK_DIR"] = str(lock_dir)
        return Child(name, argv, self.data.output_file(name), cwd=self.data.root, env=env,
                     ready_text="server start", stop_timeout=STOP_TIMEOUT.get(package, DEFAULT_STOP_TIMEOUT))

    def _start(self, child: Child, *, port: int, timeout: float) -> None:
        child.start()
        self.children.append(child)
        took = child.wait_ready(port, timeout, self._stopping)
        say(f"  {child.name:<12} up in {took:4.1f} s  (port {port}, pid {child.pid})")

    def _start_daemons(self) -> None:
        for name in cfg.daemons(self.ports):
            self._start(self._daemon_child(name), port=cfg.ready_port(name, self.ports),
                        timeout=START_TIMEOUT.get(cfg.PACKAGE.get(name, name), DEFAULT_START_TIMEOUT))

    def _demo_command(self) -> str:
        default = self.data.root == Path("data").resolve()
        return "./run.sh demo" + ("" if default else f" --data {self.data.root}")

    def _write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "data": str(self.data.root),
            "http": self.ports.http_url,
            "ws": self.ports.ws_url,
            "ui": self.ports.ui_url,
            "auth_url": self.infra.auth_url,
            "ports": dict(self.ports.items()),
            "kafka": self.infra.brokers,
            "redis_port": self.infra.redis_port,
            "children": {child.name: child.pid for child in self.children},
        }
        tmp = self.data.state_file.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2) + b"\n")
        tmp.replace(self.data.state_file)

    # ------------------------------------------------------------ running

    def _supervise(self) -> int:
        """Watch the children until a stop is requested; 1 if one of them failed."""
        while not self.stop_requested:
            for child in self.children:
                status = child.exit_status()
                if status is None or self.stop_requested:
                    continue
                if status < 0 and child.name in cfg.daemons(self.ports):
                    say(f"{child.name} was killed by {signal.Signals(-status).name}: "
                        f"starting it again in {RESTART_DELAY:.0f} s")
                    child.stop()  # clears what is left of its session (workers, the publisher)
                    time.sleep(RESTART_DELAY)
                    child.start()
                    self._write_state()
                    continue
                say(f"{child.name} exited with status {status}; the end of {child.output}:\n{child.tail()}")
                say("stopping the exchange")
                return 1
            time.sleep(0.2)
        return 0

    def _stop_all(self) -> None:
        for child in reversed(self.children):
            if child.exit_status() is None:
                say(f"  stopping {child.name} ...")
            status = child.stop()
            if status not in (0, None, -signal.SIGTERM):
                say(f"  {child.name} ended with status {status}")
        self.children.clear()
        self.data.state_file.unlink(missing_ok=True)

    def run(self) -> int:
        for signo in EXIT_SIGNALS:
            signal.signal(signo, self._on_signal)
        if not self._prepare():
            return 1
        say(f"starting the exchange in {self.data.root}")
        started = time.monotonic()
        code = 0
        try:
            self._start_infrastructure()
            self._start_daemons()
            self._write_state()
            say(f"\nthe exchange is running, up in {time.monotonic() - started:.1f} s (logs in {self.data.log}):")
            demo_panel = "  (with the demo order panel)" if self.infra.demo else ""
            say(f"  Market page    {self.ports.ui_url}{demo_panel}")
            say(f"  HTTP JSON-RPC  {self.ports.http_url}")
            say(f"  WebSocket      {self.ports.ws_url}")
            say(f"Ctrl-C stops it; `{self._demo_command()}` shows a trade, "
                f"`{self._demo_command()} --trade` keeps trading for the page.\n")
            code = self._supervise()
        except Interrupted:
            code = 0
        except StartFailed as exc:
            say(f"cannot start the exchange: {exc}")
            code = 1
        finally:
            self._stop_all()
            if self.demo_auth is not None:
                self.demo_auth.stop()
        say("the exchange is stopped" if code == 0 else "the exchange stopped after a failure")
        return code
