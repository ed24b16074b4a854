"""Viewer counts: over all shards, leave, no-hello connections, SIGKILL repair, SIGTERM cleanup."""

import asyncio
import time

import lc
from lc import Client, async_test, rkey


def vshare(rds, room):
    return {k: int(v) for k, v in rds.hgetall(rkey(room, "vshare")).items()}


@async_test(timeout=60)
async def test_viewer_count_spans_two_shards(start_server, room, rds):
    A = start_server(shard="A")
    B = start_server(shard="B")
    on_a = [await Client.joined(A, room, f"a{i}", lc.FORMATS[i % 2]) for i in range(3)]
    on_b = [await Client.joined(B, room, f"b{i}", lc.FORMATS[i % 2]) for i in range(2)]
    for c in on_a + on_b:
        await c.wait_viewers(5, timeout=lc.scaled(8))
    # once the shares are in Redis, a welcome counts every shard's viewers plus the newcomer
    late = await Client.joined(B, room, "late", "json")
    assert late.welcome["viewers"] == 6, late.welcome
    await late.close()
    for c in on_a + on_b:
        await c.wait_viewers(5, timeout=lc.scaled(8))
    await lc.async_wait_until(lambda: vshare(rds, room) == {"A": 3, "B": 2}, lc.scaled(5),
                              what="vshare {A:3, B:2}")
    assert int(rds.get(rkey(room, "viewers"))) == 5
    exp = rds.zrange(rkey(room, "vexp"), 0, -1, withscores=True)
    assert {m for m, _ in exp} == {"A", "B"}
    now_ms = int(rds.time()[0]) * 1000
    for member, score in exp:
        assert now_ms < score <= now_ms + 15000 + 5000, f"vexp {member}={score}, redis now {now_ms}"


@async_test()
async def test_leaving_decrements_the_count_everywhere(start_server, room):
    A = start_server(shard="A")
    B = start_server(shard="B")
    a1 = await Client.joined(A, room, "a1", "json")
    a2 = await Client.joined(A, room, "a2", "msgpack")
    b1 = await Client.joined(B, room, "b1", "msgpack")
    for c in (a1, a2, b1):
        await c.wait_viewers(3, timeout=lc.scaled(8))
    await a2.close()
    await a1.wait_viewers(2, timeout=lc.scaled(8))
    await b1.wait_viewers(2, timeout=lc.scaled(8))
    await b1.close()
    await a1.wait_viewers(1, timeout=lc.scaled(8))


@async_test()
async def test_connection_that_never_said_hello_is_not_counted(server, room, rds):
    a = await Client.joined(server, room, "ann", "json")
    idle = [await Client.connect(server, room, f) for f in lc.FORMATS]
    await idle[0].ping_pong()
    b = await Client.joined(server, room, "bob", "msgpack")
    assert b.welcome["viewers"] == 2
    await a.wait_viewers(2)
    await asyncio.sleep(0.5)
    assert a.viewers == 2
    assert vshare(rds, room) == {server.shard: 2}
    # connections without hello receive no room traffic
    await a.comment("hi")
    await b.wait_comment("hi")
    await asyncio.sleep(0.3)
    for c in idle:
        assert not [m for m in c.received if m["type"] in ("comment", "viewers", "likes")], c.received
    # and closing them changes nothing
    for c in idle:
        await c.close()
    await a.assert_silent(0.6, types=("viewers",))
    assert a.viewers == 2


@async_test()
async def test_viewers_frames_are_coalesced_per_tick_and_only_on_change(start_server, room):
    s = start_server(tick_ms=1000)
    obs = await Client.joined(s, room, "obs", "json")
    await asyncio.sleep(1.2)
    t0 = time.monotonic()
    joiners = await asyncio.gather(*(Client.joined(s, room, f"j{i}", lc.FORMATS[i % 2]) for i in range(10)))
    await obs.wait_viewers(11, timeout=lc.scaled(8))
    elapsed = time.monotonic() - t0
    frames = [m for m in obs.received if m["type"] == "viewers"]
    assert len(frames) <= elapsed / 1.0 + 2, f"{len(frames)} viewers frames in {elapsed:.1f}s with a 1 s tick"
    assert len(frames) < 10
    await obs.assert_silent(2.2, types=("viewers",))
    assert len(joiners) == 10


@async_test(timeout=60)
async def test_live_shard_count_holds_and_sigkilled_shard_drops_out_within_the_bound(start_server, room, rds):
    ttl = 1500
    A = start_server(shard="A", share_ttl_ms=ttl, tick_ms=100)
    B = start_server(shard="B", share_ttl_ms=ttl, tick_ms=100)
    a = await Client.joined(A, room, "a", "json")
    bs = [await Client.joined(B, room, f"b{i}", "msgpack") for i in range(2)]
    await a.wait_viewers(3, timeout=lc.scaled(8))
    # while both shards live, well past the share TTL, the count holds (shares are refreshed)
    await a.assert_silent(ttl / 1000 * 1.7, types=("viewers",))
    assert a.viewers == 3
    await B.akill()
    t0 = time.monotonic()
    await a.wait_viewers(1, timeout=lc.scaled(6))
    elapsed = time.monotonic() - t0
    bound = (ttl + ttl / 3) / 1000
    assert elapsed <= lc.scaled(6)
    print(f"count repaired {elapsed:.2f}s after SIGKILL (documented bound {bound:.2f}s)")
    await lc.async_wait_until(lambda: "B" not in vshare(rds, room) or vshare(rds, room)["B"] == 0,
                              lc.scaled(3), what="B's share gone from vshare")
    assert int(rds.get(rkey(room, "viewers"))) == 1
    # the survivors keep counting normally
    c = await Client.joined(A, room, "c", "msgpack")
    assert c.welcome["viewers"] == 2
    await a.wait_viewers(2)
    del bs


@async_test(timeout=60)
async def test_sigterm_of_a_shard_removes_its_viewers_promptly(start_server, room, rds):
    # default 15 s share TTL: a prompt drop proves the shard cleaned up rather than expired
    A = start_server(shard="A")
    B = start_server(shard="B")
    a = await Client.joined(A, room, "a", "json")
    bs = [await Client.joined(B, room, f"b{i}", lc.FORMATS[i % 2]) for i in range(3)]
    await a.wait_viewers(4, timeout=lc.scaled(8))
    t0 = time.monotonic()
    rc = await B.astop()
    assert rc == 0
    await a.wait_viewers(1, timeout=lc.scaled(5))
    assert time.monotonic() - t0 < 5 * lc.SCALE + 0.5
    assert vshare(rds, room).get("B", 0) == 0
    assert int(rds.get(rkey(room, "viewers"))) == 1
    for b in bs:
        code, _ = await b.expect_close()
        assert code == 1001
