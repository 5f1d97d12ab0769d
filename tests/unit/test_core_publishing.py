"""What the publisher's listener makes of the extensions: `stops` and `balances` messages, stop history rows."""

from __future__ import annotations

from typing import Any, cast

import orjson

from matchengine.fanout import Fanout
from matchengine.history import HistoryRows, shape_of
from matchengine.message import TOPICS, Messages, message_numbers, tag_messages
from matchengine.order import ASK, BID

from .core_helpers import T0, deposit, limit, spec_engine


def test_stop_messages_lock_messages_and_stop_history_rows() -> None:
    history, messages = HistoryRows(), Messages()
    engine, c = spec_engine(Fanout(history, messages))
    for user in (1, 2, 3):
        deposit(c, user, "BTC", "10")
        deposit(c, user, "BCH", "10000")
    limit(c, 1, ASK, "1", "100")
    limit(c, 2, BID, "1", "100")
    limit(c, 2, BID, "1", "90")
    history.take()
    messages.take()

    messages.oper_id = 7
    stop = c.put_stop_limit([3, "BTCBCH", ASK, "1", "95", "89", "0.002", "0.001", "it's", 0x20, "c1"], T0 + 1)[0]
    messages.oper_id = 8
    other = c.put_stop_market([3, "BTCBCH", BID, "50", "120", "0.002", "src"], T0 + 2)[0]
    c.cancel_stop([3, "BTCBCH", other["id"]], T0 + 3)
    messages.oper_id = 9
    c.asset_lock([3, "BCH", "withdraw", 1, "5"], T0 + 4)
    messages.oper_id = 10
    c.put_limit([1, "BTCBCH", ASK, "1", "90", "0.002", "0.001", ""], T0 + 5)  # at 90: fires the stop
    taken = messages.take()
    assert set(taken) == set(TOPICS) == {"balances", "orders", "deals", "stops"}
    stops = [(oper, orjson.loads(payload)) for oper, payload in taken["stops"]]
    assert [(oper, m["event"], m["order"]["id"], m["order"]["status"]) for oper, m in stops] == [
        (7, 1, stop["id"], 0), (8, 1, other["id"], 0), (8, 3, other["id"], 0), (10, 2, stop["id"], 1)]
    assert stops[0][1] == {"event": 1, "order": {**stop, "status": 0}, "stock": "BTC", "money": "BCH"}
    assert all((m["stock"], m["money"]) == ("BTC", "BCH") for _, m in stops)
    assert stops[3][1]["order"]["mtime"] == T0 + 5
    assert [tag for tag, _ in tag_messages(taken["stops"])] == [(7, 0), (8, 0), (8, 1), (10, 0)]
    for topic in TOPICS:
        assert message_numbers(taken[topic]) == [n for (_, n), _ in tag_messages(taken[topic])]
    assert [orjson.loads(p) for _, p in taken["balances"]] == [[T0 + 4, 3, "BCH", "withdraw", "0"]]
    # the fired order's messages come before the stop's ACTIVE (all of oper 10)
    orders = [orjson.loads(p)["order"] for _, p in taken["orders"]]
    assert orders[-1]["option"] == 0x64 and orders[-1]["client_id"] == "c1"

    tables = history.take()
    assert list(tables["stop_history_3"]) == [
        (stop["id"], T0 + 1, T0 + 5, 3, "BTCBCH", "it's", "c1", 0x64, 1, ASK, "95.00000000", "89.00000000", "1.00000000",
         "0.0020", "0.0010", 1)]
    columns, render = shape_of("stop_history_3")
    assert columns == ("order_id", "create_time", "finish_time", "user_id", "market", "source", "client_id",
                       "option", "t", "side", "stop_price", "price", "amount", "taker_fee", "maker_fee", "status")
    assert render(cast(tuple[Any, ...], tables["stop_history_3"][0])) == (
        f"({stop['id']},{T0 + 1!r},{T0 + 5!r},3,'BTCBCH','it\\'s','c1',100,1,1,95.00000000,89.00000000,1.00000000,"
        "0.0020,0.0010,1)")
    # the lock made no balance history; cancelled stops make no stop history
    assert not [r for r in tables.get("balance_history_3", []) if cast(tuple[Any, ...], r)[3] == "withdraw"]
    assert len(tables["stop_history_3"]) == 1
