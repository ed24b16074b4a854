/*
 * livecart.js against real shards (see helpers.mjs for how they are provided).
 * Run through tests/blackbox/test_web_client.py.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  compareIds, newReq, byteLength, LivecartClient, couponPrice, couponApplies,
  drawWinners, verifyCommit, verifyDraw, sortEntrants, compareUserIds, containsKeyword,
  sha256Sync, bytesToHex, hexToBytes,
} from '../livecart.js';
import {
  T, SCALE, URL1, URL2, makeClient, joined, waitFor, sleep, uniq, streamItems, states, closeAll,
  Shard, stopAllShards, Proxy, issueToken, tmpFile, publish, freePort, redisCommand, API_KEY,
} from './helpers.mjs';

after(async () => {
  closeAll();
  await stopAllShards();
});

function texts(c) {
  return streamItems(c).map((m) => m.text ?? m.title);
}

function assertIncreasing(items) {
  for (let i = 1; i < items.length; i++) {
    assert.equal(compareIds(items[i - 1].id, items[i].id), -1, `ids not increasing: ${items[i - 1].id} then ${items[i].id}`);
  }
}

test('helpers: ids compare numerically, reqs are fresh, lengths are bytes', () => {
  assert.equal(compareIds('9-0', '10-0'), -1);
  assert.equal(compareIds('10-2', '10-10'), -1);
  assert.equal(compareIds('10-1', '10-1'), 0);
  assert.equal(compareIds('1764350000123-1', '1764350000123-0'), 1);
  const reqs = new Set(Array.from({ length: 1000 }, () => newReq()));
  assert.equal(reqs.size, 1000);
  for (const r of reqs) assert.ok(r.length >= 1 && r.length <= 64);
  assert.equal(byteLength('é'), 2);
  assert.throws(() => new LivecartClient({ user: 'x', WebSocket: class {} }), /room/);
});

test('connects, says hello, reports its state and closes without leftovers', async () => {
  const room = uniq('conn');
  const c = makeClient({ room, user: 'ann' });
  c.connect();
  const w = await c.once('welcome', () => true, T);
  assert.equal(w.room, room);
  assert.equal(w.resumed, false);
  assert.deepEqual(states(c).map((s) => s.state), ['connecting', 'open']);
  assert.equal(c.state, 'open');
  assert.ok(c.viewers >= 1);
  assert.ok(c.shard);
  const hello = c.rec.frames('hello')[0];
  assert.deepEqual(hello, { type: 'hello', role: 'viewer', user: 'ann' });
  assert.throws(() => c.comment(''), RangeError);
  assert.throws(() => c.comment('é'.repeat(251)), RangeError);
  c.close();
  assert.equal(c.state, 'closed');
  assert.equal(c._timers.size, 0, 'timers left after close()');
  await sleep(300);
  assert.equal(c.rec.sockets, 1, 'reconnected after close()');
  // a request made offline waits for a connection; close() rejects it
  const idle = makeClient({ room, user: 'bo' });
  const pending = idle.buy('mug');
  idle.close();
  await assert.rejects(pending, (e) => e.code === 'closed');
  assert.equal(idle.rec.sockets, 0);
});

test('comments arrive once and in order on every client, over two shards; hostile text stays text', async () => {
  const room = uniq('cmt');
  const a = await joined(makeClient({ room, user: 'ann', url: URL1 }));
  const b = await joined(makeClient({ room, user: 'bob', url: URL2 }));
  const sent = [];
  for (let i = 0; i < 20; i++) {
    const who = i % 2 ? b : a;
    const text = i === 7 ? '<img src=x onerror=alert(1)> & "quotes"' : `m${i} from ${who.user}`;
    assert.equal(who.comment(text), true);
    sent.push(text);
  }
  await waitFor(() => streamItems(a).length >= 20 && streamItems(b).length >= 20, { what: '20 comments on both' });
  await sleep(100);
  for (const c of [a, b]) {
    const items = streamItems(c);
    assert.equal(items.length, 20, 'a comment arrived twice');
    assertIncreasing(items);
    assert.deepEqual(new Set(texts(c)), new Set(sent));
  }
  assert.deepEqual(texts(a), texts(b), 'the two shards disagree on the order');
  // per sender, the order of sending is kept
  assert.deepEqual(texts(a).filter((t) => t.endsWith('from ann')), sent.filter((t) => t.endsWith('from ann')));
  // a late joiner gets them as history, tagged as such, in the same order
  const c = await joined(makeClient({ room, user: 'cy', url: URL2 }));
  await waitFor(() => streamItems(c).length >= 20, { what: 'history' });
  assert.ok(streamItems(c).every((m) => m.history === true));
  assert.deepEqual(texts(c), texts(a));
});

test('likes tapped quickly go out as one frame per ~100 ms and add up on every shard', async () => {
  const room = uniq('likes');
  const a = await joined(makeClient({ room, user: 'ann', url: URL1 }));
  const b = await joined(makeClient({ room, user: 'bob', url: URL2 }));
  let shown = [];
  a.on('likes', () => shown.push(a.likesShown));
  for (let i = 0; i < 57; i++) a.like();
  assert.equal(a.likesShown, 57, 'the counter shows taps at once');
  await waitFor(() => b.likes === 57, { what: 'b sees 57 likes' });
  let frames = a.rec.frames('like');
  assert.equal(frames.length, 1, `57 quick taps took ${frames.length} frames`);
  assert.equal(frames[0].count, 57);
  // a burst larger than one frame's 100: several frames, paced
  const t0 = Date.now();
  a.like(250);
  await waitFor(() => b.likes === 307, { what: 'b sees 307 likes' });
  frames = a.rec.frames('like').slice(1);
  assert.deepEqual(frames.map((f) => f.count), [100, 100, 50]);
  assert.ok(Date.now() - t0 >= 180, 'the frames were not paced');
  // taps from both add up; the shown counter never goes down
  for (let i = 0; i < 10; i++) { a.like(); b.like(); }
  await waitFor(() => a.likes === 327 && b.likes === 327, { what: '327 everywhere' });
  for (let i = 1; i < shown.length; i++) assert.ok(shown[i] >= shown[i - 1], `shown likes went down: ${shown}`);
  assert.equal(a.likesShown, 327);
});

test('sales: a streamer opens, buyers get ok / limit / sold_out, every client sees stock fall', async () => {
  const room = uniq('sale');
  const sku = 'mug';
  const s = await joined(makeClient({ room, user: 'sam', role: 'streamer', url: URL1 }));
  const a = await joined(makeClient({ room, user: 'ann', url: URL1 }));
  const b = await joined(makeClient({ room, user: 'bob', url: URL2 }));
  await assert.rejects(a.openSale({ sku, title: 'x', price: 1, stock: 1 }), (e) => e.code === 'forbidden');
  const opened = await s.openSale({ sku, title: 'Blue mug', price: 1299, stock: 3, limit: 1 });
  assert.equal(opened.type, 'sale');
  await assert.rejects(s.openSale({ sku, title: 'again', price: 1, stock: 1 }), (e) => e.code === 'bad_request');
  await waitFor(() => a.sales.get(sku) && b.sales.get(sku), { what: 'the sale on both viewers' });
  assert.equal(b.sales.get(sku).title, 'Blue mug');
  assert.equal(b.sales.get(sku).left, 3);

  const o1 = await a.buy(sku);
  assert.equal(o1.status, 'ok');
  assert.ok(o1.order);
  assert.equal(o1.left, 2);
  await waitFor(() => b.sales.get(sku).left === 2 && s.sales.get(sku).left === 2, { what: 'stock 2 everywhere' });
  const o2 = await a.buy(sku);
  assert.equal(o2.status, 'limit');
  const reqs = a.rec.frames('buy').map((f) => f.req);
  assert.equal(new Set(reqs).size, 2, 'two taps, one req');
  // the same req again is the same answer (idempotent), not a second order
  const fixed = newReq();
  const o3 = await b.buy(sku, { req: fixed });
  const o3again = await b.buy(sku, { req: fixed });
  assert.equal(o3.status, 'ok');
  assert.equal(o3again.order, o3.order);
  const last = makeClient({ room, user: 'cy', url: URL2 });
  await joined(last);
  assert.equal(last.sales.get(sku).left, 1, 'a late joiner sees what is left');
  assert.equal((await last.buy(sku)).status, 'ok');
  await waitFor(() => [s, a, b, last].every((c) => c.sales.get(sku).left === 0 && c.sales.get(sku).soldOut), { what: 'sold out everywhere' });
  await waitFor(() => b.log.some(([t, m]) => t === 'sold_out' && m.sku === sku), { what: 'sold_out on b' });
  const dee = await joined(makeClient({ room, user: 'dee', url: URL1 }));
  assert.equal((await dee.buy(sku)).status, 'sold_out');
  const closed = await s.closeSale(sku);
  assert.equal(closed.type, 'sale_closed');
  await waitFor(() => !a.sales.has(sku) && !b.sales.has(sku), { what: 'the sale gone' });
  assert.equal((await dee.buy(sku)).status, 'closed');
  assert.ok(s.soldPerSecond(60000) > 0);
});

test('group-buy: two joiners fill a team of two and both get their order', async () => {
  const room = uniq('grp');
  const sku = 'tea';
  const s = await joined(makeClient({ room, user: 'sam', role: 'streamer', url: URL1 }));
  const a = await joined(makeClient({ room, user: 'ann', url: URL1 }));
  const b = await joined(makeClient({ room, user: 'bob', url: URL2 }));
  const g = await s.openGroup({ sku, title: 'Tea', price: 500, size: 2, stock: 4, ttl_s: 60 });
  assert.equal(g.type, 'group_sale');
  await waitFor(() => a.sales.get(sku) && b.sales.get(sku), { what: 'the group sale' });
  assert.equal(a.sales.get(sku).kind, 'group');
  const j1 = await a.groupJoin(sku);
  assert.equal(j1.status, 'joined');
  assert.equal(j1.members, 1);
  assert.equal(j1.size, 2);
  await waitFor(() => b.sales.get(sku).teams === 1 && b.sales.get(sku).waiting === 1, { what: 'teams 1 / waiting 1 on b' });
  const j2 = await b.groupJoin(sku, { team: j1.team });
  assert.equal(j2.status, 'joined');
  assert.equal(j2.team, j1.team);
  const [da, db] = await Promise.all([
    waitFor(() => a.log.find(([t]) => t === 'group_done'), { what: 'group_done for ann' }),
    waitFor(() => b.log.find(([t]) => t === 'group_done'), { what: 'group_done for bob' }),
  ]);
  assert.notEqual(da[1].order, db[1].order);
  await waitFor(() => s.sales.get(sku).left === 2, { what: 'stock 2 after a team' });
});

test('drain: the reconnect hint is honoured, the resume loses and repeats nothing, a queued buy goes through', async () => {
  const room = uniq('drain');
  const x = await new Shard('drainX', ['--drain-ms', '400']).start();
  const s = await joined(makeClient({ room, user: 'sam', role: 'streamer', url: URL1 }));
  const a = await joined(makeClient({ room, user: 'ann', url: x.url }));
  await s.openSale({ sku: 'hat', title: 'Hat', price: 100, stock: 10 });
  s.comment('before');
  await waitFor(() => texts(a).includes('before'), { what: 'before' });
  const beforeId = streamItems(a).at(-1).id;

  const stopping = x.stop('SIGTERM');
  const hint = await a.once('reconnect', () => true, T);
  assert.ok(hint.after_ms >= 0 && hint.after_ms <= 400);
  const hintAt = Date.now();
  await waitFor(() => a.state === 'reconnecting', { what: 'reconnecting' });
  assert.ok(Date.now() - hintAt >= hint.after_ms - 50, 'gave up before the hinted time');
  await stopping;
  // while ann is away: comments, and a tap on Buy
  s.comment('during 1');
  s.comment('during 2');
  const order = a.buy('hat');
  await waitFor(() => texts(s).includes('during 2'), { what: 'during 2 on sam' });
  await x.start();
  await waitFor(() => a.state === 'open', { timeout: 3 * T, what: 'ann back' });
  const w = a.log.filter(([t]) => t === 'welcome').at(-1)[1];
  assert.equal(w.resumed, true);
  assert.equal(w.recovered, true);
  const hellos = a.rec.frames('hello');
  assert.equal(hellos.at(-1).since, beforeId, 'the resume did not start from the last item seen');
  assert.equal((await order).status, 'ok');
  s.comment('after');
  await waitFor(() => texts(a).includes('after'), { what: 'after' });
  assert.deepEqual(texts(a), ['before', 'during 1', 'during 2', 'after']);
  assertIncreasing(streamItems(a));
  assert.equal(a.rec.frames('buy').length >= 1, true);
  assert.equal(new Set(a.rec.frames('buy').map((f) => f.req)).size, 1, 'the re-sent buy got a new req');
  assert.ok(!a.log.some(([t]) => t === 'gap'), 'a gap was reported');
  await x.stop();
});

test('a refused upgrade (503 + Retry-After) is retried, not before retryAfterMs', async () => {
  const room = uniq('busy');
  const y = await new Shard('busyY', ['--max-accept-rate', '1']).start();
  const cs = [0, 1, 2].map((i) => makeClient({ room, user: `u${i}`, url: y.url, retryAfterMs: 400 }));
  for (const c of cs) c.connect();
  await waitFor(() => cs.every((c) => c.state === 'open'), { timeout: 4 * T, what: 'all three in' });
  const retries = cs.flatMap((c) => states(c).filter((e) => e.state === 'reconnecting' && e.delayMs !== undefined));
  assert.ok(retries.length >= 2, 'the accept rate refused nobody');
  for (const r of retries) assert.ok(r.delayMs >= 300, `retried after ${r.delayMs} ms`);
  for (const c of cs) c.close();
  await y.stop();
});

test('the heartbeat notices a dead connection and reconnects', async () => {
  const room = uniq('hb');
  const port = Number(new URL(URL1).port);
  const proxy = await new Proxy(port).listen();
  const a = await joined(makeClient({ room, user: 'ann', url: proxy.url, heartbeatMs: 300, pongTimeoutMs: 400 }));
  // a live connection: pings are answered, nothing happens
  await sleep(900);
  assert.equal(a.rec.sockets, 1);
  assert.ok(a.rec.frames('ping').length >= 1, 'no ping sent');
  proxy.freeze();
  await waitFor(() => a.state === 'reconnecting', { what: 'reconnecting after silence' });
  assert.match(a.reason, /heartbeat/);
  await waitFor(() => a.state === 'open', { what: 'open again' });
  assert.equal(a.rec.sockets, 2);
  a.close();
  await proxy.close();
});

test('a comment lost on a dying connection is sent again after the reconnect, once, with its req', async () => {
  const room = uniq('cr');
  const port = Number(new URL(URL1).port);
  const proxy = await new Proxy(port).listen();
  const a = await joined(makeClient({ room, user: 'ann', url: proxy.url, heartbeatMs: 300, pongTimeoutMs: 400 }));
  const b = await joined(makeClient({ room, user: 'bob' }));
  a.comment('seen at once');
  await waitFor(() => texts(b).includes('seen at once'), { what: 'b sees the first comment' });
  proxy.freeze('up'); // what ann sends now is lost; she still hears the room
  a.comment('lost in transit');
  await waitFor(() => a.state === 'reconnecting', { what: 'the heartbeat gives up' });
  await waitFor(() => texts(b).includes('lost in transit'), { what: 'the re-sent comment reaches b' });
  await sleep(300);
  for (const c of [a, b]) {
    assert.deepEqual(texts(c).filter((t) => t === 'lost in transit' || t === 'seen at once'),
      ['seen at once', 'lost in transit']);
  }
  const sent = a.rec.frames('comment');
  assert.deepEqual(sent.map((f) => f.text), ['seen at once', 'lost in transit', 'lost in transit']);
  assert.equal(sent[1].req, sent[2].req);
  assert.notEqual(sent[0].req, sent[1].req);
  a.close();
  b.close();
  await proxy.close();
});

test('a buy whose answer was lost (unknown) is asked again with the same req until it is decided', async () => {
  const room = uniq('unk');
  const shard = await new Shard(uniq('unk'), ['--redis-timeout-ms', '700']).start();
  const s = await joined(makeClient({ room, user: 'sam', role: 'streamer', url: shard.url }));
  const a = await joined(makeClient({ room, user: 'ann', url: shard.url }));
  await s.openSale({ sku: 'lamp', title: 'Lamp', price: 100, stock: 5, limit: 1 });
  // Redis holds every write for 2 s: the buy is sent, its answer does not come within the
  // shard's 700 ms, so the shard answers `unknown` (not `unavailable`: it may have happened)
  assert.equal(await redisCommand('CLIENT', 'PAUSE', String(Math.round(2000 * SCALE)), 'WRITE'), '+OK');
  const req = newReq();
  const answer = await a.buy('lamp', { req });
  assert.equal(answer.status, 'ok', JSON.stringify(answer));
  assert.ok(a.log.some(([t, m]) => t === 'order' && m.req === req && m.status === 'unknown'), 'no unknown answer seen');
  const sent = a.rec.frames('buy').filter((f) => f.req === req);
  assert.ok(sent.length >= 2, `the buy was sent ${sent.length} times`);
  const again = await a.buy('lamp', { req });
  assert.equal(again.order, answer.order, 'the same req is the same order');
  s.close();
  a.close();
  await shard.stop();
});

test('back-off grows exponentially with jitter, capped, and close() stops it', async () => {
  const port = await freePort(); // nothing listens there
  const c = makeClient({
    room: uniq('bo'), user: 'ann', url: `ws://127.0.0.1:${port}/live`,
    backoffBaseMs: 40, backoffMaxMs: 320, retryAfterMs: 1,
  });
  c.connect();
  await waitFor(() => states(c).filter((e) => e.delayMs !== undefined).length >= 6, { timeout: 4 * T, what: '6 retries' });
  c.close();
  const delays = states(c).filter((e) => e.delayMs !== undefined).map((e) => e.delayMs);
  delays.forEach((d, i) => {
    const cap = Math.min(320, 40 * 2 ** i);
    assert.ok(d >= Math.floor(cap / 2) && d <= cap, `retry ${i}: ${d} ms outside [${cap / 2}, ${cap}]`);
  });
  assert.ok(new Set(delays.slice(3)).size > 1 || delays.length < 5, 'no jitter');
  assert.equal(c.state, 'closed');
  const n = c.rec.sockets;
  await sleep(500);
  assert.equal(c.rec.sockets, n, 'still retrying after close()');
});

test('tokens: a bad one closes for good (4001); a token function is asked on every connect', async () => {
  const room = uniq('tok');
  const key = tmpFile(`jwt-${room}.key`, 'k'.repeat(32) + '\n');
  const z = await new Shard('tokZ', ['--jwt-key-file', key]).start();
  const bad = makeClient({ room, url: z.url, token: 'not.a.token' });
  bad.connect();
  await waitFor(() => bad.state === 'closed', { what: 'closed after a bad token' });
  assert.match(bad.reason, /4001/);
  assert.ok(bad.log.some(([t, m]) => t === 'error' && m.code === 'unauthorized'));
  await sleep(400);
  assert.equal(bad.rec.sockets, 1, 'retried with a token that cannot work');

  let asked = 0;
  const good = makeClient({ room, url: z.url, token: () => { asked++; return issueToken(key, 'tia', 'viewer', room); } });
  await joined(good);
  good.comment('signed');
  await waitFor(() => streamItems(good).length === 1, { what: 'own comment' });
  assert.equal(streamItems(good)[0].user, 'tia', 'the token did not decide the user');
  assert.equal(asked, 1);
  good.reconnect();
  await waitFor(() => asked === 2 && good.state === 'open', { what: 'asked again' });
  good.close();
  bad.close();
  await z.stop();
});

test('announce and product posts arrive among the comments, in order, and in history', async () => {
  const room = uniq('pub');
  const a = await joined(makeClient({ room, user: 'ann', url: URL2 }));
  a.comment('first');
  await waitFor(() => texts(a).includes('first'), { what: 'first' });
  await publish(room, { type: 'announce', text: 'Free shipping <b>today</b>' });
  await publish(room, { type: 'product', sku: 'mug', title: 'Blue mug', price: 1299 });
  await waitFor(() => streamItems(a).length === 3, { what: 'the posts' });
  a.comment('last');
  await waitFor(() => streamItems(a).length === 4, { what: 'last' });
  assert.deepEqual(streamItems(a).map((m) => m.type), ['comment', 'announce', 'product', 'comment']);
  assert.equal(streamItems(a)[1].text, 'Free shipping <b>today</b>');
  assert.equal(streamItems(a)[2].price, 1299);
  assertIncreasing(streamItems(a));
  const b = await joined(makeClient({ room, user: 'bob', url: URL1 }));
  await waitFor(() => streamItems(b).length === 4, { what: 'history with posts' });
  assert.deepEqual(streamItems(b).map((m) => m.type), ['comment', 'announce', 'product', 'comment']);
});

test('moderation reaches the client: deleted comments and slow mode', async () => {
  const room = uniq('mod');
  const s = await joined(makeClient({ room, user: 'sam', role: 'streamer' }));
  const a = await joined(makeClient({ room, user: 'ann', url: URL2 }));
  a.comment('spam');
  await waitFor(() => streamItems(s).length === 1, { what: 'spam on sam' });
  assert.equal(s.send({ type: 'delete', id: streamItems(s)[0].id }), true);
  await waitFor(() => a.log.some(([t, m]) => t === 'deleted' && m.id === streamItems(a)[0].id), { what: 'deleted on ann' });
  s.send({ type: 'slow_mode', secs: 5 });
  await waitFor(() => a.slowMode === 5, { what: 'slow mode on ann' });
  a.comment('one');
  a.comment('two');
  await waitFor(() => a.log.some(([t, m]) => t === 'error' && m.code === 'rate_limited'), { what: 'rate_limited' });
  s.send({ type: 'slow_mode', secs: 0 });
  assert.ok(SCALE > 0);
});

// ---------------------------------------------------------------------------------------------
// Coupons and checkout. First without a server: a scripted socket says exactly what the protocol
// says (PROTOCOL.md "Checkout" and "Coupon drops"), so each rule of the client is checked alone.

/** A fake WebSocket class and the "server" behind it: every frame sent lands in srv.sent; a hello
 * is answered with srv.welcome (plus the room); srv.say(m) sends a message to the newest socket. */
function fakeServer(welcome = {}) {
  const srv = { sockets: [], sent: [], welcome };
  class FakeWS {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      srv.sockets.push(this);
      setTimeout(() => { if (this.readyState === 0) { this.readyState = 1; this.onopen && this.onopen(); } }, 0);
    }
    send(data) {
      const m = JSON.parse(data);
      srv.sent.push(m);
      if (m.type === 'hello') {
        setTimeout(() => this.deliver({
          type: 'welcome', room: 'r', shard: 'fake:1', viewers: 1, likes: 0, last: '0-0', history: [], sales: [], ...srv.welcome,
        }), 0);
      }
      if (srv.onFrame) srv.onFrame(m, this);
    }
    close() {
      if (this.readyState === 3) return;
      this.readyState = 3;
      setTimeout(() => this.onclose && this.onclose({ code: 1000, reason: '' }), 0);
    }
    deliver(m) {
      if (this.readyState === 1 && this.onmessage) this.onmessage({ data: JSON.stringify(m) });
    }
    drop() { // the connection breaks (no close frame)
      this.readyState = 3;
      if (this.onclose) this.onclose({ code: 1006, reason: '' });
    }
  }
  srv.WebSocket = FakeWS;
  srv.say = (m) => srv.sockets.at(-1).deliver(m);
  srv.frames = (type) => srv.sent.filter((m) => m.type === type);
  return srv;
}

function fakeClient(srv, opts = {}) {
  const c = new LivecartClient({
    room: 'r', user: 'ann', url: 'ws://fake.invalid/live', WebSocket: srv.WebSocket,
    backoffBaseMs: 20, backoffMaxMs: 50, retryAfterMs: 1, ...opts,
  });
  c.log = [];
  c.on('*', (ev, type) => { if (type !== 'message') c.log.push([type, ev]); });
  return c;
}

const COUPON = { type: 'coupon', coupon: 'c5', title: '5 off', off: 500, quota: 10, left: 10, per_user: 1, ends: Date.now() + 60000 };

test('unit: couponPrice and couponApplies compute as the server does', () => {
  assert.equal(couponPrice({ off: 500 }, 1299), 799);
  assert.equal(couponPrice({ off: 5000 }, 1299), 0, 'never below 0');
  assert.equal(couponPrice({ pct: 15 }, 1299), 1104, '1299 * 85 / 100 = 1104.15, rounded down');
  assert.equal(couponPrice({ pct: 90 }, 1), 0);
  assert.equal(couponPrice(null, 1299), 1299);
  assert.ok(couponApplies({ off: 1 }, 'mug', 100));
  assert.ok(!couponApplies({ off: 1, sku: 'hat' }, 'mug', 100));
  assert.ok(couponApplies({ off: 1, sku: 'mug', min_price: 100 }, 'mug', 100));
  assert.ok(!couponApplies({ off: 1, min_price: 101 }, 'mug', 100));
});

test('unit: room coupons from the welcome, coupon, coupon_left and coupon_gone', async () => {
  const srv = fakeServer({ coupons: [{ ...COUPON, left: 7 }] });
  const c = fakeClient(srv);
  c.connect();
  await waitFor(() => c.joined, { what: 'joined' });
  assert.equal(c.coupons.get('c5').left, 7);
  assert.equal(c.coupons.get('c5').quota, 10);
  assert.equal(c.coupons.get('c5').gone, false);
  assert.equal(c.coupons.get('c5').used, 0);
  srv.say({ type: 'coupon', coupon: 'p20', title: '20%', pct: 20, quota: 3, left: 3, per_user: 2, ends: Date.now() + 5000, sku: 'mug', min_price: 1000 });
  const p = c.coupons.get('p20');
  assert.deepEqual([p.pct, p.off, p.per_user, p.sku, p.min_price, p.gone], [20, undefined, 2, 'mug', 1000, false]);
  srv.say({ type: 'coupon_left', coupon: 'c5', left: 4, used: 2 });
  assert.equal(c.coupons.get('c5').left, 4);
  assert.equal(c.coupons.get('c5').used, 2);
  srv.say({ type: 'coupon_left', coupon: 'nope', left: 1, used: 0 }); // unknown: ignored
  assert.ok(!c.coupons.has('nope'));
  srv.say({ type: 'coupon_gone', coupon: 'p20' });
  assert.equal(c.coupons.get('p20').gone, true);
  const evs = c.log.filter(([t]) => t === 'coupons').map(([, e]) => e.coupon);
  assert.deepEqual(evs, ['c5', 'p20', 'c5', 'p20']);
  assert.ok(c.log.some(([t]) => t === 'coupon_gone'), 'the raw message is emitted too');
  // a reconnect whose welcome no longer lists c5: it is over
  srv.welcome = { coupons: [] };
  srv.sockets.at(-1).drop();
  await waitFor(() => c.joined && srv.frames('hello').length === 2, { what: 'welcomed again' });
  assert.equal(c.coupons.get('c5').gone, true);
  c.close();
});

test('unit: a claim carries a req, is re-sent with the same req on unknown and unavailable, then counts', async () => {
  const srv = fakeServer({ coupons: [COUPON] });
  const c = fakeClient(srv);
  c.connect();
  await waitFor(() => c.joined, { what: 'joined' });
  const answers = ['unknown', 'unavailable', 'ok'];
  srv.onFrame = (m, ws) => {
    if (m.type === 'coupon_claim') {
      const status = answers.shift();
      setTimeout(() => ws.deliver({ type: 'claim', req: m.req, coupon: m.coupon, status, ...(status === 'ok' ? { left: 9 } : {}) }), 5);
    }
    if (m.type === 'coupons') {
      setTimeout(() => ws.deliver({ type: 'my_coupons', coupons: [{ type: 'coupon', coupon: 'c5', title: '5 off', off: 500, ends: COUPON.ends, claimed: 1, used: 0 }] }), 5);
    }
  };
  const answer = await c.claimCoupon('c5');
  assert.equal(answer.status, 'ok');
  const sent = srv.frames('coupon_claim');
  assert.equal(sent.length, 3, 'unknown and unavailable are asked again');
  assert.equal(new Set(sent.map((f) => f.req)).size, 1, 'always the same req');
  assert.deepEqual(Object.keys(sent[0]).sort(), ['coupon', 'req', 'type']);
  assert.equal(c.coupons.get('c5').left, 9, 'the answer says what is left');
  assert.equal(c.myCoupons.get('c5').claimed, 1, 'counted at once');
  await waitFor(() => srv.frames('coupons').length === 1, { what: 'the client asks for its coupons' });
  await waitFor(() => c.log.some(([t]) => t === 'my_coupons'), { what: 'my_coupons' });
  assert.equal(c.myCoupons.get('c5').claimed, 1);
  assert.ok(c.log.some(([t]) => t === 'wallet'));
  // a fresh tap is a fresh req
  answers.push('limit');
  assert.equal((await c.claimCoupon('c5')).status, 'limit');
  assert.notEqual(srv.frames('coupon_claim').at(-1).req, sent[0].req);
  c.close();
});

test('unit: a claim waiting when the connection drops is sent again after the welcome, same req', async () => {
  const srv = fakeServer({ coupons: [COUPON] });
  const c = fakeClient(srv);
  c.connect();
  await waitFor(() => c.joined, { what: 'joined' });
  let first = true;
  srv.onFrame = (m, ws) => {
    if (m.type !== 'coupon_claim') return;
    if (first) { first = false; setTimeout(() => ws.drop(), 0); return; } // the answer is lost
    setTimeout(() => ws.deliver({ type: 'claim', req: m.req, coupon: m.coupon, status: 'ok', left: 9 }), 0);
  };
  const answer = await c.claimCoupon('c5');
  assert.equal(answer.status, 'ok');
  const sent = srv.frames('coupon_claim');
  assert.equal(sent.length, 2);
  assert.equal(sent[0].req, sent[1].req);
  assert.equal(srv.sockets.length, 2);
  // a duplicate answer (both sends were answered) counts nothing twice
  srv.say({ type: 'claim', req: sent[0].req, coupon: 'c5', status: 'ok', left: 9 });
  assert.equal(c.myCoupons.get('c5').claimed, 1);
  c.close();
});

test('unit: fetchMyCoupons sends one coupons frame at a time and asks again for late callers', async () => {
  const srv = fakeServer();
  const c = fakeClient(srv);
  const early = c.fetchMyCoupons(); // offline: sent after the welcome
  c.connect();
  await waitFor(() => srv.frames('coupons').length === 1, { what: 'coupons sent after the welcome' });
  const again = c.fetchMyCoupons(); // while the first is on its way
  assert.equal(srv.frames('coupons').length, 1);
  srv.say({ type: 'my_coupons', coupons: [] });
  assert.deepEqual((await early).coupons, []);
  await waitFor(() => srv.frames('coupons').length === 2, { what: 'asked again for the late caller' });
  srv.say({ type: 'my_coupons', coupons: [{ type: 'coupon', coupon: 'x', title: 'X', pct: 10, ends: Date.now() + 1000, claimed: 2, used: 1 }] });
  assert.equal((await again).coupons.length, 1);
  assert.equal(c.myCoupons.get('x').claimed, 2);
  // an `unavailable` error while one is out: asked again (it only reads)
  const third = c.fetchMyCoupons();
  srv.say({ type: 'error', code: 'unavailable', message: 'redis down' });
  await waitFor(() => srv.frames('coupons').length === 4, { what: 'asked again after unavailable' });
  srv.say({ type: 'my_coupons', coupons: [] });
  await third;
  assert.equal(c.myCoupons.size, 0);
  const pending = c.fetchMyCoupons();
  c.close();
  await assert.rejects(pending, (e) => e.code === 'closed');
});

test('unit: usableCoupons: held, unused, for this sku and price, best first', async () => {
  const srv = fakeServer();
  const c = fakeClient(srv);
  c.connect();
  await waitFor(() => c.joined, { what: 'joined' });
  const ends = Date.now() + 60000;
  srv.say({ type: 'my_coupons', coupons: [
    { type: 'coupon', coupon: 'a', title: 'A', off: 100, ends, claimed: 1, used: 0 },
    { type: 'coupon', coupon: 'b', title: 'B', pct: 50, ends, claimed: 1, used: 0 },
    { type: 'coupon', coupon: 'used', title: 'U', off: 900, ends, claimed: 1, used: 1 },
    { type: 'coupon', coupon: 'hat', title: 'H', off: 900, ends, claimed: 1, used: 0, sku: 'hat' },
    { type: 'coupon', coupon: 'rich', title: 'R', off: 900, ends, claimed: 1, used: 0, min_price: 5000 },
    { type: 'coupon', coupon: 'old', title: 'O', off: 900, ends: Date.now() - 25 * 3600 * 1000, claimed: 1, used: 0 },
  ] });
  assert.deepEqual(c.usableCoupons('mug', 1000).map((x) => x.coupon), ['b', 'a']);
  assert.deepEqual(c.usableCoupons('mug', 150).map((x) => x.coupon), ['a', 'b'], '150-100=50 < 150/2=75');
  assert.deepEqual(c.usableCoupons('hat', 1000).map((x) => x.coupon), ['hat', 'b', 'a']);
  assert.deepEqual(c.usableCoupons('mug', 5000).map((x) => x.coupon), ['b', 'rich', 'a'], '2500 < 4100 < 4900');
  c.close();
});

test('unit: a buy with a coupon is reserved, counted, then paid; final states stay final', async () => {
  const srv = fakeServer({ sales: [{ type: 'sale', sku: 'mug', title: 'Mug', price: 1299, stock: 5, total: 5, limit: 2, pay_s: 300 }] });
  const c = fakeClient(srv);
  const moves = []; // (the info objects are live: keep what each event said)
  c.on('orders', (e) => moves.push(`${e.order}:${e.info.state}`));
  c.connect();
  await waitFor(() => c.joined, { what: 'joined' });
  assert.equal(c.sales.get('mug').payS, 300);
  srv.say({ type: 'my_coupons', coupons: [{ type: 'coupon', coupon: 'c5', title: '5 off', off: 500, ends: Date.now() + 60000, claimed: 1, used: 0 }] });
  const payBy = Date.now() + 300000;
  srv.onFrame = (m, ws) => {
    if (m.type === 'coupons') setTimeout(() => ws.deliver({ type: 'my_coupons', coupons: [...c.myCoupons.values()] }), 0);
    if (m.type === 'buy') {
      setTimeout(() => ws.deliver({
        type: 'order', req: m.req, sku: m.sku, status: 'reserved', order: m.req === 'r2' ? '2-0' : '1-0', qty: 1, left: 4,
        pay_by: payBy, price: m.coupon ? 799 : 1299, ...(m.coupon ? { coupon: m.coupon } : {}),
      }), 0);
    }
  };
  const o = await c.buy('mug', { coupon: 'c5', req: 'r1' });
  assert.equal(o.status, 'reserved');
  assert.equal(srv.frames('buy')[0].coupon, 'c5');
  const info = c.orders.get('1-0');
  assert.deepEqual([info.state, info.price, info.listPrice, info.coupon, info.payBy, info.title], ['reserved', 799, 1299, 'c5', payBy, 'Mug']);
  assert.equal(c.myCoupons.get('c5').used, 1, 'the coupon is used at once');
  assert.deepEqual(c.usableCoupons('mug', 1299), []);
  await waitFor(() => srv.frames('coupons').length >= 1, { what: 'the wallet asked again' });
  assert.ok(Math.abs(c.msUntil(payBy) - 300000) < 2000, 'the countdown starts near pay_s');
  srv.say({ type: 'paid', order: '1-0', sku: 'mug', qty: 1 });
  assert.equal(c.orders.get('1-0').state, 'paid');
  // the same req again answers `reserved` (its first answer): the order stays paid
  await c.buy('mug', { coupon: 'c5', req: 'r1' });
  assert.equal(c.orders.get('1-0').state, 'paid');
  srv.say({ type: 'expired', order: '1-0', sku: 'mug', qty: 1 }); // cannot follow paid
  assert.equal(c.orders.get('1-0').state, 'paid');
  // a second reservation expires: the coupon-less one; an unknown order's event is recorded
  await c.buy('mug', { req: 'r2' });
  assert.equal(srv.frames('buy').at(-1).coupon, undefined, 'no coupon key without a coupon');
  srv.say({ type: 'expired', order: '2-0', sku: 'mug', qty: 1 });
  assert.equal(c.orders.get('2-0').state, 'expired');
  srv.say({ type: 'paid', order: '2-0', sku: 'mug', qty: 1 });
  assert.equal(c.orders.get('2-0').state, 'expired', 'expired is final');
  srv.say({ type: 'paid', order: '9-0', sku: 'mug', qty: 3 });
  assert.deepEqual([c.orders.get('9-0').state, c.orders.get('9-0').qty], ['paid', 3]);
  assert.deepEqual(moves, ['1-0:reserved', '1-0:paid', '2-0:reserved', '2-0:expired', '9-0:paid']);
  // a cancel answered ok: cancelled (and the wallet is asked, a coupon may be back)
  srv.onFrame = (m, ws) => {
    if (m.type === 'coupons') setTimeout(() => ws.deliver({ type: 'my_coupons', coupons: [] }), 0);
    if (m.type === 'cancel') setTimeout(() => ws.deliver({ type: 'cancelled', order: m.order, status: 'ok', sku: 'mug', qty: 1, left: 5 }), 0);
  };
  const before = srv.frames('coupons').length;
  assert.equal((await c.cancel('1-0')).status, 'ok');
  assert.equal(c.orders.get('1-0').state, 'cancelled');
  await waitFor(() => srv.frames('coupons').length > before, { what: 'the wallet asked after the cancel' });
  // the page learnt of a payment over HTTP
  c.applyOrderState('3-0', 'paid');
  assert.equal(c.orders.get('3-0').state, 'paid');
  c.close();
});

test('unit: openSale sends pay_s; dropCoupon resolves on the room\'s coupon and rejects on bad_request', async () => {
  const srv = fakeServer();
  const c = fakeClient(srv, { user: 'sam', role: 'streamer' });
  c.connect();
  await waitFor(() => c.joined, { what: 'joined' });
  srv.onFrame = (m, ws) => {
    if (m.type === 'sale_open') setTimeout(() => ws.deliver({ type: 'sale', sku: m.sku, title: m.title, price: m.price, stock: m.stock, limit: 1, pay_s: m.pay_s }), 0);
    if (m.type === 'coupon_drop') {
      if (m.coupon === 'dup') setTimeout(() => ws.deliver({ type: 'error', code: 'bad_request', message: 'coupon in use' }), 0);
      else setTimeout(() => ws.deliver({ ...m, type: 'coupon', left: m.quota, per_user: m.per_user ?? 1, ends: Date.now() + m.secs * 1000 }), 0);
    }
  };
  const sale = await c.openSale({ sku: 'mug', title: 'Mug', price: 100, stock: 2, pay_s: 60 });
  assert.equal(srv.frames('sale_open')[0].pay_s, 60);
  assert.equal(sale.pay_s, 60);
  assert.equal(c.sales.get('mug').payS, 60);
  await c.openSale({ sku: 'hat', title: 'Hat', price: 100, stock: 2 });
  assert.equal('pay_s' in srv.frames('sale_open')[1], false);
  assert.equal(c.sales.get('hat').payS, null);
  const dropped = await c.dropCoupon({ coupon: 'c1', title: 'One', pct: 10, quota: 5, secs: 30, sku: 'mug' });
  assert.equal(dropped.coupon, 'c1');
  assert.deepEqual(srv.frames('coupon_drop')[0], { type: 'coupon_drop', coupon: 'c1', title: 'One', quota: 5, secs: 30, pct: 10, sku: 'mug' });
  assert.equal(c.coupons.get('c1').left, 5);
  await assert.rejects(c.dropCoupon({ coupon: 'dup', title: 'D', off: 1, quota: 1, secs: 5 }), (e) => e.code === 'bad_request');
  c.close();
});

test('unit: serverNow follows Redis\'s clock from live items, not from history', async () => {
  const srv = fakeServer({ history: [{ type: 'comment', id: '1-0', user: 'x', text: 'old', ts: 1 }] });
  const c = fakeClient(srv);
  c.connect();
  await waitFor(() => c.joined, { what: 'joined' });
  assert.equal(c.clockOffsetMs, 0, 'history says nothing about the clock');
  const ahead = 120000;
  srv.say({ type: 'comment', id: `${Date.now() + ahead}-0`, user: 'x', text: 'now', ts: Date.now() + ahead });
  assert.ok(Math.abs(c.clockOffsetMs - ahead) < 1000, `offset ${c.clockOffsetMs}`);
  assert.ok(Math.abs(c.msUntil(Date.now() + ahead + 5000) - 5000) < 1000);
  c.close();
});

// ---- the same against real shards: both shards, the demo payment endpoint of open mode ----

async function demoPay(url, room, order) {
  const base = url.replace(/^ws/, 'http').replace(/\/live$/, '');
  const r = await fetch(`${base}/demo/rooms/${room}/orders/${order}/pay`, { method: 'POST' });
  let body = null;
  try { body = await r.json(); } catch (_) { /* no JSON */ }
  return { status: r.status, body };
}

test('coupons and checkout on real shards: drop, claim, redeem in a reservation, pay, expire, give back', async () => {
  const room = uniq('chk');
  const s = await joined(makeClient({ room, user: 'sam', role: 'streamer', url: URL1 }));
  const a = await joined(makeClient({ room, user: 'ann', url: URL2 }));
  const b = await joined(makeClient({ room, user: 'bob', url: URL1 }));
  const cy = await joined(makeClient({ room, user: 'cy', url: URL2 }));
  await assert.rejects(a.dropCoupon({ coupon: 'x', title: 'x', off: 1, quota: 1, secs: 5 }), (e) => e.code === 'forbidden');
  const dropped = await s.dropCoupon({ coupon: 'off3', title: '3.00 off', off: 300, quota: 2, secs: 60 });
  assert.equal(dropped.type, 'coupon');
  assert.equal(dropped.left, 2);
  assert.equal(dropped.per_user, 1);
  assert.ok(dropped.ends > Date.now() + 50000 && dropped.ends < Date.now() + 70000, `ends ${dropped.ends}`);
  await assert.rejects(s.dropCoupon({ coupon: 'off3', title: 'again', off: 1, quota: 1, secs: 5 }), (e) => e.code === 'bad_request');
  await waitFor(() => a.coupons.get('off3') && b.coupons.get('off3'), { what: 'the coupon on both shards' });

  // claims: ok, then limit (per_user 1); the quota of 2 runs out at the second user
  const ca = await a.claimCoupon('off3');
  assert.equal(ca.status, 'ok', JSON.stringify(ca));
  assert.equal((await a.claimCoupon('off3')).status, 'limit');
  const fixed = newReq();
  const cb = await b.claimCoupon('off3', { req: fixed });
  assert.equal(cb.status, 'ok');
  assert.equal((await b.claimCoupon('off3', { req: fixed })).status, 'ok', 'the same req, the same answer');
  assert.equal((await cy.claimCoupon('off3')).status, 'gone');
  for (const c of [s, a, b, cy]) {
    await waitFor(() => c.coupons.get('off3').left === 0 && c.coupons.get('off3').gone, { what: `${c.user}: coupon gone` });
  }
  for (const c of [s, a, cy]) {
    await waitFor(() => c.log.filter(([t, m]) => t === 'coupon_gone' && m.coupon === 'off3').length === 1, { what: `${c.user}: one coupon_gone` });
  }
  const wa = await a.fetchMyCoupons();
  assert.equal(wa.coupons.length, 1);
  assert.deepEqual([wa.coupons[0].coupon, wa.coupons[0].claimed, wa.coupons[0].used, wa.coupons[0].off], ['off3', 1, 0, 300]);
  assert.deepEqual((await cy.fetchMyCoupons()).coupons, []);

  // a checkout sale: reserved with the coupon's price, pay_by about pay_s away
  const sale = await s.openSale({ sku: 'lamp', title: 'Lamp', price: 1299, stock: 3, limit: 1, pay_s: 30 });
  assert.equal(sale.pay_s, 30);
  await waitFor(() => a.sales.get('lamp') && b.sales.get('lamp'), { what: 'the sale' });
  assert.equal(a.sales.get('lamp').payS, 30);
  assert.equal((await cy.buy('lamp', { coupon: 'off3' })).status, 'coupon_invalid', 'cy holds none');
  const ob = await b.buy('lamp', { coupon: 'off3' }); // bob's will expire
  assert.equal(ob.status, 'reserved', JSON.stringify(ob));
  const oa = await a.buy('lamp', { coupon: 'off3' });
  assert.equal(oa.status, 'reserved', JSON.stringify(oa));
  assert.equal(oa.price, 999);
  assert.equal(oa.coupon, 'off3');
  assert.equal(oa.qty, 1);
  assert.ok(oa.pay_by > Date.now() + 25000 && oa.pay_by < Date.now() + 35000, `pay_by ${oa.pay_by}`);
  assert.equal(a.orders.get(oa.order).state, 'reserved');
  assert.equal((await a.buy('lamp', { coupon: 'off3' })).status, 'limit', 'limit before coupon');
  await waitFor(() => s.sales.get('lamp').left === 1, { what: 'stock 1 for the streamer' });
  await waitFor(() => s.coupons.get('off3').used === 2, { what: 'coupon_left.used 2 for the streamer' });
  await waitFor(() => a.myCoupons.get('off3') && a.myCoupons.get('off3').used === 1, { what: 'ann: used 1' });

  // pay (the demo shop of open mode), on the other shard than ann's: she hears `paid`
  const paid = await demoPay(URL1, room, oa.order);
  assert.equal(paid.status, 200, JSON.stringify(paid));
  assert.deepEqual(paid.body, { order: oa.order, status: 'paid' });
  await waitFor(() => a.log.some(([t, m]) => t === 'paid' && m.order === oa.order), { what: 'paid on ann' });
  assert.equal(a.orders.get(oa.order).state, 'paid');
  assert.equal((await demoPay(URL2, room, oa.order)).status, 200, 'paying again is idempotent');
  assert.equal((await demoPay(URL1, room, '1-0')).status, 404, 'no such order');
  // the same req again: its first answer (reserved) although the order is paid now
  const again = await a.buy('lamp', { req: a.rec.frames('buy').find((f) => f.coupon === 'off3').req });
  assert.equal(again.order, oa.order);
  assert.equal(a.orders.get(oa.order).state, 'paid');

  // bob does not pay: expired within about a tick and a second after pay_by; stock and coupon back
  await waitFor(() => b.log.some(([t, m]) => t === 'expired' && m.order === ob.order), { timeout: 40000 * SCALE, interval: 100, what: 'expired on bob' });
  const late = Date.now() - ob.pay_by;
  assert.ok(late < 3000 * SCALE, `expired ${late} ms after pay_by`);
  assert.equal(b.orders.get(ob.order).state, 'expired');
  await waitFor(() => s.sales.get('lamp').left === 2, { what: 'stock back to 2' });
  await waitFor(() => b.myCoupons.get('off3') && b.myCoupons.get('off3').used === 0, { what: 'bob has his coupon back' });
  await waitFor(() => s.coupons.get('off3').used === 1, { what: 'used back to 1 for the streamer' });
  const tooLate = await demoPay(URL2, room, ob.order);
  assert.equal(tooLate.status, 409);
  assert.equal(tooLate.body.status, 'expired');
  // and a cancelled reservation gives it back too
  const ob2 = await b.buy('lamp', { coupon: 'off3' });
  assert.equal(ob2.status, 'reserved');
  assert.equal((await b.cancel(ob2.order)).status, 'ok');
  assert.equal(b.orders.get(ob2.order).state, 'cancelled');
  await waitFor(() => b.myCoupons.get('off3').used === 0 && b.myCoupons.get('off3').claimed === 1, { what: 'bob: coupon back after the cancel' });
});

// ---------------------------------------------------------------------------------------------
// Lucky bags, leaderboards, "people are buying" (PROTOCOL.md "Lucky bag" and "Leaderboards").

/** The draw, written again from PROTOCOL.md with node:crypto (not livecart.js's code). */
function referenceDraw(seedHex, entrants, K) {
  const seed = Buffer.from(seedHex, 'hex');
  const list = [...entrants].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  const n = list.length;
  const k = Math.min(K, n);
  for (let i = 0; i < k; i++) {
    const h = createHash('sha256').update(Buffer.concat([seed, Buffer.from(String(i), 'ascii')])).digest().readBigUInt64BE(0);
    const j = i + Number(h % BigInt(n - i));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list.slice(0, k);
}

test('unit: drawWinners and verifyCommit follow the PROTOCOL rule (checked against node:crypto)', async () => {
  // a fixed vector, spelled out: seed 00 01 .. 1f, five entrants, K = 3
  const seed = Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('hex');
  const five = ['ann', 'bob', 'cy', 'dee', 'eve'];
  const h0 = createHash('sha256').update(Buffer.concat([Buffer.from(seed, 'hex'), Buffer.from('0')])).digest().readBigUInt64BE(0);
  const want = referenceDraw(seed, five, 3);
  assert.equal(want[0], five[Number(h0 % 5n)], 'the reference draw itself: place 0 is entrant h0 mod 5');
  assert.deepEqual(await drawWinners(seed, five, 3), want);
  assert.equal(want.length, 3);
  assert.equal(new Set(want).size, 3);
  // many seeds, sizes and Ks, ids that sort differently bytewise than as JS strings
  const ids = ['B', 'a', 'z', 'é', '\uffff', '😀', 'user-10', 'user-9', 'Zoë', '中文', 'a b', 'x'.repeat(64)];
  for (let round = 0; round < 40; round++) {
    const s = randomBytes(32).toString('hex');
    const n = [0, 1, 2, 3, 7, ids.length][round % 6];
    const entrants = sortEntrants(ids.slice(0, n));
    for (const K of [1, 2, 5, n, n + 3, 1000]) {
      if (K < 1) continue;
      assert.deepEqual(await drawWinners(s, entrants, K), referenceDraw(s, entrants, K), `seed ${s} n ${n} K ${K}`);
    }
  }
  // 300 entrants, K = 100: the BigInt modulo over a large n
  const many = sortEntrants(Array.from({ length: 300 }, (_, i) => `u${i}`));
  const s300 = randomBytes(32).toString('hex');
  assert.deepEqual(await drawWinners(s300, many, 100), referenceDraw(s300, many, 100));
  // the first k places do not depend on K beyond them
  assert.deepEqual((await drawWinners(s300, many, 100)).slice(0, 10), await drawWinners(s300, many, 10));
  // bytewise order: 'B' < 'a', 'z' < 'é' (c3 a9), '\uffff' (ef bf bf) < '😀' (f0 ..) though JS sorts them the other way
  assert.deepEqual(sortEntrants(['a', 'é', '😀', 'B', '\uffff', 'z']), ['B', 'a', 'z', 'é', '\uffff', '😀']);
  assert.equal(compareUserIds('ab', 'abc'), -1);
  assert.equal(compareUserIds('abc', 'abc'), 0);
  await assert.rejects(drawWinners('abcd', five, 1), RangeError, 'a seed is 32 bytes');
  await assert.rejects(drawWinners('zz'.repeat(32), five, 1), RangeError);
  assert.deepEqual(await drawWinners(seed, [], 3), []);
  // the commit: lowercase hex of SHA-256 over the 32 raw bytes
  const commit = createHash('sha256').update(Buffer.from(seed, 'hex')).digest('hex');
  assert.equal(await verifyCommit(seed, commit), true);
  assert.equal(await verifyCommit(seed.toUpperCase(), commit.toUpperCase()), true);
  assert.equal(await verifyCommit(seed, commit.replace(/^./, (c) => (c === '0' ? '1' : '0'))), false);
  assert.equal(await verifyCommit(seed, createHash('sha256').update(seed).digest('hex')), false, 'the hash of the hex text is not it');
  assert.equal(await verifyCommit('nothex', commit), false);
  assert.equal(await verifyCommit(seed, 'short'), false);
  // verifyDraw: the whole check, as the verify page runs it
  const ok = await verifyDraw({ seed, commit, k: 3, entrants: ['eve', 'ann', 'dee', 'cy', 'bob'], winners: want });
  assert.deepEqual([ok.ok, ok.commitOk, ok.winnersOk, ok.sorted, ok.computed], [true, true, true, false, want]);
  const swapped = await verifyDraw({ seed, commit, k: 3, entrants: five, winners: [want[1], want[0], want[2]] });
  assert.deepEqual([swapped.ok, swapped.winnersOk, swapped.sorted], [false, false, true]);
  const noK = await verifyDraw({ seed, commit, entrants: five, winners: want });
  assert.equal(noK.ok, true, 'K defaults to the number of winners');
  const dup = await verifyDraw({ seed, commit, k: 3, entrants: [...five, 'ann'], winners: want });
  assert.deepEqual([dup.ok, dup.duplicates], [false, ['ann']]);
  const badCommit = await verifyDraw({ seed, commit: 'ab'.repeat(32), k: 3, entrants: five, winners: want });
  assert.deepEqual([badCommit.ok, badCommit.commitOk, badCommit.winnersOk], [false, false, true]);
});

test('unit: SHA-256 in plain JavaScript (where WebCrypto is missing) matches node:crypto', async () => {
  for (let n = 0; n <= 300; n += n < 130 ? 1 : 37) {
    const b = randomBytes(n);
    assert.equal(bytesToHex(sha256Sync(b)), createHash('sha256').update(b).digest('hex'), `${n} bytes`);
  }
  assert.equal(bytesToHex(sha256Sync('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.deepEqual(hexToBytes('00ff10'), new Uint8Array([0, 255, 16]));
  assert.throws(() => hexToBytes('abc'), RangeError);
  // drawWinners without crypto.subtle (a page on plain http off localhost): the same draw
  const desc = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
  const seed = randomBytes(32).toString('hex');
  const list = sortEntrants(['p', 'q', 'r', 's', 't', 'u']);
  Object.defineProperty(globalThis, 'crypto', { value: {}, configurable: true, writable: true });
  try {
    assert.equal(globalThis.crypto.subtle, undefined);
    assert.deepEqual(await drawWinners(seed, list, 4), referenceDraw(seed, list, 4));
    assert.equal(await verifyCommit(seed, createHash('sha256').update(Buffer.from(seed, 'hex')).digest('hex')), true);
  } finally {
    Object.defineProperty(globalThis, 'crypto', desc);
  }
  assert.equal(typeof globalThis.crypto.subtle, 'object');
});

const BAG = { type: 'lottery', lottery: 'bag1', prize: 'A mug', winners: 2, ends: Date.now() + 60000, keyword: 'Lucky', commit: 'ab'.repeat(32), entries: 4 };

test('unit: lucky bag state from welcome.lotteries, lottery, entered, lottery_result and won', async (t) => {
  const srv = fakeServer({ lotteries: [BAG] });
  const c = fakeClient(srv);
  t.after(() => c.close());
  const moves = []; // (the info objects are live: keep what each event said)
  c.on('lotteries', (e) => moves.push([e.lottery, e.info.state, e.info.entered && 'entered', e.info.won && 'won'].filter(Boolean).join(':')));
  c.connect();
  await waitFor(() => c.joined, { what: 'joined' });
  const l = c.lotteries.get('bag1');
  assert.deepEqual([l.prize, l.winners, l.keyword, l.commit, l.entries, l.state, l.entered, l.won, l.result],
    ['A mug', 2, 'Lucky', BAG.commit, 4, 'open', false, false, null]);
  assert.equal(c.lottery, l);
  assert.equal(l.seen, null, 'a welcome does not show the open: keyword comments are not counted');
  srv.say({ type: 'entered', lottery: 'bag1' });
  assert.equal(l.entered, true);
  assert.ok(c.entered.has('bag1'));
  srv.say({ type: 'entered', lottery: 'bag1' }); // a repeat: no event
  srv.say({ type: 'lottery_result', lottery: 'bag1', winners: ['bob', 'ann'], entries: 5, seed: 'cd'.repeat(32) });
  assert.deepEqual([l.state, l.result.winners, l.result.entries, l.result.seed, l.entries, l.won], ['drawn', ['bob', 'ann'], 5, 'cd'.repeat(32), 5, true]);
  srv.say({ type: 'won', lottery: 'bag1', prize: 'A mug' });
  srv.say({ type: 'lottery_result', lottery: 'bag1', winners: ['zed'], entries: 9, seed: 'ee'.repeat(32) }); // once
  assert.deepEqual(l.result.winners, ['bob', 'ann']);
  assert.deepEqual(moves, ['bag1:open', 'bag1:open:entered', 'bag1:drawn:entered:won'], 'entered once, drawn once, won adds nothing new');
  for (const x of ['entered', 'lottery_result', 'won']) assert.ok(c.log.some(([y]) => y === x), `raw ${x} emitted`);
  // a won for another user's page (tokens: the page may not know its user): won marks it
  const srv2 = fakeServer({ lotteries: [{ ...BAG, lottery: 'bag2' }] });
  const c2 = fakeClient(srv2, { user: undefined, token: 'jwt' });
  t.after(() => c2.close());
  c2.connect();
  await waitFor(() => c2.joined, { what: 'joined' });
  srv2.say({ type: 'lottery_result', lottery: 'bag2', winners: ['ann'], entries: 1, seed: 'cd'.repeat(32) });
  assert.equal(c2.lotteries.get('bag2').won, false, 'no user known: not a win by name');
  srv2.say({ type: 'won', lottery: 'bag2', prize: 'A mug' });
  assert.equal(c2.lotteries.get('bag2').won, true);
  c2.close();
  // a newer lottery opens (live): it is `lottery` now; seen opening, so keyword comments count
  srv.say({ type: 'lottery', lottery: 'bag3', prize: 'Tea', winners: 1, ends: Date.now() + 30000, commit: 'ef'.repeat(32), keyword: 'tea' });
  const l3 = c.lottery;
  assert.equal(l3.lottery, 'bag3');
  assert.ok(c.log.some(([y, m]) => y === 'lottery' && m.lottery === 'bag3'), 'raw lottery emitted');
  assert.deepEqual([l3.entries, l3.keyword, l3.entriesAt], [0, 'tea', undefined]);
  srv.say({ type: 'comment', id: `${Date.now()}-0`, user: 'ann', text: 'TEA please', ts: Date.now() });
  srv.say({ type: 'comment', id: `${Date.now()}-1`, user: 'bob', text: 'no', ts: Date.now() });
  srv.say({ type: 'comment', id: `${Date.now()}-2`, user: 'ann', text: 'tea again', ts: Date.now() });
  srv.say({ type: 'comment', id: `${Date.now()}-3`, user: 'cy', text: 'green tEa', ts: Date.now() });
  assert.equal(l3.entries, 2, 'ann and cy: each author once');
  assert.deepEqual([...l3.seen], ['ann', 'cy']);
  // a reconnect whose welcome no longer lists bag3: drawn while away (no result seen)
  srv.welcome = { lotteries: [] };
  srv.sockets.at(-1).drop();
  await waitFor(() => c.joined && srv.frames('hello').length === 2, { what: 'welcomed again' });
  assert.equal(l3.state, 'ended');
  assert.equal(l.state, 'drawn', 'a drawn one stays drawn');
  c.close();
});

test('unit: keyword matching folds ASCII letters only', () => {
  assert.ok(containsKeyword('I want the LUCKY bag', 'lucky'));
  assert.ok(containsKeyword('福袋!', '福袋'));
  assert.ok(!containsKeyword('ÉTÉ', 'été'), 'non-ASCII letters are compared as they are');
  assert.ok(!containsKeyword('luck', 'lucky'));
  assert.ok(!containsKeyword('anything', null));
});

test('unit: enterLottery re-sends the same lottery_enter on unknown and unavailable, then is entered', async (t) => {
  const srv = fakeServer({ lotteries: [{ ...BAG, keyword: undefined }] });
  const c = fakeClient(srv);
  t.after(() => c.close());
  c.connect();
  await waitFor(() => c.joined, { what: 'joined' });
  assert.equal(c.lotteries.get('bag1').keyword, null);
  const answers = ['unknown', 'unavailable', 'ok'];
  srv.onFrame = (m, ws) => {
    if (m.type === 'lottery_enter') {
      const status = answers.shift() || 'already';
      setTimeout(() => {
        ws.deliver({ type: 'enter', lottery: m.lottery, status });
        if (status === 'ok') ws.deliver({ type: 'entered', lottery: m.lottery });
      }, 5);
    }
  };
  const same = [c.enterLottery('bag1'), c.enterLottery('bag1')];
  const [a1, a2] = await Promise.all(same);
  assert.equal(a1.status, 'ok');
  assert.equal(a2, a1, 'one request while one is waiting');
  const sent = srv.frames('lottery_enter');
  assert.equal(sent.length, 3, 'unknown and unavailable are asked again');
  assert.deepEqual(sent[0], { type: 'lottery_enter', lottery: 'bag1' });
  assert.equal(c.lotteries.get('bag1').entered, true);
  assert.equal((await c.enterLottery('bag1')).status, 'already');
  // an enter waiting when the connection drops goes out again after the welcome
  let drop = true;
  srv.onFrame = (m, ws) => {
    if (m.type !== 'lottery_enter') return;
    if (drop) { drop = false; setTimeout(() => ws.drop(), 0); return; }
    setTimeout(() => ws.deliver({ type: 'enter', lottery: m.lottery, status: 'keyword' }), 0);
  };
  assert.equal((await c.enterLottery('bag9')).status, 'keyword');
  assert.equal(srv.frames('lottery_enter').filter((f) => f.lottery === 'bag9').length, 2);
  // an answer that names no lottery (its id was not one) answers the one enter waiting
  srv.onFrame = (m, ws) => {
    if (m.type === 'lottery_enter') setTimeout(() => ws.deliver({ type: 'enter', lottery: '', status: 'closed' }), 0);
  };
  assert.equal((await c.enterLottery('no such!')).status, 'closed');
  c.close();
});

test('unit: openLottery sends lottery_open, resolves on the room\'s lottery and rejects on bad_request', async (t) => {
  const srv = fakeServer();
  const c = fakeClient(srv, { user: 'sam', role: 'streamer' });
  t.after(() => c.close());
  c.connect();
  await waitFor(() => c.joined, { what: 'joined' });
  const ahead = 90000; // Redis's clock runs ahead of ours: the open's ends - secs tells
  srv.onFrame = (m, ws) => {
    if (m.type !== 'lottery_open') return;
    if (m.lottery === 'dup') setTimeout(() => ws.deliver({ type: 'error', code: 'bad_request', message: 'a lottery is open' }), 0);
    else {
      const out = { type: 'lottery', lottery: m.lottery, prize: m.prize, winners: m.winners, ends: Date.now() + ahead + m.secs * 1000, commit: '12'.repeat(32) };
      if (m.keyword) out.keyword = m.keyword;
      setTimeout(() => ws.deliver(out), 0);
    }
  };
  const m = await c.openLottery({ lottery: 'b1', prize: 'Mug', winners: 3, secs: 30, keyword: 'mug' });
  assert.equal(m.commit, '12'.repeat(32));
  assert.deepEqual(srv.frames('lottery_open')[0], { type: 'lottery_open', lottery: 'b1', prize: 'Mug', winners: 3, secs: 30, keyword: 'mug' });
  assert.ok(Math.abs(c.clockOffsetMs - ahead) < 1000, `offset ${c.clockOffsetMs}`);
  assert.ok(Math.abs(c.msUntil(m.ends) - 30000) < 1000);
  await c.openLottery({ lottery: 'b2', prize: 'Hat', winners: 1, secs: 10 });
  assert.equal('keyword' in srv.frames('lottery_open')[1], false);
  assert.equal(c.lotteries.get('b2').keyword, null);
  await assert.rejects(c.openLottery({ lottery: 'dup', prize: 'X', winners: 1, secs: 10 }), (e) => e.code === 'bad_request');
  c.close();
});

test('unit: leaderboards from welcome.tops and top; buying is fresh for 10 s', async (t) => {
  const top = (board, ...pairs) => ({ type: 'top', board, entries: pairs.map(([user, score]) => ({ type: 'member', user, score })) });
  const srv = fakeServer({ tops: [top('likes', ['ann', 12], ['bob', 3])] });
  const c = fakeClient(srv);
  t.after(() => c.close());
  c.connect();
  await waitFor(() => c.joined, { what: 'joined' });
  assert.deepEqual(c.boards.get('likes'), [{ user: 'ann', score: 12 }, { user: 'bob', score: 3 }]);
  assert.deepEqual(c.boards.get('buyers'), [], 'a board the welcome leaves out is empty');
  srv.say(top('buyers', ['cy', 2]));
  assert.deepEqual(c.boards.get('buyers'), [{ user: 'cy', score: 2 }]);
  srv.say(top('buyers', ['cy', 2])); // the same again: no event
  srv.say(top('likes', ['bob', 30], ['ann', 12]));
  const evs = c.log.filter(([t]) => t === 'boards').map(([, e]) => `${e.board}:${e.entries.map((x) => x.user).join(',')}`);
  assert.deepEqual(evs, ['likes:ann,bob', 'buyers:cy', 'likes:bob,ann']);
  assert.equal(c.buyingNow(), null);
  srv.say({ type: 'buying', count: 5, users: ['eve', 'dan', 'cy'] });
  assert.deepEqual(c.buyingNow() && [c.buyingNow().count, c.buyingNow().users], [5, ['eve', 'dan', 'cy']]);
  assert.ok(c.log.some(([t, e]) => t === 'buying' && e.count === 5));
  assert.equal(c.buyingNow(Date.now() + 12000), null, 'nothing said for 10 s: nobody is buying');
  // a reconnect: the welcome's boards are the truth
  srv.welcome = { tops: [top('likes', ['bob', 31]), top('buyers')] };
  srv.sockets.at(-1).drop();
  await waitFor(() => c.joined && srv.frames('hello').length === 2, { what: 'welcomed again' });
  assert.deepEqual(c.boards.get('likes'), [{ user: 'bob', score: 31 }]);
  assert.deepEqual(c.boards.get('buyers'), []);
  c.close();
});

// ---- the same against real shards ----

async function lotteryGet(room, id) {
  const base = URL1.replace(/^ws/, 'http').replace(/\/live$/, '');
  const r = await fetch(`${base}/api/rooms/${room}/lotteries/${id}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  let body = null;
  try { body = await r.json(); } catch (_) { /* no JSON */ }
  return { status: r.status, body };
}

test('lucky bags, leaderboards and buying on real shards: keyword and Enter, one draw, verifiable', async () => {
  const roomA = uniq('bag');
  const roomB = uniq('bagb');
  const s = await joined(makeClient({ room: roomA, user: 'sam', role: 'streamer', url: URL1 }));
  const ann = await joined(makeClient({ room: roomA, user: 'ann', url: URL2 }));
  const bob = await joined(makeClient({ room: roomA, user: 'bob', url: URL1 }));
  const cy = await joined(makeClient({ room: roomA, user: 'cy', url: URL2 }));
  const dee = await joined(makeClient({ room: roomA, user: 'dée', url: URL1 }));
  const sB = await joined(makeClient({ room: roomB, user: 'sam', role: 'streamer', url: URL2 }));
  const zoe = await joined(makeClient({ room: roomB, user: 'zoe', url: URL1 }));
  const yan = await joined(makeClient({ room: roomB, user: 'yan', url: URL2 }));

  await assert.rejects(ann.openLottery({ lottery: 'x', prize: 'x', winners: 1, secs: 10 }), (e) => e.code === 'forbidden');
  const opened = await s.openLottery({ lottery: 'bagA', prize: 'A signed mug', winners: 2, secs: 10, keyword: 'Lucky' });
  const openedB = await sB.openLottery({ lottery: 'bagB', prize: 'Tea', winners: 5, secs: 10 });
  assert.match(opened.commit, /^[0-9a-f]{64}$/);
  assert.equal(opened.keyword, 'Lucky');
  assert.equal(opened.winners, 2);
  assert.ok(opened.ends > Date.now() + 8000 && opened.ends < Date.now() + 12000, `ends ${opened.ends}`);
  assert.equal('keyword' in openedB, false);
  await assert.rejects(s.openLottery({ lottery: 'bagA2', prize: 'Two at once', winners: 1, secs: 10 }), (e) => e.code === 'bad_request');
  for (const c of [ann, bob, cy, dee]) await waitFor(() => c.lotteries.get('bagA'), { what: `${c.user}: the lottery` });
  assert.equal(ann.lotteries.get('bagA').commit, opened.commit);

  // room A: entered by commenting the keyword (any case), not with lottery_enter
  ann.comment('lucky me!');
  bob.comment('LUCKY');
  cy.comment('no thanks');
  assert.equal((await dee.enterLottery('bagA')).status, 'keyword');
  dee.comment('I feel lUcKy');
  for (const c of [ann, bob, dee]) await waitFor(() => c.lotteries.get('bagA').entered, { what: `${c.user}: entered` });
  assert.equal(ann.log.filter(([t, m]) => t === 'entered' && m.lottery === 'bagA').length, 1);
  ann.comment('lucky again'); // a second entry is no entry
  await waitFor(() => s.lotteries.get('bagA').entries === 3, { what: 'the streamer counts 3 keyword authors' });
  // a late joiner gets the open lottery, with its entries so far, in the welcome
  const late = await joined(makeClient({ room: roomA, user: 'lee', url: URL2 }));
  const lateBag = late.lotteries.get('bagA');
  assert.ok(lateBag && lateBag.state === 'open', 'the open lottery in the welcome');
  assert.deepEqual([lateBag.entries, lateBag.commit, lateBag.keyword, lateBag.winners, lateBag.prize], [3, opened.commit, 'Lucky', 2, 'A signed mug']);
  assert.ok(Math.abs(lateBag.ends - opened.ends) < 2, 'the same ends');
  // room B: no keyword, lottery_enter; a comment enters nobody
  const e1 = await zoe.enterLottery('bagB');
  assert.equal(e1.status, 'ok', JSON.stringify(e1));
  await waitFor(() => zoe.lotteries.get('bagB').entered, { what: 'zoe: entered' });
  assert.equal((await zoe.enterLottery('bagB')).status, 'already');
  assert.equal((await yan.enterLottery('no-such-bag')).status, 'closed');
  yan.comment('Tea please');

  // leaderboards and buying, while the bags wait for their draw
  ann.like(5);
  bob.like(2);
  await waitFor(() => (cy.boards.get('likes') || []).some((e) => e.user === 'ann' && e.score === 5), { what: 'ann on the likes board' });
  await waitFor(() => JSON.stringify(cy.boards.get('likes')) === JSON.stringify([{ user: 'ann', score: 5 }, { user: 'bob', score: 2 }]), { what: 'likes board: ann 5, bob 2' });
  await s.openSale({ sku: 'mug', title: 'Mug', price: 1200, stock: 10, limit: 3 });
  await waitFor(() => bob.sales.get('mug') && cy.sales.get('mug'), { what: 'the sale' });
  assert.equal((await bob.buy('mug', { qty: 2 })).status, 'ok');
  assert.equal((await cy.buy('mug')).status, 'ok');
  await waitFor(() => ann.buyingNow() && ann.buyingNow().users.includes('bob') && ann.buyingNow().users.includes('cy'), { what: 'buying: bob and cy' });
  assert.ok(ann.buyingNow().count >= 2 && ann.buyingNow().users.length <= 3, JSON.stringify(ann.buying));
  await waitFor(() => JSON.stringify(dee.boards.get('buyers')) === JSON.stringify([{ user: 'bob', score: 2 }, { user: 'cy', score: 1 }]), { what: 'buyers board: bob 2, cy 1' });
  // and both boards
  const later = await joined(makeClient({ room: roomA, user: 'max', url: URL1 }));
  assert.deepEqual(later.boards.get('buyers'), [{ user: 'bob', score: 2 }, { user: 'cy', score: 1 }]);
  assert.deepEqual(later.boards.get('likes'), [{ user: 'ann', score: 5 }, { user: 'bob', score: 2 }]);

  // the draw: once, at ends, to every connection; winners are told `won`
  const all = [s, ann, bob, cy, dee, late];
  for (const c of all) {
    await waitFor(() => c.lotteries.get('bagA').state === 'drawn', { timeout: 20000 * SCALE, interval: 100, what: `${c.user}: the result` });
  }
  const res = s.lotteries.get('bagA').result;
  assert.ok(Date.now() >= opened.ends - 1000, 'drawn before its time');
  assert.equal(res.entries, 3);
  assert.equal(res.winners.length, 2);
  assert.equal(new Set(res.winners).size, 2);
  for (const w of res.winners) assert.ok(['ann', 'bob', 'dée'].includes(w), `winner ${w} did not enter`);
  assert.equal(await verifyCommit(res.seed, opened.commit), true, 'SHA-256(seed) is not the commit');
  assert.deepEqual(await drawWinners(res.seed, sortEntrants(['ann', 'bob', 'dée']), 2), res.winners, 'the draw does not follow the rule');
  for (const c of all) {
    assert.equal(c.log.filter(([t, m]) => t === 'lottery_result' && m.lottery === 'bagA').length, 1, `${c.user}: one result`);
    assert.deepEqual(c.lotteries.get('bagA').result.winners, res.winners);
  }
  for (const c of [ann, bob, dee]) {
    const wins = res.winners.includes(c.user);
    await waitFor(() => !wins || c.log.some(([t, m]) => t === 'won' && m.lottery === 'bagA'), { what: `${c.user}: won` });
    assert.equal(c.lotteries.get('bagA').won, wins, `${c.user}`);
    if (wins) assert.equal(c.log.find(([t]) => t === 'won')[1].prize, 'A signed mug');
  }
  assert.ok(!cy.log.some(([t]) => t === 'won'));
  // the shop's GET: the same draw, and what is needed to check it
  const got = await lotteryGet(roomA, 'bagA');
  assert.equal(got.status, 200, JSON.stringify(got));
  const g = got.body;
  assert.deepEqual([g.lottery, g.prize, g.state, g.k, g.entries, g.commit, g.seed, g.keyword],
    ['bagA', 'A signed mug', 'drawn', 2, 3, opened.commit, res.seed, 'Lucky']);
  assert.deepEqual(g.winners, res.winners);
  assert.deepEqual(g.entrants, ['ann', 'bob', 'dée']);
  const v = await verifyDraw({ seed: g.seed, commit: g.commit, k: g.k, entrants: g.entrants, winners: g.winners });
  assert.equal(v.ok, true, JSON.stringify(v));
  assert.equal((await lotteryGet(roomA, 'nope')).status, 404);

  // room B: one entrant, K 5: she wins alone; entering after the draw is closed
  for (const c of [sB, zoe, yan]) {
    await waitFor(() => c.lotteries.get('bagB').state === 'drawn', { timeout: 20000 * SCALE, interval: 100, what: `${c.user}: the result of B` });
  }
  assert.deepEqual(yan.lotteries.get('bagB').result.winners, ['zoe']);
  assert.equal(yan.lotteries.get('bagB').result.entries, 1);
  await waitFor(() => zoe.lotteries.get('bagB').won, { what: 'zoe won' });
  assert.equal((await zoe.enterLottery('bagB')).status, 'closed');
  const gB = (await lotteryGet(roomB, 'bagB')).body;
  assert.deepEqual([gB.state, gB.k, gB.entrants, gB.winners, 'keyword' in gB], ['drawn', 5, ['zoe'], ['zoe'], false]);
  // a new lottery may open once the last one is drawn
  await sB.openLottery({ lottery: 'bagB2', prize: 'More tea', winners: 1, secs: 10 });
  const gB2 = (await lotteryGet(roomB, 'bagB2')).body;
  assert.deepEqual([gB2.state, gB2.winners, gB2.entries, 'seed' in gB2], ['open', 1, 0, false]);
});
