// A plain Node broadcast server on npm's `ws`, the baseline of
// loadtest/compare: every text message a client sends goes to every client
// connected on the same path (the room). No compression, loopback only.
'use strict';
const { WebSocketServer, WebSocket } = require('ws');
const port = Number(process.argv[2] || 9002);
const rooms = new Map();
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const room = req.url;
  if (!rooms.has(room)) rooms.set(room, new Set());
  const members = rooms.get(room);
  members.add(ws);
  ws.on('message', (data, isBinary) => {
    for (const c of members) if (c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
  });
  ws.on('close', () => members.delete(ws));
});
wss.on('listening', () => console.log(`ws broadcast on 127.0.0.1:${port}`));
