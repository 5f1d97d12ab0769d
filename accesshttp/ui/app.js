// The market page: one market's order book, trades, candles and 24 h ticker, kept live by accessws's depth,
// deals, kline and state subscriptions. HTTP calls (market.list, and one snapshot of each part when a market,
// an interval or a connection starts) go to accesshttp, relative to this page; between them nothing polls.
// Changes are drawn at animation frames, a little per frame (see `draw`), so a busy market costs little.

import {Book, cumulative} from './book.js';
import {CandleChart, DepthChart} from './charts.js';
import {compare, decimalsOf, fixed, format, isZero, scaled} from './decimal.js';
import {DemoPanel} from './demo.js';
import {ApiError, HttpApi, Socket, websocketUrl} from './rpc.js';

const BOOK_ROWS = 14;
const TRADE_ROWS = 28;
const KEEP_TRADES = 100;
const DEFAULT_INTERVAL = 60;
const HISTORY_SECONDS = {60: 8 * 3600, 300: 2 * 86400, 3600: 30 * 86400, 86400: 730 * 86400};
const STATE_PERIOD = 86400;
const HEARTBEAT_MS = 3000;
const RETRY_MS = 2000;
const BACKEND_AWAY = new Set([2, 5]); // internal error (not connected), service timeout
const BACKEND_ROLES = {
  matchengine: 'the order book is not updating',
  marketprice: 'trades, candles and the ticker are not updating',
};

const $ = (id) => document.getElementById(id);
const api = new HttpApi(new URL('../', document.baseURI).href);

const view = {
  config: null,
  markets: [],
  market: null,
  interval: DEFAULT_INTERVAL,
  merge: '0',
  generation: 0,
  book: new Book(50),
  trades: [],
  ticker: null,
  lastSide: '',
  socket: null,
  ws: {state: 'connecting', detail: ''},
  subscribed: {depth: false, kline: false},
  backends: {matchengine: true, marketprice: true},
  problems: new Map(), // what failed over HTTP -> message, until it works again
  demo: null,
  marked: new Set(),
};

// ------------------------------------------------------------------ drawing, a little per frame

// What changed is drawn at the next animation frame: the small parts at once, and of the parts that make the
// browser lay out, paint or redraw a chart, one a frame, the others in the frames after it (16 ms apart).
// A frame then stays a few milliseconds of work, short enough to run in one time slice of a busy CPU, where a
// frame doing everything at once (book, trades and both charts after a burst of pushes) could be cut up and
// stretched over 50 ms by other processes.
const LIGHT_PARTS = ['ticker', 'legend', 'status'];
const HEAVY_PARTS = ['book', 'trades', 'depth', 'candles', 'demo'];
const dirty = new Set();
let frame = 0;

function invalidate(part) {
  dirty.add(part);
  if (frame === 0) frame = requestAnimationFrame(draw);
}

function draw() {
  frame = 0;
  if (view.market === null) {
    if (dirty.has('status')) drawStatus();
    dirty.clear();
    return;
  }
  if (dirty.has('ticker')) drawTicker();
  if (dirty.has('legend')) drawLegend();
  if (dirty.has('status')) drawStatus();
  for (const part of LIGHT_PARTS) dirty.delete(part);
  const part = HEAVY_PARTS.find((name) => dirty.has(name));
  if (part !== undefined) {
    dirty.delete(part);
    drawHeavy(part);
  }
  if (dirty.size > 0 && frame === 0) frame = requestAnimationFrame(draw);
}

function drawHeavy(part) {
  if ((part === 'depth' || part === 'candles') && window.LightweightCharts === undefined) {
    charting().then(() => invalidate(part)); // the chart library is still on its way
    return;
  }
  switch (part) {
    case 'book':
      drawBook();
      invalidate('depth');
      return;
    case 'trades':
      drawTrades();
      return;
    case 'depth':
      depthChart().update(view.book.levels());
      return;
    case 'candles':
      drawCandles();
      return;
    default:
      if (view.demo !== null) view.demo.render();
  }
}

// k-line rows pushed since the last frame, applied together (the chart redraws at its own next frame)
let pendingCandles = [];

function drawCandles() {
  const rows = pendingCandles;
  pendingCandles = [];
  candleChart().updateRows(rows);
}

function mark(name) {
  if (view.marked.has(name)) return;
  view.marked.add(name);
  performance.mark(name);
}

// The book's sides and the trade list are columns of text, one text block per column (lines of a fixed height),
// not a row of elements per line: a redraw replaces a few text blocks instead of a hundred cells, which is what
// the browser's style, layout and paint work grows with. The book's depth bars are one box per line.
class Column {
  constructor(parent, className) {
    this.element = document.createElement('pre');
    this.element.className = `col ${className}`;
    this.text = '';
    parent.append(this.element);
  }

  set(lines) {
    const text = lines.join('\n');
    if (text !== this.text) {
      this.text = text;
      this.element.textContent = text;
    }
  }
}

class BookSide {
  constructor(parent) {
    const bars = document.createElement('div');
    bars.className = 'bars';
    this.bars = [];
    this.widths = [];
    for (let i = 0; i < BOOK_ROWS; i += 1) {
      const bar = document.createElement('i');
      bars.append(bar);
      this.bars.push(bar);
      this.widths.push('');
    }
    parent.append(bars);
    this.price = new Column(parent, 'price');
    this.amount = new Column(parent, 'amount');
    this.total = new Column(parent, 'total');
    this.prices = [];
    // a click on a line offers its price to the demo panel
    parent.addEventListener('click', (event) => {
      const line = Math.floor((event.clientY - parent.getBoundingClientRect().top) / LINE_HEIGHT);
      if (view.demo !== null && this.prices[line]) view.demo.suggestPrice(this.prices[line]);
    });
  }

  // `lines`: [price, amount, total, share 0..1] or undefined, top to bottom
  set(lines) {
    this.prices = lines.map((line) => (line ? line[0] : ''));
    this.price.set(this.prices);
    this.amount.set(lines.map((line) => (line ? line[1] : '')));
    this.total.set(lines.map((line) => (line ? line[2] : '')));
    for (let i = 0; i < BOOK_ROWS; i += 1) {
      const width = lines[i] ? `${(lines[i][3] * 100).toFixed(1)}%` : '0%';
      if (width !== this.widths[i]) {
        this.widths[i] = width;
        this.bars[i].style.width = width;
      }
    }
  }
}

// Trades: the price of a buy and of a sell are in two text blocks laid over each other, each blank on the
// other's lines, so each keeps its colour.
class TradeList {
  constructor(parent) {
    this.time = new Column(parent, 'time');
    this.buy = new Column(parent, 'price buy');
    this.sell = new Column(parent, 'price sell');
    this.amount = new Column(parent, 'amount');
  }

  set(deals, market) {
    const lines = deals.slice(0, TRADE_ROWS);
    this.time.set(lines.map((deal) => clock(deal.time)));
    const prices = lines.map((deal) => fixed(deal.price, market.money_prec));
    this.buy.set(prices.map((price, i) => (lines[i].type === 'buy' ? price : '')));
    this.sell.set(prices.map((price, i) => (lines[i].type === 'sell' ? price : '')));
    this.amount.set(lines.map((deal) => fixed(deal.amount, market.stock_prec)));
  }
}

const LINE_HEIGHT = 19; // px, as style.css's .col
let askSide = null;
let bidSide = null;
let tradeList = null;
let candles = null;
let depth = null;

// The charts are made when they first have something to draw, after the book: the chart library is parsed
// (it loads beside the page's own code, vendor/ is an async script) and a chart built in the meantime.
function charting() {
  if (window.LightweightCharts !== undefined) return Promise.resolve();
  const script = document.querySelector('script[src*="lightweight-charts"]');
  return new Promise((resolve) => script.addEventListener('load', resolve, {once: true}));
}

function candleChart() {
  if (candles === null) {
    candles = new CandleChart($('candles'));
    candles.onLegend = () => invalidate('legend');
    candles.setPrecision(view.market.money_prec);
  }
  return candles;
}

function depthChart() {
  if (depth === null) {
    depth = new DepthChart($('depth'));
    depth.setPrecision(view.market.money_prec);
  }
  return depth;
}

function buildLists() {
  askSide = new BookSide($('asks'));
  bidSide = new BookSide($('bids'));
  tradeList = new TradeList($('trades'));
}

function priceDecimals() {
  const market = view.market;
  return isZero(view.merge) ? market.money_prec : Math.min(market.money_prec, decimalsOf(view.merge));
}

function drawBook() {
  const market = view.market;
  const {asks, bids} = view.book.levels();
  const scale = market.stock_prec;
  const askTotals = cumulative(asks, scale);
  const bidTotals = cumulative(bids, scale);
  const shownAsk = askTotals[Math.min(asks.length, BOOK_ROWS) - 1] || 0n;
  const shownBid = bidTotals[Math.min(bids.length, BOOK_ROWS) - 1] || 0n;
  const widest = Number(shownAsk > shownBid ? shownAsk : shownBid) || 1;
  const decimals = priceDecimals();
  const line = (level, total) => (level === undefined ? undefined
    : [fixed(level[0], decimals), fixed(level[1], scale), format(total, scale, scale),
      Math.min(1, Number(total) / widest)]);
  const askLines = [];
  for (let i = BOOK_ROWS - 1; i >= 0; i -= 1) askLines.push(line(asks[i], askTotals[i])); // the best at the bottom
  const bidLines = [];
  for (let i = 0; i < BOOK_ROWS; i += 1) bidLines.push(line(bids[i], bidTotals[i]));
  askSide.set(askLines);
  bidSide.set(bidLines);
  const last = view.ticker === null ? '' : price(view.ticker.last, market);
  let spread = '';
  if (asks.length && bids.length) {
    const gap = scaled(asks[0][0], market.money_prec) - scaled(bids[0][0], market.money_prec);
    spread = `spread ${format(gap, market.money_prec, market.money_prec)}`;
  }
  const spreadRow = $('spread');
  spreadRow.textContent = [last, spread].filter(Boolean).join('  ·  ') || '–';
  spreadRow.dataset.tone = view.lastSide;
  if (view.book.loaded) mark('ui:first-book');
  if (view.book.live) mark('ui:live-book');
}

function drawTrades() {
  tradeList.set(view.trades, view.market);
}

function clock(seconds) {
  const time = new Date(seconds * 1000);
  return [time.getHours(), time.getMinutes(), time.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

// A price of the ticker: "" for 0, what a market that never traded has.
function price(text, market) {
  return isZero(text) ? '' : fixed(text, market.money_prec);
}

function drawTicker() {
  const market = view.market;
  const ticker = view.ticker;
  const set = (id, text, tone) => {
    const element = $(id);
    element.textContent = text;
    if (tone !== undefined) element.dataset.tone = tone;
  };
  if (ticker === null) {
    for (const id of ['t-last', 't-change', 't-high', 't-low', 't-volume', 't-deal']) set(id, '–', '');
    return;
  }
  const open = Number(ticker.open);
  const change = open > 0 ? ((Number(ticker.last) - open) / open) * 100 : 0;
  set('t-last', price(ticker.last, market) || '–', view.lastSide);
  set('t-change', open > 0 ? `${change >= 0 ? '+' : ''}${change.toFixed(2)} %` : '–',
    change > 0 ? 'buy' : change < 0 ? 'sell' : '');
  set('t-high', price(ticker.high, market) || '–');
  set('t-low', price(ticker.low, market) || '–');
  set('t-volume', `${ticker.volume} ${market.stock}`);
  set('t-deal', `${ticker.deal} ${market.money}`);
}

// The candle under the cursor, else the newest: [time, open, close, high, low, volume, deal, market].
function drawLegend() {
  const market = view.market;
  const row = candles === null ? null : candles.legendRow();
  const legend = $('legend');
  if (row === null) {
    legend.replaceChildren();
    return;
  }
  const time = new Date(row[0] * 1000);
  const day = `${time.getFullYear()}-${String(time.getMonth() + 1).padStart(2, '0')}-` +
    `${String(time.getDate()).padStart(2, '0')}`;
  const parts = [[day, clock(row[0]).slice(0, 5)], ['O', fixed(row[1], market.money_prec)],
    ['H', fixed(row[3], market.money_prec)], ['L', fixed(row[4], market.money_prec)],
    ['C', fixed(row[2], market.money_prec)], ['V', `${row[5]} ${market.stock}`]];
  legend.replaceChildren(...parts.flatMap(([label, value]) => {
    const b = document.createElement('b');
    b.textContent = value;
    return [label, b];
  }));
  legend.dataset.time = String(row[0]);
}

function drawStatus() {
  const status = $('status');
  const {state, detail} = view.ws;
  let text;
  if (state === 'live') text = 'live';
  else if (state === 'off') text = 'no live feed';
  else if (state === 'closed') text = 'reconnecting…';
  else text = 'connecting…';
  status.dataset.state = state;
  status.querySelector('span').textContent = text;
  const messages = [];
  if (state === 'closed') {
    messages.push(`The live feed is away (websocket ${view.socket.url}: ${detail}); reconnecting by itself. ` +
      'What is shown may be out of date.');
  } else if (state === 'off') {
    messages.push(detail);
  }
  if (state === 'live') {
    for (const [backend, effect] of Object.entries(BACKEND_ROLES)) {
      if (!view.backends[backend]) messages.push(`${backend} is away: ${effect} until it is back.`);
    }
  }
  for (const message of view.problems.values()) messages.push(message);
  const banner = $('banner');
  banner.replaceChildren(...messages.map((text) => {
    const line = document.createElement('div');
    line.textContent = text;
    return line;
  }));
  banner.hidden = messages.length === 0;
}

function setWs(state, detail = '') {
  view.ws = {state, detail};
  invalidate('status');
}

// ------------------------------------------------------------------ HTTP: the list and the snapshots

function problem(key, error) {
  view.problems.set(key, error.message);
  invalidate('status');
}

function solved(key) {
  if (view.problems.delete(key)) invalidate('status');
}

// Run `load` until it works (every RETRY_MS while it fails), unless the market or interval changed meanwhile.
async function untilLoaded(key, load) {
  const generation = view.generation;
  for (;;) {
    try {
      await load(() => generation === view.generation);
      solved(key);
      return;
    } catch (error) {
      if (generation !== view.generation) return;
      problem(key, error);
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    if (generation !== view.generation) return;
  }
}

function loadBook() {
  const {market, book} = view;
  return untilLoaded('depth', async (current) => {
    const depth = await api.call('order.depth', [market.name, view.config.depth_limit, view.merge]);
    if (current() && book === view.book && !book.live) {
      book.reset(depth, false);
      invalidate('book');
    }
  });
}

function loadTrades() {
  const market = view.market;
  return untilLoaded('deals', async (current) => {
    const deals = await api.call('market.deals', [market.name, TRADE_ROWS, 0]);
    if (current()) addTrades(deals);
  });
}

function loadCandles() {
  const {market, interval} = view;
  return untilLoaded('kline', async (current) => {
    const now = Math.floor(Date.now() / 1000);
    const rows = await api.call('market.kline', [market.name, now - HISTORY_SECONDS[interval], now, interval]);
    if (!current() || interval !== view.interval) return;
    await charting();
    if (current() && interval === view.interval) candleChart().setRows(rows);
  });
}

function loadTicker() {
  const market = view.market;
  return untilLoaded('status', async (current) => {
    const status = await api.call('market.status', [market.name, STATE_PERIOD]);
    if (current() && view.ticker === null) {
      view.ticker = status;
      invalidate('ticker');
      invalidate('book');
    }
  });
}

function addTrades(deals) {
  if (!deals.length) return;
  const seen = new Set(view.trades.map((deal) => deal.id));
  const fresh = deals.filter((deal) => !seen.has(deal.id));
  if (!fresh.length) return;
  view.trades = fresh.concat(view.trades).sort((a, b) => b.id - a.id).slice(0, KEEP_TRADES);
  view.lastSide = view.trades[0].type;
  invalidate('trades');
  invalidate('ticker');
}

// ------------------------------------------------------------------ websocket: subscriptions and pushes

function socket() {
  return view.socket !== null && view.socket.open ? view.socket : null;
}

async function subscribe(family, method, params) {
  const generation = view.generation;
  const ws = socket();
  if (ws === null) return;
  view.subscribed[family] = false;
  try {
    await ws.call(method, params);
    if (generation === view.generation) view.subscribed[family] = true;
    solved(method);
  } catch (error) {
    if (error instanceof ApiError && error.code > 0) problem(method, error);
    else throw error;
  }
}

async function subscribeAll(reconnected) {
  const market = view.market;
  view.book.live = false; // until the new subscription's clean snapshot
  try {
    await Promise.all([
      subscribe('depth', 'depth.subscribe', [market.name, view.config.depth_limit, view.merge]),
      subscribe('deals', 'deals.subscribe', [market.name]),
      subscribe('kline', 'kline.subscribe', [market.name, view.interval]),
      subscribe('state', 'state.subscribe', [market.name]),
    ]);
  } catch {
    return; // the socket closed meanwhile: it subscribes again when it is back
  }
  if (market !== view.market) return;
  setWs('live');
  mark('ui:live');
  if (reconnected) {
    // what was pushed while the feed was away is not pushed again
    loadTrades();
    loadCandles();
  }
  if (view.demo !== null) view.demo.resubscribe();
}

function onPush(method, params) {
  const market = view.market;
  if (market === null) return;
  switch (method) {
    case 'depth.update': {
      const [clean, data, name] = params;
      if (name !== market.name || !view.subscribed.depth) return;
      if (clean) view.book.reset(data, true);
      else if (!view.book.apply(data)) return;
      invalidate('book');
      return;
    }
    case 'deals.update':
      if (params[0] === market.name) addTrades(params[1]);
      return;
    case 'kline.update':
      if (view.subscribed.kline && params.length && params[0][7] === market.name) {
        pendingCandles.push(...params);
        invalidate('candles');
      }
      return;
    case 'state.update':
      if (params[0] === market.name) {
        view.ticker = params[1];
        invalidate('ticker');
        invalidate('book');
      }
      return;
    default:
      if (view.demo !== null) view.demo.onPush(method, params);
  }
}

let everOpen = false;

function onSocketState(state, detail) {
  if (state === 'open') {
    const reconnected = everOpen;
    everOpen = true;
    setWs('connecting');
    if (view.market !== null) subscribeAll(reconnected);
    return;
  }
  setWs(state, detail);
}

// Every few seconds while connected: a ping (an unanswered one means a dead connection: reconnect; it also
// keeps the connection from the server's idle timeout) and one cached query per backend behind accessws,
// to say when one of them is away. Not a data poll: the data only comes from the subscriptions.
function heartbeat() {
  const ws = socket();
  if (ws === null || view.market === null) return;
  ws.call('server.ping', []).catch((error) => {
    if (error instanceof ApiError && error.code === -2) ws.restart('no answer to server.ping');
  });
  probe(ws, 'matchengine', 'depth.query', [view.market.name, 1, '0']);
  probe(ws, 'marketprice', 'price.query', [view.market.name]);
}

async function probe(ws, backend, method, params) {
  let up = true;
  try {
    await ws.call(method, params);
  } catch (error) {
    if (!(error instanceof ApiError) || !BACKEND_AWAY.has(error.code)) return;
    up = false;
  }
  const was = view.backends[backend];
  if (was === up) return;
  view.backends[backend] = up;
  invalidate('status');
  if (up && backend === 'marketprice') loadCandles(); // candles of the time it was away
}

// ------------------------------------------------------------------ choices: market, interval, merge

function chooseMarket(name) {
  const market = view.markets.find((m) => m.name === name) || view.markets[0];
  view.generation += 1;
  view.market = market;
  view.book = new Book(view.config.depth_limit);
  view.trades = [];
  view.ticker = null;
  view.lastSide = '';
  view.problems.clear();
  $('market').value = market.name;
  if (location.hash.slice(1) !== market.name) history.replaceState(null, '', `#${market.name}`);
  document.title = `${market.name} · viabtc-exchange-py`;
  $('h-price').textContent = `Price (${market.money})`;
  $('h-amount').textContent = `Amount (${market.stock})`;
  $('h-tprice').textContent = `Price (${market.money})`;
  $('h-tamount').textContent = `Amount (${market.stock})`;
  fillMerges();
  loadBook();
  loadTrades();
  loadCandles();
  loadTicker();
  if (candles !== null) {
    candles.setPrecision(market.money_prec);
    candles.clear();
  }
  if (depth !== null) depth.setPrecision(market.money_prec);
  pendingCandles = [];
  for (const part of ['book', 'trades', 'ticker', 'status', 'demo']) invalidate(part);
  if (view.demo !== null) view.demo.setMarket(market);
  if (socket() !== null) subscribeAll(false); // and the demo panel's, after it
}

// Merge intervals coarser than the price precision are offered; "0" is one level per price.
function fillMerges() {
  const select = $('merge');
  const offered = view.config.depth_merge.filter((m) => isZero(m) || decimalsOf(m) <= view.market.money_prec);
  offered.sort(compare);
  select.replaceChildren(...offered.map((m) => new Option(isZero(m) ? 'none' : m, m)));
  view.merge = offered.find((m) => isZero(m)) || offered[0];
  select.value = view.merge;
}

function chooseMerge(merge) {
  view.merge = merge;
  view.book = new Book(view.config.depth_limit);
  invalidate('book');
  loadBook();
  subscribe('depth', 'depth.subscribe', [view.market.name, view.config.depth_limit, merge]).catch(() => {});
}

function chooseInterval(interval) {
  view.interval = interval;
  for (const button of document.querySelectorAll('#intervals button')) {
    button.setAttribute('aria-pressed', String(Number(button.dataset.interval) === interval));
  }
  if (view.market === null) return;
  if (candles !== null) candles.clear();
  pendingCandles = [];
  loadCandles();
  subscribe('kline', 'kline.subscribe', [view.market.name, interval]).catch(() => {});
}

// ------------------------------------------------------------------ start

async function loadConfig() {
  const response = await fetch('config.json'); // preloaded by index.html; revalidated (Cache-Control: no-cache)
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  return response.json();
}

async function start() {
  // the two requests first: the charts are built while they are out
  const configured = loadConfig();
  const listed = untilLoaded('markets', async () => {
    view.markets = await api.call('market.list', []);
  });
  buildLists();
  chooseInterval(DEFAULT_INTERVAL);
  $('intervals').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-interval]');
    if (button) chooseInterval(Number(button.dataset.interval));
  });
  $('market').addEventListener('change', (event) => chooseMarket(event.target.value));
  $('merge').addEventListener('change', (event) => chooseMerge(event.target.value));
  window.addEventListener('hashchange', () => {
    const name = location.hash.slice(1);
    if (view.market !== null && name && name !== view.market.name) chooseMarket(name);
  });

  view.config = await configured;
  if (view.config.demo) {
    for (const badge of document.querySelectorAll('.demo-badge')) badge.hidden = false;
    document.body.classList.add('demo');
  }
  if (view.config.ws_url) {
    view.socket = new Socket(websocketUrl(view.config.ws_url, location.href),
      {onPush, onState: onSocketState});
    view.socket.connect();
  } else {
    setWs('off', 'No live feed: accesshttp\'s config has no ui.ws_url (the public websocket URL of accessws).');
  }
  await listed;
  $('market').replaceChildren(...view.markets.map((m) => new Option(m.name, m.name)));
  if (view.config.demo) {
    view.demo = new DemoPanel({api, socket, market: () => view.market, invalidate});
  }
  chooseMarket(location.hash.slice(1));
  setInterval(heartbeat, HEARTBEAT_MS);
}

start().catch((error) => {
  const banner = $('banner');
  banner.textContent = `The page could not start: ${error.message}`;
  banner.hidden = false;
});
