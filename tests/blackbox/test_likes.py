"""Likes: coalesced per tick, totals from Redis, across shards, validation, exactly-once batches."""

import asyncio
import json
import random
import time

import pytest

import lc
from lc import Client, async_test, rkey


@async_test(timeout=60)
async def test_many_like_frames_become_few_likes_frames_with_exact_total(server, room, rds):
    tick = server.opts["tick-ms"] / 1000
    observer = await Client.joined(server, room, "obs", "msgpack")
    senders = [await Client.joined(server, room, f"s{i}", lc.FORMATS[i % 2]) for i in range(4)]
    counts = [random.randint(1, 5) for _ in range(200)]
    expected = sum(counts)

    t0 = time.monotonic()
    for i, n in enumerate(counts):
        await senders[i % len(senders)].like(n)
    await observer.wait_likes(expected, timeout=lc.scaled(10))
    elapsed = time.monotonic() - t0
    await asyncio.sleep(3 * tick)

    frames = [m for m in observer.received if m["type"] == "likes"]
    totals = [m["total"] for m in frames]
    assert all(lc.is_int(t) for t in totals), totals
    assert totals[-1] == expected
    assert totals == sorted(set(totals)), f"totals must only grow and never repeat: {totals}"
    assert len(frames) < len(counts) / 4, f"{len(frames)} likes frames for {len(counts)} like frames"
    max_frames = elapsed / tick + 3
    assert len(frames) <= max_frames, \
        f"{len(frames)} likes frames in {elapsed:.2f}s is more than one per {tick * 1000:.0f} ms tick"
    assert int(rds.get(rkey(room, "likes"))) == expected
    # every sender hears the same final total
    for s in senders:
        await s.wait_likes(expected)
    # nobody gets a per-like echo or error
    for c in senders + [observer]:
        bad = [m for m in c.received if m["type"] in ("like", "error")]
        assert not bad, bad


@async_test()
async def test_likes_frame_only_when_total_changed(server, room):
    a = await Client.joined(server, room, "ann", "json")
    await a.like(3)
    await a.wait_likes(3)
    await a.assert_silent(1.0, types=("likes",))
    await a.like(1)
    await a.wait_likes(4)
    assert [m["total"] for m in a.received if m["type"] == "likes"] == [3, 4]


@async_test()
async def test_likes_through_two_shards_add_up(start_server, room, rds):
    A = start_server(shard="A")
    B = start_server(shard="B")
    a = await Client.joined(A, room, "ann", "json")
    b = await Client.joined(B, room, "bob", "msgpack")
    for _ in range(3):
        await a.like(10)
    for _ in range(9):
        await b.like(5)
    await a.wait_likes(75, timeout=lc.scaled(8))
    await b.wait_likes(75, timeout=lc.scaled(8))
    assert int(rds.get(rkey(room, "likes"))) == 75
    c = await Client.joined(B, room, "cid", "json")
    assert c.welcome["likes"] == 75
    assert all(m["total"] <= 75 for m in a.received + b.received if m["type"] == "likes")


@async_test()
async def test_like_counts_1_and_100_are_accepted(server, room, rds):
    a = await Client.joined(server, room, "ann", "msgpack")
    await a.like(100)
    await a.like(1)
    await a.wait_likes(101)
    assert int(rds.get(rkey(room, "likes"))) == 101


BAD_COUNTS = [0, 101, -1, "5", 1.5, 1.0, 100.0, True, None, [1], {"n": 1}, 2**40, -2**63, 2**64 - 1]


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_invalid_like_count_gets_bad_request_and_counts_nothing(server, room, rds, fmt):
    a = await Client.joined(server, room, "ann", fmt)
    for bad in BAD_COUNTS:
        await a.send({"type": "like", "count": bad})
        m = await a.recv_reply()
        assert m["type"] == "error" and m["code"] == "bad_request", f"count {bad!r} -> {m}"
    await a.send({"type": "like"})
    await a.expect_error("bad_request")
    if fmt == "json":
        for raw in ['{"type":"like","count":1e2}', '{"type":"like","count":5.0}',
                    '{"type":"like","count":99999999999999999999999}', '{"type":"like","count":"1"}']:
            await a.send_raw(raw)
            m = await a.recv_reply()
            assert m["type"] == "error" and m["code"] == "bad_request", f"{raw} -> {m}"
    await a.like(2)
    await a.wait_likes(2)
    await asyncio.sleep(0.3)
    assert a.likes == 2
    assert int(rds.get(rkey(room, "likes"))) == 2


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_like_before_hello_gets_not_ready_and_is_not_counted(server, room, rds, fmt):
    a = await Client.connect(server, room, fmt)
    await a.like(5)
    await a.expect_error("not_ready")
    w = await a.hello("ann")
    assert w["likes"] == 0
    await a.like(2)
    await a.wait_likes(2)
    assert int(rds.get(rkey(room, "likes"))) == 2


@async_test()
async def test_welcome_likes_is_the_room_total(server, room):
    a = await Client.joined(server, room, "ann", "json")
    await a.like(42)
    await a.wait_likes(42)
    b = await Client.joined(server, room, "bob", "msgpack")
    assert b.welcome["likes"] == 42


@pytest.mark.single_redis_only   # a reply-dropping proxy in front of one redis-server
@async_test(timeout=60)
async def test_like_batch_is_applied_exactly_once_when_redis_reply_is_lost(start_server, redis_proc, room, rds):
    proxy = lc.ReplyDroppingProxy(redis_proc.port)
    try:
        s = start_server(shard="A", redis_port=proxy.port, tick_ms=100)
        a = await Client.joined(s, room, "ann", "json")
        await a.like(3)
        await a.wait_likes(3)
        # lose the reply to the next like batch of this room
        proxy.arm(rkey(room, "like").encode())
        await a.like(7)
        await lc.async_wait_until(lambda: proxy.cuts >= 1, lc.scaled(8),
                                  what="the like batch request (a command naming lc:{room}:like*) to be seen "
                                       "and its reply dropped")
        assert proxy.dropped, "no reply was dropped"
        # the shard reconnects and retries; the batch must count once
        await a.wait_for(lambda m: (a.likes or 0) >= 10, lc.scaled(15), what="likes total >= 10 after the retry")
        await asyncio.sleep(0.5)
        assert int(rds.get(rkey(room, "likes"))) == 10, "the retried like batch was counted twice"
        assert a.likes == 10, f"clients saw total {a.likes}, expected 10"
        await a.like(1)
        await a.wait_likes(11, timeout=lc.scaled(10))
        await asyncio.sleep(0.5)
        assert int(rds.get(rkey(room, "likes"))) == 11
        assert a.likes == 11
        totals = [m["total"] for m in a.received if m["type"] == "likes"]
        assert max(totals) == 11, f"a batch was counted twice at some point: {totals}"
    finally:
        proxy.close()
