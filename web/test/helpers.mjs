/*
 * Helpers for the livecart.js tests (run by tests/blackbox/test_web_client.py, which starts
 * redis-server and two shards and passes them in the environment):
 *
 *   LIVECART_URL, LIVECART_URL2   ws://127.0.0.1:PORT/live of two shards on one Redis
 *   LIVECART_API_KEY              the publish API key of the first shard
 *   LIVECART_SERVER, LIVECART_TOKEN, LIVECART_REDIS_PORT   for shards these tests start and stop
 *   LIVECART_TEST_TMP             where those shards' logs (and pid files) go
 *   LIVECART_TIMEOUT_SCALE        multiply every wait (ASan builds are slower)
 *
 * Node 20 has a WebSocket only behind --experimental-websocket, Node 18 none (ws-shim.mjs
 * stands in); the client takes the constructor as an option, so these tests pass a recording
 * subclass of it.
 */
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { LivecartClient } from '../livecart.js';
import { ShimWebSocket } from './ws-shim.mjs';

export const SCALE = Number(process.env.LIVECART_TIMEOUT_SCALE || 1) || 1;
export const T = 5000 * SCALE;
export const URL1 = process.env.LIVECART_URL;
export const URL2 = process.env.LIVECART_URL2 || URL1;
export const API_KEY = process.env.LIVECART_API_KEY || '';
const SERVER_BIN = process.env.LIVECART_SERVER;
const TOKEN_BIN = process.env.LIVECART_TOKEN;
const REDIS_PORT = process.env.LIVECART_REDIS_PORT;
const TMP = process.env.LIVECART_TEST_TMP || fs.mkdtempSync('/tmp/livecart-js-');

// Node >= 22 (or 20 with --experimental-websocket) has a WebSocket; older Node gets the shim.
// LIVECART_WS_SHIM=1 forces the shim (to test it).
export const BaseWebSocket = typeof globalThis.WebSocket === 'function' && process.env.LIVECART_WS_SHIM !== '1'
  ? globalThis.WebSocket : ShimWebSocket;
if (!URL1) throw new Error('LIVECART_URL is not set: run these tests through tests/blackbox/test_web_client.py');

let seq = 0;
export function uniq(prefix = 'js') {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${++seq}`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls pred until it returns something truthy; returns that, or throws after timeout. */
export async function waitFor(pred, { timeout = T, what = 'condition', interval = 20 } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await pred();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    await sleep(interval);
  }
}

/** A WebSocket class that records every frame sent and every socket made. */
export function recordingWebSocket() {
  const rec = { sent: [], sockets: 0 };
  class RecordingWebSocket extends BaseWebSocket {
    constructor(...args) {
      super(...args);
      rec.sockets++;
    }
    send(data) {
      rec.sent.push(JSON.parse(data));
      super.send(data);
    }
  }
  rec.WebSocket = RecordingWebSocket;
  rec.frames = (type) => rec.sent.filter((m) => m.type === type);
  return rec;
}

const clients = new Set();

/**
 * A LivecartClient with test defaults (a recording WebSocket, quick back-off), that also
 * records every event it emits: c.log = [[type, ev], ...] (raw messages arrive under their own
 * type too); c.rec = the recording.
 */
export function makeClient(opts = {}) {
  const rec = recordingWebSocket();
  const c = new LivecartClient({
    url: URL1, WebSocket: rec.WebSocket, backoffBaseMs: 100, backoffMaxMs: 1000, retryAfterMs: 300,
    ...opts,
  });
  c.rec = rec;
  c.log = [];
  c.on('*', (ev, type) => { if (type !== 'message') c.log.push([type, ev]); });
  clients.add(c);
  return c;
}

/** Items of the ordered stream this client has shown, in order. */
export function streamItems(c) {
  return c.log.filter(([t]) => t === 'comment' || t === 'announce' || t === 'product').map(([, ev]) => ev);
}

export function states(c) {
  return c.log.filter(([t]) => t === 'state').map(([, ev]) => ev);
}

export async function joined(c) {
  if (c.state === 'idle' || c.state === 'closed') c.connect();
  await waitFor(() => c.joined, { what: `${c.user} joined` });
  return c;
}

export function closeAll() {
  for (const c of clients) c.close();
  clients.clear();
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function httpStatus(port, p = '/healthz') {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${p}`);
    await r.arrayBuffer();
    return r.status;
  } catch (_) {
    return 0;
  }
}

const servers = new Set();

/** A livecart-server of the test's own on the shared Redis; start(), stop(sig), kill(). */
export class Shard {
  constructor(name, args = []) {
    if (!SERVER_BIN || !REDIS_PORT) throw new Error('LIVECART_SERVER / LIVECART_REDIS_PORT not set');
    this.name = name;
    this.args = args;
    this.port = 0;
    this.proc = null;
    this.runs = 0;
  }

  get url() {
    return `ws://127.0.0.1:${this.port}/live`;
  }

  async start() {
    if (!this.port) this.port = await freePort();
    this.runs++;
    const log = fs.openSync(path.join(TMP, `node-${this.name}.${this.runs}.log`), 'w');
    this.proc = spawn(SERVER_BIN, [
      '--port', String(this.port), '--bind', '127.0.0.1', '--redis', `127.0.0.1:${REDIS_PORT}`,
      '--shard', this.name, ...this.args,
    ], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    fs.writeFileSync(path.join(TMP, `node-${this.name}.pid`), String(this.proc.pid));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, sig) => resolve({ code, sig })));
    servers.add(this);
    await waitFor(async () => {
      if (this.proc.exitCode !== null) throw new Error(`${this.name} exited at start`);
      return (await httpStatus(this.port)) === 200;
    }, { timeout: 10000 * SCALE, what: `${this.name} healthy` });
    return this;
  }

  /** Sends sig; resolves when the process has exited. */
  async stop(sig = 'SIGTERM') {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode) return;
    this.proc.kill(sig);
    const r = await this.exited;
    return r;
  }
}

export async function stopAllShards() {
  for (const s of servers) await s.stop();
  servers.clear();
}

/** Issues a token with livecart-token. */
export function issueToken(keyFile, user, role = 'viewer', room = null, ttl = 3600) {
  const args = ['--key-file', keyFile, '--user', user, '--role', role, '--ttl', String(ttl)];
  if (room) args.push('--room', room);
  return execFileSync(TOKEN_BIN, args, { encoding: 'utf8' }).trim();
}

export function tmpFile(name, content) {
  const p = path.join(TMP, name);
  fs.writeFileSync(p, content, { mode: 0o600 });
  return p;
}

/**
 * A TCP proxy in front of a shard. freeze() stops forwarding on the connections open now
 * (they stay open and silent: a dead path the client has to notice by itself); new
 * connections are forwarded normally. freeze('up') drops only what the client sends.
 */
export class Proxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.pairs = new Set();
    this.server = net.createServer((down) => {
      const up = net.connect(this.targetPort, '127.0.0.1');
      const pair = { down, up, frozen: false, upFrozen: false };
      this.pairs.add(pair);
      down.on('data', (d) => { if (!pair.frozen && !pair.upFrozen) up.write(d); });
      up.on('data', (d) => { if (!pair.frozen) down.write(d); });
      const end = () => { this.pairs.delete(pair); down.destroy(); up.destroy(); };
      down.on('close', end);
      up.on('close', () => { if (!pair.frozen) end(); });
      down.on('error', () => {});
      up.on('error', () => {});
    });
  }

  listen() {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => {
      this.port = this.server.address().port;
      resolve(this);
    }));
  }

  get url() {
    return `ws://127.0.0.1:${this.port}/live`;
  }

  freeze(dir = 'both') {
    for (const p of this.pairs) {
      if (dir === 'up') p.upFrozen = true;
      else p.frozen = true;
    }
  }

  close() {
    for (const p of this.pairs) { p.down.destroy(); p.up.destroy(); }
    this.pairs.clear();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Sends one command to the shared Redis (raw RESP on its own connection); resolves to the
 * first line of the reply ("+OK", "-ERR ..."). */
export function redisCommand(...args) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(REDIS_PORT), '127.0.0.1');
    let got = '';
    sock.on('error', reject);
    sock.on('data', (d) => {
      got += d.toString();
      const i = got.indexOf('\r\n');
      if (i >= 0) { sock.end(); resolve(got.slice(0, i)); }
    });
    sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join(''));
  });
}

/** POSTs a message through the publish API of the first shard. */
export async function publish(room, body) {
  const base = URL1.replace(/^ws/, 'http').replace(/\/live$/, '');
  const r = await fetch(`${base}/api/rooms/${room}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const j = await r.json();
  if (r.status !== 202) throw new Error(`publish: ${r.status} ${JSON.stringify(j)}`);
  return j.id;
}
