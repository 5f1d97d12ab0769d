"""A failover pair of matchengines under load: takeovers lose nothing, double nothing, and no deposed
leader acknowledges anything (docs/failover.md).

Real processes: two matchengines (role "standby") on one MariaDB trade_log, the
broker, and an accesshttp whose matchengine client lists both engines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from common.errors import RpcError
from common.rpc import RpcClient, RpcTimeout, RpcUnavailable
from tests.conftest import start_engine
from tests.e2e.accesshttp_stack import http_port
from tests.e2e.deploy_support import DEPLOY, lock_holders
from tests.e2e.engine_driver import call_until_up, connect, dump_state
from tests.e2e.failover_support import gateway_for, pair, pair_configs, role_of, start_pair, wait_role
from tests.e2e.test_matchengine_durability import history_rows
from tests.mariadb_server import OwnMariaDB
from tests.proxy import TcpProxy
from tests.support import MYSQL, ROOT, Broker, Daemon, cli_port, engine_config, mysql_query, topic_records

USERS = 30


class HttpLoad:
    """Deposits and crossing orders through accesshttp, remembering what was acknowledged."""

    def __init__(self, port: int, seed: int = 7) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self.rnd = random.Random(seed)
        self.sent: dict[int, tuple[int, str, str]] = {}   # business id -> (user, asset, amount)
        self.acked_deposits: set[int] = set()
        self.acked_orders: set[int] = set()
        self.failed = 0
        self.next_id = 0
        self.stop = asyncio.Event()

    async def call(self, session: aiohttp.ClientSession, method: str, params: list[Any]) -> Any:
        """The result, or None for anything but an answer with a result (gateway errors, time-outs)."""
        try:
            async with session.post(self.url, json={"id": 1, "method": method, "params": params},
                                    timeout=aiohttp.ClientTimeout(total=5)) as response:
                if response.status != 200:
                    return None
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError):
            return None
        return answer["result"] if answer.get("error") is None else None

    async def depositor(self, session: aiohttp.ClientSession) -> None:
        while not self.stop.is_set():
            self.next_id += 1
            bid = self.next_id
            user, asset = self.rnd.randint(1, USERS), self.rnd.choice(["BTC", "BCH"])
            amount = str(self.rnd.randint(1, 1000))
            self.sent[bid] = (user, asset, amount)
            if await self.call(session, "balance.update", [user, asset, "deposit", bid, amount, {}]) is None:
                self.failed += 1
                await asyncio.sleep(0.02)
            else:
                self.acked_deposits.add(bid)

    async def orderer(self, session: aiohttp.ClientSession) -> None:
        while not self.stop.is_set():
            user, side = self.rnd.randint(1, USERS), self.rnd.choice((1, 2))
            order = await self.call(session, "order.put_limit", [user, "BTCBCH", side, "0.5",
                                                                  str(self.rnd.randint(95, 105)), "0", "0", ""])
            if order is None:
                await asyncio.sleep(0.02)
            else:
                self.acked_orders.add(order["id"])

    async def run_while(self, work: Callable[[], Any]) -> Any:
        async with aiohttp.ClientSession() as session:
            tasks = [asyncio.create_task(self.depositor(session)) for _ in range(4)] + \
                [asyncio.create_task(self.orderer(session)) for _ in range(4)]
            try:
                return await work()
            finally:
                self.stop.set()
                await asyncio.gather(*tasks)


async def topic_tags(address: str, topic: str) -> list[tuple[Any, str]]:
    """Every message of a topic: (value, its `op` header)."""
    return [(json.loads(m.value), dict(m.headers)["op"].decode()) for m in await topic_records(address, topic)]


def leader_of(engines: list[Daemon]) -> Daemon:
    deadline = time.monotonic() + 30
    while True:
        for engine in engines:
            if engine.alive() and role_of(engine).get("role") == "leader":
                return engine
        assert time.monotonic() < deadline, [role_of(e) for e in engines]
        time.sleep(0.02)


def kill_worker_only(engine: Daemon) -> None:
    """SIGKILL the engine process alone: its publisher child lives on until it notices."""
    os.kill(engine.pid, signal.SIGKILL)
    assert engine.proc is not None
    engine.proc.wait()


async def resend_all(client: RpcClient, sent: dict[int, tuple[int, str, str]], acked: set[int]) -> None:
    """Every acknowledged deposit is in the log (re-sending it is refused as a repeat); the others apply now,
    once: afterwards each business id has been applied exactly once."""
    async def resend(bid: int) -> None:
        user, asset, amount = sent[bid]
        try:
            await call_until_up(client, 102, [user, asset, "deposit", bid, amount, {}])
            assert bid not in acked, f"acknowledged deposit {bid} was lost"
        except RpcError as exc:
            assert exc.code == 10, exc

    ids = sorted(sent)
    for start in range(0, len(ids), 200):
        await asyncio.gather(*(resend(bid) for bid in ids[start:start + 200]))


async def assert_balances_hold(client: RpcClient, sent: dict[int, tuple[int, str, str]]) -> None:
    """Balances hold exactly the deposits `sent` (no fees, so orders move value and create none)."""
    totals = dict.fromkeys(("BTC", "BCH"), Decimal(0))
    for user in range(1, USERS + 1):
        for asset, value in (await call_until_up(client, 101, [user, "BTC", "BCH"])).items():
            totals[asset] += Decimal(value["available"]) + Decimal(value["freeze"])
    deposited = dict.fromkeys(("BTC", "BCH"), Decimal(0))
    for _user, asset, amount in sent.values():
        deposited[asset] += Decimal(amount)
    assert totals == deposited


def wait_published(engine: Daemon, timeout: float = 120.0) -> dict[str, int]:
    from tests.e2e.engine_driver import status_of

    deadline = time.monotonic() + timeout
    while True:
        status = status_of(engine)
        if status["history pending"] == 0 and status["message deals pending"] == 0:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


async def test_kill9_of_the_leader_ten_times_under_load_loses_nothing_and_doubles_nothing(
        tmp_path: Path, broker: Broker, mysql_names: Callable[[str], str]) -> None:
    engines = pair(tmp_path, log_db=mysql_names("log"), history_db=mysql_names("history"), brokers=broker.address)
    history_db = engines[0].config["db_history"]["name"]
    gateway = None
    try:
        start_pair(engines)
        gateway = gateway_for(tmp_path, engines)
        load = HttpLoad(http_port(gateway.config))
        takeovers: list[float] = []

        async def kill_ten_times() -> None:
            rnd = random.Random(3)
            for round_number in range(10):
                leader = await asyncio.to_thread(leader_of, engines)
                standby = engines[1 - engines.index(leader)]
                await asyncio.to_thread(wait_role, standby, "standby", 60, current=True)
                await asyncio.sleep(rnd.uniform(0.3, 1.2))
                killed_at = time.monotonic()
                if round_number % 2:
                    kill_worker_only(leader)
                else:
                    leader.kill9()
                await asyncio.to_thread(wait_role, standby, "leader", 30)
                takeovers.append(time.monotonic() - killed_at)
                await asyncio.to_thread(start_engine, leader)  # the watchdog's restart: back as the standby
            await asyncio.sleep(0.5)

        await load.run_while(kill_ten_times)
        assert len(takeovers) == 10 and max(takeovers) < 5, takeovers
        assert len(load.acked_deposits) > 200 and len(load.acked_orders) > 200, (load.acked_deposits, load.failed)

        leader = leader_of(engines)
        client = await connect(leader)
        await resend_all(client, load.sent, load.acked_deposits)
        await assert_balances_hold(client, load.sent)
        status = wait_published(leader)
        finished = {row[0] for row in history_rows(history_db, "order_detail")}
        for order_id in load.acked_orders - finished:
            assert await call_until_up(client, 207, ["BTCBCH", order_id]) is not None, order_id
        await client.close()

        # history exactly once
        deposits = history_rows(history_db, "balance_history", "WHERE business = 'deposit'")
        assert Counter(json.loads(row[7])["id"] for row in deposits) == Counter(set(load.sent))
        deals = status["deals last ID"]
        assert deals > 50
        assert Counter(r[3] for r in history_rows(history_db, "deal_history")) == {d: 2 for d in range(1, deals + 1)}
        assert max(Counter(r[0] for r in history_rows(history_db, "order_detail")).values()) == 1
        # every Kafka event at least once: each deal id, and one balances message per deposit (by its op tag)
        assert {m[11] for m, _ in await topic_tags(broker.address, "deals")} == set(range(1, deals + 1))
        assert len({tag for _, tag in await topic_tags(broker.address, "balances")}) == len(load.sent)
    finally:
        if gateway is not None:
            gateway.stop()
        for engine in engines:
            engine.stop()


class RpcLoad:
    """Deposits sent straight to one engine's RPC port; acknowledged business ids with the time of the answer."""

    def __init__(self, first_id: int) -> None:
        self.next_id = first_id
        self.sent: dict[int, tuple[int, str, str]] = {}
        self.acked: dict[int, float] = {}
        self.stop = asyncio.Event()

    async def depositor(self, client: RpcClient) -> None:
        rnd = random.Random(self.next_id)
        while not self.stop.is_set():
            self.next_id += 1
            bid = self.next_id
            self.sent[bid] = (rnd.randint(1, USERS), "BTC", str(rnd.randint(1, 100)))
            user, asset, amount = self.sent[bid]
            try:
                await client.call_json(102, [user, asset, "deposit", bid, amount, {}], timeout=30)
                self.acked[bid] = time.monotonic()
            except (RpcError, RpcUnavailable, RpcTimeout):
                await asyncio.sleep(0.02)

    def start(self, client: RpcClient, workers: int = 4) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self.depositor(client)) for _ in range(workers)]


def logged_deposit_ids(log_db: str, query: Callable[..., list[tuple[Any, ...]]] = mysql_query) -> dict[int, int]:
    """business id -> operation id, of every deposit in the operation log."""
    found: dict[int, int] = {}
    for (table,) in query(log_db, "SHOW TABLES LIKE 'operlog\\_2%%'"):
        for oper_id, detail in query(log_db, f"SELECT id, detail FROM `{table}`"):
            entry = json.loads(detail)
            if entry["method"] == "update_balance":
                found[entry["params"][3]] = oper_id
    return found


def takeover_id(engine: Daemon) -> int:
    """The last operation the new leader applied before it served (its FATAL "took over" line)."""
    text = Path(engine.config["log"]["path"] + ".log").read_text()
    return int(re.findall(r"took over the lease .* operations up to id (\d+)", text)[-1])


async def assert_deposed_leader_acknowledged_only_what_is_logged(
        old: Daemon, new: Daemon, old_load: RpcLoad, new_load: RpcLoad, woke_at: float) -> None:
    logged = logged_deposit_ids(old.config["db_log"]["name"])
    assert set(old_load.acked) | set(new_load.acked) <= set(logged), "an acknowledged deposit is not in the log"
    # what the old leader answered once it ran again had been committed before the takeover
    cutoff = takeover_id(new)
    late = [bid for bid, at in old_load.acked.items() if at > woke_at]
    assert all(logged[bid] <= cutoff for bid in late), (late, cutoff)
    assert new_load.acked and min(logged[bid] for bid in new_load.acked) > cutoff
    info = wait_role(old, "standby", 60, current=True)
    assert int(info["term"]) == int(role_of(new)["term"])


async def assert_leaders_agree_with_a_replay(engines: list[Daemon], new: Daemon) -> None:
    """The new leader's state equals the replay the deposed one made of the log: stop the new leader, the
    other takes over with the state it rebuilt from the log, and answers the same."""
    client = await connect(new)
    before = await dump_state(client, USERS)
    await client.close()
    new.stop()
    old = engines[1 - engines.index(new)]
    wait_role(old, "leader", 30)
    client = await connect(old)
    assert await dump_state(client, USERS) == before
    await client.close()


async def test_a_leader_stopped_until_replaced_acknowledges_nothing_after_and_stands_by(
        tmp_path: Path, broker: Broker, mysql_names: Callable[[str], str]) -> None:
    engines = pair(tmp_path, log_db=mysql_names("log"), history_db=mysql_names("history"), brokers=broker.address,
                   lease_timeout=1.0)
    try:
        start_pair(engines)
        old, new = engines
        to_old = await connect(old)
        old_load, new_load = RpcLoad(0), RpcLoad(10_000_000)
        tasks = old_load.start(to_old)
        await asyncio.sleep(1.0)
        old.signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        await asyncio.to_thread(wait_role, new, "leader", 30)
        assert time.monotonic() - stopped_at >= 1.0  # replaced once its lease expired
        to_new = await connect(new)
        tasks += new_load.start(to_new, 2)
        await asyncio.sleep(1.0)
        woke_at = time.monotonic()
        old.signal(signal.SIGCONT)
        await asyncio.sleep(1.5)
        old_load.stop.set()
        new_load.stop.set()
        await asyncio.gather(*tasks)
        await to_old.close()
        await to_new.close()
        assert len(old_load.acked) > 20 and len(new_load.acked) > 20
        await assert_deposed_leader_acknowledged_only_what_is_logged(old, new, old_load, new_load, woke_at)
        await assert_leaders_agree_with_a_replay(engines, new)
    finally:
        for engine in engines:
            if engine.alive():
                engine.signal(signal.SIGCONT)
            engine.stop()


async def test_a_leader_cut_from_mysql_acknowledges_nothing_after_the_takeover_and_stands_by(
        tmp_path: Path, broker: Broker, mysql_names: Callable[[str], str]) -> None:
    engines = pair(tmp_path, log_db=mysql_names("log"), history_db=mysql_names("history"), brokers=broker.address)
    proxy = TcpProxy(MYSQL["port"]).start()
    engines[0].config["db_log"]["port"] = proxy.port  # the first leader reaches trade_log through the proxy
    try:
        start_pair(engines)
        old, new = engines
        to_old = await connect(old)
        old_load, new_load = RpcLoad(0), RpcLoad(10_000_000)
        tasks = old_load.start(to_old)
        await asyncio.sleep(1.0)
        cut_at = time.monotonic()
        proxy.cut()  # its connections reset: its liveness lock is free at once
        await asyncio.to_thread(wait_role, new, "leader", 10)
        assert time.monotonic() - cut_at < 1.0
        await asyncio.sleep(0.2)
        woke_at = time.monotonic()
        proxy.restore()
        to_new = await connect(new)
        tasks += new_load.start(to_new, 2)
        await asyncio.sleep(1.5)
        old_load.stop.set()
        new_load.stop.set()
        await asyncio.gather(*tasks)
        await to_old.close()
        await to_new.close()
        assert len(old_load.acked) > 20 and len(new_load.acked) > 20
        await assert_deposed_leader_acknowledged_only_what_is_logged(old, new, old_load, new_load, woke_at)
        await assert_leaders_agree_with_a_replay(engines, new)
    finally:
        for engine in engines:
            engine.stop()
        proxy.stop()


async def test_a_late_commit_of_a_dead_engine_is_in_the_state_of_the_restarted_one(
        tmp_path: Path, broker: Broker) -> None:
    """The restart race of deliverable 5: the database stalls (SIGSTOP of its own MariaDB) while deposits are
    in flight, the engine is killed, the database resumes and may commit the dead engine's last packets — before
    or while the restarted engine reads the log.  The restarted engine takes the lease before its last read, so
    such a commit is either in what it read or refused: its state always equals the log, every acknowledged
    deposit is in it, and the ids go on without a clash."""
    with OwnMariaDB(tmp_path / "mariadb") as server:
        config = engine_config(tmp_path, log_db="trade_log", history_db="trade_history", brokers=broker.address)
        for key in ("db_log", "db_history"):
            config[key]["port"] = server.port
        engine = Daemon("matchengine", config, tmp_path)
        start_engine(engine)
        client = await connect(engine)
        sent: dict[int, tuple[int, str, str]] = {}
        acked: set[int] = set()
        unanswered_but_logged = 0
        try:
            for round_number in range(4):
                load = RpcLoad(round_number * 1_000_000)
                tasks = load.start(client, 6)
                await asyncio.sleep(0.5)
                server.pause()
                await asyncio.sleep(0.3)  # group commits go out to the stalled server and wait there
                engine.kill9()
                if round_number % 2:  # the restarted engine and the dead one's packets reach the server together
                    engine.start(wait=False)
                    await asyncio.sleep(0.5)
                    server.resume()
                else:
                    server.resume()
                    engine.start(wait=False)
                await asyncio.to_thread(engine.wait_ready, 60, cli_port(engine.config))
                load.stop.set()
                await asyncio.gather(*tasks)
                sent.update(load.sent)
                acked.update(load.acked)
                logged = logged_deposit_ids("trade_log", query=server.query)
                assert set(load.acked) <= set(logged), "an acknowledged deposit is not in the log"
                unanswered_but_logged += len(set(load.sent) & set(logged) - set(load.acked))
                await assert_balances_hold(client, {bid: sent[bid] for bid in logged})
            print(f"deposits committed without an answer (late commits among them): {unanswered_but_logged}")
            await resend_all(client, sent, acked)
            await assert_balances_hold(client, sent)
        finally:
            await client.close()
            engine.stop()


def refusal_of(engine: Daemon, timeout: float = 60.0) -> str:
    """Start `engine`, which must stop with status 1; the last line it printed."""
    engine.start(wait=False)
    assert engine.proc is not None
    engine.proc.wait(timeout)
    assert engine.proc.returncode == 1, engine.log_text()[-2000:]
    return engine.log_text().strip().splitlines()[-1]


async def test_engines_configured_against_each_other_are_refused_with_one_line(
        tmp_path: Path, broker: Broker, mysql_names: Callable[[str], str]) -> None:
    log_db, history_db = mysql_names("log"), mysql_names("history")
    first, second = pair(tmp_path, log_db=log_db, history_db=history_db, brokers=broker.address,
                         lease_timeout=0.5, role="sole")
    try:
        start_engine(first)
        wait_role(first, "leader")
        # two sole engines on one log
        assert refusal_of(second).startswith("config error: field 'role': ")
        assert first.alive() and role_of(first)["role"] == "leader"
        # a standby beside a sole engine; a standby without the exchange's name
        second.config["role"] = "standby"
        assert "leads exchange 'test-exchange' (term 1) as its sole engine" in refusal_of(second)
        second.config["exchange"] = ""
        assert refusal_of(second) == ("config error: field 'exchange': required with role 'standby': the name of "
                                      "the exchange whose log it follows")
        first.stop()
        # a pair's engine pointed at another exchange's log; a sole engine beside a pair
        first.config["role"] = "standby"
        start_engine(first)
        wait_role(first, "leader")
        second.config.update(role="standby", exchange="other")
        assert refusal_of(second) == ("config error: field 'exchange': the operation log in db_log belongs to "
                                      "exchange 'test-exchange', this config names 'other'")
        second.config.update(role="sole", exchange="test-exchange")
        assert "a second engine of an exchange must run with role 'standby'" in refusal_of(second)
        assert role_of(first)["role"] == "leader"
    finally:
        first.stop()
        second.stop()


def test_a_pair_run_by_restart_sh_hands_over_on_a_restart(
        tmp_path: Path, broker: Broker, mysql_names: Callable[[str], str]) -> None:
    """Both engines as in production: deploy/matchengine/shell/restart.sh with the pair's sample config
    (conf/standby.json), each host (here a directory) with its own lock.  Restarting the leader hands the
    lease to the standby at once (a graceful stop frees it) and brings the old leader back as the standby."""
    sample = json.loads((DEPLOY / "matchengine" / "conf" / "standby.json").read_text())
    assert (sample["role"], sample["exchange"]) == ("standby", "main")
    log_db, history_db = mysql_names("log"), mysql_names("history")
    hosts = []
    for name, config in zip(("a", "b"), pair_configs(tmp_path, log_db=log_db, history_db=history_db,
                                                     brokers=broker.address), strict=True):
        root = tmp_path / f"host_{name}"
        shutil.copytree(DEPLOY / "matchengine" / "shell", root / "shell")
        (root / "conf").mkdir()
        config.update(role=sample["role"], exchange=sample["exchange"], lease_timeout=sample["lease_timeout"])
        (root / "conf" / "standby.json").write_text(json.dumps(config))
        hosts.append((root, Daemon("matchengine", config, root)))

    def restart(root: Path) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, VIABTC_LOCK_DIR=str(root / "run"), VIABTC_PYTHON=sys.executable, PYTHONPATH=str(ROOT))
        return subprocess.run([str(root / "shell" / "restart.sh"), str(root / "conf" / "standby.json")],
                              capture_output=True, text=True, env=env, timeout=120, cwd="/")

    try:
        for root, _ in hosts:
            result = restart(root)
            assert result.returncode == 0 and "matchengine: started" in result.stdout, result
        (a_root, a), (_, b) = hosts
        wait_role(a, "leader", daemonized=True)
        wait_role(b, "standby", current=True, daemonized=True)
        result = restart(a_root)
        assert result.returncode == 0 and "matchengine: stopping" in result.stdout, result
        assert wait_role(b, "leader", daemonized=True)["takeovers"] == "1"
        wait_role(a, "standby", current=True, daemonized=True)
    finally:
        for root, _ in hosts:
            for pid in lock_holders(root / "run" / "matchengine.lock"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
