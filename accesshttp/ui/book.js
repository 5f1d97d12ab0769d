// The order book of one depth subscription (spec/websocket-api.md §5.6): a full snapshot (`clean`), then diffs
// whose entries replace a level, or remove it when the amount is zero; each side is cut to the subscription's
// limit by the client, because levels pushed out of a full window are not reported as removed.

import {compare, isZero, scaled} from './decimal.js';

const KEY_SCALE = 30; // more decimals than any price has: "20000", "20000.00" and "2e4" are one level

export class Book {
  constructor(limit) {
    this.limit = limit;
    this.asks = new Map(); // level key -> [price, amount], as sent
    this.bids = new Map();
    this.loaded = false; // a snapshot came, from either API
    this.live = false; // a clean snapshot came through the websocket: diffs may be applied
    this.version = 0;
    this._sorted = {asks: [], bids: []};
  }

  // A full snapshot: from a `depth.update` with clean=true (live), or an HTTP `order.depth` before it.
  reset(data, live) {
    this.asks = levelMap(data.asks);
    this.bids = levelMap(data.bids);
    this.loaded = true;
    this.live = this.live || live;
    this._changed();
  }

  // A diff from `depth.update` with clean=false; ignored until a live snapshot came (it would be against
  // a snapshot this page does not have).
  apply(diff) {
    if (!this.live) return false;
    applySide(this.asks, diff.asks);
    applySide(this.bids, diff.bids);
    this._changed();
    return true;
  }

  // {asks, bids}: [price, amount] lists, best price first, at most `limit` each.
  levels() {
    return this._sorted;
  }

  _changed() {
    const asks = truncate(this.asks, (a, b) => compare(a[0], b[0]), this.limit);
    const bids = truncate(this.bids, (a, b) => compare(b[0], a[0]), this.limit);
    this._sorted = {asks, bids};
    this.version += 1;
  }
}

// The best `limit` levels of a side; the others are forgotten, as the server no longer reports on them.
function truncate(map, order, limit) {
  const levels = [...map.entries()].sort((a, b) => order(a[1], b[1]));
  for (const [key] of levels.slice(limit)) map.delete(key);
  return levels.slice(0, limit).map(([, level]) => level);
}

function levelKey(price) {
  return scaled(price, KEY_SCALE).toString();
}

function levelMap(entries) {
  const map = new Map();
  for (const [price, amount] of entries || []) {
    if (!isZero(amount)) map.set(levelKey(price), [price, amount]);
  }
  return map;
}

function applySide(map, entries) {
  for (const [price, amount] of entries || []) {
    const key = levelKey(price);
    if (isZero(amount)) map.delete(key);
    else map.set(key, [price, amount]);
  }
}

// Running totals of amounts down a side, exact, as scaled BigInts at `scale` decimals.
export function cumulative(levels, scale) {
  let total = 0n;
  return levels.map(([, amount]) => {
    total += scaled(amount, scale);
    return total;
  });
}
