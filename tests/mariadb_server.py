"""A MariaDB server of a test's own, for tests that stall or kill the database (never the shared one).

    with OwnMariaDB(tmp_path) as server:
        server.port ...; server.stop_process() (SIGSTOP); server.resume() (SIGCONT)

The data directory is made by `mariadb-install-db` (root without a password, no
test database) under the given directory, the server listens on a free
loopback port, and everything is removed when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

import pymysql

from tests.support import free_port


class OwnMariaDB:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.datadir = directory / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OwnMariaDB:
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.datadir.exists():
            subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}",
                            "--auth-root-authentication-method=normal", "--skip-test-db"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = open(self.directory / "mariadbd.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
             f"--socket={self.directory / 'mariadbd.sock'}", "--user=root", "--bind-address=127.0.0.1",
             f"--pid-file={self.directory / 'mariadbd.pid'}", "--innodb-buffer-pool-size=64M", "--skip-log-bin",
             "--max-connections=500"],
            stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="").close()
                return self
            except pymysql.err.OperationalError:
                assert self.proc.poll() is None, (self.directory / "mariadbd.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "own MariaDB did not start"
                time.sleep(0.1)

    def pause(self) -> None:
        """SIGSTOP: the server holds every connection and answers nothing."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def query(self, database: str | None, sql: str, params: object = None) -> list[tuple[object, ...]]:
        conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="", database=database,
                               autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
            proc.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> OwnMariaDB:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
