"""SIGTERM / SIGINT: close 1001, flush likes and viewer counts, exit 0."""

import asyncio
import signal
import time

import pytest

import lc
from lc import Client, async_test, rkey


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@async_test(timeout=60)
async def test_signal_closes_clients_with_1001_and_exits_0(start_server, room, sig):
    s = start_server(shard="A")
    clients = [await Client.joined(s, room, f"u{i}", lc.FORMATS[i % 2]) for i in range(3)]
    idle = await Client.connect(s, room, "json")   # no hello yet: closed as well
    rc = await s.astop(sig=sig)
    assert rc == 0, f"exit code {rc} after {sig!r}"
    for c in clients + [idle]:
        code, _ = await c.expect_close()
        assert code == 1001, f"close code {code}"
    with pytest.raises(OSError):
        lc.healthz(s.port, timeout=1)


@pytest.mark.parametrize("tick_ms", [100, 5000])
@async_test(timeout=60)
async def test_sigterm_flushes_pending_likes_and_removes_viewer_share(start_server, room, rds, tick_ms):
    # with a 5 s tick nothing would reach Redis before SIGTERM unless the shutdown flushes it
    A = start_server(shard="A", tick_ms=tick_ms)
    B = start_server(shard="B", tick_ms=100)
    b = await Client.joined(B, room, "bob", "json")
    a = [await Client.joined(A, room, f"a{i}", lc.FORMATS[i % 2]) for i in range(2)]
    await lc.async_wait_until(lambda: rds.hget(rkey(room, "vshare"), "A") == "2", lc.scaled(12),
                              what="A's share of 2 in Redis")
    await b.wait_viewers(3, timeout=lc.scaled(12))
    before = int(rds.get(rkey(room, "likes")) or 0)
    await a[0].like(30)
    await a[1].like(7)
    for c in a:
        await c.ping_pong()   # the like frames have been read by the server
    if tick_ms >= 5000:
        assert int(rds.get(rkey(room, "likes")) or 0) == before, "likes were flushed before the tick?"
    t0 = time.monotonic()
    rc = await A.astop()
    assert rc == 0
    assert time.monotonic() - t0 < lc.scaled(5), "shutdown took too long"
    assert int(rds.get(rkey(room, "likes")) or 0) == before + 37, "likes sent before SIGTERM were not flushed"
    share = rds.hget(rkey(room, "vshare"), "A")
    assert share in (None, "0"), f"A's viewer share still {share!r} after SIGTERM"
    await b.wait_viewers(1, timeout=lc.scaled(3))
    await b.wait_likes(before + 37, timeout=lc.scaled(3))
    assert int(rds.get(rkey(room, "viewers"))) == 1
    for c in a:
        code, _ = await c.expect_close()
        assert code == 1001


@async_test(timeout=60)
async def test_sigterm_with_many_rooms_flushes_every_room(start_server, rds):
    A = start_server(shard="A", tick_ms=1000)
    rooms = [lc.uniq("room_") for _ in range(5)]
    clients = []
    for i, r in enumerate(rooms):
        c = await Client.joined(A, r, "u", lc.FORMATS[i % 2])
        await c.like(i + 1)
        await c.ping_pong()
        clients.append(c)
    rc = await A.astop()
    assert rc == 0
    for i, r in enumerate(rooms):
        assert int(rds.get(rkey(r, "likes")) or 0) == i + 1, f"room {r}"
        assert rds.hget(rkey(r, "vshare"), "A") in (None, "0")
