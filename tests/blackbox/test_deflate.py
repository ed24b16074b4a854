"""permessage-deflate (PROTOCOL.md "Compression"): negotiated with both no-context-takeover
parameters; a broadcast is compressed once per format and the same bytes go to every connection
that negotiated it; a plain client gets plain frames; client messages inflate (whole or
fragmented); bad compressed data is closed 1007 and a message inflating past 4096 bytes 1009;
offers we cannot honour are declined, not failed; --deflate 0 offers nothing."""

import asyncio
import base64
import os
import struct
import zlib

import msgpack
import websockets

import lc
from lc import Client, async_test

OFFER = "permessage-deflate; client_max_window_bits"
ANSWER = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
LONG = "a comment long enough to be worth compressing, " * 4


class ZRaw(lc.RawWS):
    """A hand-written client that offers permessage-deflate and sees each frame's RSV1 bit."""

    def __init__(self, port, room, fmt="json", offer=OFFER):
        self.offer = offer
        self.headers = {}
        super().__init__(port, room, fmt)

    def handshake(self, room, path=None):
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET /live?room={room} HTTP/1.1\r\nHost: {lc.HOST}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Protocol: {lc.SUBPROTO[self.fmt]}\r\n")
        if self.offer:
            req += f"Sec-WebSocket-Extensions: {self.offer}\r\n"
        self.sock.sendall((req + "\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            assert chunk, f"closed during the handshake: {self.buf!r}"
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert b" 101 " in head.split(b"\r\n", 1)[0] + b" ", head
        for ln in head.decode("latin-1").split("\r\n")[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        return head

    def recv_raw_frame(self):
        """(b0, payload) of the next frame: b0 carries FIN, RSV1 and the opcode."""
        self._need(2)
        b0 = self.buf[0]
        fin, op, payload = self.recv_frame()
        return b0, payload

    def next_data(self):
        """(rsv1, bytes on the wire, decoded message) of the next data frame; pings answered."""
        while True:
            b0, payload = self.recv_raw_frame()
            op = b0 & 0x0F
            if op == 0x9:
                self.send_frame(0xA, payload)
                continue
            if op == 0x8:
                raise lc.Closed(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005, "")
            assert b0 & 0x80, "the server sends whole messages"
            rsv1 = bool(b0 & 0x40)
            # each message on its own: a fresh inflater proves no context was taken over
            data = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") if rsv1 else payload
            m = msgpack.unpackb(data, raw=False) if self.fmt == "msgpack" else __import__("json").loads(data)
            return rsv1, payload, m

    def next_of(self, typ):
        while True:
            rsv1, wire, m = self.next_data()
            if m["type"] == typ:
                return rsv1, wire, m

    def send_z(self, msg, fragments=1, rsv1=True):
        """Sends msg compressed (fresh context, tail stripped), in `fragments` frames."""
        data = (msgpack.packb(msg, use_bin_type=True) if self.fmt == "msgpack"
                else __import__("json").dumps(msg).encode())
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        z = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        assert z.endswith(b"\x00\x00\xff\xff")
        self.send_compressed(z[:-4], fragments, rsv1)

    def send_compressed(self, z, fragments=1, rsv1=True):
        op = 0x2 if self.fmt == "msgpack" else 0x1
        step = max(1, -(-len(z) // fragments))
        parts = [z[i:i + step] for i in range(0, len(z), step)] or [b""]
        for i, part in enumerate(parts):
            b = bytearray(self.frame(op if i == 0 else 0x0, part, fin=i == len(parts) - 1))
            if i == 0 and rsv1:
                b[0] |= 0x40
            self.sock.sendall(bytes(b))


def joined_z(port, room, user, fmt="json", offer=OFFER):
    z = ZRaw(port, room, fmt, offer)
    z.send({"type": "hello", "user": user})
    rsv1, wire, m = z.next_of("welcome")
    return z


def test_offer_is_answered_with_both_no_context_takeover_parameters(server, room):
    for fmt in lc.FORMATS:
        z = ZRaw(server.port, room, fmt)
        assert z.headers.get("sec-websocket-extensions") == ANSWER, z.headers
        z.close()
    plain = ZRaw(server.port, room, "json", offer=None)
    assert "sec-websocket-extensions" not in plain.headers, plain.headers
    plain.close()


def test_broadcast_is_compressed_once_and_shared_by_every_deflate_connection(server, room):
    before = lc.metric(server.port, "livecart_deflate_frames_total") or 0
    zs = [joined_z(server.port, room, f"z{i}", fmt) for i, fmt in enumerate(("json", "json", "msgpack", "msgpack"))]
    plain = {fmt: ZRaw(server.port, room, fmt, offer=None) for fmt in lc.FORMATS}
    for fmt, p in plain.items():
        p.send({"type": "hello", "user": "p" + fmt})
        p.next_of("welcome")
    zs[0].send({"type": "comment", "text": LONG})
    got = [z.next_of("comment") for z in zs]
    for rsv1, wire, m in got:
        assert rsv1, "a long comment goes compressed to a deflate connection"
        assert m["text"] == LONG
        assert len(wire) < len(LONG), (len(wire), len(LONG))
    assert got[0][1] == got[1][1], "the two JSON deflate connections got the same bytes"
    assert got[2][1] == got[3][1], "the two msgpack deflate connections got the same bytes"
    for fmt, p in plain.items():
        rsv1, wire, m = p.next_of("comment")
        assert not rsv1 and m["text"] == LONG, "a client without the extension gets plain frames"
    # once per format, however many connections took it (the welcome/hello answers are the
    # connections' own: compare only the comment's step)
    mid = lc.metric(server.port, "livecart_deflate_frames_total")
    zs[1].send({"type": "comment", "text": LONG + "!"})
    for z in zs:
        assert z.next_of("comment")[2]["text"] == LONG + "!"
    assert lc.metric(server.port, "livecart_deflate_frames_total") - mid == 2, "one per format"
    assert mid > before
    for z in zs + list(plain.values()):
        z.close()


def test_short_answers_go_plain_and_a_welcome_with_history_compressed(server, room):
    z = joined_z(server.port, room, "short")
    z.send({"type": "ping"})
    rsv1, wire, m = z.next_of("pong")
    assert not rsv1 and m["type"] == "pong", "a pong is too short to be worth compressing"
    z.send({"type": "comment", "text": LONG + "x" * 200})   # an answer for one connection:
    rsv1, wire, m = z.next_of("comment")                     # (the broadcast) compressed
    assert rsv1
    for i in range(8):
        z.send({"type": "comment", "text": f"{i} {LONG}"})
        z.next_of("comment")
    late = ZRaw(server.port, room, "json")
    late.send({"type": "hello", "user": "late"})
    rsv1, wire, m = late.next_of("welcome")
    plain = ZRaw(server.port, room, "json", offer=None)
    plain.send({"type": "hello", "user": "late2"})
    prsv1, pwire, pm = plain.next_of("welcome")
    assert rsv1 and not prsv1, "the welcome (history: 9 long comments) is compressed for a deflate client"
    assert len(wire) * 2 < len(pwire), (len(wire), len(pwire))
    for c in (z, late, plain):
        c.close()


def test_compressed_client_messages_inflate_whole_and_fragmented(server, room):
    for fmt in lc.FORMATS:
        z = joined_z(server.port, room, "sender" + fmt, fmt)
        before = lc.metric(server.port, "livecart_inflated_total") or 0
        for i, frags in enumerate((1, 1, 3, 7)):   # several messages: no context between them
            text = f"{fmt} message {i} " + "x" * (40 * i)
            z.send_z({"type": "comment", "text": text}, fragments=frags)
            assert z.next_of("comment")[2]["text"] == text
        z.send({"type": "comment", "text": "plain, from a deflate client"})
        assert z.next_of("comment")[2]["text"] == "plain, from a deflate client"
        assert lc.metric(server.port, "livecart_inflated_total") - before == 4
        z.close()


@async_test()
async def test_python_websockets_with_compression_talks_both_ways(server, room):
    a = await Client.connect(server, room, "json", compression="deflate")
    b = await Client.connect(server, room, "msgpack", compression="deflate")
    ext = a.ws.extensions
    assert ext and ext[0].name == "permessage-deflate", ext
    assert ext[0].local_no_context_takeover and ext[0].remote_no_context_takeover
    await a.hello("wa")
    await b.hello("wb")
    for i in range(5):
        await a.comment(f"{LONG} {i}")
        await b.comment(f"from msgpack {i} " + "y" * 80)
    texts = {f"{LONG} {i}" for i in range(5)} | {f"from msgpack {i} " + "y" * 80 for i in range(5)}
    for c in (a, b):
        await c.wait_for(lambda m: texts <= {x["text"] for x in c.comments}, what="all ten comments")
    await a.ping_pong()


def test_bad_compressed_data_is_closed_1007(server, room):
    before = lc.metric(server.port, 'livecart_errors_total{code="bad_request"}') or 0
    z = joined_z(server.port, room, "garbage")
    z.send_compressed(b"\xff\xfe\xfd not deflate at all \x00\x01")
    seen = []
    try:
        while True:
            seen.append(z.next_data()[2])
    except lc.Closed as e:
        assert e.code == 1007, e.code
    assert any(m["type"] == "error" and m["code"] == "bad_request" for m in seen), seen
    assert lc.metric(server.port, 'livecart_errors_total{code="bad_request"}') == before + 1
    z.close()


def test_a_message_inflating_past_4096_bytes_is_closed_1009(server, room):
    z = joined_z(server.port, room, "bomb")
    z.send_z({"type": "comment", "text": "a" * 100000})   # ~100 KB from a few hundred bytes
    seen = []
    try:
        while True:
            seen.append(z.next_data()[2])
    except lc.Closed as e:
        assert e.code == 1009, e.code
    assert any(m["type"] == "error" and m["code"] == "too_large" for m in seen), seen
    z.close()
    ok = joined_z(server.port, room, "after")   # the server is fine
    ok.send_z({"type": "comment", "text": "still here " * 20})
    assert ok.next_of("comment")[2]["text"] == "still here " * 20
    ok.close()


def test_offers_we_cannot_honour_are_declined_and_the_connection_works_plain(server, room):
    for offer in ("permessage-deflate; server_max_window_bits=10",
                  "permessage-deflate; server_max_window_bits=\"9\"",
                  "permessage-deflate; server_max_window_bits=10, permessage-deflate"):
        z = ZRaw(server.port, room, "json", offer=offer)
        assert "sec-websocket-extensions" not in z.headers, (offer, z.headers)
        z.send({"type": "hello", "user": "declined"})
        z.next_of("welcome")
        z.send({"type": "comment", "text": LONG})
        rsv1, wire, m = z.next_of("comment")
        assert not rsv1 and m["text"] == LONG
        z.close()
    for offer in ("permessage-deflate; client_max_window_bits=9; unknown_param",
                  "permessage-deflate; server_max_window_bits=16",
                  "permessage-deflate; server_no_context_takeover=1",
                  "x-permessage-deflate"):
        z = ZRaw(server.port, room, "json", offer=offer)
        assert "sec-websocket-extensions" not in z.headers, (offer, z.headers)
        z.close()
    # a server window of 15 is what we use: accepted, and the answer must say so (RFC 7692 7.1.2.1)
    z = ZRaw(server.port, room, "json", offer="x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=15")
    assert z.headers.get("sec-websocket-extensions") == ANSWER + "; server_max_window_bits=15", z.headers
    z.close()
    z = ZRaw(server.port, room, "json", offer="permessage-deflate;client_max_window_bits=10;server_no_context_takeover")
    assert z.headers.get("sec-websocket-extensions") == ANSWER, z.headers
    z.close()


@async_test()
async def test_python_websockets_asking_for_a_15_bit_server_window_negotiates(server, room):
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
    c = await Client.connect(server, room, "json",
                             extensions=[ClientPerMessageDeflateFactory(server_max_window_bits=15)])
    assert c.ws.extensions and c.ws.extensions[0].name == "permessage-deflate"
    await c.hello("win15")
    await c.comment(LONG)
    await c.wait_comment(LONG)


def test_rsv1_on_a_continuation_frame_is_closed_1002(server, room):
    z = joined_z(server.port, room, "rsvcont")
    op = 0x1
    z.sock.sendall(z.frame(op, b'{"type":"comm', fin=False))
    b = bytearray(z.frame(0x0, b'ent","text":"x"}', fin=True))
    b[0] |= 0x40
    z.sock.sendall(bytes(b))
    seen = []
    try:
        while True:
            seen.append(z.next_data()[2])
    except lc.Closed as e:
        assert e.code == 1002, e.code
    assert any(m["type"] == "error" and m["code"] == "bad_request" for m in seen), seen
    z.close()


def test_a_compressed_message_a_little_longer_than_4096_on_the_wire_is_taken(server, room):
    z = joined_z(server.port, room, "incompressible")
    import random
    rng = random.Random(7)
    text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(4030))
    msg = {"type": "comment", "text": "incompressible padding", "pad": text}   # unknown keys are ignored
    data = __import__("json").dumps(msg).encode()
    assert len(data) <= 4096
    c = zlib.compressobj(0, zlib.DEFLATED, -15)   # stored blocks: longer than the message
    comp = (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert len(comp) > 4096
    z.send_compressed(comp)
    got = z.next_data()
    while got[2]["type"] not in ("comment", "error"):
        got = z.next_data()
    assert got[2]["type"] == "comment" and got[2]["text"] == "incompressible padding", got[2]
    z.close()


def test_deflate_off_offers_nothing(start_server, room):
    s = start_server(deflate=0)
    z = ZRaw(s.port, room, "json")
    assert "sec-websocket-extensions" not in z.headers, z.headers
    z.send({"type": "hello", "user": "off"})
    z.next_of("welcome")
    z.send({"type": "comment", "text": LONG})
    assert not z.next_of("comment")[0]
    z.close()
