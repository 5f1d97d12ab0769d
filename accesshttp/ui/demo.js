// The demo order panel (only when accesshttp's `ui.demo` is on): places and cancels limit orders for a user
// through the public HTTP API, and shows that user's balances and open orders the way a frontend does —
// `server.auth` on the websocket, then `order.subscribe` / `asset.subscribe` and their pushes.
// The token is "demo:<user id>", which only a demo auth endpoint (./run.sh's) accepts; the page holds no secret.

import {ApiError, HttpError} from './rpc.js';
import {fixed, isZero} from './decimal.js';

const TAKER_FEE = '0.002';
const MAKER_FEE = '0.001';
const SOURCE = 'market page demo';
const FUNDS = {stock: '100', money: '1000000'};
const ORDER_EVENT_FINISH = 3;
const MAX_USER_ID = 4294967295;

export class DemoPanel {
  // `env`: {api, socket(), market(), invalidate()}
  constructor(env) {
    this.env = env;
    this.user = Number(document.getElementById('demo-user-id').value); // user 1, of `./run.sh demo`, to start
    this.authed = false;
    this.balances = new Map();
    this.orders = new Map();
    this.finished = new Set();
    this.message = {text: '', error: false};
    this.el = {
      panel: document.getElementById('demo'),
      userForm: document.getElementById('demo-user'),
      userId: document.getElementById('demo-user-id'),
      who: document.getElementById('demo-who'),
      fund: document.getElementById('demo-fund'),
      orderForm: document.getElementById('demo-order'),
      side: document.getElementById('demo-side'),
      price: document.getElementById('demo-price'),
      amount: document.getElementById('demo-amount'),
      text: document.getElementById('demo-message'),
      balances: document.querySelector('#demo-balances tbody'),
      orders: document.querySelector('#demo-orders tbody'),
    };
    this.el.panel.hidden = false;
    this.el.userForm.addEventListener('submit', (event) => {
      event.preventDefault();
      this.useUser(Number(this.el.userId.value));
    });
    this.el.fund.addEventListener('click', () => this.fund());
    this.el.orderForm.addEventListener('submit', (event) => {
      event.preventDefault();
      this.place();
    });
    this.el.orders.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-cancel]');
      if (button) this.cancel(Number(button.dataset.cancel));
    });
  }

  // A new market was chosen: its orders and its two assets from now on (the page subscribes again next, and
  // calls `resubscribe`).
  setMarket(market) {
    this.orders.clear();
    this.finished.clear();
    this.balances.clear();
    if (!this.el.amount.value) this.el.amount.value = market.min_amount;
    this.env.invalidate('demo');
  }

  // Prefill the price (a click on a book row).
  suggestPrice(price) {
    this.el.price.value = price;
  }

  async useUser(user) {
    if (!Number.isInteger(user) || user < 1 || user > MAX_USER_ID) {
      this.say(`a user id is an integer from 1 to ${MAX_USER_ID}`, true);
      return;
    }
    this.user = user;
    this.authed = false;
    this.orders.clear();
    this.finished.clear();
    this.balances.clear();
    this.say(`acting as user ${user}`, false);
    await this.resubscribe();
  }

  // After every websocket (re)connection and market change: log in again and subscribe again.
  async resubscribe() {
    const socket = this.env.socket();
    const market = this.env.market();
    const user = this.user;
    if (!user || socket === null || !socket.open || market === null) return;
    try {
      await socket.call('server.auth', [`demo:${user}`, 'web']);
      await Promise.all([
        socket.call('order.subscribe', [market.name]),
        socket.call('asset.subscribe', [market.stock, market.money]),
      ]);
      const [pending, assets] = await Promise.all([
        socket.call('order.query', [market.name, 0, 100]),
        socket.call('asset.query', [market.stock, market.money]),
      ]);
      if (user !== this.user || market !== this.env.market()) return;
      this.authed = true;
      for (const order of pending.records) this.putOrder(order);
      this.putBalances(assets);
    } catch (error) {
      this.say(`cannot follow user ${user}: ${error.message}`, true);
    }
    this.env.invalidate('demo');
  }

  onPush(method, params) {
    if (method === 'order.update') {
      const [event, order] = params;
      if (order.user !== this.user || this.env.market() === null || order.market !== this.env.market().name) return;
      if (event === ORDER_EVENT_FINISH) {
        this.finished.add(order.id);
        this.orders.delete(order.id);
      } else {
        this.putOrder(order);
      }
      this.env.invalidate('demo');
    } else if (method === 'asset.update') {
      this.putBalances(params[0]);
      this.env.invalidate('demo');
    }
  }

  putOrder(order) {
    if (this.finished.has(order.id)) return;
    const known = this.orders.get(order.id);
    if (known !== undefined && known.mtime > order.mtime) return;
    this.orders.set(order.id, order);
  }

  putBalances(assets) {
    for (const [asset, balance] of Object.entries(assets)) this.balances.set(asset, balance);
  }

  async place() {
    const market = this.env.market();
    if (!this.user) {
      this.say('choose a user id first', true);
      return;
    }
    const side = Number(this.el.side.value);
    const params = [this.user, market.name, side, this.el.amount.value.trim(), this.el.price.value.trim(),
      TAKER_FEE, MAKER_FEE, SOURCE];
    try {
      const order = await this.env.api.call('order.put_limit', params);
      const filled = isZero(order.deal_stock) ? '' : `, ${order.deal_stock} filled at once`;
      this.say(`order ${order.id} placed: ${side === 1 ? 'sell' : 'buy'} ${order.amount} at ${order.price}${filled}`,
        false);
      if (!isZero(order.left)) this.putOrder(order);
      else this.finished.add(order.id);
    } catch (error) {
      this.say(`not placed: ${describe(error)}`, true);
    }
    this.env.invalidate('demo');
  }

  async cancel(id) {
    const market = this.env.market();
    try {
      await this.env.api.call('order.cancel', [this.user, market.name, id]);
      this.finished.add(id);
      this.orders.delete(id);
      this.say(`order ${id} cancelled`, false);
    } catch (error) {
      this.say(`order ${id} not cancelled: ${describe(error)}`, true);
    }
    this.env.invalidate('demo');
  }

  async fund() {
    const market = this.env.market();
    if (!this.user) {
      this.say('choose a user id first', true);
      return;
    }
    const business = Date.now();
    try {
      await this.env.api.call('balance.update', [this.user, market.stock, 'deposit', business, FUNDS.stock, {}]);
      await this.env.api.call('balance.update', [this.user, market.money, 'deposit', business, FUNDS.money, {}]);
      this.say(`deposited ${FUNDS.stock} ${market.stock} and ${FUNDS.money} ${market.money} to user ${this.user}`,
        false);
    } catch (error) {
      this.say(`deposit failed: ${describe(error)}`, true);
    }
    this.env.invalidate('demo');
  }

  say(text, error) {
    this.message = {text, error};
    this.env.invalidate('demo');
  }

  render() {
    const market = this.env.market();
    if (market === null) return;
    this.el.who.textContent = this.user
      ? `user ${this.user}${this.authed ? ' · live through server.auth' : ''}` : '';
    this.el.text.textContent = this.message.text;
    this.el.text.classList.toggle('error', this.message.error);
    const balanceRows = [market.stock, market.money].map((asset) => {
      const balance = this.balances.get(asset);
      return row([asset, balance ? balance.available : '–', balance ? balance.freeze : '–']);
    });
    this.el.balances.replaceChildren(...balanceRows);
    const orders = [...this.orders.values()].sort((a, b) => b.id - a.id);
    this.el.orders.replaceChildren(...orders.map((order) => {
      const tr = row([String(order.id), order.side === 1 ? 'sell' : 'buy',
        fixed(order.price, market.money_prec), fixed(order.amount, market.stock_prec),
        fixed(order.left, market.stock_prec)]);
      tr.children[1].className = order.side === 1 ? 'sell' : 'buy';
      const cell = document.createElement('td');
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.cancel = String(order.id);
      button.textContent = 'Cancel';
      cell.append(button);
      tr.append(cell);
      return tr;
    }));
  }
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const text of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.append(td);
  }
  return tr;
}

function describe(error) {
  if (error instanceof ApiError) return `${error.reason} (error ${error.code})`;
  if (error instanceof HttpError) return error.message;
  return String(error);
}
