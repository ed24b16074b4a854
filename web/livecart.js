/*
 * livecart.js: a dependency-free client for livecart shards (ES module, browsers and Node).
 *
 *   import { LivecartClient } from './livecart.js';
 *   const lc = new LivecartClient({ room: 'demo', user: 'ann' });
 *   lc.on('comment', (c) => show(c.user, c.text));
 *   lc.on('likes', (m) => showLikes(m.total));
 *   lc.connect();
 *   lc.comment('hi');  lc.like();  const order = await lc.buy('mug');
 *
 * It speaks the JSON subprotocol (`livecart.json`, PROTOCOL.md) and keeps the connection up:
 * a heartbeat notices dead connections, reconnects back off exponentially with jitter, honour
 * the server's `reconnect` hint, and resume with `hello.since` so that no comment is shown
 * twice or silently lost. Likes are batched into one `like` frame per ~100 ms. Buys and group
 * joins carry a fresh `req` each and are re-sent with the same `req` after a reconnect (the
 * server answers a repeated `req` with its first answer, so nothing is bought twice).
 *
 * Events (`on(type, fn)` returns a function that unsubscribes; `'*'` receives every message):
 *   state        {state, prev, reason, delayMs, attempt}  state: idle | connecting | open |
 *                reconnecting | closed
 *   welcome      the welcome message (plus `resumed`: true when it answered a `since`)
 *   comment, announce, product   one item of the room's ordered stream; `history: true` when it
 *                came with a welcome. Every item arrives once, in order, also across reconnects
 *   deleted, likes, viewers, slow_mode, reconnect, error     as the server sends them
 *   gap          {last, reason: 'slow' | 'resume'}: some items of the stream were skipped
 *   sales        every change of the open sales: {sku, sale} (sale null once closed);
 *                `client.sales` holds them all. The raw messages (sale, group_sale, stock,
 *                sold_out, sale_closed, teams) arrive too, under their own type names
 *   order, group, group_done, group_failed, cancelled      answers to this connection
 *   coupons      every change of the room's coupons: {coupon, info} (`client.coupons`; info.gone
 *                once it cannot be claimed any more). Raw: coupon, coupon_left, coupon_gone
 *   wallet       the caller's claimed coupons changed: {coupons} (`client.myCoupons`). Raw:
 *                my_coupons, claim
 *   orders       one of this user's orders changed: {order, info} (`client.orders`; info.state:
 *                ok | reserved | paid | expired | cancelled). Raw: paid, expired
 *   lotteries    a lucky bag changed: {lottery, info} (`client.lotteries`; info.state: open |
 *                drawn | ended, info.entered, info.result, info.won). Raw: lottery, entered,
 *                enter, lottery_result, won
 *   boards       a leaderboard changed: {board, entries} (`client.boards`; board: likes | buyers)
 *   buying       "people are buying": {count, users} (`client.buying`, `client.buyingNow()`)
 */

export const SUBPROTOCOL = 'livecart.json';

const STREAM_TYPES = new Set(['comment', 'announce', 'product']);
const SALE_TYPES = new Set(['sale', 'group_sale', 'stock', 'sold_out', 'sale_closed', 'teams']);
const COUPON_TYPES = new Set(['coupon', 'coupon_left', 'coupon_gone']);
// requests whose re-sends say so (`retry`): the shard may answer a first attempt itself
// (PROTOCOL.md "Sold out at the shard"), never a re-send
const RETRY_TYPES = new Set(['buy', 'coupon_claim']);
export const BOARDS = ['likes', 'buyers'];
// a `buying` message counts the orders of the 10 s before it; the server sends one at most once
// a second while orders happen, so one older than this says nothing about now
const BUYING_FRESH_MS = 11000;
// an order's state never leaves these (a paid order may still be cancelled)
const FINAL_STATES = new Set(['expired', 'cancelled']);
const REDEEM_GRACE_MS = 24 * 3600 * 1000; // claimed coupons work until a day after the window
const CLOCK_SAMPLES = 32;
const MAX_LIKES_PER_FRAME = 100;
const MAX_PENDING_LIKES = 5000;

const DEFAULTS = {
  role: 'viewer',
  heartbeatMs: 20000,       // send a ping after this long without hearing anything
  pongTimeoutMs: 10000,     // and give up on the connection this long after it
  connectTimeoutMs: 10000,  // from new WebSocket() to welcome
  backoffBaseMs: 500,
  backoffMaxMs: 15000,
  retryAfterMs: 1000,       // least wait after a refused upgrade (the server's Retry-After: 1)
  stableMs: 10000,          // a connection up this long resets the back-off
  likeBatchMs: 100,
  requestTimeoutMs: 20000,  // buy / group join / cancel: give up waiting after this
  unavailableRetries: 3,    // status `unavailable` is retried with the same req this often
  unknownRetries: 8,        // status `unknown` (it may have happened): asked again with the same req
  resume: true,
};

/** Compares two stream ids `<ms>-<seq>` numerically, part by part (-1, 0, 1). */
export function compareIds(a, b) {
  const [am, as] = splitId(a);
  const [bm, bs] = splitId(b);
  if (am !== bm) return am < bm ? -1 : 1;
  if (as !== bs) return as < bs ? -1 : 1;
  return 0;
}

function splitId(id) {
  const m = /^(\d+)-(\d+)$/.exec(String(id));
  if (!m) return [-1n, -1n];
  return [BigInt(m[1]), BigInt(m[2])];
}

/** A fresh request id (one per tap). */
export function newReq() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const b = new Uint8Array(16);
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(b);
  else for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** UTF-8 length of a string (the protocol's limits are in bytes). */
export function byteLength(s) {
  return new TextEncoder().encode(s).length;
}

/** The shard's WebSocket endpoint for a page served by the shard itself. */
export function liveUrlFor(loc = globalThis.location) {
  if (!loc) throw new Error('livecart: no url given and no location to derive it from');
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/live`;
}

/** Formats cents as a price with two decimals ("12.99"). */
export function formatPrice(cents) {
  const n = Number(cents) / 100;
  try {
    return n.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  } catch (_) {
    return n.toFixed(2);
  }
}

/**
 * The per-unit price a coupon makes of a list price (cents): `off` cents off (never below 0),
 * or `pct` % off rounded down, as the server computes it.
 */
export function couponPrice(coupon, price) {
  price = Number(price);
  if (!coupon) return price;
  if (typeof coupon.off === 'number') return Math.max(0, price - coupon.off);
  if (typeof coupon.pct === 'number') return Math.floor((price * (100 - coupon.pct)) / 100);
  return price;
}

/** Whether a coupon applies to a buy of sku at list price (cents): its sku and min_price. */
export function couponApplies(coupon, sku, price) {
  if (!coupon) return false;
  if (coupon.sku && coupon.sku !== sku) return false;
  if (typeof coupon.min_price === 'number' && typeof price === 'number' && price < coupon.min_price) return false;
  return true;
}

// ---- the lucky-bag draw (PROTOCOL.md "Lucky bag"): pure functions anyone can run ----

/** Bytes of a hex string (either case); throws a RangeError on anything else. */
export function hexToBytes(hex) {
  const s = String(hex).trim();
  if (s.length % 2 || !/^[0-9a-fA-F]*$/.test(s)) throw new RangeError('not a hex string');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Lowercase hex of bytes. */
export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

const SHA256_K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/**
 * SHA-256 in plain JavaScript (FIPS 180-4), for where WebCrypto is missing: browsers offer
 * crypto.subtle only in secure contexts (https, localhost), and a shard's page may be opened
 * over plain http on a LAN address. Exported for the tests; use sha256().
 */
export function sha256Sync(data) {
  const bytes = data instanceof Uint8Array ? data : new TextEncoder().encode(String(data));
  const n = bytes.length;
  const blocks = Math.ceil((n + 9) / 64);
  const m = new Uint8Array(blocks * 64);
  m.set(bytes);
  m[n] = 0x80;
  const dv = new DataView(m.buffer);
  dv.setUint32(m.length - 8, Math.floor(n / 0x20000000)); // the length in bits, big-endian
  dv.setUint32(m.length - 4, (n * 8) >>> 0);
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  const rotr = (x, r) => (x >>> r) | (x << (32 - r));
  for (let b = 0; b < blocks; b++) {
    for (let t = 0; t < 16; t++) w[t] = dv.getUint32(b * 64 + t * 4);
    for (let t = 16; t < 64; t++) {
      const s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >>> 3);
      const s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) >>> 0;
    }
    let [a, bb, c, d, e, f, g, hh] = h;
    for (let t = 0; t < 64; t++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + SHA256_K[t] + w[t]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c))) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = bb; bb = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += bb; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  const out = new Uint8Array(32);
  const odv = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) odv.setUint32(i * 4, h[i]);
  return out;
}

/** SHA-256 of bytes (or a string's UTF-8), resolving to 32 bytes: WebCrypto where there is one. */
export async function sha256(data) {
  const bytes = data instanceof Uint8Array ? data : new TextEncoder().encode(String(data));
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (subtle && typeof subtle.digest === 'function') {
    return new Uint8Array(await subtle.digest('SHA-256', bytes));
  }
  return sha256Sync(bytes);
}

const utf8 = new TextEncoder();

/** Compares two user ids bytewise over their UTF-8 (memcmp order, as Redis sorts them). */
export function compareUserIds(a, b) {
  const x = utf8.encode(String(a));
  const y = utf8.encode(String(b));
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}

/** A copy of a list of user ids in the draw's order: bytewise, as the server keeps them. */
export function sortEntrants(list) {
  return Array.from(list, String).sort(compareUserIds);
}

/**
 * The lucky-bag draw of PROTOCOL.md: from the 32-byte seed (hex) and the entrants sorted
 * bytewise, k = min(K, n) winners: for i = 0 … k−1, h = the first 8 bytes of
 * SHA-256(seed ‖ decimal(i)) as an unsigned big-endian integer, j = i + h mod (n − i), swap
 * positions i and j; the winners are the first k, in that order. Resolves to them.
 */
export async function drawWinners(seedHex, sortedEntrants, k) {
  const seed = hexToBytes(seedHex);
  if (seed.length !== 32) throw new RangeError('the seed is 32 bytes (64 hex digits)');
  const list = Array.from(sortedEntrants, String);
  const n = list.length;
  const K = Math.floor(Number(k));
  if (!Number.isFinite(K) || K < 0) throw new RangeError('K is a whole number');
  const m = Math.min(K, n);
  for (let i = 0; i < m; i++) {
    const digits = utf8.encode(String(i));
    const input = new Uint8Array(seed.length + digits.length);
    input.set(seed);
    input.set(digits, seed.length);
    const d = await sha256(input);
    let h = 0n;
    for (let b = 0; b < 8; b++) h = (h << 8n) | BigInt(d[b]);
    const j = i + Number(h % BigInt(n - i));
    const t = list[i];
    list[i] = list[j];
    list[j] = t;
  }
  return list.slice(0, m);
}

/** Whether commit (hex) is SHA-256 of the seed's 32 bytes (hex). Malformed input: false. */
export async function verifyCommit(seedHex, commitHex) {
  let seed;
  try {
    seed = hexToBytes(seedHex);
  } catch (_) {
    return false;
  }
  if (seed.length !== 32 || !/^[0-9a-fA-F]{64}$/.test(String(commitHex).trim())) return false;
  return bytesToHex(await sha256(seed)) === String(commitHex).trim().toLowerCase();
}

/**
 * Checks a drawn lottery: {seed, commit, k (K; default: the number of winners), entrants,
 * winners?}. Resolves to {commitOk, sorted (the entrants came in the draw's order), duplicates
 * (ids listed twice), entrants (sorted, unique), k, computed (the winners the rule gives),
 * winnersOk (null when no winners were given), ok}; throws a RangeError on a malformed seed.
 */
export async function verifyDraw({ seed, commit, k, entrants = [], winners = null }) {
  const list = Array.from(entrants, String);
  const sortedList = sortEntrants(list);
  const duplicates = [];
  const unique = [];
  for (const u of sortedList) {
    if (unique.length && compareUserIds(unique[unique.length - 1], u) === 0) {
      if (duplicates[duplicates.length - 1] !== u) duplicates.push(u);
    } else unique.push(u);
  }
  const sorted = list.length === sortedList.length && list.every((u, i) => u === sortedList[i]);
  let K = k === undefined || k === null || k === '' ? null : Number(k);
  if (K === null) {
    if (!Array.isArray(winners)) throw new RangeError('K is needed when no winners are given');
    K = winners.length; // the rule's first k places do not depend on K beyond them
  }
  const computed = await drawWinners(seed, unique, K);
  const commitOk = commit === undefined || commit === null || commit === '' ? null : await verifyCommit(seed, commit);
  const winnersOk = Array.isArray(winners)
    ? winners.length === computed.length && winners.every((u, i) => String(u) === computed[i]) : null;
  return {
    commitOk, sorted, duplicates, entrants: unique, k: K, computed, winnersOk,
    ok: commitOk === true && winnersOk !== false && duplicates.length === 0,
  };
}

/** Whether a comment enters a lottery with this keyword: ASCII letters case-insensitively. */
export function containsKeyword(text, keyword) {
  if (!keyword) return false;
  const fold = (s) => String(s).replace(/[A-Z]/g, (c) => c.toLowerCase());
  return fold(text).includes(fold(keyword));
}

export class LivecartError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'LivecartError';
    this.code = code;
  }
}

export class LivecartClient {
  /**
   * @param {object} opts
   *   room (required), user (required in open mode), role ('viewer' | 'streamer' | 'moderator'),
   *   token: a JWT string, or a function returning one (or a promise of one), called before
   *     every connection (so a fresh token is used after an expiry),
   *   url: the shard's `ws://host:port/live` (default: derived from the page's location),
   *   WebSocket: the constructor to use (default: globalThis.WebSocket),
   *   and the timing knobs of DEFAULTS above.
   */
  constructor(opts = {}) {
    this.opts = { ...DEFAULTS, ...opts };
    if (!this.opts.room) throw new Error('livecart: room is required');
    this.room = this.opts.room;
    this.user = this.opts.user || null;
    this.WS = this.opts.WebSocket || globalThis.WebSocket;
    if (!this.WS) throw new Error('livecart: no WebSocket implementation (pass opts.WebSocket)');
    this.state = 'idle';
    this.ws = null;
    this.lastId = null;        // newest stream id seen (comment, announce, product)
    this.viewers = 0;
    this.likes = 0;            // the room's total as the server last said
    this.likesShown = 0;       // what a like counter should show: the total with own taps in
    this.sales = new Map();    // sku -> sale state, see _saleUpdate
    this.coupons = new Map();  // coupon id -> the room's coupon, see _couponUpdate
    this.myCoupons = new Map(); // coupon id -> this user's claimed coupons of it (my_coupons)
    this.orders = new Map();   // order id -> this user's order: {order, sku, qty, price, state, ...}
    this.lotteries = new Map(); // lottery id -> a lucky bag of the room, see _lotteryUpdate
    this.entered = new Set();  // lotteries this user entered (`entered`, or enter ok / already)
    this.boards = new Map(BOARDS.map((b) => [b, []])); // board -> [{user, score}], best first
    this.buying = null;        // the newest `buying`: {count, users, at} (at: local ms)
    this.shard = null;
    this.slowMode = 0;
    this.welcome = null;
    this.reason = null;        // why the state is what it is (close code, error code)
    this._handlers = new Map();
    this._pending = new Map(); // key -> {frame, resolve, reject, timer, tries, key}
    this._unseen = [];         // own comments sent but not seen back yet: {frame, at}
    this._waiters = new Set(); // openSale/closeSale waiting for the room's confirmation
    this._wallet = { current: [], next: [], inFlight: false, again: false, retries: 0 };
    this._clock = [];          // lower bounds of (server clock - local clock), see serverNow()
    this._likesUnsent = 0;
    this._likeTimer = null;
    this._sold = [];           // {t, n}: units the room's stock fell by, for soldPerSecond()
    this._attempt = 0;
    this._timers = new Set();
    this._conn = 0;            // id of the current connection (stale callbacks are ignored)
    this._joined = false;
    this._hintAt = 0;          // when the server asked us to come back (reconnect hint)
    this._tokenExpired = false;
    this._onOnline = () => {
      if (this.state === 'reconnecting') this._reconnectNow('online');
    };
  }

  // ---- events ----

  on(type, fn) {
    let set = this._handlers.get(type);
    if (!set) this._handlers.set(type, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** A promise of the next event of this type (optionally one that satisfies pred). */
  once(type, pred = () => true, timeoutMs = 0) {
    return new Promise((resolve, reject) => {
      let timer = null;
      const off = this.on(type, (ev) => {
        if (!pred(ev)) return;
        off();
        if (timer) this._clearTimer(timer);
        resolve(ev);
      });
      if (timeoutMs) timer = this._setTimer(() => { off(); reject(new LivecartError('timeout', `no ${type} within ${timeoutMs} ms`)); }, timeoutMs);
    });
  }

  _emit(type, ev) {
    for (const key of [type, '*']) {
      const set = this._handlers.get(key);
      if (!set) continue;
      for (const fn of [...set]) {
        try {
          fn(ev, type);
        } catch (e) {
          // a handler's bug must not break the connection
          if (globalThis.console) console.error('livecart: handler for', type, 'threw', e);
        }
      }
    }
  }

  _setState(state, extra = {}) {
    const prev = this.state;
    if (prev === state && !extra.force) return;
    this.state = state;
    this._emit('state', { state, prev, reason: this.reason, ...extra });
  }

  // ---- timers (all tracked, so close() leaves nothing behind) ----

  _setTimer(fn, ms) {
    const t = setTimeout(() => { this._timers.delete(t); fn(); }, ms);
    this._timers.add(t);
    return t;
  }

  _clearTimer(t) {
    if (t === null || t === undefined) return;
    clearTimeout(t);
    this._timers.delete(t);
  }

  // ---- connection ----

  /** Connects (and keeps reconnecting until close()). Returns this. */
  connect() {
    if (this.state === 'connecting' || this.state === 'open' || this.state === 'reconnecting') return this;
    this.reason = null;
    if (typeof globalThis.addEventListener === 'function') globalThis.addEventListener('online', this._onOnline);
    this._open();
    return this;
  }

  /** Closes for good: no reconnect; pending requests are rejected. */
  close(reason = 'closed by client') {
    this.reason = reason;
    this._teardown(1000, reason);
    for (const t of this._timers) clearTimeout(t);
    this._timers.clear();
    this._likeTimer = null;
    for (const p of this._pending.values()) p.reject(new LivecartError('closed', reason));
    this._pending.clear();
    for (const w of this._waiters) w.reject(new LivecartError('closed', reason));
    this._waiters.clear();
    const wl = this._wallet;
    for (const w of [...wl.current, ...wl.next]) w.reject(new LivecartError('closed', reason));
    wl.current = [];
    wl.next = [];
    wl.inFlight = wl.again = false;
    if (typeof globalThis.removeEventListener === 'function') globalThis.removeEventListener('online', this._onOnline);
    this._setState('closed');
  }

  /** The URL this client connects to. */
  get url() {
    const base = this.opts.url || liveUrlFor();
    const u = new URL(base);
    u.searchParams.set('room', this.room);
    return u.toString();
  }

  async _open() {
    const conn = ++this._conn;
    this._joined = false;
    this._setState(this.welcome ? 'reconnecting' : 'connecting', { force: this.state === 'reconnecting', attempt: this._attempt });
    let token = this.opts.token;
    if (typeof token === 'function') {
      try {
        token = await token();
      } catch (e) {
        if (conn !== this._conn) return;
        this.reason = 'token: ' + (e && e.message ? e.message : e);
        this._scheduleReconnect(false);
        return;
      }
      if (conn !== this._conn || this.state === 'closed') return;
    }
    let ws;
    try {
      ws = new this.WS(this.url, [SUBPROTOCOL]);
    } catch (e) {
      this.reason = 'cannot connect: ' + (e && e.message ? e.message : e);
      this._scheduleReconnect(false);
      return;
    }
    this.ws = ws;
    this._opened = false;
    this._lastRx = Date.now();
    this._connTimer = this._setTimer(() => {
      if (conn === this._conn && !this._joined) this._fail('connect timeout', false);
    }, this.opts.connectTimeoutMs);
    ws.onopen = () => {
      if (conn !== this._conn) return;
      this._opened = true;
      this._lastRx = Date.now();
      const hello = { type: 'hello', role: this.opts.role };
      if (this.user) hello.user = this.user;
      if (token) hello.token = token;
      if (this.opts.resume && this.welcome && this.lastId) hello.since = this.lastId;
      this._sinceSent = hello.since || null;
      this._send(hello);
      this._armHeartbeat(conn);
    };
    ws.onmessage = (ev) => {
      if (conn !== this._conn) return;
      this._lastRx = Date.now();
      if (typeof ev.data !== 'string') return; // JSON connections carry text frames only
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      if (m && typeof m === 'object' && typeof m.type === 'string') this._dispatch(m);
    };
    ws.onclose = (ev) => {
      if (conn !== this._conn) return;
      this._onClose(ev.code, ev.reason || '');
    };
    ws.onerror = () => {
      if (conn !== this._conn) return;
      // Browsers follow an error with a close event; some implementations (Node 20's) do not
      // when the upgrade fails. A failed upgrade is a close; after open, close soon if the
      // close event does not come by itself.
      if (!this._opened) {
        this._teardown(1000, '');
        this._onClose(1006, 'connection failed');
      } else {
        this._setTimer(() => { if (conn === this._conn) this._fail('connection error', true); }, 1000);
      }
    };
  }

  /** Drops the current socket without waiting for its close (stale callbacks are ignored). */
  _teardown(code, reason) {
    const ws = this.ws;
    this.ws = null;
    this._conn++;
    this._joined = false;
    this._wallet.inFlight = false;
    this._clearTimer(this._hbTimer);
    this._clearTimer(this._connTimer);
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      if (ws.readyState === 0 || ws.readyState === 1) {
        try {
          ws.close(code, reason);
        } catch (_) {
          try {
            ws.close(); // a reason over 123 bytes, say
          } catch (_e) {
            /* already closing */
          }
        }
      }
    }
  }

  /** Gives up on the current connection and reconnects. */
  _fail(reason, opened) {
    this.reason = reason;
    this._teardown(4000, reason);
    this._scheduleReconnect(opened);
  }

  _onClose(code, reason) {
    const opened = this._opened;
    const welcomedFor = this._welcomedAt ? Date.now() - this._welcomedAt : 0;
    this.ws = null;
    this._joined = false;
    this._wallet.inFlight = false;
    this._welcomedAt = 0;
    this._clearTimer(this._hbTimer);
    this._clearTimer(this._connTimer);
    this.reason = code ? `closed ${code}${reason ? ': ' + reason : ''}` : 'connection lost';
    // 4001: no valid token; 4003: banned, or the token expired. Only an expiry with a token
    // source to ask again is worth a retry.
    if (code === 4001 || (code === 4003 && !(this._tokenExpired && typeof this.opts.token === 'function'))) {
      this.close(this.reason);
      return;
    }
    this._tokenExpired = false;
    if (welcomedFor >= this.opts.stableMs) this._attempt = 0;
    this._scheduleReconnect(opened, code);
  }

  _scheduleReconnect(opened, code) {
    if (this.state === 'closed') return;
    const o = this.opts;
    let delay;
    const now = Date.now();
    if (this._hintAt) {
      // the shard is draining and told us when to come back: its hints are spread already
      delay = Math.max(0, this._hintAt - now) + Math.random() * 250;
      this._hintAt = 0;
    } else {
      const cap = Math.min(o.backoffMaxMs, o.backoffBaseMs * 2 ** Math.min(this._attempt, 16));
      delay = cap / 2 + Math.random() * (cap / 2); // "equal jitter": never a thundering herd at 0
      // The upgrade was refused (or never answered): browsers hide the HTTP status and its
      // Retry-After, and the server sends Retry-After: 1 with 503 and 429.
      if (!opened) delay = Math.max(delay, o.retryAfterMs * (0.75 + Math.random() * 0.5));
      this._attempt++;
    }
    delay = Math.round(delay);
    this._retryAt = now + delay;
    this._setState('reconnecting', { delayMs: delay, attempt: this._attempt, code, force: true });
    this._clearTimer(this._retryTimer);
    this._retryTimer = this._setTimer(() => {
      this._retryTimer = null;
      if (this.state === 'reconnecting') this._open();
    }, delay);
  }

  _reconnectNow(reason) {
    this._clearTimer(this._retryTimer);
    this._retryTimer = null;
    this.reason = reason;
    this._open();
  }

  /** Drops the connection and reconnects at once (e.g. after a new token). */
  reconnect() {
    if (this.state === 'closed' || this.state === 'idle') return this.connect();
    this._teardown(1000, 'reconnecting');
    this._reconnectNow('reconnect requested');
    return this;
  }

  _armHeartbeat(conn) {
    const o = this.opts;
    const check = () => {
      if (conn !== this._conn) return;
      const idle = Date.now() - this._lastRx;
      if (this._pingSentAt && this._lastRx < this._pingSentAt && Date.now() - this._pingSentAt >= o.pongTimeoutMs) {
        this._fail('heartbeat timeout', true);
        return;
      }
      if (idle >= o.heartbeatMs && (!this._pingSentAt || this._lastRx >= this._pingSentAt)) {
        this._pingSentAt = Date.now();
        this._send({ type: 'ping' });
      }
      this._hbTimer = this._setTimer(check, Math.min(1000, o.heartbeatMs, o.pongTimeoutMs));
    };
    this._pingSentAt = 0;
    this._clearTimer(this._hbTimer);
    this._hbTimer = this._setTimer(check, Math.min(1000, o.heartbeatMs, o.pongTimeoutMs));
  }

  _send(msg) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    try {
      ws.send(JSON.stringify(msg));
      return true;
    } catch (_) {
      return false;
    }
  }

  /** While reconnecting: ms until the next attempt (0 otherwise). */
  get retryInMs() {
    return this.state === 'reconnecting' && this._retryAt ? Math.max(0, this._retryAt - Date.now()) : 0;
  }

  /** True once welcomed on the current connection. */
  get joined() {
    return this._joined;
  }

  // ---- incoming ----

  _dispatch(m) {
    const t = m.type;
    if (t === 'welcome') return this._onWelcome(m);
    if (STREAM_TYPES.has(t)) {
      if (typeof m.ts === 'number') this._clockSample(m.ts);
      this._streamItem(m, false);
      this._emit('message', m);
      return;
    }
    switch (t) {
      case 'likes':
        this.likes = m.total;
        this.likesShown = Math.max(this.likesShown, this.likes + this._likesUnsent);
        break;
      case 'viewers':
        this.viewers = m.count;
        break;
      case 'slow_mode':
        this.slowMode = m.secs;
        break;
      case 'gap':
        // the server skipped messages for this slow connection; comments from `last` on are
        // lost unless we resume from there
        this._emit('gap', { last: m.last, reason: 'slow' });
        break;
      case 'reconnect':
        this._hintAt = Date.now() + (Number(m.after_ms) || 0);
        break;
      case 'order':
        this._onOrder(m);
        this._answer(m.req, m);
        break;
      case 'group':
        this._answer(m.req, m);
        break;
      case 'claim':
        this._onClaim(m);
        this._answer(m.req, m);
        break;
      case 'cancelled':
        if (m.status === 'ok' || m.status === 'already') this._orderMove(m.order, 'cancelled', { sku: m.sku, qty: m.qty });
        this._answer('cancel:' + m.order, m);
        break;
      case 'paid':
      case 'expired':
        this._orderMove(m.order, t, { sku: m.sku, qty: m.qty });
        break;
      case 'my_coupons':
        this._onWallet(m);
        break;
      case 'lottery':
      case 'entered':
      case 'lottery_result':
      case 'won':
        this._lotteryUpdate(m);
        break;
      case 'enter':
        this._onEnter(m);
        break;
      case 'top':
        this._boardUpdate(m);
        break;
      case 'buying':
        this.buying = { count: Number(m.count) || 0, users: Array.isArray(m.users) ? m.users.map(String) : [], at: Date.now() };
        this._emit('buying', { count: this.buying.count, users: this.buying.users });
        break;
      case 'error':
        this._onError(m);
        break;
      default:
        break;
    }
    if (SALE_TYPES.has(t)) this._saleUpdate(m);
    if (t === 'order' || t === 'group') this._saleLeft(m);
    if (COUPON_TYPES.has(t)) this._couponUpdate(m);
    this._emit(t, m);
    this._emit('message', m);
  }

  _onWelcome(m) {
    const resumed = !!this._sinceSent;
    this.welcome = m;
    this.shard = m.shard || null;
    this.viewers = m.viewers;
    this.likes = m.likes;
    this.likesShown = this.likes + this._likesUnsent;
    this._joined = true;
    this._welcomedAt = Date.now();
    this._clearTimer(this._connTimer);
    // open sales: the welcome's list is the truth now (sales may have closed meanwhile)
    const open = new Set();
    for (const s of Array.isArray(m.sales) ? m.sales : []) {
      open.add(s.sku);
      this._saleUpdate(s, true);
    }
    for (const sku of [...this.sales.keys()]) {
      if (!open.has(sku)) {
        this.sales.delete(sku);
        this._emit('sales', { sku, sale: null });
      }
    }
    // claimable coupons: the welcome's list is the truth (the others ended meanwhile)
    const claimable = new Set();
    for (const c of Array.isArray(m.coupons) ? m.coupons : []) {
      if (!c || typeof c.coupon !== 'string') continue;
      claimable.add(c.coupon);
      this._couponUpdate({ ...c, type: 'coupon' });
    }
    for (const [id, c] of this.coupons) {
      if (!claimable.has(id) && !c.gone) {
        c.gone = true;
        this._emit('coupons', { coupon: id, info: c });
      }
    }
    // the open lottery (0 or 1): the welcome's list is the truth. One we knew as open that is
    // not in it was drawn while we were away (its result went to the room then): ended
    const openLotteries = new Set();
    for (const l of Array.isArray(m.lotteries) ? m.lotteries : []) {
      if (!l || typeof l.lottery !== 'string') continue;
      openLotteries.add(l.lottery);
      this._lotteryUpdate({ ...l, type: 'lottery' }, true);
    }
    for (const [id, l] of this.lotteries) {
      if (l.state === 'open' && !openLotteries.has(id)) {
        l.state = 'ended';
        this._emit('lotteries', { lottery: id, info: l });
      }
    }
    // both leaderboards (a board the welcome leaves out is empty)
    const tops = new Map();
    for (const t of Array.isArray(m.tops) ? m.tops : []) if (t && typeof t.board === 'string') tops.set(t.board, t);
    for (const b of new Set([...this.boards.keys(), ...tops.keys()])) {
      this._boardUpdate(tops.get(b) || { type: 'top', board: b, entries: [] });
    }
    this._setState('open', { shard: this.shard });
    this._emit('welcome', { ...m, resumed });
    if (resumed && m.recovered === false) this._emit('gap', { last: this._sinceSent, reason: 'resume' });
    const history = Array.isArray(m.history) ? m.history : [];
    for (const item of history) this._streamItem(item, true);
    if (!history.length && !this.lastId && typeof m.last === 'string') this.lastId = m.last;
    // requests still waiting for an answer: the same req again (idempotent on the server)
    for (const p of this._pending.values()) this._sendRequest(p);
    // own comments that did not come back before the connection went (the history above had
    // every one that was posted): send them again with their req; the server posts each once
    const recent = Date.now() - 60000;
    this._unseen = this._unseen.filter((u) => u.at > recent);
    for (const u of this._unseen) this._send(u.frame);
    // a `coupons` question that was waiting (or lost with the old connection)
    const wl = this._wallet;
    if (wl.current.length || wl.next.length) {
      wl.current.push(...wl.next.splice(0));
      wl.again = false;
      this._sendWallet();
    }
    this._flushLikes();
  }

  _streamItem(m, history) {
    if (typeof m.id !== 'string') return;
    if (this.lastId && compareIds(m.id, this.lastId) <= 0) return; // seen already
    this.lastId = m.id;
    if (m.type === 'comment') this._keywordComment(m);
    if (m.type === 'comment' && this._unseen.length && (!this.user || m.user === this.user)) {
      // our own comment came back (the room's order keeps ours in the order we sent them)
      const i = this._unseen.findIndex((u) => u.frame.text === m.text);
      if (i >= 0) this._unseen.splice(i, 1);
    }
    this._emit(m.type, history ? { ...m, history: true } : m);
  }

  _onError(m) {
    if (m.code === 'token_expired') this._tokenExpired = true;
    if (m.code === 'unknown' && this._unseen.length) {
      // A comment reached Redis and its answer was lost: it may be posted. Send what has not come
      // back again, with the same req (the server posts each (user, req) once), a little later.
      const conn = this._conn;
      this._setTimer(() => {
        if (conn === this._conn && this._joined) for (const u of this._unseen) this._send(u.frame);
      }, 1000);
    }
    // a refused comment will be refused again: do not re-send what is waiting (errors carry no req)
    if (m.code === 'muted' || m.code === 'filtered' || m.code === 'banned') this._unseen = [];
    if (!this._joined && this.ws) {
      const conn = this._conn;
      if (m.code === 'unavailable') {
        // Redis is down on that shard: the hello was not taken; try again later
        this._setTimer(() => { if (conn === this._conn) this._fail('server unavailable', true); }, 0);
      } else if (m.code === 'bad_request') {
        // the hello itself is wrong (a user name out of range...): retrying cannot help
        this._setTimer(() => { if (conn === this._conn) this.close(`hello refused: ${m.message || m.code}`); }, 0);
      }
    }
    // a `coupons` question Redis did not answer comes back as an error (no request id): it only
    // reads, so asking again is harmless even when the error was about something else
    const wl = this._wallet;
    if ((m.code === 'unavailable' || m.code === 'unknown') && wl.inFlight && wl.retries < 3) {
      wl.retries++;
      const conn = this._conn;
      this._setTimer(() => { if (conn === this._conn && this._joined && wl.inFlight) this._send({ type: 'coupons' }); }, 500 * wl.retries);
    }
    // a server that does not know `coupons` (an older one) will not answer it
    if (m.code === 'unknown_type' && wl.inFlight) {
      wl.inFlight = false;
      for (const w of wl.current.splice(0)) w.reject(new LivecartError(m.code, m.message));
      if (wl.next.length) {
        wl.current = wl.next.splice(0);
        this._sendWallet();
      }
    }
    // openSale()/closeSale() learn of a refusal only this way (errors carry no request id)
    if (['forbidden', 'bad_request', 'unavailable'].includes(m.code)) {
      for (const w of [...this._waiters]) {
        this._waiters.delete(w);
        w.reject(new LivecartError(m.code, m.message));
      }
    }
  }

  _saleUpdate(m, fromWelcome = false) {
    const sku = m.sku;
    if (typeof sku !== 'string') return;
    let s = this.sales.get(sku);
    switch (m.type) {
      case 'sale':
      case 'group_sale': {
        const kind = m.type === 'sale' ? 'sale' : 'group';
        const prev = s && s.kind === kind ? s : null;
        s = {
          kind, sku, title: m.title, price: m.price,
          // a welcome's `stock` is what is left and `total` the opening stock (older servers
          // send no total: then the bar's full length is the most ever seen)
          stock: fromWelcome ? (m.total ?? Math.max(m.stock, prev ? prev.stock : 0)) : m.stock,
          left: m.stock,
          limit: m.limit ?? 1,
          size: m.size, ttl_s: m.ttl_s,
          // a group_sale says how many teams are open, not how many people wait in them: that
          // comes with the next `teams` message (null until then)
          teams: m.teams ?? 0, waiting: prev ? prev.waiting : m.teams ? null : 0,
          soldOut: m.stock === 0,
          // checkout: a buy reserves the units, to be paid within payS seconds (null: ok is final)
          payS: typeof m.pay_s === 'number' ? m.pay_s : null,
        };
        this.sales.set(sku, s);
        for (const w of [...this._waiters]) if (w.open === sku) { this._waiters.delete(w); w.resolve(m); }
        break;
      }
      case 'stock':
        if (!s) return;
        if (m.left < s.left) {
          this._sold.push({ t: Date.now(), n: s.left - m.left });
          if (this._sold.length > 1024) this._sold.splice(0, this._sold.length - 1024);
        }
        s.left = m.left;
        s.stock = Math.max(s.stock, m.left);
        s.soldOut = m.left === 0;
        break;
      case 'sold_out':
        if (!s) return;
        s.left = 0;
        s.soldOut = true;
        break;
      case 'teams':
        if (!s) return;
        s.teams = m.teams;
        s.waiting = m.waiting;
        break;
      case 'sale_closed':
        this.sales.delete(sku);
        for (const w of [...this._waiters]) if (w.close === sku) { this._waiters.delete(w); w.resolve(m); }
        this._emit('sales', { sku, sale: null });
        return;
      default:
        return;
    }
    this._emit('sales', { sku, sale: s });
  }

  /** An order answer says how much is left: a fresher number than the coalesced stock. */
  _saleLeft(m) {
    const s = this.sales.get(m.sku);
    if (!s || typeof m.left !== 'number' || m.left >= s.left) return;
    this._sold.push({ t: Date.now(), n: s.left - m.left });
    s.left = m.left;
    s.soldOut = m.left === 0;
    this._emit('sales', { sku: m.sku, sale: s });
  }

  // ---- lucky bags, leaderboards, "people are buying" ----

  /** A lottery message (also an item of welcome.lotteries), entered, lottery_result or won. */
  _lotteryUpdate(m, fromWelcome = false) {
    const id = m.lottery;
    if (typeof id !== 'string' || !id) return;
    let l = this.lotteries.get(id);
    const make = () => {
      l = {
        lottery: id, prize: null, winners: null, ends: null, keyword: null, commit: null, entries: null,
        state: 'open', entered: this.entered.has(id), result: null, won: false,
        seen: null, // users seen commenting the keyword since the open (when the open was seen)
      };
      this.lotteries.set(id, l);
    };
    switch (m.type) {
      case 'lottery':
        if (!l) make();
        l.prize = m.prize ?? l.prize;
        l.winners = typeof m.winners === 'number' ? m.winners : l.winners; // K
        l.ends = typeof m.ends === 'number' ? m.ends : l.ends;
        l.keyword = typeof m.keyword === 'string' && m.keyword ? m.keyword : null;
        l.commit = m.commit ?? l.commit;
        if (typeof m.entries === 'number') {
          l.entries = m.entries;
          l.entriesAt = Date.now(); // the server's count (a welcome's): entries so far then
        }
        if (!fromWelcome && !l.seen) {
          // seen opening: every comment from now on is after the open (one channel, one
          // order), so its keyword comments are its entries (lottery_enter ones are not seen)
          l.seen = new Set();
          if (l.entries === null) l.entries = 0;
        }
        if (l.state !== 'drawn') l.state = 'open';
        for (const w of [...this._waiters]) if (w.lotteryOpen === id) { this._waiters.delete(w); w.resolve(m); }
        break;
      case 'entered':
        this.entered.add(id);
        if (!l || l.entered) return;
        l.entered = true;
        break;
      case 'lottery_result': {
        if (!l) make();
        if (l.state === 'drawn') return; // told once; a repeat changes nothing
        const winners = Array.isArray(m.winners) ? m.winners.map(String) : [];
        l.state = 'drawn';
        l.result = { winners, entries: typeof m.entries === 'number' ? m.entries : null, seed: m.seed ?? null };
        if (l.result.entries !== null) l.entries = l.result.entries;
        if (this.user && winners.includes(this.user)) l.won = true;
        break;
      }
      case 'won':
        if (!l) make();
        if (l.won && l.prize) return;
        l.won = true;
        if (!l.prize && m.prize) l.prize = m.prize;
        break;
      default:
        return;
    }
    this._emit('lotteries', { lottery: id, info: l });
  }

  /** A comment of the room: one that has an open lucky bag's keyword entered its author. */
  _keywordComment(m) {
    for (const l of this.lotteries.values()) {
      if (l.state !== 'open' || !l.seen || !l.keyword || typeof m.user !== 'string') continue;
      if (typeof m.ts === 'number' && typeof l.ends === 'number' && m.ts >= l.ends) continue;
      if (!containsKeyword(m.text, l.keyword) || l.seen.has(m.user)) continue;
      l.seen.add(m.user);
      l.entries = Math.max(l.entries || 0, l.seen.size);
      this._emit('lotteries', { lottery: l.lottery, info: l });
    }
  }

  /** The answer to lottery_enter (before it resolves its request). */
  _onEnter(m) {
    let key = typeof m.lottery === 'string' && m.lottery ? 'enter:' + m.lottery : null;
    if (!key || !this._pending.has(key)) {
      // an answer that names no lottery (its id was not one): the one enter waiting, if alone
      const waiting = [...this._pending.keys()].filter((k) => k.startsWith('enter:'));
      if (waiting.length === 1) key = waiting[0];
    }
    const id = key ? key.slice(6) : null;
    if (id && (m.status === 'ok' || m.status === 'already')) {
      this.entered.add(id);
      const l = this.lotteries.get(id);
      if (l && !l.entered) {
        l.entered = true;
        this._emit('lotteries', { lottery: id, info: l });
      }
    }
    if (key) this._answer(key, m);
  }

  /** A `top` message (also an item of welcome.tops): a board's best 10. */
  _boardUpdate(m) {
    const board = m.board;
    if (typeof board !== 'string' || !board) return;
    const entries = (Array.isArray(m.entries) ? m.entries : [])
      .filter((e) => e && typeof e.user === 'string')
      .map((e) => ({ user: e.user, score: Number(e.score) || 0 }));
    const prev = this.boards.get(board);
    if (prev && prev.length === entries.length && prev.every((e, i) => e.user === entries[i].user && e.score === entries[i].score)) return;
    this.boards.set(board, entries);
    this._emit('boards', { board, entries });
  }

  /** The lucky bag the room opened last (open or drawn), or null. */
  get lottery() {
    let last = null;
    for (const l of this.lotteries.values()) last = l;
    return last;
  }

  /** The newest `buying` if it still says something about the last 10 s, else null. */
  buyingNow(now = Date.now()) {
    return this.buying && now - this.buying.at < BUYING_FRESH_MS ? this.buying : null;
  }

  // ---- coupons and orders ----

  _couponUpdate(m) {
    const id = m.coupon;
    if (typeof id !== 'string') return;
    let c = this.coupons.get(id);
    switch (m.type) {
      case 'coupon': {
        const prev = c && !c.gone ? c : null;
        c = {
          coupon: id, title: m.title, off: m.off, pct: m.pct,
          quota: m.quota ?? (prev ? prev.quota : m.left),
          left: m.left ?? m.quota ?? (prev ? prev.left : 0),
          per_user: m.per_user ?? 1,
          ends: m.ends, sku: m.sku ?? null, min_price: m.min_price ?? null,
          // redeemed so far (coupon_left says; a welcome may not)
          used: m.used ?? (prev ? prev.used : 0),
          gone: false,
        };
        this.coupons.set(id, c);
        for (const w of [...this._waiters]) if (w.drop === id) { this._waiters.delete(w); w.resolve(m); }
        break;
      }
      case 'coupon_left':
        if (!c) return;
        if (typeof m.left === 'number') c.left = m.left;
        if (typeof m.used === 'number') c.used = m.used;
        break;
      case 'coupon_gone':
        if (!c) return;
        c.gone = true;
        break;
      default:
        return;
    }
    this._emit('coupons', { coupon: id, info: c });
  }

  /** A claim answer (before it resolves its request): the caller's coupons and what is left. */
  _onClaim(m) {
    const p = this._pending.get(m.req);
    if (!p) return; // a repeated answer to a request resolved already
    const id = typeof m.coupon === 'string' && m.coupon ? m.coupon : p.frame.coupon;
    const c = this.coupons.get(id);
    if (c) {
      let changed = false;
      if (typeof m.left === 'number' && m.left < c.left) { c.left = m.left; changed = true; }
      if ((m.status === 'gone' || m.status === 'closed') && !c.gone) {
        if (m.status === 'gone') c.left = 0;
        c.gone = true;
        changed = true;
      }
      if (changed) this._emit('coupons', { coupon: id, info: c });
    }
    if (m.status === 'ok') {
      let e = this.myCoupons.get(id);
      if (!e) {
        e = { type: 'coupon', coupon: id, claimed: 0, used: 0 };
        if (c) {
          for (const k of ['title', 'off', 'pct', 'ends']) if (c[k] !== undefined) e[k] = c[k];
          if (c.sku) e.sku = c.sku;
          if (typeof c.min_price === 'number') e.min_price = c.min_price;
        }
        this.myCoupons.set(id, e);
      }
      e.claimed++;
      this._emit('wallet', { coupons: this.myCoupons });
    }
    if (m.status === 'ok' || m.status === 'limit') this._refreshWallet();
  }

  /** An order answer (before it resolves its request): this user's orders and coupons. */
  _onOrder(m) {
    const p = this._pending.get(m.req);
    const asked = p && p.frame.coupon;
    if ((m.status === 'ok' || m.status === 'reserved') && typeof m.order === 'string') {
      const sale = this.sales.get(m.sku);
      if (m.status === 'reserved' && typeof m.pay_by === 'number' && sale && sale.payS) {
        this._clockSample(m.pay_by - sale.payS * 1000); // the reservation was made at about then
      }
      if (this.orders.has(m.order)) return; // the same req again: its first answer, known
      const info = {
        order: m.order, sku: m.sku, qty: m.qty ?? 1, req: m.req,
        title: sale ? sale.title : m.sku,
        price: m.price ?? (sale ? sale.price : null),
        listPrice: sale ? sale.price : m.price ?? null,
        coupon: m.coupon ?? asked ?? null,
        payBy: typeof m.pay_by === 'number' ? m.pay_by : null,
        state: m.status,
        at: Date.now(),
      };
      this.orders.set(m.order, info);
      this._emit('orders', { order: m.order, info });
      if (info.coupon) {
        const e = this.myCoupons.get(info.coupon);
        if (e) {
          e.used = (e.used || 0) + 1;
          this._emit('wallet', { coupons: this.myCoupons });
        }
        this._refreshWallet();
      }
    } else if (m.status === 'coupon_invalid' && p) {
      this._refreshWallet();
    }
  }

  /** An order of this user moved (paid, expired, cancelled). Final states stay final. */
  _orderMove(id, state, extra = {}) {
    if (typeof id !== 'string') return;
    let info = this.orders.get(id);
    const known = !!info;
    if (!info) {
      // an order made elsewhere (another tab, an earlier visit): what the event says
      const sale = this.sales.get(extra.sku);
      info = {
        order: id, sku: extra.sku ?? null, qty: extra.qty ?? null, title: sale ? sale.title : extra.sku ?? null,
        price: null, listPrice: null, coupon: null, payBy: null, state: null, at: Date.now(),
      };
      this.orders.set(id, info);
    }
    if (info.state === state || FINAL_STATES.has(info.state)) return;
    if ((info.state === 'paid' || info.state === 'ok') && state !== 'cancelled') return;
    info.state = state;
    info.at = Date.now();
    this._emit('orders', { order: id, info });
    // an expired or cancelled order gives its coupon back
    if ((state === 'expired' || state === 'cancelled') && (info.coupon || (!known && this.myCoupons.size))) this._refreshWallet();
  }

  /**
   * Records what the shop said about an order outside this socket (the answer to a payment:
   * 'paid', 'expired' or 'cancelled'). The `paid` / `expired` events say the same, later.
   */
  applyOrderState(order, state) {
    if (state === 'paid' || state === 'expired' || state === 'cancelled') this._orderMove(order, state);
  }

  _onWallet(m) {
    const items = Array.isArray(m.coupons) ? m.coupons : [];
    this.myCoupons = new Map();
    for (const c of items) if (c && typeof c.coupon === 'string') this.myCoupons.set(c.coupon, c);
    const wl = this._wallet;
    wl.inFlight = false;
    wl.retries = 0;
    const done = wl.current.splice(0);
    if (wl.next.length) {
      // asked again while this answer was on its way: it may not include the latest change
      wl.current = wl.next.splice(0);
      this._sendWallet();
    }
    for (const w of done) w.resolve(m);
    this._emit('wallet', { coupons: this.myCoupons });
  }

  _sendWallet() {
    if (this._joined && this._send({ type: 'coupons' })) this._wallet.inFlight = true;
  }

  _refreshWallet() {
    this.fetchMyCoupons().catch(() => {});
  }

  /** A lower bound of the server's clock minus ours (a time Redis stamped, just received). */
  _clockSample(serverMs) {
    if (!Number.isFinite(serverMs)) return;
    this._clock.push(serverMs - Date.now());
    if (this._clock.length > CLOCK_SAMPLES) this._clock.shift();
  }

  /**
   * Redis's clock as well as this client can tell (`ends`, `pay_by` are on it): the local
   * clock corrected by the newest lower bounds of its offset (live items' `ts`, reservations).
   */
  serverNow() {
    return Date.now() + this.clockOffsetMs;
  }

  /** Milliseconds from now until a time on Redis's clock (negative: passed). */
  msUntil(serverMs) {
    return serverMs - this.serverNow();
  }

  get clockOffsetMs() {
    return this._clock.length ? Math.max(...this._clock) : 0;
  }

  /**
   * Units sold per second over the last windowMs, from the room's stock messages (the protocol
   * sends orders to their buyers only; a fall in stock is what everyone sees).
   */
  soldPerSecond(windowMs = 5000) {
    const since = Date.now() - windowMs;
    let n = 0;
    for (let i = this._sold.length - 1; i >= 0 && this._sold[i].t >= since; i--) n += this._sold[i].n;
    return n / (windowMs / 1000);
  }

  // ---- outgoing ----

  /**
   * Sends a comment (1-500 bytes) with a fresh `req`. Returns false when not connected (nothing
   * was sent). One that is not seen back before a reconnect is sent again after it with the same
   * req (for up to a minute): the server posts it once.
   */
  comment(text) {
    text = String(text);
    const n = byteLength(text);
    if (n < 1 || n > 500) throw new RangeError('a comment is 1-500 bytes');
    if (!this._joined) return false;
    const frame = { type: 'comment', text, req: newReq() };
    if (this._unseen.length >= 50) this._unseen.shift();
    this._unseen.push({ frame, at: Date.now() });
    return this._send(frame);
  }

  /** Taps like n times. Taps are sent as one `like` frame per likeBatchMs (kept while offline). */
  like(n = 1) {
    n = Math.max(0, Math.floor(n));
    if (!n) return;
    n = Math.min(n, MAX_PENDING_LIKES - this._likesUnsent);
    if (n <= 0) return;
    this._likesUnsent += n;
    // Shown = the server's total + own taps it may not include yet. Never more than the truth:
    // it grows by our taps and otherwise only to a total the server reported.
    this.likesShown = Math.max(this.likesShown, this.likes) + n;
    if (!this._likeTimer) this._likeTimer = this._setTimer(() => this._flushLikes(true), this.opts.likeBatchMs);
  }

  _flushLikes(fromTimer = false) {
    if (fromTimer) this._likeTimer = null;
    if (!this._likesUnsent || this._likeTimer) return;
    if (this._joined) {
      const count = Math.min(MAX_LIKES_PER_FRAME, this._likesUnsent);
      if (this._send({ type: 'like', count })) this._likesUnsent -= count;
    }
    // more than one frame's worth (or offline): keep going at the same pace
    if (this._likesUnsent && this._joined) {
      this._likeTimer = this._setTimer(() => this._flushLikes(true), this.opts.likeBatchMs);
    }
  }

  /** Taps not sent yet. */
  get unsentLikes() {
    return this._likesUnsent;
  }

  _request(key, frame) {
    const existing = this._pending.get(key);
    if (existing) return existing.promise;
    let p;
    const promise = new Promise((resolve, reject) => {
      p = { key, frame, tries: 0, unknownTries: 0 };
      p.resolve = (v) => { this._clearTimer(p.timer); this._pending.delete(key); resolve(v); };
      p.reject = (e) => { this._clearTimer(p.timer); this._pending.delete(key); reject(e); };
    });
    p.promise = promise;
    p.timer = this._setTimer(() => p.reject(new LivecartError('timeout', `no answer to ${frame.type} within ${this.opts.requestTimeoutMs} ms`)), this.opts.requestTimeoutMs);
    this._pending.set(key, p);
    if (this._joined) this._sendRequest(p); // else: sent after the next welcome
    return promise;
  }

  // Sends a request; once it went out, every later send is a re-send (`retry`: decided by Redis,
  // which answers its first decision again).
  _sendRequest(p) {
    if (p.sent && RETRY_TYPES.has(p.frame.type)) p.frame.retry = true;
    if (this._send(p.frame)) p.sent = true;
  }

  _answer(key, m) {
    const p = this._pending.get(key);
    if (!p) return;
    if (m.status === 'unavailable' && p.tries < this.opts.unavailableRetries) {
      // Redis was unreachable and nothing happened: the same req again, a little later
      p.tries++;
      this._setTimer(() => { if (this._pending.get(key) === p && this._joined) this._sendRequest(p); }, 300 * 2 ** p.tries);
      return;
    }
    if (m.status === 'unknown' && p.unknownTries < this.opts.unknownRetries) {
      // The request reached Redis and its answer was lost: it may have happened. The same req
      // is answered with what did happen (the server never does it twice), so ask until we know.
      // (A cancel asked again answers `already` when the first one went through.)
      p.unknownTries++;
      const wait = Math.min(300 * 2 ** p.unknownTries, 5000);
      this._setTimer(() => { if (this._pending.get(key) === p && this._joined) this._sendRequest(p); }, wait);
      return;
    }
    p.resolve(m);
  }

  /**
   * Buys qty units of a flash sale. Resolves to the `order` answer ({status: ok | reserved |
   * coupon_invalid | sold_out | limit | closed | invalid | rate_limited | unavailable, order?,
   * qty?, left?, price?, pay_by?}); rejects on close() or when no answer comes within
   * requestTimeoutMs. One call = one tap = one req. `coupon`: redeem one of myCoupons. A sale
   * with payS answers `reserved`: pay by `pay_by` (client.orders follows it to paid / expired).
   * Pass `req` to re-send a tap whose answer you never saw (after a reload): it goes out with
   * `retry` and is answered with its first decision; re-sends of the client's own carry it too.
   */
  buy(sku, { qty = 1, req, coupon } = {}) {
    // a req of the caller's own may be a re-send (e.g. after a reload): marked, Redis decides it
    const frame = req ? { type: 'buy', sku, req, retry: true } : { type: 'buy', sku, req: (req = newReq()) };
    if (qty !== 1) frame.qty = qty;
    if (coupon) frame.coupon = coupon;
    return this._request(req, frame);
  }

  /** Joins a group-buy (a friend's team, or the oldest open one). Resolves to the `group` answer. */
  groupJoin(sku, { team, req = newReq() } = {}) {
    const frame = { type: 'group_join', sku, req };
    if (team) frame.team = team;
    return this._request(req, frame);
  }

  /** Cancels one of this user's orders. Resolves to the `cancelled` answer. */
  cancel(order) {
    return this._request('cancel:' + order, { type: 'cancel', order });
  }

  /**
   * Claims one coupon of a drop. Resolves to the `claim` answer ({status: ok | gone | limit |
   * closed | req_reused | rate_limited | invalid | unavailable, left?}); like buy(), one call is
   * one req, re-sent after a reconnect and on `unknown` / `unavailable` (never claimed twice).
   */
  claimCoupon(coupon, { req } = {}) {
    // as buy(): a req of the caller's own is sent as a re-send (`retry`)
    if (req) return this._request(req, { type: 'coupon_claim', coupon, req, retry: true });
    req = newReq();
    return this._request(req, { type: 'coupon_claim', coupon, req });
  }

  /**
   * Asks for this user's claimed coupons in the room (`coupons`). Resolves to the `my_coupons`
   * answer; `client.myCoupons` holds them (coupon id -> {title, off | pct, sku?, min_price?,
   * ends, claimed, used}). Sent after the next welcome when offline. The client asks by itself
   * after a claim, a buy with a coupon, and an expiry or cancel that gives one back.
   */
  fetchMyCoupons() {
    return new Promise((resolve, reject) => {
      const wl = this._wallet;
      const w = {};
      const drop = () => {
        for (const list of [wl.current, wl.next]) {
          const i = list.indexOf(w);
          if (i >= 0) list.splice(i, 1);
        }
      };
      w.resolve = (v) => { this._clearTimer(w.timer); resolve(v); };
      w.reject = (e) => { this._clearTimer(w.timer); drop(); reject(e); };
      w.timer = this._setTimer(() => {
        w.reject(new LivecartError('timeout', `no answer to coupons within ${this.opts.requestTimeoutMs} ms`));
        // nobody waits for the answer that did not come: stop waiting for it, ask for the others
        if (wl.inFlight && !wl.current.length) {
          wl.inFlight = false;
          if (wl.next.length) {
            wl.current = wl.next.splice(0);
            this._sendWallet();
          }
        }
      }, this.opts.requestTimeoutMs);
      if (wl.inFlight) {
        wl.next.push(w);
      } else {
        wl.current.push(w);
        this._sendWallet();
      }
    });
  }

  /**
   * This user's coupons that a buy of sku at list price (cents) can redeem now: held and not
   * used, for this sku (or any), price >= min_price, within a day of the claim window's end.
   * Cheapest resulting price first.
   */
  usableCoupons(sku, price) {
    const now = this.serverNow();
    return [...this.myCoupons.values()]
      .filter((c) => (c.claimed || 0) - (c.used || 0) > 0 && couponApplies(c, sku, price)
        && !(typeof c.ends === 'number' && now > c.ends + REDEEM_GRACE_MS))
      .sort((a, b) => couponPrice(a, price) - couponPrice(b, price));
  }

  /**
   * Streamer: drops `quota` coupons, claimable for `secs` seconds: `off` cents or `pct` % off
   * one buy (per unit), `per_user` each, only for `sku` and list prices >= `min_price` when
   * given. Resolves to the room's `coupon` message; rejects like openSale().
   */
  dropCoupon({ coupon, title, off, pct, quota, per_user, secs, sku, min_price }) {
    const frame = { type: 'coupon_drop', coupon, title, quota, secs };
    if (off !== undefined && off !== null) frame.off = off;
    if (pct !== undefined && pct !== null) frame.pct = pct;
    if (per_user !== undefined && per_user !== null) frame.per_user = per_user;
    if (sku) frame.sku = sku;
    if (min_price !== undefined && min_price !== null) frame.min_price = min_price;
    return this._waitRoom({ drop: coupon }, frame);
  }

  /**
   * Enters a lucky bag that has no keyword (one with a keyword is entered by commenting it:
   * status `keyword`). Resolves to the `enter` answer ({lottery, status: ok | already | closed |
   * keyword | muted | banned | rate_limited | unavailable | unknown}); re-sent after a
   * reconnect and on `unknown` / `unavailable` (entering twice is `already`: harmless).
   */
  enterLottery(lottery) {
    return this._request('enter:' + lottery, { type: 'lottery_enter', lottery });
  }

  /**
   * Streamer: opens a lucky bag: `winners` (K) of the entrants win `prize`, drawn `secs` seconds
   * from now; viewers enter by commenting `keyword` (or with enterLottery() when there is none).
   * Resolves to the room's `lottery` message (with its `commit`); rejects like openSale().
   */
  openLottery({ lottery, prize, winners, secs, keyword }) {
    const frame = { type: 'lottery_open', lottery, prize, winners, secs };
    if (keyword) frame.keyword = keyword;
    return this._waitRoom({ lotteryOpen: lottery }, frame).then((m) => {
      // it was opened at ends - secs on Redis's clock, before it reached us: a lower bound
      if (typeof m.ends === 'number') this._clockSample(m.ends - secs * 1000);
      return m;
    });
  }

  _waitRoom(w, frame) {
    if (!this._joined) return Promise.reject(new LivecartError('offline', 'not connected'));
    return new Promise((resolve, reject) => {
      const entry = { ...w };
      entry.resolve = (v) => { this._clearTimer(entry.timer); resolve(v); };
      entry.reject = (e) => { this._clearTimer(entry.timer); reject(e); };
      entry.timer = this._setTimer(() => { this._waiters.delete(entry); entry.reject(new LivecartError('timeout', `no confirmation of ${frame.type}`)); }, this.opts.requestTimeoutMs);
      this._waiters.add(entry);
      if (!this._send(frame)) { this._waiters.delete(entry); entry.reject(new LivecartError('offline', 'not connected')); }
    });
  }

  /**
   * Streamer: opens a flash sale (`pay_s`: buyers reserve and have that many seconds to pay).
   * Resolves to the room's `sale` message.
   */
  openSale({ sku, title, price, stock, limit, pay_s }) {
    const frame = { type: 'sale_open', sku, title, price, stock };
    if (limit !== undefined && limit !== null) frame.limit = limit;
    if (pay_s !== undefined && pay_s !== null) frame.pay_s = pay_s;
    return this._waitRoom({ open: sku }, frame);
  }

  /** Streamer: opens a group-buy (teams of `size`, each with ttl_s seconds to fill). */
  openGroup({ sku, title, price, size, stock, ttl_s }) {
    return this._waitRoom({ open: sku }, { type: 'group_open', sku, title, price, size, stock, ttl_s });
  }

  /** Streamer: closes a sale or group-buy. Resolves to the room's `sale_closed` message. */
  closeSale(sku) {
    return this._waitRoom({ close: sku }, { type: 'sale_close', sku });
  }

  /** Sends a raw client message (moderation etc.). Returns false when not connected. */
  send(msg) {
    return this._joined ? this._send(msg) : false;
  }

  /** Extends a token-authenticated connection with a fresh token (no answer on success). */
  refresh(token) {
    if (typeof this.opts.token !== 'function') this.opts.token = token;
    return this.send({ type: 'refresh', token });
  }
}
