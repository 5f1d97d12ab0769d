"""Assets and markets added live (spec/extensions.md §5 as the port serves it): add-only, logged, replayed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.config import ConfigError, Section
from matchengine.commands import ReplayError
from matchengine.config import load_config
from matchengine.definitions import market_definition, parse_market
from matchengine.order import ASK, BID
from tests.support import base_config

from .core_helpers import T0, code_of, deposit, spec_engine

ETH = {"name": "ETH", "prec_save": 18, "prec_show": 8}
ETHBCH = {"name": "ETHBCH", "stock": {"name": "ETH", "prec": 6}, "money": {"name": "BCH", "prec": 8},
          "min_amount": "0.01"}
ETHBCH_FULL = {**ETHBCH, "fee_prec": 4, "stp": "none"}


def test_an_asset_is_added_once_and_never_changed() -> None:
    engine, c = spec_engine()
    result, entries = c.update_asset([dict(ETH)], T0)
    assert result == {"status": "success"}
    assert entries == [("update_asset_config", [ETH])]
    assert c.asset_list([])[-1] == {"name": "ETH", "prec": 8}
    deposit(c, 1, "ETH", "1.123456789")
    assert c.balance_query([1, "ETH"]) == {"ETH": {"available": "1.12345678", "freeze": "0"}}
    # the same again: success, nothing logged; prec_show defaults to prec_save
    assert c.update_asset([{"name": "ETH", "prec_save": 18, "prec_show": 8}], T0) == ({"status": "success"}, [])
    assert c.update_asset([{"name": "XRP", "prec_save": 6}], T0)[1] == [
        ("update_asset_config", [{"name": "XRP", "prec_save": 6, "prec_show": 6}])]
    # another definition of an existing asset: 1 with the reason, nothing changes
    with pytest.raises(Exception) as exc:
        c.update_asset([{"name": "BTC", "prec_save": 12, "prec_show": 6}], T0)
    assert (exc.value.code, exc.value.data) == (1, "asset BTC exists with prec_save 12 and prec_show 8, not 12 and 6")  # type: ignore[attr-defined]
    assert engine.assets["BTC"].prec_show == 8


@pytest.mark.parametrize("params", [
    [], [ETH, ETH], ["ETH"], [None], [{"name": "", "prec_save": 8}], [{"name": "X" * 16, "prec_save": 8}],
    [{"name": "X"}], [{"name": "X", "prec_save": 31}], [{"name": "X", "prec_save": -1}],
    [{"name": "X", "prec_save": "8"}], [{"name": "X", "prec_save": 8.0}], [{"name": 5, "prec_save": 8}],
])
def test_bad_asset_definitions_are_invalid(params: list[Any]) -> None:
    engine, c = spec_engine()
    assert code_of(c.update_asset, params, T0)[0] == 1
    assert list(engine.assets) == ["BTC", "BCH"]


def test_a_market_is_added_at_the_end_and_trades() -> None:
    engine, c = spec_engine()
    c.update_asset([ETH], T0)
    result, entries = c.update_market([dict(ETHBCH)], T0)
    assert result == {"status": "success"} and entries == [("update_market_config", [ETHBCH_FULL])]
    assert [m["name"] for m in c.market_list([])] == ["BTCBCH", "ETHBCH"]
    assert c.market_list([])[-1] == {"name": "ETHBCH", "stock": "ETH", "money": "BCH", "fee_prec": 4,
                                     "stock_prec": 6, "money_prec": 8, "min_amount": "0.01"}
    deposit(c, 1, "ETH", "10")
    deposit(c, 2, "BCH", "10")
    c.put_limit([1, "ETHBCH", ASK, "1", "0.5", "0", "0", ""], T0)
    assert c.put_limit([2, "ETHBCH", BID, "1", "0.5", "0", "0", ""], T0)[0]["deal_stock"] == "1"
    assert c.update_market([ETHBCH_FULL], T0) == ({"status": "success"}, [])
    for changed in ({**ETHBCH, "min_amount": "0.02"}, {**ETHBCH, "fee_prec": 3}, {**ETHBCH, "stp": "cancel_both"},
                    {**ETHBCH, "stock": {"name": "ETH", "prec": 5}}):
        assert code_of(c.update_market, [changed], T0)[0] == 1, changed
    assert engine.markets["ETHBCH"].spec == parse_market(ETHBCH_FULL, engine.assets)


@pytest.mark.parametrize("definition,reason", [
    ({**ETHBCH, "stock": {"name": "DOGE", "prec": 6}}, "field 'market.stock.name': unknown asset 'DOGE'"),
    ({**ETHBCH, "money": {"name": "BCH", "prec": 20}},
     "field 'market.stock.prec': stock.prec + money.prec must be <= prec_save of BCH (20)"),
    ({**ETHBCH, "fee_prec": 13}, "field 'market.fee_prec': stock.prec + fee_prec must be <= prec_save of ETH (18)"),
    ({**ETHBCH, "stp": "always"}, "field 'market.stp': must be one of none, cancel_taker, cancel_maker, cancel_both"),
    ({**ETHBCH, "min_amount": "NaN"}, "field 'market.min_amount': 'NaN' is not a non-negative decimal"),
    ({**ETHBCH, "name": "X" * 31}, "field 'market.name': must be at most 30 bytes"),
    ({"name": "ETHBCH"}, "field 'market.stock': required field is missing"),
])
def test_bad_market_definitions_are_invalid_with_a_reason(definition: dict[str, Any], reason: str) -> None:
    engine, c = spec_engine()
    c.update_asset([ETH], T0)
    with pytest.raises(Exception) as exc:
        c.update_market([definition], T0)
    assert (exc.value.code, exc.value.data) == (1, reason)  # type: ignore[attr-defined]
    assert list(engine.markets) == ["BTCBCH"]


def test_replay_adds_definitions_and_stops_at_one_the_config_file_contradicts() -> None:
    engine, c = spec_engine()
    c.update_asset([ETH], T0)
    c.update_market([ETHBCH], T0)
    replica, rc = spec_engine()
    rc.replay("update_asset_config", [ETH], T0)
    rc.replay("update_market_config", [ETHBCH_FULL], T0)
    assert list(replica.markets) == ["BTCBCH", "ETHBCH"]
    assert replica.markets["ETHBCH"].spec == engine.markets["ETHBCH"].spec
    # met again (the config file has them now): nothing happens
    rc.replay("update_asset_config", [ETH], T0)
    rc.replay("update_market_config", [ETHBCH_FULL], T0)
    # the config file's min_amount wins over a logged one; a precision never changes
    rc.replay("update_market_config", [{**ETHBCH_FULL, "min_amount": "5"}], T0)
    assert str(replica.markets["ETHBCH"].spec.min_amount) == "0.01"
    with pytest.raises(ReplayError) as exc:
        rc.replay("update_market_config", [{**ETHBCH_FULL, "fee_prec": 2}], T0)
    assert str(exc.value) == (
        "the config file and the operation log disagree: market ETHBCH exists with fee_prec 4, not 2")
    with pytest.raises(ReplayError) as exc:
        rc.replay("update_asset_config", [{**ETH, "prec_show": 6}], T0)
    assert "asset ETH exists with prec_save 18 and prec_show 8, not 18 and 6" in str(exc.value)


def test_config_file_stp_and_exchange_file(tmp_path: Any) -> None:
    config = base_config("matchengine", tmp_path)
    config.update({"svr": {"bind": ["tcp@127.0.0.1:1"], "max_pkg_size": 10240}, "cli": "tcp@127.0.0.1:2",
                   "db_log": {"sqlite": "x"}, "db_history": {"sqlite": "y"}, "brokers": "k:1",
                   "assets": [{"name": "BTC", "prec_save": 12}, {"name": "BCH", "prec_save": 20}],
                   "markets": [{"name": "BTCBCH", "stock": {"name": "BTC", "prec": 8},
                                "money": {"name": "BCH", "prec": 8}, "stp": "cancel_maker"}]})
    assert load_config(Section(config)).markets[0].stp == 0x200
    config["markets"][0]["stp"] = "sometimes"
    with pytest.raises(ConfigError, match=r"field 'markets\[0\].stp': must be one of"):
        load_config(Section(config))
    config["markets"][0]["stp"] = "none"
    exchange = tmp_path / "exchange.json"
    exchange.write_text(json.dumps({"assets": config.pop("assets"), "markets": config.pop("markets")}))
    config["exchange_file"] = str(exchange)
    loaded = load_config(Section(config))
    assert [m.name for m in loaded.markets] == ["BTCBCH"] and loaded.exchange_file == str(exchange)
    assert market_definition(loaded.markets[0])["stp"] == "none"
    config["assets"] = []
    with pytest.raises(ConfigError, match="field 'assets': must not be given with 'exchange_file'"):
        load_config(Section(config))
    del config["assets"]
    config["exchange_file"] = str(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="field 'exchange_file': cannot read"):
        load_config(Section(config))
