"""The launcher's child processes: started in their own session, tied to the launcher's life.

Each child gets its own session (so a Ctrl-C in the terminal reaches only the
launcher, which then stops the children in order) and asks the kernel for
SIGTERM when the launcher dies (`PR_SET_PDEATHSIG`), so nothing outlives a
launcher that was killed.  Its stdout and stderr are appended to one file.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

StopCheck = Callable[[], bool]


class StartFailed(Exception):
    """A child did not come up; the message says which and why (with the end of its output)."""


class Interrupted(Exception):
    """The launcher was asked to stop while it waited for a child."""


def _child_setup(parent: int) -> Callable[[], None]:
    def setup() -> None:
        os.setsid()
        if _libc is not None:
            _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return setup


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class Child:
    """One child process: a command, its output file and the text that says it is ready."""

    def __init__(self, name: str, argv: list[str], output: Path, *, cwd: Path | None = None,
                 env: dict[str, str] | None = None, ready_text: str = "", stop_timeout: float = 30.0) -> None:
        self.name = name
        self.argv = argv
        self.output = output
        self.cwd = cwd
        self.env = env
        self.ready_text = ready_text
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._ready_seen = 0

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    def _ready_count(self) -> int:
        if not self.ready_text or not self.output.exists():
            return 0
        return self.output.read_text(errors="replace").count(self.ready_text)

    def start(self) -> None:
        self._ready_seen = self._ready_count()
        with open(self.output, "ab") as out:
            out.write(f"---- {time.strftime('%Y-%m-%d %H:%M:%S')} started by the launcher\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.cwd, env=self.env, preexec_fn=_child_setup(os.getpid()))
        self.started_at = time.monotonic()

    def exit_status(self) -> int | None:
        """None while running, else the return code (negative: killed by that signal)."""
        return None if self.proc is None else self.proc.poll()

    def tail(self, lines: int = 15) -> str:
        if not self.output.exists():
            return ""
        return "\n".join(self.output.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, port: int | None, timeout: float, stopping: StopCheck) -> float:
        """Wait for a new `ready_text` line and a listening `port`; the seconds it took since the start."""
        deadline = time.monotonic() + timeout
        while True:
            if stopping():
                raise Interrupted(self.name)
            status = self.exit_status()
            if status is not None:
                raise StartFailed(f"{self.name} exited with status {status} while starting; "
                                  f"the end of {self.output}:\n{self.tail()}")
            text_ok = not self.ready_text or self._ready_count() > self._ready_seen
            if text_ok and (port is None or port_open(port)):
                return time.monotonic() - self.started_at
            if time.monotonic() > deadline:
                raise StartFailed(f"{self.name} is not up after {timeout:.0f} s; the end of {self.output}:\n"
                                  f"{self.tail()}")
            time.sleep(0.05)

    def stop(self) -> int | None:
        """SIGTERM, wait up to `stop_timeout`, then SIGKILL; then clear its session of stragglers."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                print(f"  {self.name} did not stop within {self.stop_timeout:.0f} s: killed", flush=True)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.returncode
