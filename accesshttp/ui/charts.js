// The two charts, drawn by TradingView's Lightweight Charts (vendor/, the global `LightweightCharts`):
// candlesticks with volume from `market.kline` rows and `kline.update` pushes, and the cumulative depth of the
// order book on a price axis.

const COLORS = {
  up: '#0ecb81',
  down: '#f6465d',
  upVolume: 'rgba(14, 203, 129, 0.45)',
  downVolume: 'rgba(246, 70, 93, 0.45)',
  text: '#8b949e',
  grid: 'rgba(139, 148, 158, 0.12)',
  background: '#161a1e',
};

function baseOptions() {
  return {
    autoSize: true,
    layout: {background: {type: 'solid', color: COLORS.background}, textColor: COLORS.text, fontSize: 11,
      attributionLogo: true},
    grid: {vertLines: {color: COLORS.grid}, horzLines: {color: COLORS.grid}},
    rightPriceScale: {borderColor: COLORS.grid},
    timeScale: {borderColor: COLORS.grid},
  };
}

function priceFormat(decimals) {
  return {type: 'price', precision: decimals, minMove: 10 ** -decimals};
}

// k-line times are UTC seconds; the chart labels what it is given, so candles are shifted to local time.
const LOCAL_SHIFT = -new Date().getTimezoneOffset() * 60;

export class CandleChart {
  constructor(element) {
    const lib = window.LightweightCharts;
    this.chart = lib.createChart(element, {
      ...baseOptions(),
      timeScale: {borderColor: COLORS.grid, timeVisible: true, secondsVisible: false, rightOffset: 4},
      crosshair: {mode: lib.CrosshairMode.Normal},
    });
    this.candles = this.chart.addSeries(lib.CandlestickSeries, {
      upColor: COLORS.up, downColor: COLORS.down, wickUpColor: COLORS.up, wickDownColor: COLORS.down,
      borderVisible: false,
    });
    this.candles.priceScale().applyOptions({scaleMargins: {top: 0.08, bottom: 0.26}});
    this.volume = this.chart.addSeries(lib.HistogramSeries, {priceFormat: {type: 'volume'}, priceScaleId: '',
      lastValueVisible: false, priceLineVisible: false});
    this.volume.priceScale().applyOptions({scaleMargins: {top: 0.8, bottom: 0}});
    this.lastTime = -Infinity;
    this.rows = new Map(); // chart time -> the row as the API sent it, for the legend
    this.hovered = null;
    this.onLegend = () => {};
    this.chart.subscribeCrosshairMove((param) => {
      const hovered = param.time === undefined ? null : this.rows.get(param.time) || null;
      if (hovered !== this.hovered) {
        this.hovered = hovered;
        this.onLegend();
      }
    });
  }

  // The row the legend describes: the one under the cursor, else the newest.
  legendRow() {
    return this.hovered || this.rows.get(this.lastTime) || null;
  }

  setPrecision(priceDecimals) {
    this.candles.applyOptions({priceFormat: priceFormat(priceDecimals)});
  }

  // All candles at once (a `market.kline` answer: oldest first); candles pushed meanwhile that are newer
  // than the answer's are kept.
  setRows(rows) {
    const candles = [];
    const volumes = [];
    const newest = rows.length ? rows[rows.length - 1][0] + LOCAL_SHIFT : -Infinity;
    const pushed = [...this.rows.entries()].filter(([time]) => time > newest).map(([, row]) => row);
    this.rows.clear();
    this.hovered = null;
    for (const row of rows) {
      const [candle, volume] = toBars(row);
      candles.push(candle);
      volumes.push(volume);
      this.rows.set(candle.time, row);
    }
    this.candles.setData(candles);
    this.volume.setData(volumes);
    this.lastTime = candles.length ? candles[candles.length - 1].time : -Infinity;
    if (pushed.length) this.updateRows(pushed);
    this.onLegend();
  }

  // The newest candles (a `kline.update`): the last one is replaced, a newer one appended, older ones kept.
  updateRows(rows) {
    for (const row of rows) {
      const [candle, volume] = toBars(row);
      if (candle.time < this.lastTime) continue;
      this.candles.update(candle);
      this.volume.update(volume);
      this.rows.set(candle.time, row);
      this.lastTime = candle.time;
    }
    this.onLegend();
  }

  clear() {
    this.rows.clear();
    this.setRows([]);
  }
}

// [time, open, close, high, low, volume, deal, market] (note open, close, high, low) -> two chart bars.
function toBars(row) {
  const time = row[0] + LOCAL_SHIFT;
  const open = Number(row[1]);
  const close = Number(row[2]);
  const candle = {time, open, close, high: Number(row[3]), low: Number(row[4])};
  const volume = {time, value: Number(row[5]), color: close >= open ? COLORS.upVolume : COLORS.downVolume};
  return [candle, volume];
}

const DEPTH_STEPS = 120;

// Cumulative amounts on a price axis: bids (left of the spread) and asks (right of it). The chart spaces
// points evenly, so the book is sampled on an even price grid around the middle of the spread.
export class DepthChart {
  constructor(element) {
    const lib = window.LightweightCharts;
    this.lib = lib;
    this.chart = lib.createOptionsChart(element, {
      ...baseOptions(),
      handleScroll: false,
      handleScale: false,
      crosshair: {mode: lib.CrosshairMode.Magnet},
    });
    const area = (color, fill) => ({lineColor: color, topColor: fill, bottomColor: 'rgba(0, 0, 0, 0)',
      lineWidth: 2, lineType: lib.LineType.WithSteps, priceFormat: {type: 'volume'}, lastValueVisible: false,
      priceLineVisible: false});
    this.bids = this.chart.addSeries(lib.AreaSeries, area(COLORS.up, 'rgba(14, 203, 129, 0.28)'));
    this.asks = this.chart.addSeries(lib.AreaSeries, area(COLORS.down, 'rgba(246, 70, 93, 0.28)'));
    this.fitted = false;
  }

  setPrecision(priceDecimals) {
    this.chart.applyOptions({localization: {precision: priceDecimals}});
  }

  // `levels`: {asks, bids} as Book.levels() gives them (best first).
  update(levels) {
    const bids = levels.bids.map(([price, amount]) => [Number(price), Number(amount)]);
    const asks = levels.asks.map(([price, amount]) => [Number(price), Number(amount)]);
    if (!bids.length && !asks.length) {
      this.bids.setData([]);
      this.asks.setData([]);
      this.fitted = false;
      return;
    }
    const bestBid = bids.length ? bids[0][0] : asks[0][0];
    const bestAsk = asks.length ? asks[0][0] : bids[0][0];
    const middle = (bestBid + bestAsk) / 2;
    const lowest = bids.length ? bids[bids.length - 1][0] : middle;
    const highest = asks.length ? asks[asks.length - 1][0] : middle;
    // a fifth more than the furthest level on each side, so that a lone level shows as a step, not a point
    const half = Math.max(middle - lowest, highest - middle, Math.abs(middle) * 0.001, 1e-8) * 1.2;
    const step = (2 * half) / DEPTH_STEPS;
    const bidPoints = [];
    const askPoints = [];
    let bidIndex = bids.length - 1; // bids from the lowest price up
    let bidTotal = bids.reduce((sum, level) => sum + level[1], 0);
    let askIndex = 0;
    let askTotal = 0;
    for (let i = 0; i <= DEPTH_STEPS; i += 1) {
      const price = middle - half + i * step;
      while (bidIndex >= 0 && bids[bidIndex][0] < price) {
        bidTotal -= bids[bidIndex][1];
        bidIndex -= 1;
      }
      while (askIndex < asks.length && asks[askIndex][0] <= price) {
        askTotal += asks[askIndex][1];
        askIndex += 1;
      }
      const hasBids = bids.length > 0 && price <= bestBid;
      const hasAsks = asks.length > 0 && price >= bestAsk;
      bidPoints.push(hasBids ? {time: price, value: Math.max(bidTotal, 0)} : {time: price});
      askPoints.push(hasAsks ? {time: price, value: askTotal} : {time: price});
    }
    this.bids.setData(bidPoints);
    this.asks.setData(askPoints);
    if (!this.fitted) { // always DEPTH_STEPS + 1 points: once fitted, they stay so
      this.chart.timeScale().fitContent();
      this.fitted = true;
    }
  }
}
