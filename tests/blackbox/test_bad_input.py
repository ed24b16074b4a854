"""Bad input: every malformed-input class gets its error and the connection lives on; size limit
with close 1009; fragments; a fuzz burst cannot crash the server or corrupt the room."""

import asyncio
import json
import os
import random
import socket
import struct
import time

import pytest

import lc
from lc import Client, async_test, mp, mp_map, mp_str


async def expect_error_then_alive(c, code):
    m = await c.recv_reply()
    assert m["type"] == "error", f"expected error {code}, got {m!r:.300}"
    assert m["code"] in code.split("|"), f"expected error {code}, got {m!r:.300}"
    assert isinstance(m.get("message"), str), m
    await c.ping_pong()   # no second error pending, and the connection still works
    assert c.is_open


BAD_JSON = [
    ("{", "bad_request"),
    ("not json", "bad_request"),
    ('{"type":"ping"', "bad_request"),
    ('{"type":"ping"} x', "bad_request"),         # trailing garbage: not one JSON object
    ('{"type":"ping"}{"type":"ping"}', "bad_request"),
    ("", "bad_request"),
    ("[]", "bad_request"),
    ('[{"type":"ping"}]', "bad_request"),
    ("5", "bad_request"),
    ("-1.5e300", "bad_request"),
    ('"ping"', "bad_request"),
    ("null", "bad_request"),
    ("true", "bad_request"),
    ("[" * 1500 + "]" * 1500, "bad_request"),
    ("{}", "bad_request"),
    ('{"typ":"ping"}', "bad_request"),
    ('{"type":5}', "bad_request"),
    ('{"type":null}', "bad_request"),
    ('{"type":true}', "bad_request"),
    ('{"type":["ping"]}', "bad_request"),
    ('{"type":{"t":"ping"}}', "bad_request"),
    ('{"type":"comment"}', "bad_request"),
    ('{"type":"comment","text":5}', "bad_request"),
    ('{"type":"comment","text":null}', "bad_request"),
    ('{"type":"comment","text":["hi"]}', "bad_request"),
    ('{"type":"comment","text":{"a":"hi"}}', "bad_request"),
    ('{"type":"comment","text":"a\\u0000b"}', "bad_request"),
    ('{"type":"comment","text":"\\ud800"}', "bad_request"),   # lone surrogate escape: not UTF-8
    ('{"type":"like"}', "bad_request"),
    ('{"type":"like","count":"3"}', "bad_request"),
    ('{"type":"like","count":3.0}', "bad_request"),
    ('{"type":"hello","user":"again"}', "bad_request"),     # second hello
    ('{"type":"dance"}', "unknown_type"),
    ('{"type":""}', "unknown_type"),
    ('{"type":"PING"}', "unknown_type"),
    ('{"type":"pong"}', "unknown_type"),
    ('{"type":"welcome"}', "unknown_type"),
    ('{"type":"error","code":"x","message":"y"}', "unknown_type"),
]


@pytest.mark.parametrize("frame,code", BAD_JSON, ids=[f"{i}:{f[:24]}" for i, (f, _) in enumerate(BAD_JSON)])
@async_test()
async def test_bad_json_frame_gets_its_error_and_connection_stays(server, room, frame, code):
    c = await Client.joined(server, room, "ann", "json")
    await c.send_raw(frame)
    await expect_error_then_alive(c, code)
    await c.comment("still here")
    await c.wait_comment("still here")


BAD_MSGPACK = [
    (b"", "bad_request"),
    (b"\xc1", "bad_request"),                            # never-used byte
    (b"\x82\xa4type", "bad_request"),                     # truncated map
    (b"\x81\xa4type\xa4pi", "bad_request"),               # truncated str
    (mp({"type": "ping"}) + b"\x00", "bad_request"),     # trailing bytes: not one map
    (b"\xdf\xff\xff\xff\xff", "bad_request"),             # map32 claiming 4G entries
    (b"\xdd\xff\xff\xff\xff", "bad_request"),             # array32 claiming 4G entries
    (b"\x81\xa4type\xdb\xff\xff\xff\xff", "bad_request"),  # str32 claiming 4 GiB
    (b"\x91" * 3000 + b"\xc0", "bad_request"),            # deeply nested arrays
    (mp([1, 2]), "bad_request"),
    (mp([{"type": "ping"}]), "bad_request"),
    (mp(5), "bad_request"),
    (mp("ping"), "bad_request"),
    (mp(None), "bad_request"),
    (mp(1.5), "bad_request"),
    (mp({}), "bad_request"),
    (mp({1: 2}), "bad_request"),
    (mp({"type": 5}), "bad_request"),
    (mp({"type": None}), "bad_request"),
    (mp({"type": ["ping"]}), "bad_request"),
    (mp({"type": "comment"}), "bad_request"),
    (mp({"type": "comment", "text": 5}), "bad_request"),
    (mp({"type": "comment", "text": None}), "bad_request"),
    (mp({"type": "comment", "text": ["x"]}), "bad_request"),
    (mp({"type": "comment", "text": "a\x00b"}), "bad_request"),
    (mp_map([(mp_str(b"type"), mp_str(b"comment")), (mp_str(b"text"), mp_str(b"\xff"))]), "bad_request"),
    (mp_map([(mp_str(b"type"), mp_str(b"pi\xffng"))]), "bad_request|unknown_type"),  # PROTOCOL.md: either
    (mp({"type": "like"}), "bad_request"),
    (mp({"type": "like", "count": 3.0}), "bad_request"),
    (mp({"type": "like", "count": b"3"}), "bad_request"),
    (mp({"type": "hello", "user": "again"}), "bad_request"),
    (mp({"type": "dance"}), "unknown_type"),
    (mp({"type": ""}), "unknown_type"),
    (mp({"type": "pong"}), "unknown_type"),
    (mp({"type": "likes", "total": 5}), "unknown_type"),
]


@pytest.mark.parametrize("frame,code", BAD_MSGPACK, ids=[f"{i}:{f[:12].hex()}" for i, (f, _) in enumerate(BAD_MSGPACK)])
@async_test()
async def test_bad_msgpack_frame_gets_its_error_and_connection_stays(server, room, frame, code):
    c = await Client.joined(server, room, "ann", "msgpack")
    await c.send_raw(frame)
    await expect_error_then_alive(c, code)
    await c.comment("still here")
    await c.wait_comment("still here")


@pytest.mark.parametrize("hello_first", [True, False], ids=["after_hello", "before_hello"])
@async_test()
async def test_binary_frame_on_json_connection_gets_bad_request(server, room, hello_first):
    c = await Client.connect(server, room, "json")
    if hello_first:
        await c.hello("ann")
    await c.send_raw(b'{"type":"ping"}')     # valid JSON, but in a binary frame
    await expect_error_then_alive(c, "bad_request")


@pytest.mark.parametrize("hello_first", [True, False], ids=["after_hello", "before_hello"])
@async_test()
async def test_text_frame_on_msgpack_connection_gets_bad_request(server, room, hello_first):
    c = await Client.connect(server, room, "msgpack")
    if hello_first:
        await c.hello("ann")
    await c.send_raw('{"type":"ping"}')      # a text frame on a msgpack connection
    await expect_error_then_alive(c, "bad_request")
    await c.send_raw(mp({"type": "ping"}).decode("latin-1"))
    await expect_error_then_alive(c, "bad_request")


@async_test()
async def test_no_hello_after_wrong_format_hello(server, room):
    c = await Client.connect(server, room, "json")
    await c.send_raw(json.dumps({"type": "hello", "user": "ann"}).encode())   # binary frame
    await expect_error_then_alive(c, "bad_request")
    await c.comment("x")
    await c.expect_error("not_ready")


# ---------------------------------------------------------------- size limit


def json_of_size(n, typ="ping", **fields):
    base = {"type": typ, **fields, "pad": ""}
    over = len(json.dumps(base, separators=(",", ":")).encode())
    base["pad"] = "x" * (n - over)
    s = json.dumps(base, separators=(",", ":"))
    assert len(s.encode()) == n
    return s


def msgpack_of_size(n, typ="ping", **fields):
    over = len(mp({"type": typ, **fields, "pad": ""}))
    for k in range(max(0, n - over - 8), n - over + 1):
        b = mp({"type": typ, **fields, "pad": "x" * k})
        if len(b) == n:
            return b
    raise AssertionError(f"cannot build msgpack of {n} bytes")


def frame_of_size(fmt, n, typ="ping", **fields):
    return json_of_size(n, typ, **fields) if fmt == "json" else msgpack_of_size(n, typ, **fields)


@pytest.mark.parametrize("fmt", lc.FORMATS)
@pytest.mark.parametrize("size", [4097, 5000, 100_000], ids=["4097", "5000", "100k"])
@async_test()
async def test_frame_over_4096_bytes_gets_too_large_then_close_1009(server, room, fmt, size):
    c = await Client.joined(server, room, "ann", fmt)
    other = await Client.joined(server, room, "bob", fmt)
    await c.send_raw(frame_of_size(fmt, size))
    code, msgs = await c.expect_close()
    errors = [m for m in msgs if m["type"] == "error"]
    assert [e["code"] for e in errors] == ["too_large"], msgs
    assert code == 1009
    assert not [m for m in msgs if m["type"] == "pong"], "the oversized ping was answered"
    # the room and the server are fine
    await other.ping_pong()
    await other.wait_viewers(1, timeout=lc.scaled(5))


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_oversized_comment_is_not_broadcast(server, room, fmt):
    c = await Client.joined(server, room, "ann", fmt)
    other = await Client.joined(server, room, "bob", fmt)
    await c.send_raw(frame_of_size(fmt, 4097, "comment", text="big one"))
    code, _ = await c.expect_close()
    assert code == 1009
    await other.comment("small one")
    await other.wait_comment("small one")
    assert [m["text"] for m in other.comments] == ["small one"]


@pytest.mark.parametrize("fmt", lc.FORMATS)
@pytest.mark.parametrize("hello_first", [True, False], ids=["after_hello", "before_hello"])
@async_test()
async def test_frame_of_exactly_4096_bytes_is_accepted(server, room, fmt, hello_first):
    c = await Client.connect(server, room, fmt)
    if hello_first:
        await c.hello("ann")
    await c.send_raw(frame_of_size(fmt, 4096))
    m = await c.recv_reply()
    assert m == {"type": "pong"}, m
    if hello_first:
        await c.send_raw(frame_of_size(fmt, 4096, "comment", text="edge"))
        m = await c.wait_comment("edge")
        assert m["user"] == "ann"


def _split(data, parts):
    step = max(1, len(data) // parts)
    return [data[i:i + step] for i in range(0, len(data), step)]


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_fragmented_message_under_4k_is_accepted(server, room, fmt):
    c = await Client.joined(server, room, "ann", fmt)
    w = await Client.joined(server, room, "w", fmt)
    ping = frame_of_size(fmt, 300)
    await c.send_raw(iter(_split(ping, 3)))
    assert (await c.recv_reply()) == {"type": "pong"}
    comment = c.encode({"type": "comment", "text": "fragmented ünï 😀"})
    if fmt == "json":
        comment_parts = _split(comment, 5)    # str fragments: never splits inside a character
    else:
        comment_parts = _split(comment, 7)    # bytes fragments: may split anywhere
    await c.send_raw(iter(comment_parts))
    m = await w.wait_comment("fragmented ünï 😀")
    assert m["user"] == "ann"
    # many fragments adding up to exactly 4096 bytes
    big = frame_of_size(fmt, 4096, "comment", text="four k")
    await c.send_raw(iter(_split(big, 40)))
    await w.wait_comment("four k")
    await c.ping_pong()


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_fragmented_message_over_4k_gets_too_large_then_close_1009(server, room, fmt):
    c = await Client.joined(server, room, "ann", fmt)
    other = await Client.joined(server, room, "bob", fmt)
    data = frame_of_size(fmt, 4500, "comment", text="too big in pieces")
    await c.send_raw(iter(_split(data, 3)))   # every fragment < 4 KiB, the message is not
    code, msgs = await c.expect_close()
    assert [m["code"] for m in msgs if m["type"] == "error"] == ["too_large"], msgs
    assert code == 1009
    await other.ping_pong()
    await asyncio.sleep(0.2)
    assert not other.comments


def _closed_by_server(port, room, answer):
    """A raw client that sends an oversized message, reads the error and the close frame, answers
    the close (or not), then sees how the connection ends: 'eof' (a FIN) or 'reset'."""
    r = lc.RawWS(port, room, "json")
    r.send({"type": "hello", "user": "closer"})
    assert r.recv_msg(answer_pings=True)["type"] == "welcome"
    r.send_frame(0x1, b'{"type":"comment","text":"' + b"x" * 5000 + b'"}')
    msgs = []
    while (m := r.recv_msg(answer_pings=True)) is not None:
        msgs.append(m)
    assert r.end == "close frame" and r.close_code == 1009, (r.end, r.close_code, msgs)
    assert [m["code"] for m in msgs if m["type"] == "error"] == ["too_large"], msgs
    if answer:
        r.send_frame(0x8, struct.pack("!H", 1000))
    t0 = time.monotonic()
    r.set_timeout(lc.scaled(8))
    try:
        end = "eof" if r.sock.recv(100) == b"" else "data"
    except ConnectionResetError:
        end = "reset"
    except socket.timeout:
        end = "still open"
    r.close()
    return end, time.monotonic() - t0


def test_server_close_waits_for_the_clients_close_frame_then_hangs_up_cleanly(server, room):
    end, took = _closed_by_server(server.port, room, answer=True)
    assert end == "eof", end        # the handshake completed: a FIN, not a reset
    assert took < lc.scaled(1.5), took


def test_a_client_that_never_answers_our_close_is_cut_after_the_wait(server, room):
    end, took = _closed_by_server(server.port, room, answer=False)
    assert end in ("eof", "reset"), end
    assert took >= 1.0, f"cut after {took:.2f} s: the server did not wait for the client's close frame"


# ---------------------------------------------------------------- fuzz


VALID = [
    {"type": "ping"},
    {"type": "comment", "text": "hello"},
    {"type": "like", "count": 3},
    {"type": "hello", "user": "fuzz", "role": "viewer"},
]


def _mutate_text(rng, s):
    s = list(s)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        i = rng.randrange(len(s) + 1)
        if op < 0.4 and s:
            del s[min(i, len(s) - 1)]
        elif op < 0.8:
            s.insert(i, rng.choice('{}[]":,\\0123456789-eE.tfnul x\u00e9\u2603\U0001F600\x00'))
        else:
            s[min(i, len(s) - 1):] = s[min(i, len(s) - 1):][::-1]
    return "".join(s)


def _random_value(rng, depth=0):
    r = rng.random()
    if depth > 3 or r < 0.5:
        return rng.choice([0, 1, -1, 100, 101, 2**31, 2**63 - 1, -2**63, 1.5, True, False, None, "",
                           "x" * rng.randint(0, 600), "é", "\x00", b"\x00\xff"])
    if r < 0.75:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["type", "text", "count", "user", "k"]): _random_value(rng, depth + 1)
            for _ in range(rng.randint(0, 4))}


def _fuzz_frames(rng, fmt, n):
    """Yield (data, known_bad): known_bad frames must get an error reply."""
    for _ in range(n):
        r = rng.random()
        if r < 0.3:   # random bytes
            b = os.urandom(rng.randint(0, 400))
            if fmt == "json":
                yield b, True                                   # binary on a JSON connection
            else:
                yield b"\xc1" + b, True                         # never valid msgpack
        elif r < 0.45:  # wrong-format frame
            if fmt == "json":
                yield mp(rng.choice(VALID)), True
            else:
                yield json.dumps(rng.choice(VALID)), True
        elif r < 0.75:  # mutated valid message
            msg = dict(rng.choice(VALID))
            if fmt == "json":
                yield _mutate_text(rng, json.dumps(msg)), False
            else:
                b = bytearray(mp(msg))
                for _ in range(rng.randint(1, 3)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
                yield bytes(b), False
        else:          # structurally valid, random values
            msg = {"type": rng.choice(["comment", "like", "hello", "ping", "x", 5, None])}
            for _ in range(rng.randint(0, 3)):
                msg[rng.choice(["text", "count", "user", "role", "since", "token"])] = _random_value(rng)
            if fmt == "json":
                yield json.dumps(msg, default=lambda o: o.decode("latin-1")), False
            else:
                yield mp(msg), False


async def _drain_until_pong(c, timeout):
    await c.send({"type": "ping"})
    await c.wait_for(lambda m: m["type"] == "pong", timeout, what="pong after a fuzz batch")


@async_test(timeout=180)
async def test_fuzz_burst_does_not_crash_or_corrupt_the_room(server, room, rds):
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    conns = [await Client.joined(server, room, f"f{i}", lc.FORMATS[i % 2]) for i in range(4)]
    watcher = await Client.joined(server, room, "watch", "json")
    known_bad = [0] * len(conns)
    sent = [0] * len(conns)

    async def fuzz(i, c):
        frames = list(_fuzz_frames(rng, c.fmt, 500))
        for k, (data, bad) in enumerate(frames):
            if isinstance(data, (bytes, str)) and len(data.encode() if isinstance(data, str) else data) > 4000:
                continue
            await c.send_raw(data)
            sent[i] += 1
            known_bad[i] += bad
            if k % 25 == 24:
                await _drain_until_pong(c, lc.scaled(10))
        await _drain_until_pong(c, lc.scaled(10))

    await asyncio.gather(*(fuzz(i, c) for i, c in enumerate(conns)))
    for c in conns:   # read every reply still in flight
        await c.assert_silent(0.7, types=())

    assert server.alive(), f"server died: {server.current_log()[-3000:]}"
    assert server.healthz()[0] == 200
    for i, c in enumerate(conns):
        assert c.is_open, f"fuzz connection {i} ({c.fmt}) was closed: {c.close_code}"
        errors = [m for m in c.received if m["type"] == "error"]
        assert known_bad[i] <= len(errors) <= sent[i], \
            f"conn {i}: {len(errors)} errors for {sent[i]} frames of which {known_bad[i]} certainly bad"
        assert {e["code"] for e in errors} <= {"bad_request", "unknown_type"}, \
            {e["code"] for e in errors}
        await c.ping_pong()

    # a fresh client can join and comment; the room's state is well-formed
    fresh = await Client.joined(server, room, "fresh", "msgpack")
    for h in fresh.welcome["history"]:
        lc.check_comment_shape(h)
    lc.assert_strictly_increasing([h["id"] for h in fresh.welcome["history"]])
    await fresh.comment("after the storm")
    m = await watcher.wait_comment("after the storm")
    assert m["user"] == "fresh"
    lc.assert_strictly_increasing([x["id"] for x in watcher.comments])
    for x in watcher.comments:
        lc.check_comment_shape(x)
        assert 1 <= len(x["text"].encode()) <= 500 and "\x00" not in x["text"]
    await watcher.wait_viewers(6)
    assert fresh.welcome["viewers"] == 6
    likes = int(rds.get(lc.rkey(room, "likes")) or 0)
    await lc.async_wait_until(lambda: watcher.likes == int(rds.get(lc.rkey(room, "likes")) or 0),
                              lc.scaled(5), what="watcher's likes == Redis total")
    assert likes >= 0


def _raw_junk(rng):
    kinds = [
        lambda: os.urandom(rng.randint(1, 3000)),                                   # no HTTP at all
        lambda: b"GET /live?room=x HTTP/1.1\r\n" + os.urandom(rng.randint(0, 500)),  # broken headers
        lambda: b"GET /live?room=x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n",                                # no key
        lambda: b"GET /live?room=" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",             # huge URL
        lambda: b"GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\nxx",
    ]
    return rng.choice(kinds)()


def _raw_frame_junk(rng):
    F = lc.RawWS.frame
    kinds = [
        lambda: os.urandom(rng.randint(1, 2000)),
        lambda: F(0x1, "bad utf8 \xff".encode("latin-1")),                     # invalid UTF-8 text
        lambda: F(0x1, b'{"type":"ping"}', mask=False),                        # unmasked client frame
        lambda: bytes([0x80 | 0x3]) + b"\x80" + os.urandom(4),                  # reserved opcode
        lambda: bytes([0xF1]) + b"\x85" + os.urandom(9),                        # RSV bits set
        lambda: F(0x9, b"x" * 200),                                             # control frame > 125
        lambda: bytes([0x09]) + b"\x81" + os.urandom(5),                        # fragmented ping
        lambda: bytes([0x81, 0xFF]) + b"\xff" * 8 + os.urandom(4),              # 2^64-1 length
        lambda: bytes([0x81, 0xFE, 0xFF, 0xFF]) + os.urandom(100),              # 65535 announced, 100 sent
        lambda: F(0x0, b"continuation without start"),
        lambda: F(0x1, b'{"type":', fin=False) + F(0x1, b'"ping"}'),            # new message mid-fragment
        lambda: F(0x8, b"\x03"),                                                # 1-byte close payload
        lambda: F(0x8, b"\x00\x00"),                                            # close code 0
    ]
    return rng.choice(kinds)()


def test_raw_socket_junk_does_not_crash_the_server(server, room):
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    for i in range(40):
        try:
            if i % 2 == 0:
                s = socket.create_connection((lc.HOST, server.port), timeout=2)
                s.sendall(_raw_junk(rng))
            else:
                ws = lc.RawWS(server.port, room, rng.choice(lc.FORMATS), timeout=2)
                if rng.random() < 0.5:
                    ws.send({"type": "hello", "user": f"raw{i}"})
                ws.sock.sendall(_raw_frame_junk(rng))
                s = ws.sock
            s.settimeout(0.15)
            try:
                while s.recv(65536):
                    pass
            except OSError:
                pass
            s.close()
        except (OSError, AssertionError):
            pass
        assert server.alive(), f"server died after raw junk #{i}: {server.current_log()[-3000:]}"
    assert server.healthz()[0] == 200

    async def check():
        a = await Client.joined(server, room, "after", "json")
        b = await Client.joined(server, room, "after2", "msgpack")
        await a.comment("survived")
        await b.wait_comment("survived")
        await lc.close_all_clients()

    asyncio.run(check())
