"""Configs: the production samples under deploy/ and the launcher's are valid, and every daemon given a
missing file, bad JSON or an invalid field exits 1 with one line on stderr saying what is wrong."""

from __future__ import annotations

import copy
import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from common.config import Section, load_config_file
from deploy.launcher.configs import DAEMONS, Infrastructure, build_configs, validate
from deploy.launcher.layout import DataDir, Ports
from matchengine.config import load_config as load_engine_config
from tests.e2e.deploy_support import DEPLOY
from tests.support import ROOT

# The original's sample ports (spec/operations.md §1).
SAMPLE_BINDS = {
    "matchengine": ("svr", ["tcp@0.0.0.0:7316", "udp@0.0.0.0:7316"]),
    "marketprice": ("svr", ["tcp@0.0.0.0:7416", "udp@0.0.0.0:7416"]),
    "readhistory": ("svr", ["tcp@0.0.0.0:7424", "udp@0.0.0.0:7424"]),
    "accesshttp": ("svr", ["tcp@0.0.0.0:8080"]),
    "accessws": ("svr", ["stream@/tmp/accessws.sock"]),
    "alertcenter": ("svr", ["tcp@0.0.0.0:4444", "udp@0.0.0.0:4444"]),
}

# One wrong field per daemon: (path in the config, bad value, what the error line must contain).
BAD_FIELDS: dict[str, tuple[tuple[str | int, ...], Any, str]] = {
    "matchengine": (("markets", 1, "min_amount"), "a lot", "field 'markets[1].min_amount'"),
    "marketprice": (("deals", "topic"), 5, "field 'deals.topic'"),
    "readhistory": (("worker_num",), 0, "field 'worker_num'"),
    "accesshttp": (("matchengine", "addr", 0), "tcp@nowhere", "field 'matchengine.addr'"),
    "accessws": (("depth_merge", 2), "x", "field 'depth_merge[2]'"),
    # common/config.py names this one 'redis.addr[1].addr' (reported): match the prefix
    "alertcenter": (("redis", "addr", 1), "sentinel", "field 'redis.addr[1]"),
}


def sample(name: str) -> dict[str, Any]:
    return orjson.loads((DEPLOY / name / "conf" / "config.json").read_bytes())


def load(name: str, config: dict[str, Any]) -> Any:
    return importlib.import_module(f"{name}.config").load_config(Section(config))


def test_production_samples_load_and_use_the_original_ports() -> None:
    for name in DAEMONS:
        config = load_config_file(str(DEPLOY / name / "conf" / "config.json"))
        load(name, config.data)
        key, binds = SAMPLE_BINDS[name]
        assert config.data[key]["bind"] == binds, name
    engine = sample("matchengine")
    assert engine["cli"] == "tcp@127.0.0.1:7317"
    assert engine["db_log"]["name"] == "trade_log" and engine["db_history"]["name"] == "trade_history"
    assert engine["brokers"] == "127.0.0.1:9092"
    for name in ("marketprice", "alertcenter"):
        assert sample(name)["redis"]["name"] == "mymaster", "Redis Sentinel, as the original"
    assert sample("accesshttp")["monitor"]["bind"] == "tcp@0.0.0.0:8081"
    assert sample("accessws")["monitor"]["bind"] == "tcp@0.0.0.0:8091"
    monitors = {"matchengine": 7318, "marketprice": 7417, "readhistory": 7425, "alertcenter": 4445}
    for name, port in monitors.items():  # the monitor ports of the original's port plan
        assert sample(name)["monitor"]["bind"] == f"tcp@0.0.0.0:{port}", name
    assert sample("accesshttp")["config_methods"] is False, "config.update_* are an operator's, off by default"
    assert sample("accessws")["stops"]["topic"] == "stops"


def test_the_launcher_configs_load(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path)
    data.create()
    configs = build_configs(data, Ports(0), Infrastructure(broker_port=19092, redis_port=16379))
    assert list(configs) == list(DAEMONS)
    offset = build_configs(data, Ports(100), Infrastructure(broker_port=19092, redis_port=16379))
    for name, port in {"matchengine": 7318, "marketprice": 7417, "readhistory": 7425, "alertcenter": 4445,
                       "accesshttp": 8081, "accessws": 8091}.items():
        assert configs[name]["monitor"]["bind"] == f"tcp@127.0.0.1:{port}", name
        assert offset[name]["monitor"]["bind"] == f"tcp@127.0.0.1:{port + 100}", name
    for name, config in configs.items():
        validate(name, config)
    assert configs["accesshttp"]["svr"]["bind"] == ["tcp@127.0.0.1:8080"]
    assert configs["accessws"]["svr"]["bind"] == ["tcp@127.0.0.1:8090"]
    assert configs["matchengine"]["db_log"] == {"sqlite": str(data.trade_log_db)}
    assert configs["matchengine"]["exchange_file"] == str(data.exchange_file)
    assert configs["accesshttp"]["config_methods"] is True
    assert [m.name for m in load_engine_config(Section(configs["matchengine"])).markets] == [
        "BTCUSDT", "ETHUSDT", "ETHBTC"]
    moved = build_configs(data, Ports(1000), Infrastructure(broker_port=19092, redis_port=16379))
    assert moved["marketprice"]["accesshttp"] == "http://127.0.0.1:9080/"
    assert moved["readhistory"]["alert"]["addr"] == "127.0.0.1:5444"


def with_value(config: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(config)
    target: Any = broken
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return broken


def test_config_errors_stop_every_daemon_with_one_line(tmp_path: Path) -> None:
    cases: list[tuple[str, str, Path, str]] = []
    for name in DAEMONS:
        missing = tmp_path / f"{name}-missing.json"
        cases.append((name, "missing file", missing, f"config error: cannot read '{missing}'"))
        bad_json = tmp_path / f"{name}-bad.json"
        bad_json.write_text('{"svr": {"bind": ["tcp@0.0.0.0:1"],}')
        cases.append((name, "bad JSON", bad_json, f"config error: '{bad_json}' is not valid JSON"))
        path, value, expected = BAD_FIELDS[name]
        bad_field = tmp_path / f"{name}-field.json"
        bad_field.write_bytes(orjson.dumps(with_value(sample(name), path, value)))
        cases.append((name, "invalid field", bad_field, f"config error: {expected}"))

    env = dict(os.environ, PYTHONPATH=str(ROOT), VIABTC_LOCK_DIR=str(tmp_path))
    running = [(case, subprocess.Popen([sys.executable, "-m", case[0], str(case[2])], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path))
               for case in cases]
    for (name, what, _, expected), proc in running:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, (name, what, out, err)
        lines = err.splitlines()
        assert len(lines) == 1, (name, what, err)
        assert lines[0].startswith(expected), (name, what, lines[0])
        assert out.startswith(f"process: {name} version: "), (name, what, out)
    assert not list(tmp_path.glob("*.lock")), "a daemon with a bad config must not take its lock"
