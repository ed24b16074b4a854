"""The Redis layout of PROTOCOL.md: keys with the {room} hash tag, the channel carrying msgpack
broadcasts, the like sequence, and Lua scripts run by SHA."""

import asyncio
import re
import socket
import threading
import time

import msgpack
import redis

import lc
from lc import Client, async_test, rkey


@async_test()
async def test_comment_is_a_stream_entry_with_fields_u_and_t(server, room, rds):
    c = await Client.joined(server, room, "ann ☃", "json")
    await c.comment("stored ünï")
    m = await c.wait_comment("stored ünï")
    entries = rds.xrange(rkey(room, "chat"))
    assert entries == [(m["id"], {"u": "ann ☃", "t": "stored ünï"})]
    assert rds.type(rkey(room, "chat")) == "stream"


@async_test()
async def test_every_key_carries_a_room_hash_tag(server, room, rds):
    c = await Client.joined(server, room, "ann", "json")
    await c.comment("x")
    await c.like(2)
    await c.wait_likes(2)
    await asyncio.sleep(0.3)
    for k in rds.keys("*"):   # this module's Redis holds other tests' rooms too
        assert re.fullmatch(r"lc:\{[A-Za-z0-9_-]{1,64}\}:.+", k), f"key {k!r} lacks a {{room}} hash tag"
    keys = set(rds.keys(f"*{{{room}}}*"))
    assert {rkey(room, k) for k in ("chat", "likes", "likeseq", "vshare", "vexp", "viewers")} <= keys, keys
    assert rds.type(rkey(room, "likes")) == "string"
    assert rds.type(rkey(room, "likeseq")) == "hash"
    assert rds.type(rkey(room, "vshare")) == "hash"
    assert rds.type(rkey(room, "vexp")) == "zset"
    assert rds.type(rkey(room, "viewers")) == "string"


@async_test()
async def test_likeseq_records_the_shards_last_batch_as_boot_colon_seq(server, room, rds):
    c = await Client.joined(server, room, "ann", "msgpack")
    await c.like(1)
    await c.wait_likes(1)
    v1 = rds.hget(rkey(room, "likeseq"), server.shard)
    assert v1 is not None and re.fullmatch(r"[^:]+:\d+", v1), f"likeseq[{server.shard}] = {v1!r}"
    await c.like(1)
    await c.wait_likes(2)
    v2 = rds.hget(rkey(room, "likeseq"), server.shard)
    assert v2.split(":")[0] == v1.split(":")[0], "boot part changed without a restart"
    assert int(v2.split(":")[1]) > int(v1.split(":")[1]), f"seq did not grow: {v1} -> {v2}"


@async_test(timeout=60)
async def test_channel_carries_msgpack_of_every_broadcast(server, room, rds, redis_proc):
    p = lc.ShardSub(redis_proc.port, rkey(room, "ch"))
    got = []
    stop = threading.Event()

    def listen():
        while not stop.is_set():
            m = p.get_message(timeout=0.1)
            if m and m["type"] == "smessage":
                got.append(msgpack.unpackb(m["data"], raw=False))

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    try:
        await asyncio.sleep(0.2)
        c = await Client.joined(server, room, "ann", "json")
        await c.comment("on the channel")
        m = await c.wait_comment("on the channel")
        await c.like(5)
        await c.wait_likes(5)
        await lc.async_wait_until(lambda: m in got and {"type": "likes", "total": 5} in got
                                  and {"type": "viewers", "count": 1} in got,
                                  lc.scaled(5), what=f"comment, likes and viewers on the channel (got {got})")
    finally:
        stop.set()
        t.join()
        p.close()


def _monitor(port, seconds, lines):
    s = socket.create_connection((lc.HOST, port))
    s.sendall(b"MONITOR\r\n")
    s.settimeout(0.2)
    buf = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            d = s.recv(65536)
        except OSError:
            continue
        if not d:
            break
        buf += d
    s.close()
    lines.extend(buf.decode("utf-8", "replace").split("\r\n"))


@async_test(timeout=60)
async def test_comment_is_one_script_run_by_sha_doing_xadd_and_publish(server, room, redis_proc):
    c = await Client.joined(server, room, "ann", "json")
    await asyncio.sleep(0.3)
    lines = []
    th = threading.Thread(target=_monitor, args=(redis_proc.port, 2.0, lines))
    th.start()
    await asyncio.sleep(0.3)
    await c.comment("monitored")
    await c.wait_comment("monitored")
    await asyncio.to_thread(th.join)
    relevant = [ln for ln in lines if "monitored" in ln]
    assert relevant, f"MONITOR saw nothing of the comment: {lines[:20]}"
    callers = [ln for ln in relevant if "[0 lua]" not in ln]
    in_lua = [ln for ln in relevant if "[0 lua]" in ln]
    assert len(callers) == 1 and '"EVALSHA"' in callers[0].upper(), \
        f"the comment should be one EVALSHA from the shard: {callers}"
    assert any('"XADD"' in ln.upper() for ln in in_lua), in_lua
    assert any('"SPUBLISH"' in ln.upper() for ln in in_lua), in_lua
    assert not any('"XADD"' in ln.upper() or 'PUBLISH"' in ln.upper() for ln in callers)


def _numsub(rds, room):
    return lc.shard_numsub(rds, rkey(room, "ch"))


@async_test(timeout=60)
async def test_shard_subscribes_to_a_room_channel_only_while_it_has_someone_there(start_server, room, rds):
    s = start_server(shard="A")
    assert _numsub(rds, room) == 0
    idle = await Client.connect(s, room, "json")      # no hello: not "someone in the room" yet
    await idle.ping_pong()
    assert _numsub(rds, room) == 0, "subscribed before anyone said hello"
    a = await Client.joined(s, room, "ann", "json")
    assert _numsub(rds, room) == 1, "a welcomed connection's shard must be subscribed to the room"
    b = await Client.joined(s, room, "bob", "msgpack")
    assert _numsub(rds, room) == 1, "one subscription per shard and room"
    await a.close()
    await b.close()
    await idle.close()
    # (the server may linger a little before it unsubscribes an empty room)
    await lc.async_wait_until(lambda: _numsub(rds, room) == 0, lc.scaled(10),
                              what="the shard to unsubscribe from the empty room")
    c = await Client.joined(s, room, "cid", "json")
    assert _numsub(rds, room) == 1
    await c.comment("back")
    await c.wait_comment("back")
