"""accessws depth diffs (spec/websocket-api.md §5.6): the pure diff and the full/incremental choice; and the
reason a refused subscription gives (error 1's data)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import orjson
import pytest

from accessws.depth import FULL_SNAPSHOT_INTERVAL, DepthFeed, depth_diff, side_diff
from accessws.envelope import error_reply, invalid_argument
from accessws.market_feeds import KlineFeed, PriceFeed
from accessws.session import Session
from accessws.user_feeds import UserSubscriptions


def test_unchanged_book_has_no_diff() -> None:
    book = {"asks": [["9000", "1"], ["9100", "2"]], "bids": [["8000", "1"]]}
    assert depth_diff(book, orjson.loads(orjson.dumps(book)), 10) == {}


def test_amounts_compare_as_decimals_and_changes_carry_the_new_entry() -> None:
    old = {"asks": [["9000", "1.0"]], "bids": [["8000", "1"]]}
    new = {"asks": [["9000", "1"]], "bids": [["8000", "0.5"]]}
    assert depth_diff(old, new, 10) == {"bids": [["8000", "0.5"]]}


def test_new_and_vanished_levels_in_side_order() -> None:
    old = {"asks": [["9000", "1"], ["9200", "1"]], "bids": [["8000", "1"], ["7800", "1"]]}
    new = {"asks": [["8900", "3"], ["9000", "1"], ["9100", "2"]], "bids": [["8100", "1"], ["7800", "1"]]}
    assert depth_diff(old, new, 10) == {
        "asks": [["8900", "3"], ["9100", "2"], ["9200", "0"]],
        "bids": [["8100", "1"], ["8000", "0"]],
    }


def test_removed_price_inside_the_walk_is_normalised_but_the_tail_keeps_its_text() -> None:
    # inside the walk the removed price goes through decimal→string (trailing zeros stripped) ...
    assert side_diff([["100.50", "1"], ["101", "1"]], [["101", "1"]], 10, ascending=True) == [["100.5", "0"]]
    assert side_diff([["0.00000001", "1"], ["5", "1"]], [["5", "1"]], 10, ascending=True) == [["1e-8", "0"]]
    # ... while a removed tail (after the walk) keeps the original text
    assert side_diff([["100", "1"], ["101.50", "1"]], [["100", "1"]], 10, ascending=True) == [["101.50", "0"]]


def test_levels_pushed_out_of_a_full_window_are_not_reported() -> None:
    old = [["9000", "1"], ["9100", "1"]]
    new = [["8900", "1"], ["9000", "1"]]
    assert side_diff(old, new, 2, ascending=True) == [["8900", "1"]]
    assert side_diff(old, new, 3, ascending=True) == [["8900", "1"], ["9100", "0"]]


def test_a_malformed_side_yields_an_empty_side_diff() -> None:
    old = {"asks": [["9000", "1"]], "bids": [["8000", "1"]]}
    new = {"asks": [["9000", "x"]], "bids": [["8000", "2"]]}
    assert depth_diff(old, new, 10) == {"bids": [["8000", "2"]]}
    assert side_diff([["1", "1"]], "nope", 10, ascending=True) == []
    assert side_diff([["1", "1"]], [["1"]], 10, ascending=True) == []
    assert side_diff([["1", "1"]], [["NaN", "1"]], 10, ascending=True) == []


class RecordingSubscriber:
    """Stands in for a client connection: records the frames pushed to it."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def push(self, frame: bytes) -> None:
        self.frames.append(frame)

    def messages(self) -> list[Any]:
        return [orjson.loads(frame[2:] if frame[1] < 126 else frame[4:]) for frame in self.frames]


def test_depth_feed_sends_snapshot_then_diffs_then_a_full_snapshot_after_a_minute() -> None:
    feed = DepthFeed(backend=None, interval=0.5, limits=[10], merges=[Decimal(0)])  # type: ignore[arg-type]
    subscriber = RecordingSubscriber()
    assert feed.subscribe(subscriber, ["BTCUSDT", 10, "0"]) is None  # type: ignore[arg-type]
    key = ("BTCUSDT", "0", 10)
    first = {"asks": [["9000", "1"]], "bids": []}
    feed.on_result(key, first)
    feed.on_result(key, {"asks": [["9000", "1"]], "bids": []})
    second = {"asks": [["9000", "2"]], "bids": []}
    feed.on_result(key, second)
    feed.snapshots[key].last_clean -= FULL_SNAPSHOT_INTERVAL
    third: dict[str, list[list[str]]] = {"asks": [], "bids": []}
    feed.on_result(key, third)
    assert subscriber.messages() == [
        {"method": "depth.update", "params": [True, first, "BTCUSDT"], "id": None},
        {"method": "depth.update", "params": [False, {"asks": [["9000", "2"]]}, "BTCUSDT"], "id": None},
        {"method": "depth.update", "params": [True, third, "BTCUSDT"], "id": None},
    ]

    late = RecordingSubscriber()
    feed.subscribe(late, ["BTCUSDT", 10, "0"])  # type: ignore[arg-type]
    feed.initial_push(late, ["BTCUSDT", 10, "0"])  # type: ignore[arg-type]
    assert late.messages() == [{"method": "depth.update", "params": [True, third, "BTCUSDT"], "id": None}]


def test_depth_subscribe_checks_limit_and_merge_numerically() -> None:
    feed = DepthFeed(backend=None, interval=0.5, limits=[5, 10],  # type: ignore[arg-type]
                     merges=[Decimal(0), Decimal("0.1")])
    client = RecordingSubscriber()
    assert feed.subscribe(client, ["BTCUSDT", 10, "0.10"]) is None  # type: ignore[arg-type]
    assert ("BTCUSDT", "0.10", 10) in feed.subscribers
    merges = "interval: must be one of 0, 0.1"
    for params, reason in ((["BTCUSDT", 7, "0"], "limit: must be one of 5, 10"), (["BTCUSDT", 10, "0.2"], merges),
                           (["BTCUSDT", 10, 0], "interval: must be a string"),
                           (["BTCUSDT", 10.0, "0"], "limit: must be one of 5, 10"),
                           (["B" * 16, 10, "0"], "market: at most 15 bytes"), (["BTCUSDT", 10], "params: expected 3, got 2"),
                           (["BTCUSDT", 10, "x"], merges), (["BTCUSDT", 10, "0" * 16], "interval: at most 15 bytes")):
        assert feed.subscribe(client, params) == reason, params  # type: ignore[arg-type]
    assert feed.keys_of.get(cast(Session, client), []) == []  # the recorder stands in for a session


class UserSession:
    """What a subscription reads of a session: its user (hashable, as a session is)."""

    user_id = 7


@pytest.mark.parametrize(("params", "reason"), [
    (["BTCUSDT"], "params: expected 2, got 1"),
    ([5, 60], "market: must be a string"),
    (["B" * 16, 60], "market: at most 15 bytes"),
    (["BTCUSDT", "60"], "interval: must be a positive integer (seconds)"),
    (["BTCUSDT", 0], "interval: must be a positive integer (seconds)"),
    (["BTCUSDT", 60], None),
])
def test_kline_subscribe_says_what_is_wrong(params: list[Any], reason: str | None) -> None:
    feed = KlineFeed(backend=None, interval=0.5)  # type: ignore[arg-type]
    assert feed.subscribe(cast(Session, RecordingSubscriber()), params) == reason


def test_market_and_asset_lists_name_the_bad_entry() -> None:
    feed = PriceFeed(backend=None, interval=0.5)  # type: ignore[arg-type]
    client = cast(Session, RecordingSubscriber())
    assert feed.subscribe(client, ["BTCUSDT", 3]) == "market: must be a string"
    assert feed.subscribe(client, ["BTCUSDT", "ETHUSDT"]) is None
    assets = UserSubscriptions()
    session = cast(Session, UserSession())
    assert assets.subscribe(session, ["BTC", None], "asset") == "asset: must be a string"
    assert assets.subscribe(session, ["X" * 16], "asset") == "asset: at most 15 bytes"
    assert assets.subscribe(session, ["BTC"], "asset") is None


def test_an_error_reply_carries_data_only_when_given() -> None:
    assert orjson.loads(invalid_argument(3, "limit: at most 101")) == {
        "error": {"code": 1, "message": "invalid argument", "data": "limit: at most 101"}, "result": None, "id": 3}
    assert orjson.loads(error_reply(4, 6)) == {"error": {"code": 6, "message": "require authentication"},
                                               "result": None, "id": 4}
