"""The first `./run.sh` on a fresh copy of the tree says what it does, step by step, and ends with the URLs.

The copy is the tree's files as git knows them (tracked, and new files not ignored), without
`.venv`: run.sh creates it, installs the dependencies (pip, from the machine's wheel cache), installs
the project, then starts the exchange, a line per step.  The compile of the matching core is the one
step made shorter here: the copy is built with VIABTC_PURE_PYTHON=1, so that this test stays well under
a minute on a shared machine (the compile itself is the same `pip install -e .` step, measured by hand
in docs/deploy.md).  A second start of the same copy installs nothing.  The lines are checked, not
their timing.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_deploy_launcher import free_port_offset
from tests.support import ROOT

DAEMONS = ("alertcenter", "matchengine", "readhistory", "accesshttp", "marketprice", "accessws")
STEP = r"\[\s*\d+\.\d s\] "
RUNNING_TEXT = "Ctrl-C stops it"
FIRST_START_BUDGET = 240.0
SECOND_START_BUDGET = 60.0


def copy_tree(target: Path) -> None:
    """The tree's files as git sees them now (tracked, and untracked but not ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the work tree
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name)


def clean_env() -> dict[str, str]:
    """The environment of a user's shell: no virtual environment of this test run on PATH or in effect."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if "/.venv/" not in p + "/")
    env["VIABTC_PURE_PYTHON"] = "1"
    return env


def run_until_running(tree: Path, data: Path, offset: int, budget: float) -> str:
    """`./run.sh` until it prints the URLs and the demo hint; then Ctrl-C; its output."""
    output = tree / f"run-{time.monotonic_ns()}.out"
    with open(output, "wb") as out:
        proc = subprocess.Popen(["./run.sh", "--port-offset", str(offset), "--data", str(data)], cwd=tree,
                                stdout=out, stderr=subprocess.STDOUT, env=clean_env(), start_new_session=True)
    try:
        started = time.monotonic()
        while RUNNING_TEXT not in output.read_text(errors="replace"):
            assert proc.poll() is None, output.read_text(errors="replace")
            assert time.monotonic() - started < budget, f"no URLs after {budget} s:\n{output.read_text()}"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(120) == 0, output.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return output.read_text(errors="replace")


def assert_in_order(lines: list[str], patterns: list[str]) -> None:
    """Each pattern matches a whole line, after the line the previous one matched."""
    at = 0
    for pattern in patterns:
        while at < len(lines) and not re.fullmatch(pattern, lines[at]):
            at += 1
        assert at < len(lines), f"no line {pattern!r} in order in:\n" + "\n".join(lines)
        at += 1


def startup_patterns(offset: int, data: Path) -> list[str]:
    ui = re.escape(f"http://127.0.0.1:{8080 + offset}/")
    return [
        re.escape(f"starting the exchange in {data}"),
        *(rf"  {name:<12} up in +\d+\.\d s  \(port \d+, pid \d+\)" for name in DAEMONS),
        r"the exchange is running, up in \d+\.\d s \(logs in .*\):",
        rf"  Market page    {ui}ui/.*",
        rf"  HTTP JSON-RPC  {ui}",
        rf"  WebSocket      ws://127\.0\.0\.1:{8090 + offset}/",
        r"Ctrl-C stops it; `\./run\.sh demo --data .*` shows a trade, `\./run\.sh demo --data .* --trade` .*",
    ]


@pytest.mark.timeout(FIRST_START_BUDGET + SECOND_START_BUDGET + 300)
def test_the_first_start_talks_and_the_second_installs_nothing(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    copy_tree(tree)
    assert not (tree / ".venv").exists()
    data = tmp_path / "data"
    offset = free_port_offset()

    first = run_until_running(tree, data, offset, FIRST_START_BUDGET).splitlines()
    assert first[0] == "first start: installing the exchange into .venv (a minute or two; later starts skip this)"
    assert_in_order(first, [
        STEP + re.escape("creating the virtual environment .venv ..."),
        STEP + re.escape("installing the dependencies of pyproject.toml (pip) ..."),
        STEP + re.escape("installing the project (VIABTC_PURE_PYTHON=1: nothing compiled) ..."),
        STEP + "installed; starting the exchange",
        *startup_patterns(offset, data),
    ])

    second = run_until_running(tree, data, offset, SECOND_START_BUDGET).splitlines()
    assert not [line for line in second if re.match(STEP, line) or "install" in line], second
    assert_in_order(second, startup_patterns(offset, data))
