"""The benches' accounting: CPU per order over a span, the throughput report, the spread of runs, CLI status,
the comparison's summary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.compare_original import summarise
from bench.harness import CpuSpan, CpuUsage, cpu_report, parse_status, spread, throughput_report


class FakeProcesses:
    """CPU seconds per pid that the test moves forward; a pid missing from `cpu` has exited."""

    def __init__(self, cpu: dict[int, float]) -> None:
        self.cpu = dict(cpu)
        self.now = 100.0
        self.machine = 1000.0

    def read(self, pid: int) -> float:
        if pid not in self.cpu:
            raise FileNotFoundError(pid)
        return self.cpu[pid]


def meter(procs: FakeProcesses, roles: dict[str, list[int]]) -> CpuSpan:
    return CpuSpan(roles, read=procs.read, machine=lambda: (procs.machine, 0.0), clock=lambda: procs.now)


def test_span_counts_each_role_from_start_to_stop_summed_over_its_processes() -> None:
    procs = FakeProcesses({1: 10.0, 2: 5.0, 3: 7.0})
    span = meter(procs, {"gateway": [1, 2], "engine": [3]}).start()
    procs.cpu.update({1: 10.5, 2: 5.25, 3: 8.0})
    procs.now += 4.0
    procs.machine += 3.0
    usage = span.stop()
    assert usage.seconds == {"gateway": 0.75, "engine": 1.0}
    assert usage.span_s == 4.0
    assert usage.machine_busy_s == 3.0


def test_a_process_that_exits_mid_span_keeps_what_it_used_until_its_last_sample() -> None:
    procs = FakeProcesses({1: 1.0, 2: 2.0})
    span = meter(procs, {"workers": [1, 2]}).start()
    procs.cpu.update({1: 1.5, 2: 2.5})
    span.sample()
    del procs.cpu[2]
    procs.cpu[1] = 2.0
    assert span.stop().seconds == {"workers": 1.5}


def test_cpu_measured_elsewhere_is_added_to_its_role_and_roles_without_processes_are_dropped() -> None:
    procs = FakeProcesses({1: 0.0})
    span = meter(procs, {"engine": [1], "nobody": []}).start()
    span.add("load_generator", 0.25)
    span.add("load_generator", 0.25)
    usage = span.stop()
    assert usage.seconds == {"engine": 0.0, "load_generator": 0.5}
    assert "nobody" not in usage.processes


def test_cpu_report_gives_microseconds_per_order_per_role_the_total_and_the_whole_machine() -> None:
    usage = CpuUsage({"engine": 0.2, "mariadbd": 0.3}, span_s=2.0, machine_busy_s=0.6,
                     processes={"engine": [1], "mariadbd": [2]})
    report = cpu_report(usage, 1000, {"mariadbd": "shared", "redis": "not in this run"})
    assert report["cpu_us_per_order"] == {"engine": 200.0, "mariadbd": 300.0, "total": 500.0}
    assert report["cpu_pct_of_one_core"] == {"engine": 10.0, "mariadbd": 15.0}
    assert report["machine_cpu_us_per_order"] == 600.0
    assert report["machine_unattributed_cpu_us_per_order"] == pytest.approx(100.0)
    assert report["machine_busy_pct"] == round(100 * 0.6 / (2.0 * (os.cpu_count() or 1)), 1)
    assert report["shared_processes"] == {"mariadbd": "shared"}


def test_throughput_report_counts_the_written_rate_over_load_and_catch_up() -> None:
    usage = CpuUsage({"engine": 1.0}, span_s=12.5)
    report = throughput_report(acked=10000, load_s=10.0, catch_up_s=2.5, usage=usage)
    assert report["acked_orders_per_s"] == 1000.0
    assert report["written_orders_per_s"] == 800.0
    assert report["catch_up_s"] == 2.5
    assert report["cpu_span_s"] == 12.5
    assert report["cpu_us_per_order"] == {"engine": 100.0, "total": 100.0}
    assert "machine_cpu_us_per_order" not in report


def test_no_orders_gives_no_division_by_zero() -> None:
    report = throughput_report(acked=0, load_s=0.0, catch_up_s=0.0, usage=CpuUsage({"engine": 0.1}, span_s=0.0))
    assert report["acked_orders_per_s"] is None and report["written_orders_per_s"] is None
    assert report["cpu_pct_of_one_core"] == {"engine": None}


def test_spread_keeps_every_run_and_gives_min_median_max() -> None:
    assert spread([3.0, 1.0, 2.0, None]) == {"runs": [3.0, 1.0, 2.0, None], "min": 1.0, "median": 2.0, "max": 3.0,
                                             "spread_pct": 100.0}
    assert spread([4.0, 2.0])["median"] == 3.0
    assert spread([None])["median"] is None


def test_parse_status_reads_the_port_and_the_original_cli_alike() -> None:
    text = ("order last ID: 12\ndeals last ID: 7\noperlog last ID: 40\noperlog pending: 0\n"
            "history pending 3\nmessage deals pending: 0\n")
    assert parse_status(text) == {"order last ID": 12, "deals last ID": 7, "operlog last ID": 40,
                                  "operlog pending": 0, "history pending": 3, "message deals pending": 0}


def test_every_bench_answers_help() -> None:
    """The benches are not run by the tests, but each must at least start: imports and arguments."""
    bench = Path(__file__).resolve().parents[2] / "bench"
    scripts = sorted(p for p in bench.glob("*.py") if p.name != "harness.py")
    procs = {p.name: subprocess.Popen([sys.executable, str(p), "--help"], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE) for p in scripts}
    failed = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        if proc.returncode != 0 or b"usage:" not in out:
            failed[name] = err.decode(errors="replace")[-500:]
    assert len(procs) >= 9
    assert not failed, failed


def test_comparison_summary_gives_each_system_s_runs_and_the_ratio_of_each_pair() -> None:
    def run(system: str, pair: int, acked: float, written: float) -> dict[str, object]:
        return {"scenario": "http_c64", "system": system, "pair": pair, "acked_orders_per_s": acked,
                "written_orders_per_s": written, "refused_replies": 0, "machine_cpu_us_per_order": 500.0,
                "cpu_us_per_order": {"engine": 100.0, "total": 400.0}}

    runs = [run("original", 0, 1000.0, 1000.0), run("port", 0, 3000.0, 2500.0),
            run("port", 1, 4000.0, 3000.0),
            {"scenario": "http_c64", "system": "original", "pair": 1, "error": "did not start"}]
    summary = summarise(runs, ["http_c64"], 2)["http_c64"]
    assert summary["port"]["acked_orders_per_s"]["runs"] == [3000.0, 4000.0]
    assert summary["original"]["acked_orders_per_s"]["runs"] == [1000.0, None]
    assert summary["port"]["cpu_us_per_order"]["total"]["median"] == 400.0
    ratios = summary["port_over_original_per_pair"]
    assert ratios["acked_orders_per_s"]["runs"] == [3.0, None]
    assert ratios["written_orders_per_s"]["runs"] == [2.5, None]


def test_sqlite_history_digest_sees_every_value_and_its_type(tmp_path: Path) -> None:
    """history_bench --digest: rows counted over the shard tables (not the templates), and a value stored with
    another type (REAL 1.0 for INTEGER 1) or one ulp away changes the digest of its kind of table."""
    import sqlite3

    from bench.history_bench import sqlite_history

    def digest(time: object, user: object) -> tuple[int, dict[str, str]]:
        path = tmp_path / f"h{len(list(tmp_path.iterdir()))}.db"
        with sqlite3.connect(path) as conn:
            for table in ("balance_history_example", "balance_history_3", "deal_history_10"):
                conn.execute(f"CREATE TABLE {table} (time REAL, user_id)")
            conn.execute("INSERT INTO balance_history_3 VALUES (?, ?)", (time, user))
            conn.execute("INSERT INTO balance_history_example VALUES (9, 9)")
            conn.execute("INSERT INTO deal_history_10 VALUES (2.5, 7)")
        conn.close()
        return sqlite_history(str(path))

    count, base = digest(1.5, 1)
    assert count == 2 and set(base) == {"balance_history", "deal_history"}
    assert digest(1.5, 1)[1] == base
    for time, user in ((1.5, 1.0), (1.5000000000000002, 1), (1.5, "1")):
        changed = digest(time, user)[1]
        assert changed["balance_history"] != base["balance_history"] and changed["deal_history"] == base["deal_history"]
