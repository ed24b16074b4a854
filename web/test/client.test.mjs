/*
 * livecart.js against real shards (see helpers.mjs for how they are provided).
 * Run through tests/blackbox/test_web_client.py.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { compareIds, newReq, byteLength, LivecartClient } from '../livecart.js';
import {
  T, SCALE, URL1, URL2, makeClient, joined, waitFor, sleep, uniq, streamItems, states, closeAll,
  Shard, stopAllShards, Proxy, issueToken, tmpFile, publish, freePort, redisCommand,
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
