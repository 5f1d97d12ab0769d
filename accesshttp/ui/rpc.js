// The two public APIs as a frontend speaks them: JSON-RPC over HTTP POST to accesshttp (spec/http-api.md),
// and accessws's websocket (spec/websocket-api.md) with calls matched by id, pushes handed on, and a
// reconnect after any loss.

// An error reply; `data`, when the server sent one, says which argument was wrong ("amount: must be ...").
export class ApiError extends Error {
  constructor(method, code, message, data) {
    const reason = typeof data === 'string' ? `${message}: ${data}` : message;
    super(`${method}: ${reason} (error ${code})`);
    this.method = method;
    this.code = code;
    this.reason = reason;
  }
}

// An HTTP answer that is not JSON-RPC: 500 while accesshttp has no connection to the method's backend,
// 504 when it did not answer in time, or the gateway itself unreachable (status 0).
export class HttpError extends Error {
  constructor(method, status, detail) {
    super(`${method}: ${detail}`);
    this.method = method;
    this.status = status;
  }
}

export class HttpApi {
  // `url`: accesshttp's JSON-RPC endpoint, relative to the page (`../` from /ui/), so that the page works
  // wherever a proxy puts the gateway.
  constructor(url) {
    this.url = url;
    this.nextId = 1;
  }

  async call(method, params) {
    const id = this.nextId++;
    let response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({id, method, params}),
        cache: 'no-store',
      });
    } catch (error) {
      throw new HttpError(method, 0, `the HTTP API is unreachable (${error.message})`);
    }
    if (response.status !== 200) {
      const detail = response.status === 500 ? 'HTTP 500: the backend for this call is not connected'
        : response.status === 504 ? 'HTTP 504: the backend did not answer in time' : `HTTP ${response.status}`;
      throw new HttpError(method, response.status, detail);
    }
    const answer = await response.json();
    if (answer.error) throw new ApiError(method, answer.error.code, answer.error.message, answer.error.data);
    return answer.result;
  }
}

const RECONNECT_DELAYS = [250, 500, 1000, 2000, 3000];
const CALL_TIMEOUT = 5000;

// One websocket that stays open: after a close it reconnects by itself (250 ms, then longer, at most 3 s
// apart). `onState(state, detail)` hears 'connecting', 'open' (after every (re)connection: the place to
// subscribe again) and 'closed'; `onPush(method, params)` gets every notification.
export class Socket {
  constructor(url, {onPush, onState}) {
    this.url = url;
    this.onPush = onPush;
    this.onState = onState;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.failures = 0;
    this._timer = 0;
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this._timer);
    this.onState('connecting', '');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (error) {
      this._closed(`cannot open ${this.url}: ${error.message}`);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.failures = 0;
      this.onState('open', '');
    };
    ws.onmessage = (event) => this._message(event.data);
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this._closed(event.code === 1006 ? 'the connection was lost' : `closed (code ${event.code})`);
    };
  }

  // Close this connection and open a new one (a heartbeat went unanswered).
  restart(reason) {
    const ws = this.ws;
    if (ws === null) return;
    this.ws = null;
    ws.onclose = null;
    ws.close();
    this._closed(reason);
  }

  call(method, params) {
    if (!this.open) return Promise.reject(new ApiError(method, -1, 'the websocket is not connected'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ApiError(method, -2, 'no answer from the websocket'));
      }, CALL_TIMEOUT);
      this.pending.set(id, {method, resolve, reject, timer});
      this.ws.send(JSON.stringify({id, method, params}));
    });
  }

  _message(data) {
    const body = JSON.parse(data);
    if (body.method) {
      this.onPush(body.method, body.params);
      return;
    }
    const call = this.pending.get(body.id);
    if (call === undefined) return;
    this.pending.delete(body.id);
    clearTimeout(call.timer);
    if (body.error) call.reject(new ApiError(call.method, body.error.code, body.error.message, body.error.data));
    else call.resolve(body.result);
  }

  _closed(reason) {
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(new ApiError(call.method, -1, 'the websocket closed'));
    }
    this.pending.clear();
    const delay = RECONNECT_DELAYS[Math.min(this.failures, RECONNECT_DELAYS.length - 1)];
    this.failures += 1;
    this.onState('closed', reason);
    this._timer = setTimeout(() => this.connect(), delay);
  }
}

// The websocket URL of the page's config: ws:// or wss:// as given, or a path on the page's own host
// (wss:// when the page came over https).
export function websocketUrl(configured, page) {
  const url = new URL(configured, page);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  return url.href;
}
