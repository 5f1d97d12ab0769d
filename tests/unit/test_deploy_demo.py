"""The launcher's demo parts without daemons: the demo auth endpoint, the page's config, the trading plan."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accessws.auth import AUTH_REFUSED, Authenticator, user_id_of
from common.errors import RpcError
from deploy.launcher import configs
from deploy.launcher.__main__ import parse_args
from deploy.launcher.demo_auth import DemoAuthServer, auth_reply, demo_user
from deploy.launcher.layout import LOOPBACK, DataDir, Ports
from deploy.launcher.trade_plan import (
    ASK,
    BID,
    MAKER,
    MAX_RESTING,
    TAKER,
    Cancel,
    MarketInfo,
    MarketPlan,
    Put,
)


@pytest.mark.parametrize(("token", "user"), [
    ("demo:1", 1), ("demo:4294967295", 4294967295), ("demo:007", 7),
    ("demo:0", None), ("demo:4294967296", None), ("demo:-1", None), ("demo: 1", None), ("demo:", None),
    ("demo:1.0", None), ("demo:٣", None), ("user:1", None), ("", None), ("Demo:1", None),
])
def test_a_demo_token_names_a_user(token: str, user: int | None) -> None:
    assert demo_user(token) == user


def test_the_replies_are_what_accessws_reads() -> None:
    assert user_id_of(orjson.dumps(auth_reply("demo:42")), "demo") == 42
    with pytest.raises(RpcError) as refused:
        user_id_of(orjson.dumps(auth_reply("secret")), "demo")
    assert refused.value.code == AUTH_REFUSED and "demo:<user id>" in refused.value.message


async def test_accessws_logs_in_through_the_endpoint() -> None:
    server = DemoAuthServer().start()
    authenticator = Authenticator(server.url, server.url, timeout=2.0)
    await authenticator.start()
    try:
        assert server.url.startswith(f"http://{LOOPBACK}:")  # loopback only
        assert await authenticator.auth("demo:9") == 9
        assert await authenticator.auth("demo:10") == 10  # again, on the kept-alive connection
        with pytest.raises(RpcError) as refused:
            await authenticator.auth("demo:x")
        assert refused.value.code == AUTH_REFUSED
    finally:
        await authenticator.close()
        server.stop()


def build(tmp_path: Path, demo: bool) -> dict[str, dict[str, object]]:
    infra = configs.Infrastructure(1, 2, "http://127.0.0.1:3/auth", configs.DEFAULT_SIGN_URL, demo=demo)
    built = configs.build_configs(DataDir.at(tmp_path), Ports(100), infra)
    for name, config in built.items():
        configs.validate(name, config)
    return built


def test_the_page_is_pointed_at_the_launchers_accessws(tmp_path: Path) -> None:
    built = build(tmp_path, demo=True)
    ui = built["accesshttp"]["ui"]
    assert isinstance(ui, dict)
    assert ui["ws_url"] == Ports(100).ws_url == "ws://127.0.0.1:8190/"
    assert ui["demo"] is True
    # the page subscribes only with what accessws allows
    assert ui["depth_merge"] == built["accessws"]["depth_merge"]
    assert ui["depth_limit"] in built["accessws"]["depth_limit"]  # type: ignore[operator]
    assert built["accessws"]["auth_url"] == "http://127.0.0.1:3/auth"
    assert build(tmp_path, demo=False)["accesshttp"]["ui"]["demo"] is False  # type: ignore[index]


def test_the_demo_command_line() -> None:
    args = parse_args(["demo", "--trade", "--rate", "200", "--market", "BTCUSDT"])
    assert (args.command, args.trade, args.rate, args.market, args.auth_url) == ("demo", True, 200.0,
                                                                                ["BTCUSDT"], None)
    with pytest.raises(SystemExit):
        parse_args(["demo", "--trade", "--rate", "0"])


MARKETS = st.builds(MarketInfo, name=st.just("XY"), stock=st.just("X"), money=st.just("Y"),
                    stock_prec=st.integers(0, 8), money_prec=st.integers(0, 8),
                    min_amount=st.sampled_from([Decimal("0.001"), Decimal(1), Decimal("0.1")]))


@settings(max_examples=40, deadline=None)
@given(market=MARKETS, seed=st.integers(0, 2**32), start=st.sampled_from(["0.075", "20000", "3", "150000"]),
       rate=st.sampled_from([1.0, 5.0, 200.0]))
def test_the_plan_keeps_a_bounded_book_of_valid_orders(market: MarketInfo, seed: int, start: str,
                                                      rate: float) -> None:
    rng = random.Random(seed)
    plan = MarketPlan(market, Decimal(start), random.Random(seed), rate)
    resting: set[int] = set()
    cancelled: set[int] = set()
    next_id = 1
    actions = plan.opening()
    assert {a.side for a in actions if isinstance(a, Put)} == {ASK, BID}
    for _ in range(300):
        for action in actions:
            if isinstance(action, Cancel):
                assert action.user == MAKER and action.order_id in resting and action.order_id not in cancelled
                cancelled.add(action.order_id)
                plan.answered(action, None)
                continue
            assert action.user in (MAKER, TAKER) and action.side in (ASK, BID)
            assert action.amount >= market.min_amount and action.price > 0
            assert action.amount == action.amount.quantize(Decimal(1).scaleb(-market.stock_prec))
            assert action.price == action.price.quantize(Decimal(1).scaleb(-market.money_prec))
            filled = rng.random() < 0.3
            reply = {"id": next_id, "left": "0" if filled else str(action.amount)}
            if action.user == MAKER and not filled:
                resting.add(next_id)
            plan.answered(action, None if rng.random() < 0.05 else reply)
            next_id += 1
        actions = plan.next_round()
        assert sum(isinstance(a, Put) and a.user == TAKER for a in actions) == 1  # one trade a round
        assert len(plan.resting) <= MAX_RESTING
    assert plan.start / 3 < plan.price < plan.start * 3  # the walk stays near where it started
