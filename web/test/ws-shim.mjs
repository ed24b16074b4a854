/*
 * A tiny WebSocket client with the browser's interface (onopen, onmessage, onclose, onerror,
 * send, close, readyState, protocol), for Node versions without a global WebSocket (Debian 12's
 * Node 18). Tests only: livecart.js itself takes whatever WebSocket constructor it is given.
 * Text frames, fragments, pings, the close handshake; client frames masked (RFC 6455).
 */
import crypto from 'node:crypto';
import http from 'node:http';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export class ShimWebSocket {
  constructor(url, protocols = []) {
    this.url = url;
    this.readyState = 0;
    this.protocol = '';
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this._buf = Buffer.alloc(0);
    this._frags = null;
    this._closeSent = false;
    this._sock = null;
    const u = new URL(url);
    const key = crypto.randomBytes(16).toString('base64');
    const protos = typeof protocols === 'string' ? [protocols] : protocols;
    const headers = {
      Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13',
    };
    if (protos.length) headers['Sec-WebSocket-Protocol'] = protos.join(', ');
    this._req = http.request({ host: u.hostname, port: u.port || 80, path: u.pathname + u.search, headers });
    this._req.on('upgrade', (res, socket, head) => {
      const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
      if (res.headers['sec-websocket-accept'] !== accept || this.readyState !== 0) {
        socket.destroy();
        this._fail();
        return;
      }
      this.protocol = res.headers['sec-websocket-protocol'] || '';
      this._sock = socket;
      socket.setNoDelay(true);
      socket.on('data', (d) => this._data(d));
      socket.on('close', () => this._closed(1006, ''));
      socket.on('error', () => {});
      this.readyState = 1;
      this._fire('onopen', { type: 'open' });
      if (head && head.length) this._data(head);
    });
    this._req.on('response', (res) => { // not 101: refused (400, 404, 429, 503)
      res.resume();
      this._fail();
    });
    this._req.on('error', () => this._fail());
    this._req.end();
  }

  _fire(name, ev) {
    const f = this[name];
    if (typeof f === 'function') f.call(this, ev);
  }

  _fail() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this._fire('onerror', { type: 'error' });
    this._fire('onclose', { type: 'close', code: 1006, reason: '', wasClean: false });
  }

  _closed(code, reason) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    if (this._sock) this._sock.destroy();
    this._fire('onclose', { type: 'close', code, reason, wasClean: code !== 1006 });
  }

  send(data) {
    if (this.readyState !== 1) throw new Error('WebSocket is not open');
    this._frame(0x1, Buffer.from(String(data), 'utf8'));
  }

  close(code = 1000, reason = '') {
    if (this.readyState >= 2) return;
    if (this.readyState === 0) {
      this._req.destroy();
      this._fail();
      return;
    }
    this.readyState = 2;
    const r = Buffer.from(String(reason), 'utf8');
    if (r.length > 123) throw new SyntaxError('close reason over 123 bytes');
    const p = Buffer.alloc(2 + r.length);
    p.writeUInt16BE(code, 0);
    r.copy(p, 2);
    this._frame(0x8, p);
    this._closeSent = true;
    setTimeout(() => this._closed(code, String(reason)), 1000).unref();
  }

  _frame(op, payload) {
    const n = payload.length;
    const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
    const f = Buffer.alloc(head + 4 + n);
    f[0] = 0x80 | op;
    if (n < 126) {
      f[1] = 0x80 | n;
    } else if (n < 65536) {
      f[1] = 0x80 | 126;
      f.writeUInt16BE(n, 2);
    } else {
      f[1] = 0x80 | 127;
      f.writeBigUInt64BE(BigInt(n), 2);
    }
    const mask = crypto.randomBytes(4);
    mask.copy(f, head);
    for (let i = 0; i < n; i++) f[head + 4 + i] = payload[i] ^ mask[i & 3];
    this._sock.write(f);
  }

  _data(d) {
    this._buf = this._buf.length ? Buffer.concat([this._buf, d]) : d;
    for (;;) {
      const b = this._buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const op = b[0] & 0x0f;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b[1] & 0x80) off += 4; // servers do not mask; skip a mask if one came anyway
      if (b.length < off + len) return;
      const payload = b.subarray(off, off + len);
      this._buf = b.subarray(off + len);
      this._onFrame(fin, op, Buffer.from(payload));
      if (this.readyState === 3) return;
    }
  }

  _onFrame(fin, op, payload) {
    if (op === 0x9) {
      if (this.readyState === 1) this._frame(0xa, payload);
      return;
    }
    if (op === 0xa) return;
    if (op === 0x8) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      const reason = payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
      if (!this._closeSent && this._sock) {
        this._frame(0x8, payload.subarray(0, 2));
        this._closeSent = true;
      }
      this._closed(code, reason);
      return;
    }
    if (op === 0x1 || op === 0x2) this._frags = { op, parts: [payload] };
    else if (op === 0x0 && this._frags) this._frags.parts.push(payload);
    if (!fin || !this._frags) return;
    const whole = Buffer.concat(this._frags.parts);
    const text = this._frags.op === 0x1;
    this._frags = null;
    this._fire('onmessage', { type: 'message', data: text ? whole.toString('utf8') : whole });
  }
}
