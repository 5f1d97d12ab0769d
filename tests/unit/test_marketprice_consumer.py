"""The `deals` message parser and the consumer's ordering rules: skip applied ids, rewind once on a jump."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from marketprice.consumer import DealsConsumer
from marketprice.deals import deal_id_of, parse_deal
from marketprice.state import Markets

D = Decimal
T = 1700000000.25


def message(deal_id: int, market: str = "BTCUSDT", price: str = "9500.00000000", amount: str = "0.50000000",
            side: int = 2, at: object = None) -> bytes:
    return orjson.dumps([T + deal_id if at is None else at, market, 11, 12, 1, 2, price, amount,
                         "0.0001", "0.0002", side, deal_id, "BTC", "USDT"])


def test_a_valid_message() -> None:
    assert parse_deal(message(7)) == (T + 7, "BTCUSDT", D("9500.00000000"), D("0.50000000"), 2, 7)
    assert parse_deal(message(7), applied_up_to=7) == 7  # applied already: only the id is read
    assert deal_id_of(message(7)) == 7
    assert deal_id_of(b"junk") is None


@pytest.mark.parametrize("raw", [
    b"not json", b"{}", b"[1, 2, 3]",
    message(1, at=1700000000),  # an integer time reads as 0 in the original
    message(1, at=0.0), message(1, at=-5.0), message(1, at=1e300), message(1, at="1700000000.5"),
    message(1, market=""), orjson.dumps([T, None, 1, 2, 1, 2, "1", "1", "0", "0", 1, 1]),
    message(1, price="NaN"), message(1, price="abc"), message(1, price="-1"), message(1, price="0"),
    message(1, amount="Infinity"), message(1, amount=""),
    message(1, side=0), message(1, side=3), orjson.dumps([T, "M", 1, 2, 1, 2, "1", "1", "0", "0", True, 1]),
    message(0), message(-3), orjson.dumps([T, "M", 1, 2, 1, 2, "1", "1", "0", "0", 1, 1.5]),
])
def test_invalid_messages(raw: bytes) -> None:
    assert parse_deal(raw) is None


class RecordingReader:
    """Stands in for the Kafka reader: only `rewind` is called by `process`."""

    def __init__(self) -> None:
        self.rewinds = 0

    async def rewind(self) -> None:
        self.rewinds += 1


def consumer(markets: Markets) -> tuple[DealsConsumer, RecordingReader]:
    reader = RecordingReader()

    async def add_market(name: str, first_price: Decimal) -> None:
        markets.add(name, first_price)

    return DealsConsumer(reader, markets, add_market), reader  # type: ignore[arg-type]


def batch(*items: tuple[int, bytes]) -> list[tuple[int, bytes]]:
    return list(items)


def volume(markets: Markets, name: str = "BTCUSDT") -> str:
    market = markets.get(name)
    assert market is not None
    return str(sum(c.volume for c in market.day.values()))


async def test_applies_in_order_and_records_progress() -> None:
    markets = Markets()
    markets.add("BTCUSDT")
    deals, _ = consumer(markets)
    await deals.process(batch((0, message(1)), (1, message(2)), (2, b"junk"), (3, message(3))))
    assert (markets.progress.offset, markets.progress.deal_id) == (3, 3)
    assert volume(markets) == "1.50000000"
    assert (deals.applied, deals.invalid, deals.skipped) == (3, 1, 0)
    assert [r[0] for r in markets.by_name["BTCUSDT"].deals] == [3, 2, 1]


async def test_deals_seen_before_are_skipped() -> None:
    markets = Markets()
    markets.add("BTCUSDT")
    deals, reader = consumer(markets)
    await deals.process(batch((0, message(1)), (1, message(2))))
    # a re-published message and a re-read stretch: counted once
    await deals.process(batch((2, message(2)), (3, message(1)), (4, message(2)), (5, message(3))))
    assert markets.progress.deal_id == 3 and markets.progress.offset == 5
    assert volume(markets) == "1.50000000"
    assert deals.skipped == 3 and reader.rewinds == 0


async def test_a_jump_of_the_ids_rewinds_once_then_goes_on() -> None:
    markets = Markets()
    markets.add("BTCUSDT")
    deals, reader = consumer(markets)
    await deals.process(batch((0, message(1)), (1, message(2)), (2, message(5)), (3, message(6))))
    # applied up to the jump, then rewound to look for deals 3 and 4
    assert reader.rewinds == 1
    assert (markets.progress.offset, markets.progress.deal_id) == (1, 2)
    # the rewind found them (a refilled broker): they are applied in order
    await deals.process(batch((0, message(1)), (1, message(2)), (2, message(3)), (3, message(4)),
                              (4, message(5)), (5, message(6))))
    assert markets.progress.deal_id == 6 and deals.missing == 0
    assert volume(markets) == "3.00000000"
    # a jump that is still there after the rewind: the deals are gone, go on without them
    await deals.process(batch((6, message(9))))
    assert reader.rewinds == 2 and markets.progress.deal_id == 6
    await deals.process(batch((6, message(9)), (7, message(10))))
    assert reader.rewinds == 2
    assert markets.progress.deal_id == 10 and deals.missing == 2
    assert volume(markets) == "4.00000000"


async def test_a_market_first_seen_in_a_deal_is_added() -> None:
    markets = Markets()
    deals, _ = consumer(markets)
    await deals.process(batch((0, message(1, market="NEWMKT", price="10.5"))))
    market = markets.get("NEWMKT")
    assert market is not None
    # created with last = its first price (HEAD), so its first bucket opens there
    candle = next(iter(market.sec.values()))
    assert (str(candle.open), str(candle.low), str(market.last)) == ("10.5", "10.5", "10.5")
