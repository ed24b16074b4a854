"""Comments: fan-out, identical values in both formats, one order everywhere, history, limits."""

import asyncio
import random
import time

import pytest

import lc
from lc import Client, async_test, mp_bin, mp_map, mp_str


@async_test()
async def test_comment_reaches_every_connection_including_sender(server, room):
    sender = await Client.joined(server, room, "ann", "json")
    others = [await Client.joined(server, room, f"v{i}", fmt) for i, fmt in
              enumerate(["json", "msgpack", "msgpack", "none"])]
    t0 = int(time.time() * 1000)
    await sender.comment("hello room")
    mine = await sender.wait_comment("hello room")
    t1 = int(time.time() * 1000)
    lc.check_comment_shape(mine)
    assert mine["user"] == "ann" and mine["text"] == "hello room"
    assert t0 - 5000 <= mine["ts"] <= t1 + 5000, f"ts {mine['ts']} not near now ({t0}..{t1})"
    for o in others:
        m = await o.wait_comment("hello room")
        assert m == mine, f"{o.fmt} client got {m}, sender got {mine}"
    # exactly once everywhere
    await asyncio.sleep(0.3)
    for c in [sender] + others:
        assert [x["text"] for x in c.comments] == ["hello room"]


@async_test()
async def test_both_formats_see_identical_values(server, room):
    j = await Client.joined(server, room, "jürgen ☃", "json")
    m = await Client.joined(server, room, "mia", "msgpack")
    texts = ['quote " backslash \\ slash / tab \t nl \n', "emoji 😀 and ünïcödé ☃", "<b>&amp;</b>", "x"]
    for i, t in enumerate(texts):
        sender = j if i % 2 == 0 else m
        await sender.comment(t)
        await sender.wait_comment(t)
    await j.wait_comments(len(texts))
    await m.wait_comments(len(texts))
    assert j.comments == m.comments
    assert [c["text"] for c in j.comments] == texts
    assert [c["user"] for c in j.comments] == ["jürgen ☃", "mia", "jürgen ☃", "mia"]
    for c in m.comments:
        lc.check_comment_shape(c)


@async_test()
async def test_comments_in_one_room_do_not_reach_another_room(server, room):
    other_room = room + "_other"
    a = await Client.joined(server, room, "ann", "json")
    b = await Client.joined(server, other_room, "bob", "msgpack")
    await a.comment("for room A only")
    await a.wait_comment("for room A only")
    await b.comment("for room B only")
    await b.wait_comment("for room B only")
    await asyncio.sleep(0.3)
    assert [c["text"] for c in a.comments] == ["for room A only"]
    assert [c["text"] for c in b.comments] == ["for room B only"]
    assert b.welcome["history"] == []


@async_test(timeout=120)
async def test_every_connection_on_every_shard_sees_the_same_order_with_concurrent_senders(start_server, room):
    A = start_server(shard="A")
    B = start_server(shard="B")
    receivers = []
    for i in range(6):
        srv = A if i % 2 == 0 else B
        receivers.append(await Client.joined(srv, room, f"r{i}", lc.FORMATS[(i // 2) % 2]))
    senders = [await Client.joined(A, room, "s0", "json"),
               await Client.joined(B, room, "s1", "msgpack"),
               await Client.joined(A, room, "s2", "msgpack"),
               await Client.joined(B, room, "s3", "json")]
    per_sender = 40
    sent = set()

    async def send_all(k, s):
        for n in range(per_sender):
            text = f"s{k}-{n}"
            sent.add(text)
            await s.comment(text)
            if n % 7 == 0:
                await asyncio.sleep(0.001)

    await asyncio.gather(*(send_all(k, s) for k, s in enumerate(senders)))
    total = per_sender * len(senders)
    everyone = receivers + senders
    for c in everyone:
        await c.wait_comments(total, timeout=lc.scaled(20))
    await asyncio.sleep(0.3)
    ref = [m["id"] for m in receivers[0].comments]
    assert len(ref) == total
    lc.assert_strictly_increasing(ref, "comment ids")
    assert {m["text"] for m in receivers[0].comments} == sent
    for c in everyone:
        ids = [m["id"] for m in c.comments]
        assert ids == ref, f"a {c.fmt} connection saw a different order or count ({len(ids)} comments)"
    # a sender's own comments keep their sending order
    for k in range(len(senders)):
        mine = [m["text"] for m in receivers[0].comments if m["text"].startswith(f"s{k}-")]
        assert mine == [f"s{k}-{n}" for n in range(per_sender)]


@async_test(timeout=60)
async def test_welcome_history_is_last_50_comments_oldest_first_after_60(server, room):
    s = await Client.joined(server, room, "ann", "msgpack")
    for n in range(60):
        await s.comment(f"c{n}")
    await s.wait_comments(60)
    for fmt in lc.FORMATS:
        j = await Client.connect(server, room, fmt)
        w = await j.hello("late")
        assert len(w["history"]) == 50
        assert [h["text"] for h in w["history"]] == [f"c{n}" for n in range(10, 60)]
        assert w["history"] == s.comments[10:]
        lc.assert_strictly_increasing([h["id"] for h in w["history"]])
        assert w["last"] == s.comments[-1]["id"]


@async_test(timeout=60)
async def test_history_survives_server_restart(start_server, room):
    server = start_server()
    s = await Client.joined(server, room, "ann", "json")
    for n in range(5):
        await s.comment(f"before restart {n}")
    await s.wait_comments(5)
    before = list(s.comments)
    await s.close()
    rc = await server.astop()
    assert rc == 0, f"SIGTERM exit code {rc}"
    await server.astart()
    for fmt in lc.FORMATS:
        j = await Client.connect(server, room, fmt)
        w = await j.hello("bob")
        assert w["history"] == before
        assert w["last"] == before[-1]["id"]
    # and new comments get ids after the old ones
    await j.comment("after restart")
    m = await j.wait_comment("after restart")
    assert lc.cid(m["id"]) > lc.cid(before[-1]["id"])


@pytest.mark.parametrize("fa,fb", [("json", "msgpack"), ("msgpack", "json")])
@async_test()
async def test_comment_via_shard_a_reaches_viewer_on_shard_b(start_server, room, fa, fb):
    A = start_server(shard="A")
    B = start_server(shard="B")
    a = await Client.joined(A, room, "ann", fa)
    b = await Client.joined(B, room, "bob", fb)
    await a.comment("from A")
    ma = await a.wait_comment("from A")
    mb = await b.wait_comment("from A")
    assert ma == mb
    await b.comment("from B")
    mb2 = await b.wait_comment("from B")
    ma2 = await a.wait_comment("from B")
    assert ma2 == mb2 and ma2["user"] == "bob"
    assert lc.cid(ma2["id"]) > lc.cid(ma["id"])
    # and the other shard's joiner sees both in history
    c = await Client.joined(A, room, "cid", "json")
    assert [h["text"] for h in c.welcome["history"]] == ["from A", "from B"]


# ---------------------------------------------------------------- text rules


@pytest.mark.parametrize("fmt", lc.FORMATS)
@pytest.mark.parametrize("text", [
    "",
    "x" * 501,
    "€" * 167,          # 501 bytes, 167 chars
    "😀" * 126,          # 504 bytes, 126 chars
    "é" * 251,           # 502 bytes
    "a\u0000b",          # NUL
    "\u0000",
], ids=["empty", "501_ascii", "501_bytes_euro", "504_bytes_emoji", "502_bytes_e_acute", "nul_inside", "nul_only"])
@async_test()
async def test_bad_comment_text_gets_bad_request_and_is_not_broadcast(server, room, fmt, text):
    c = await Client.joined(server, room, "ann", fmt)
    watcher = await Client.joined(server, room, "w", "json" if fmt == "msgpack" else "msgpack")
    await c.comment(text)
    await c.expect_error("bad_request")
    await c.comment("fine")
    await watcher.wait_comment("fine")
    await c.wait_comment("fine")
    assert [m["text"] for m in watcher.comments] == ["fine"]
    assert [m["text"] for m in c.comments] == ["fine"]


@pytest.mark.parametrize("fmt", lc.FORMATS)
@pytest.mark.parametrize("text", [
    "y",
    "x" * 500,
    "é" * 250,           # 500 bytes
    "😀" * 125,          # 500 bytes
    "€" * 166 + "ab",    # 500 bytes
    "mixed ascii, ünïcödé, 日本語, 😀",
], ids=["one_byte", "500_ascii", "500_bytes_e_acute", "500_bytes_emoji", "500_bytes_euro", "mixed"])
@async_test()
async def test_valid_comment_text_up_to_500_bytes_is_broadcast_unchanged(server, room, fmt, text):
    assert len(text.encode()) <= 500
    c = await Client.joined(server, room, "ann", fmt)
    watcher = await Client.joined(server, room, "w", "json" if fmt == "msgpack" else "msgpack")
    await c.comment(text)
    m = await watcher.wait_for(lambda m: m["type"] in ("comment", "error"), what="comment")
    assert m["type"] == "comment", m
    assert m["text"] == text
    mine = await c.wait_for(lambda m: m["type"] in ("comment", "error"), what="own comment")
    assert mine == m


def _mp_comment(text_encoded):
    return mp_map([(mp_str(b"type"), mp_str(b"comment")), (mp_str(b"text"), text_encoded)])


@pytest.mark.parametrize("payload", [
    b"\xff\xfe",
    b"abc\xc3",              # truncated 2-byte sequence
    b"\xc0\xaf",             # overlong '/'
    b"\xed\xa0\x80",         # UTF-16 surrogate
    b"ok\xf8\x88\x80\x80\x80",
], ids=["ff_fe", "truncated", "overlong", "surrogate", "five_byte"])
@async_test()
async def test_invalid_utf8_in_msgpack_str_gets_bad_request(server, room, payload):
    c = await Client.joined(server, room, "ann", "msgpack")
    w = await Client.joined(server, room, "w", "json")
    await c.send_raw(_mp_comment(mp_str(payload)))
    await c.expect_error("bad_request")
    await c.send_raw(_mp_comment(mp_bin(payload)))   # the same bytes as bin: still not UTF-8
    await c.expect_error("bad_request")
    await c.ping_pong()
    await c.comment("after")
    await w.wait_comment("after")
    assert [m["text"] for m in w.comments] == ["after"]


@async_test()
async def test_msgpack_bin_is_accepted_as_utf8_string_input(server, room):
    c = await Client.joined(server, room, "ann", "msgpack")
    j = await Client.joined(server, room, "jo", "json")
    text = "bin text ünï 😀"
    await c.send_raw(_mp_comment(mp_bin(text.encode())))
    m = await j.wait_comment(text)
    mine = await c.wait_comment(text)
    assert isinstance(mine["text"], str)   # sent back as msgpack str
    assert m == mine
    # hello.user as bin too
    d = await Client.connect(server, room, "msgpack")
    await d.send_raw(mp_map([(mp_str(b"type"), mp_str(b"hello")), (mp_str(b"user"), mp_bin("bïn".encode()))]))
    w = await d.recv_reply()
    assert w["type"] == "welcome", w
    await d.comment("from bin user")
    m = await j.wait_comment("from bin user")
    assert m["user"] == "bïn"


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_comment_user_is_the_hello_user(server, room, fmt):
    c = await Client.joined(server, room, "ünï-user 😀", fmt)
    await c.comment("t")
    m = await c.wait_comment("t")
    assert m["user"] == "ünï-user 😀"


# ---------------------------------------------------------------- join while comments flow


@async_test(timeout=120)
async def test_joiner_during_comment_flow_gets_history_then_live_without_duplicate_or_hole(start_server, room):
    A = start_server(shard="A")
    B = start_server(shard="B")
    ref = await Client.joined(A, room, "ref", "json")
    sender = await Client.joined(B, room, "snd", "msgpack")
    total = 240
    joiners = []
    done = asyncio.Event()

    async def send():
        for n in range(total):
            await sender.comment(f"m{n}")
            await asyncio.sleep(0.004)
        done.set()

    async def join_some():
        k = 0
        while not done.is_set():
            await asyncio.sleep(random.uniform(0.02, 0.12))
            srv = A if k % 2 == 0 else B
            j = await Client.connect(srv, room, lc.FORMATS[(k // 2) % 2])
            await j.hello(f"j{k}")
            joiners.append(j)
            k += 1

    await asyncio.gather(send(), join_some())
    await ref.wait_comments(total, timeout=lc.scaled(15))
    full = [m["id"] for m in ref.comments]
    assert len(full) == total
    lc.assert_strictly_increasing(full)
    assert len(joiners) >= 3, "test did not manage to join during the flow"
    for j in joiners:
        if full[-1] not in [h["id"] for h in j.welcome["history"]]:
            await j.wait_comment(f"m{total - 1}", timeout=lc.scaled(15))
        await j.assert_silent(0.05, types=("comment",))   # nothing after the last one
        hist = [h["id"] for h in j.welcome["history"]]
        live = [m["id"] for m in j.comments]
        seq = hist + live
        assert len(seq) == len(set(seq)), f"duplicate comment for a joiner: hist={hist[-3:]} live={live[:3]}"
        assert seq, "joiner got nothing"
        k = full.index(seq[0])
        assert seq == full[k:], (f"joiner's history+live is not the contiguous tail: history ends "
                                 f"{hist[-2:]}, live starts {live[:2]}")
        assert len(hist) == min(50, k + len(hist)), f"history of {len(hist)} but {k + len(hist)} comments existed"
        if hist:
            assert j.welcome["last"] == hist[-1]


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_a_comment_resent_with_its_req_is_posted_once(server, room, rds, fmt):
    a = await Client.joined(server, room, "ann", fmt)
    await a.send({"type": "comment", "text": "hello once", "req": "c-1"})
    first = await a.wait_comment("hello once")
    # the re-send after a reconnect: another connection, same user, same req
    b = await Client.joined(server, room, "ann", fmt)
    await b.send({"type": "comment", "text": "hello once", "req": "c-1"})
    await b.send({"type": "comment", "text": "next", "req": "c-2"})
    nxt = await b.wait_comment("next")
    assert [i for i, _f in rds.xrange(lc.rkey(room, "chat"))] == [first["id"], nxt["id"]]
    assert [m["text"] for m in b.received if m["type"] == "comment"] == ["next"]
    assert not [m for m in b.received if m["type"] == "error"]
    # the same req from another user is another comment
    c = await Client.joined(server, room, "cat", fmt)
    await c.send({"type": "comment", "text": "hello once", "req": "c-1"})
    await c.wait_comment("hello once")
    assert len(rds.xrange(lc.rkey(room, "chat"))) == 3
    assert rds.ttl(lc.rkey(room, "creqs")) > 0


@async_test()
async def test_a_comment_req_out_of_range_is_a_bad_request(server, room):
    a = await Client.joined(server, room, "ann")
    for req in ("", "r" * 65, 7):
        await a.send({"type": "comment", "text": "x", "req": req})
        await a.expect_error("bad_request")
