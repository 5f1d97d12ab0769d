"""The market page at /ui/ in headless Chromium, against the exchange `./run.sh` runs.

One launcher (every daemon as a real process, the demo auth endpoint, the
page pointed at its own accessws) and one browser for the module.  Orders go
in through the public HTTP API and the page must show them — in the book,
the trade list, the candle legend and the ticker — within a second; the
demo panel places and cancels orders and follows its user's balances and
orders through server.auth and the private subscriptions; killing accessws
is shown and healed by the page itself; while 200 deals a second flow, no
main-thread task of the page takes over 50 ms (the browser's Long Tasks API).
The screenshots are kept in test-artifacts/: market-page.png (the busy page)
and market-page-demo.png (the demo panel with two open orders).

What keeps the long-task bound is how little work a frame is.  Chromium's
trace of this page at 200 deals/s for 25 s (4,527 main-thread tasks): CPU
time at most 10 ms, 99 % under 4.3 ms, of which under 1 ms is the page's
scripts (before the page drew its lists as text columns and one heavy part a
frame: 17 ms).  But this box is shared: with other sessions keeping its load
average at 6 to 8, the longest task in wall time took 44 ms for 5 ms of CPU,
and about one run in eight saw one kept waiting past 50 ms.  So the browser's
session is favoured by the scheduler (autogroup niceness -10, when the test
may set it: market_page_support.favour_session), as it would have its user's
machine to itself; the bound itself is the page's.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import signal
import time
import urllib.error
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
import pytest

from tests.e2e.market_page_support import (
    LocalExchange,
    PrefixProxy,
    artifact,
    launch_chromium,
    require_browser,
)

LIVE_LIMIT = 1.0  # seconds from an API answer to the page showing it
FIRST_PAINT_LIMIT_MS = 1000
LONG_TASK_LIMIT_MS = 50
LOAD_RATE = 200  # deals a second
LOAD_SECONDS = 6.0
WAIT = 20.0

pytestmark = pytest.mark.timeout(300)

# what the page shows, read from the DOM: lines of columns of text
READ_BOOK = """side => {
    const columns = [...document.querySelectorAll(`#${side} pre`)].map(pre => pre.textContent.split('\\n'));
    return columns[0].map((price, i) => [price, columns[1][i], columns[2][i]]).filter(line => line[0]);
}"""
READ_TRADES = """() => {
    const column = name => document.querySelector(`#trades pre.${name}`).textContent.split('\\n');
    const [time, buy, sell, amount] = ['time', 'buy', 'sell', 'amount'].map(column);
    return time.map((t, i) => [t, buy[i] || sell[i], amount[i], buy[i] ? 'buy' : 'sell']).filter(line => line[0]);
}"""
READ_LEGEND = """() => Object.fromEntries([...document.querySelectorAll('#legend b')]
    .map(b => [b.previousSibling ? b.previousSibling.textContent.trim() : '', b.textContent]))"""
READ_TICKER = """() => Object.fromEntries([...document.querySelectorAll('#ticker dd')].map(dd => [dd.id, dd.textContent]))"""
LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver(list => {
  for (const entry of list.getEntries()) window.__longTasks.push([entry.startTime, entry.duration]);
}).observe({type: 'longtask', buffered: true});
"""


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalExchange]:
    require_browser()
    local = LocalExchange(tmp_path_factory.mktemp("market_page")).start()
    try:
        warm_up(local)
        yield local
    finally:
        local.stop()


def warm_up(exchange: LocalExchange) -> None:
    """One trade on BTCUSDT before the tests: the first deal after a start takes about 0.4 s longer to reach
    marketprice than the next ones (55 ms), and the tests measure the page, not the exchange's first seconds."""
    fund(exchange, 11, "BTC", "1")
    fund(exchange, 12, "USDT", "100000")
    exchange.call("order.put_limit", [11, "BTCUSDT", 1, "0.01", "20000", "0.002", "0.001", "warm-up"])
    exchange.call("order.put_limit", [12, "BTCUSDT", 2, "0.01", "20000", "0.002", "0.001", "warm-up"])
    deadline = time.monotonic() + WAIT
    while True:
        with contextlib.suppress(urllib.error.HTTPError):  # 500 until accesshttp's link to marketprice is up
            if exchange.call("market.deals", ["BTCUSDT", 1, 0]):
                return
        assert time.monotonic() < deadline, "the warm-up trade does not reach marketprice"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def browser(exchange: LocalExchange) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


class Page:
    """One tab on the market page, with what it logged."""

    def __init__(self, browser: Any, *, init_script: str = "") -> None:
        self.context = browser.new_context(viewport={"width": 1440, "height": 1000})
        if init_script:
            self.context.add_init_script(init_script)
        self.tab = self.context.new_page()
        self.errors: list[str] = []
        self.tab.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.tab.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def open(self, url: str) -> None:
        self.tab.goto(url)
        self.until("() => document.getElementById('status').dataset.state === 'live'", timeout=WAIT)

    def until(self, predicate: str, arg: Any = None, timeout: float = WAIT) -> float:
        """Seconds until `predicate(arg)` holds in the page (checked every animation frame)."""
        started = time.monotonic()
        self.tab.wait_for_function(predicate, arg=arg, timeout=timeout * 1000, polling="raf")
        return time.monotonic() - started

    def read(self, script: str, arg: Any = None) -> Any:
        return self.tab.evaluate(script, arg)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    tab = Page(browser)
    yield tab
    tab.close()


def fund(exchange: LocalExchange, user: int, asset: str, amount: str) -> None:
    exchange.call("balance.update", [user, asset, "deposit", time.time_ns() // 1000, amount, {}])


def shown_within(page: Page, answered: float, what: str, predicate: str) -> float:
    """Wait until the page shows `what`; the seconds since the API `answered` (time.monotonic())."""
    try:
        page.until(predicate, timeout=5.0)
        took = time.monotonic() - answered
    except Exception as exc:
        raise AssertionError(f"the page does not show {what}: book {page.read(READ_BOOK, 'asks')} "
                             f"{page.read(READ_BOOK, 'bids')}, trades {page.read(READ_TRADES)[:3]}, "
                             f"legend {page.read(READ_LEGEND)}, ticker {page.read(READ_TICKER)}") from exc
    print(f"{what}: shown {took * 1000:.0f} ms after the API answered")
    assert took <= LIVE_LIMIT, f"{what} took {took:.2f} s to show"
    return took


def test_the_launcher_prints_the_page_first_and_serves_it(exchange: LocalExchange) -> None:
    urls = re.findall(r"\b(?:https?|wss?)://\S+", exchange.text())
    assert urls[0] == exchange.ui_url, exchange.text()

    status, headers, body = exchange.get("/ui/", {"Accept-Encoding": "identity"})
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert b'<script src="app.js" type="module">' in body
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    status, headers, _ = exchange.get("/ui/", {"If-None-Match": headers["etag"], "Accept-Encoding": "identity"})
    assert status == 304
    status, headers, packed = exchange.get("/ui/vendor/lightweight-charts.standalone.production.js",
                                           {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(packed).startswith(b"/*!\n * @license\n * TradingView Lightweight Charts")

    status, _, body = exchange.get("/ui/config.json")
    config = orjson.loads(body)
    assert config == {"ws_url": exchange.ports.ws_url, "demo": True, "depth_limit": 50,
                      "depth_merge": config["depth_merge"]}  # public settings only: the page holds no secret
    assert exchange.get("/ui/no-such-file.js")[0] == 404
    assert exchange.get("/ui/../openrpc.json")[0] in (200, 404)  # never a file outside the page's table
    # every other path keeps its answer
    assert exchange.get("/")[0] == 400
    assert exchange.get("/openrpc.json")[0] == 200
    assert exchange.get("/uix")[0] == 400


def test_first_paint_then_orders_and_a_trade_show_within_a_second(exchange: LocalExchange, page: Page) -> None:
    market, seller, buyer = "ETHUSDT", 31, 32
    page.open(exchange.ui_url + "#" + market)
    marks = page.read("""() => Object.fromEntries(performance.getEntriesByType('paint')
        .concat(performance.getEntriesByType('mark')).map(e => [e.name, Math.round(e.startTime)]))""")
    print(f"page timings (ms from navigation): {marks}")
    assert marks["first-contentful-paint"] <= FIRST_PAINT_LIMIT_MS
    assert marks["ui:first-book"] <= FIRST_PAINT_LIMIT_MS  # drawn from order.depth; ui:live-book: its subscription

    fund(exchange, seller, "ETH", "10")
    fund(exchange, buyer, "USDT", "100000")
    exchange.call("order.put_limit", [seller, market, 1, "0.5", "1234.56", "0.002", "0.001", "test"])
    shown_within(page, time.monotonic(), "a new ask in the book", f"""() => ({READ_BOOK})('asks')
        .some(r => r[0] === '1234.56' && r[1] === '0.50000000')""")

    exchange.call("order.put_limit", [buyer, market, 2, "0.2", "1234.56", "0.002", "0.001", "test"])
    answered = time.monotonic()
    shown_within(page, answered, "the ask, partly filled", f"""() => ({READ_BOOK})('asks')
        .some(r => r[0] === '1234.56' && r[1] === '0.30000000')""")
    shown_within(page, answered, "the trade", f"""() => {{ const t = ({READ_TRADES})()[0];
        return t !== undefined && t[1] === '1234.56' && t[2] === '0.20000000'; }}""")
    shown_within(page, answered, "the candle", f"""() => {{ const c = ({READ_LEGEND})();
        return c.C === '1234.56' && c.H === '1234.56' && c.V === '0.2 ETH'; }}""")
    shown_within(page, answered, "the ticker", f"""() => {{ const t = ({READ_TICKER})();
        return t['t-last'] === '1234.56' && t['t-volume'] === '0.2 ETH'; }}""")
    assert page.read(READ_BOOK, "bids") == []
    assert page.read("() => document.getElementById('banner').hidden")

    # the choices: hour candles, and the book merged at 1 (asks are rounded up to the interval)
    page.tab.click("#intervals button[data-interval='3600']")
    page.until(f"""() => {{ const c = ({READ_LEGEND})();
        return Number(document.getElementById('legend').dataset.time) % 3600 === 0 && c.V === '0.2 ETH'; }}""")
    page.tab.select_option("#merge", "1")
    page.until(f"() => JSON.stringify(({READ_BOOK})('asks')) === JSON.stringify([['1235', '0.30000000', '0.30000000']])")
    assert page.errors == []


def test_the_page_behind_one_proxy_host(exchange: LocalExchange, page: Page) -> None:
    """accesshttp under /exchange/ and accessws at /ws/ of one host: relative URLs for both."""
    proxy = PrefixProxy(exchange.ports.http_url, exchange.ports.ws_url).start()
    try:
        page.open(proxy.url + "ui/#ETHUSDT")
        page.until("() => document.getElementById('market').options.length === 3")
        page.until(f"() => ({READ_BOOK})('asks').length > 0")
        assert page.read("() => document.getElementById('banner').hidden")
        assert proxy.websockets >= 1
        assert page.errors == []
    finally:
        proxy.stop()


def test_the_demo_panel_places_follows_and_cancels(exchange: LocalExchange, page: Page) -> None:
    market, user = "ETHBTC", 7001
    page.open(exchange.ui_url + "#" + market)
    assert page.read("() => !document.getElementById('demo').hidden && "
                     "document.querySelector('.brand .demo-badge').textContent === 'DEMO'")
    tab = page.tab
    tab.fill("#demo-user-id", str(user))
    tab.click("#demo-user button[type=submit]")
    page.until(f"() => document.getElementById('demo-who').textContent === 'user {user} · live through server.auth'")
    balance = """([asset, column]) => { const row = [...document.querySelectorAll('#demo-balances tbody tr')]
        .find(r => r.children[0].textContent === asset); return row ? row.children[column].textContent : null; }"""
    orders = """() => [...document.querySelectorAll('#demo-orders tbody tr')]
        .map(r => [...r.children].slice(0, 5).map(c => c.textContent))"""

    tab.click("#demo-fund")
    page.until(f"() => Number(({balance})(['ETH', 1])) === 100")  # asset.update after the deposit

    tab.select_option("#demo-side", "1")
    tab.fill("#demo-price", "0.05")
    tab.fill("#demo-amount", "1.5")
    tab.click("#demo-place")
    page.until("() => /^order \\d+ placed: sell 1.5 at 0.05$/.test(document.getElementById('demo-message').textContent)")
    placed = int(page.read("() => document.getElementById('demo-message').textContent.split(' ')[1]"))
    page.until(f"() => Number(({balance})(['ETH', 2])) === 1.5")  # frozen, pushed by asset.update
    # an order of this user placed elsewhere arrives through order.update only
    other = exchange.call("order.put_limit", [user, market, 2, "2", "0.01", "0.002", "0.001", "elsewhere"])
    page.until(f"() => ({orders})().some(r => r[0] === '{other['id']}')")
    assert sorted(page.read(orders)) == sorted([
        [str(placed), "sell", "0.05000000", "1.50000000", "1.50000000"],
        [str(other["id"]), "buy", "0.01000000", "2.00000000", "2.00000000"]])

    page.until(f"() => ({READ_BOOK})('bids').some(r => r[0] === '0.01000000' && r[1] === '2.00000000')")
    tab.screenshot(path=str(artifact("market-page-demo.png")), full_page=True)

    tab.click(f"#demo-orders button[data-cancel='{placed}']")
    page.until(f"() => document.getElementById('demo-message').textContent === 'order {placed} cancelled'")
    page.until(f"() => !({orders})().some(r => r[0] === '{placed}')")
    page.until(f"() => Number(({balance})(['ETH', 2])) === 0")
    assert exchange.call("order.pending_detail", [market, placed]) is None

    tab.fill("#demo-amount", "lots")
    tab.click("#demo-place")
    # the reason in the error's data is shown: which argument was wrong
    page.until("() => document.getElementById('demo-message').textContent === "
               "\"not placed: invalid argument: amount: must be a decimal number, not 'lots' (error 1)\"")
    assert page.errors == []


def test_smooth_while_200_deals_a_second_flow(exchange: LocalExchange, browser: Any) -> None:
    market = "BTCUSDT"
    page = Page(browser, init_script=LONG_TASKS)
    trader = None
    try:
        page.open(exchange.ui_url + "#" + market)
        trader = exchange.start_trader(LOAD_RATE, market)
        first = exchange.last_deal_id(market)
        deadline = time.monotonic() + WAIT
        while exchange.last_deal_id(market) < first + LOAD_RATE:  # the trader is up and trading
            assert trader.poll() is None and time.monotonic() < deadline, "the trader does not trade"
            time.sleep(0.2)
        page.read("() => { window.__longTasks = []; }")
        start_id, started = exchange.last_deal_id(market), time.monotonic()
        time.sleep(LOAD_SECONDS)
        end_id, ended = exchange.last_deal_id(market), time.monotonic()
        tasks = page.read("() => window.__longTasks")
        shown = page.read(READ_TRADES)[:5]
        newest = {Decimal(deal["price"]) for deal in exchange.call("market.deals", [market, 100, 0])}
        shot = artifact("market-page.png")
        page.tab.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
    finally:
        if trader is not None:
            exchange.stop_trader(trader)
        page.close()
    rate = (end_id - start_id) / (ended - started)
    longest = max((duration for _, duration in tasks), default=0.0)
    print(f"{rate:.0f} deals/s for {ended - started:.1f} s; long tasks (start ms, duration ms): {tasks}")
    assert longest < LONG_TASK_LIMIT_MS, f"a main-thread task took {longest:.0f} ms: {tasks}"
    assert rate >= LOAD_RATE * 0.75, f"only {rate:.0f} deals/s flowed: the exchange could not keep up"
    assert shown and all(Decimal(price) in newest for _, price, _, _ in shown), (shown, newest)  # it kept up


def test_the_page_says_when_accessws_or_a_backend_is_away_and_heals(exchange: LocalExchange, page: Page) -> None:
    market = "ETHUSDT"
    page.open(exchange.ui_url + "#" + market)
    exchange.kill_child("accessws")
    page.until("() => document.getElementById('status').dataset.state === 'closed'", timeout=3.0)
    page.until("() => document.getElementById('banner').textContent.includes('The live feed is away')", timeout=3.0)
    took = page.until("() => document.getElementById('status').dataset.state === 'live' && "
                      "document.getElementById('banner').hidden", timeout=30.0)
    print(f"live again {took:.1f} s after the page saw accessws go")
    exchange.call("order.put_limit", [31, market, 1, "0.1", "1300.01", "0.002", "0.001", "after the outage"])
    shown_within(page, time.monotonic(), "an order placed after the outage",
                 f"() => ({READ_BOOK})('asks').some(r => r[0] === '1300.01')")

    marketprice = int(exchange.state()["children"]["marketprice"])
    os.kill(marketprice, signal.SIGSTOP)
    try:
        page.until("() => document.getElementById('banner').textContent.includes('marketprice is away')", timeout=15)
    finally:
        os.kill(marketprice, signal.SIGCONT)
    page.until("() => document.getElementById('banner').hidden", timeout=15)
    assert any("WebSocket connection" in error for error in page.errors)  # the browser's own report of the loss
