/*
 * dashboard.js: the streamer console's live funnel (PROTOCOL.md "The funnel: the seller's
 * numbers, live"). Every streamer connection receives a `stats` message every 5 s: the room's
 * figures and its last hour in 360 points of 10 s. This draws the funnel (unique viewers ->
 * engaged -> buyers, the conversion rate, viewers now / peak, orders, units, revenue) and two
 * charts on <canvas>, without a library: viewers (a line, one point per 10 s) and orders per
 * minute (bars, 6 points each, on the clock's minutes), both over the last 60 minutes.
 *
 * What was drawn is also in data attributes of each canvas (data-points: non-empty points or
 * bars drawn, data-max: the y axis' top, data-last: the newest value, data-draws: how many
 * times it was drawn; the orders chart's data-total: its sum over the hour, the viewers
 * chart's data-peak: its highest), so tests see the charts move without comparing pixels.
 */
import { byTestId, formatPrice } from './ui.js';

export const POINT_MS = 10000;
export const POINTS = 360;
export const MINUTE_MS = 60000;
export const MINUTES = 60;

const num = (v) => {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : 0;
};

/** buyers / viewers_unique (0 with no viewers): the protocol sends no fractions, the console divides. */
export function conversion(s) {
  const u = num(s && s.viewers_unique);
  return u > 0 ? num(s.buyers) / u : 0;
}

/** The conversion as a percentage with 2 decimals: "37.50%". */
export function percentText(s) {
  const u = num(s && s.viewers_unique);
  return `${(u > 0 ? (num(s.buyers) * 100) / u : 0).toFixed(2)}%`;
}

/** A stats message's series as [{t, viewers, orders, likes, comments}], numbers, oldest first. */
export function cleanSeries(series) {
  if (!Array.isArray(series)) return [];
  return series
    .filter((p) => p && typeof p === 'object' && Number.isFinite(Number(p.t)))
    .map((p) => ({ t: Number(p.t), viewers: num(p.viewers), orders: num(p.orders), likes: num(p.likes), comments: num(p.comments) }))
    .sort((a, b) => a.t - b.t);
}

/** Index of the first point of the room's life (anything non-zero), or points.length. */
export function firstLive(points) {
  const i = points.findIndex((p) => p.viewers || p.orders || p.likes || p.comments);
  return i < 0 ? points.length : i;
}

/**
 * Orders per minute: the 60 clock minutes ending with the newest point's, oldest first, each
 * {t: the minute's start, orders: the sum of its (up to 6) points}.
 */
export function perMinute(points, minutes = MINUTES) {
  if (!points.length) return [];
  const lastMin = Math.floor(points[points.length - 1].t / MINUTE_MS);
  const out = [];
  for (let i = 0; i < minutes; i++) out.push({ t: (lastMin - minutes + 1 + i) * MINUTE_MS, orders: 0 });
  for (const p of points) {
    const k = Math.floor(p.t / MINUTE_MS) - (lastMin - minutes + 1);
    if (k >= 0 && k < minutes) out[k].orders += p.orders;
  }
  return out;
}

/** The y axis' top: the smallest of 1, 2, 5 x 10^k that is >= v (at least 1). */
export function niceMax(v) {
  if (!(v > 1)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** A canvas sized to its CSS box in device pixels; draw(ctx, w, h) works in CSS pixels. */
function prepare(canvas) {
  const dpr = globalThis.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth));
  const h = Math.max(1, Math.round(canvas.clientHeight));
  const pw = Math.round(w * dpr);
  const ph = Math.round(h * dpr);
  if (canvas.width !== pw) canvas.width = pw;
  if (canvas.height !== ph) canvas.height = ph;
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  canvas.dataset.dpr = String(dpr);
  return { ctx, w, h };
}

const PAD = { left: 34, right: 8, top: 10, bottom: 18 };

/** The frame both charts share: grid lines at 0, half and max, the y labels, the x labels. */
function axes(ctx, w, h, max) {
  const x0 = PAD.left;
  const x1 = w - PAD.right;
  const y0 = h - PAD.bottom;
  const y1 = PAD.top;
  ctx.lineWidth = 1;
  ctx.strokeStyle = cssVar('--line', '#2f3442');
  ctx.fillStyle = cssVar('--muted', '#9aa1b2');
  ctx.font = '11px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'right';
  const steps = max >= 2 && max % 2 === 0 ? [0, max / 2, max] : [0, max];
  for (const v of steps) {
    // +0.5: a 1 px line on the pixel grid, not blurred over two
    const y = Math.round(y0 - ((y0 - y1) * v) / max) + 0.5;
    ctx.beginPath();
    ctx.moveTo(x0, y);
    ctx.lineTo(x1, y);
    ctx.stroke();
    ctx.fillText(v.toLocaleString('en-US'), x0 - 6, y);
  }
  ctx.textBaseline = 'alphabetic';
  ctx.textAlign = 'left';
  ctx.fillText('60 min ago', x0, h - 4);
  ctx.textAlign = 'right';
  ctx.fillText('now', x1, h - 4);
  return { x0, x1, y0, y1 };
}

function mark(canvas, attrs) {
  for (const [k, v] of Object.entries(attrs)) canvas.dataset[k] = String(v);
  canvas.dataset.draws = String((Number(canvas.dataset.draws) || 0) + 1);
}

/** The viewers line: one point per 10 s from the room's first live point on. */
export function drawViewers(canvas, points) {
  const { ctx, w, h } = prepare(canvas);
  const live = points.slice(firstLive(points));
  const max = niceMax(Math.max(0, ...live.map((p) => p.viewers)));
  const { x0, x1, y0, y1 } = axes(ctx, w, h, max);
  const tEnd = points.length ? points[points.length - 1].t : 0;
  const span = (POINTS - 1) * POINT_MS;
  const X = (t) => x1 - ((x1 - x0) * (tEnd - t)) / span;
  const Y = (v) => y0 - ((y0 - y1) * v) / max;
  const color = cssVar('--info', '#5ac8fa');
  if (live.length) {
    const xs = live.map((p) => Math.max(x0, X(p.t)));
    // the area under the line, faint, then the line
    ctx.beginPath();
    ctx.moveTo(xs[0], y0);
    live.forEach((p, i) => ctx.lineTo(xs[i], Y(p.viewers)));
    ctx.lineTo(xs[xs.length - 1], y0);
    ctx.closePath();
    ctx.globalAlpha = 0.15;
    ctx.fillStyle = color;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.beginPath();
    live.forEach((p, i) => (i ? ctx.lineTo(xs[i], Y(p.viewers)) : ctx.moveTo(xs[i], Y(p.viewers))));
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.stroke();
    // the newest value, as a dot (also what shows of a room one point old)
    ctx.beginPath();
    ctx.arc(xs[xs.length - 1], Y(live[live.length - 1].viewers), 3, 0, 2 * Math.PI);
    ctx.fillStyle = color;
    ctx.fill();
  }
  const last = live.length ? live[live.length - 1].viewers : 0;
  mark(canvas, { points: live.length, max, last, peak: Math.max(0, ...live.map((p) => p.viewers)) });
  canvas.setAttribute('aria-label', `Viewers over the last hour: ${last.toLocaleString('en-US')} now`);
}

/** Orders per minute: 60 bars, the newest at the right. */
export function drawOrders(canvas, points) {
  const { ctx, w, h } = prepare(canvas);
  const mins = perMinute(points);
  const max = niceMax(Math.max(0, ...mins.map((m) => m.orders)));
  const { x0, x1, y0, y1 } = axes(ctx, w, h, max);
  const slot = (x1 - x0) / MINUTES;
  const gap = slot > 4 ? 1 : 0;
  ctx.fillStyle = cssVar('--accent', '#ff2d55');
  let drawn = 0;
  let total = 0;
  mins.forEach((m, i) => {
    total += m.orders;
    if (!m.orders) return;
    drawn++;
    const top = y0 - ((y0 - y1) * m.orders) / max;
    // whole device pixels on the x axis: crisp bar edges
    const left = Math.round(x0 + i * slot + gap);
    const right = Math.round(x0 + (i + 1) * slot - gap);
    ctx.fillRect(left, top, Math.max(1, right - left), y0 - top);
  });
  const last = mins.length ? mins[mins.length - 1].orders : 0;
  mark(canvas, { points: drawn, max, last, total });
  canvas.setAttribute('aria-label', `Orders per minute over the last hour: ${total.toLocaleString('en-US')} in all`);
}

/**
 * The dashboard in `root` (the section data-testid="funnel"): render(stats) with every `stats`
 * message; it redraws by itself when the canvases change size.
 */
export function makeDashboard(root) {
  const q = (id) => byTestId(id, root);
  const body = root.querySelector('.dash-body');
  const waiting = q('funnel-waiting');
  const updated = q('funnel-updated');
  const canvases = { viewers: q('chart-viewers'), orders: q('chart-orders') };
  let last = null;
  let points = [];

  function setFigure(id, value, text) {
    const node = q(id);
    if (!node) return;
    node.dataset.value = String(value);
    node.textContent = text === undefined ? value.toLocaleString('en-US') : text;
  }

  function draw() {
    if (!last) return;
    drawViewers(canvases.viewers, points);
    drawOrders(canvases.orders, points);
  }

  function render(s) {
    if (!s || typeof s !== 'object') return;
    last = s;
    points = cleanSeries(s.series);
    root.dataset.state = 'live';
    waiting.hidden = true;
    body.hidden = false;
    const steps = { unique: num(s.viewers_unique), engaged: num(s.engaged), buyers: num(s.buyers) };
    const top = Math.max(1, ...Object.values(steps));
    for (const [k, v] of Object.entries(steps)) {
      setFigure(`funnel-${k}`, v);
      const bar = q(`funnel-bar-${k}`);
      const pct = (100 * v) / top;
      bar.style.width = `${v ? Math.max(1, pct) : 0}%`;
      bar.dataset.width = pct.toFixed(1);
    }
    setFigure('funnel-cvr', conversion(s), percentText(s));
    setFigure('funnel-viewers-now', num(s.viewers_now));
    setFigure('funnel-viewers-peak', num(s.viewers_peak));
    setFigure('funnel-orders', num(s.orders));
    setFigure('funnel-units', num(s.units));
    setFigure('funnel-revenue', num(s.revenue), formatPrice(num(s.revenue)));
    const ts = Number(s.ts);
    updated.dataset.ts = Number.isFinite(ts) ? String(ts) : '';
    updated.textContent = Number.isFinite(ts) && ts > 0 ? `updated ${new Date(ts).toLocaleTimeString()}` : '';
    root.dataset.messages = String((Number(root.dataset.messages) || 0) + 1);
    draw();
  }

  // redraw on a size change (the window, the layout, the device pixel ratio)
  let pending = false;
  const later = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      draw();
    });
  };
  if (typeof ResizeObserver === 'function') {
    const ro = new ResizeObserver(later);
    for (const c of Object.values(canvases)) ro.observe(c);
  }
  globalThis.addEventListener('resize', later);
  const watchDpr = () => {
    if (!globalThis.matchMedia) return;
    const mq = matchMedia(`(resolution: ${globalThis.devicePixelRatio || 1}dppx)`);
    mq.addEventListener('change', () => {
      later();
      watchDpr();
    }, { once: true });
  };
  watchDpr();

  return { render, draw, get stats() { return last; } };
}
