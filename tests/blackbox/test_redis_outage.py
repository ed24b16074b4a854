"""Redis unreachable: at start-up and in the middle of a session."""

import asyncio
import time

import lc
from lc import Client, async_test, rkey


async def hello_until_welcome(c, user, timeout):
    """Repeat hello on the same connection until it is welcomed (each refusal must be
    `unavailable`); returns (welcome, number of refusals)."""
    deadline = time.monotonic() + timeout
    refusals = 0
    while True:
        m = await c.hello_reply(user)
        if m["type"] == "welcome":
            return m, refusals
        assert m["type"] == "error" and m["code"] == "unavailable", m
        refusals += 1
        assert time.monotonic() < deadline, f"still unavailable after {timeout:.0f}s"
        await asyncio.sleep(0.3)


async def healthz_status(server):
    try:
        return (await asyncio.to_thread(server.healthz))[0]
    except OSError:
        return None


@async_test(timeout=60)
async def test_server_started_without_redis_answers_unavailable_then_recovers(start_server, own_redis, room):
    redis_proc = own_redis
    await redis_proc.astop()
    s = start_server(wait="listening", redis_port=redis_proc.port)
    assert s.healthz()[0] == 503
    await asyncio.sleep(0.5)
    assert s.alive(), "server must keep running while Redis is down"
    assert "redis" in s.current_log().lower(), "the log should say clearly that Redis is unreachable"

    j = await Client.connect(s, room, "json")
    m = await Client.connect(s, room, "msgpack")
    for c in (j, m):
        await c.send({"type": "hello", "user": "early"})
        await c.expect_error("unavailable")
        await c.ping_pong()        # the connection stays
        assert c.is_open
    await j.comment("x")
    await j.expect_error("not_ready")   # the refused hello did not start a session

    await redis_proc.astart()
    t0 = time.monotonic()
    await lc.async_wait_until(lambda: s.healthz()[0] == 200, lc.scaled(10), what="/healthz 200 after Redis came up")
    wj, _ = await hello_until_welcome(j, "early", lc.scaled(10))
    wm, _ = await hello_until_welcome(m, "early2", lc.scaled(10))
    print(f"recovered {time.monotonic() - t0:.2f}s after Redis started")
    assert wj["room"] == room and wm["viewers"] == 2
    await j.comment("now it works")
    got = await m.wait_comment("now it works")
    assert got["user"] == "early"


@async_test(timeout=90)
async def test_redis_restart_mid_session_unavailable_then_traffic_resumes_without_reconnect(
        start_server, own_redis, room):
    redis_proc, rds = own_redis, own_redis.client()
    A = start_server(shard="A", tick_ms=100, redis_port=redis_proc.port)
    B = start_server(shard="B", tick_ms=100, redis_port=redis_proc.port)
    a = await Client.joined(A, room, "ann", "json")
    b = await Client.joined(B, room, "bob", "msgpack")
    a2 = await Client.joined(A, room, "amy", "msgpack")
    await a.comment("before")
    await b.wait_comment("before")
    await a.like(10)
    for c in (a, b, a2):
        await c.wait_likes(10)

    # Redis goes away (its data is saved to disk, as a real restart would keep it)
    await redis_proc.astop(save=True)
    await lc.async_wait_until(lambda: A.healthz()[0] == 503 and B.healthz()[0] == 503, lc.scaled(5),
                              what="/healthz 503 on both shards")
    await a.comment("during outage")
    await a.expect_error("unavailable")
    await b.comment("during outage B")
    await b.expect_error("unavailable")
    for c in (a, b, a2):
        await c.ping_pong()
        assert c.is_open
    # new sessions are refused too, but their connection stays
    n = await Client.connect(A, room, "json")
    await n.send({"type": "hello", "user": "newbie"})
    await n.expect_error("unavailable")
    await n.ping_pong()
    # likes are accepted while Redis is down (no error), kept and added later
    await a.like(5)
    await b.like(2)
    await a2.like(1)
    for c in (a, b, a2):
        await c.ping_pong()   # would have surfaced an error reply to the like
    assert A.alive() and B.alive()
    await asyncio.sleep(0.5)

    await redis_proc.astart()
    await lc.async_wait_until(lambda: A.healthz()[0] == 200 and B.healthz()[0] == 200, lc.scaled(10),
                              what="/healthz 200 on both shards after Redis is back")

    # comments flow again to the existing connections, on both shards, without reconnecting
    deadline = time.monotonic() + lc.scaled(10)
    while True:
        await a.comment("after outage")
        r = await a.wait_for(lambda m: m["type"] == "error" or (m["type"] == "comment" and m["text"] == "after outage"),
                             what="comment echo or error")
        if r["type"] == "comment":
            break
        assert r["code"] == "unavailable", r
        assert time.monotonic() < deadline, "comments still refused 10 s after Redis came back"
        await asyncio.sleep(0.3)
    mb = await b.wait_comment("after outage", timeout=lc.scaled(10))
    ma2 = await a2.wait_comment("after outage", timeout=lc.scaled(10))
    assert mb == ma2 == r
    await b.comment("B after outage")
    await a.wait_comment("B after outage", timeout=lc.scaled(10))
    # the outage comments were not stored; the old one was kept
    texts = [m["text"] for m in a.comments]
    assert "during outage" not in texts and "during outage B" not in texts
    hist = [e[1]["t"] for e in rds.xrange(rkey(room, "chat"))]
    assert hist == ["before", "after outage", "B after outage"], hist

    # likes sent during the outage are in the total, exactly once
    for c in (a, b, a2):
        await c.wait_likes(18, timeout=lc.scaled(10))
    assert int(rds.get(rkey(room, "likes"))) == 18
    # and the viewer count is right again (3 sessions; the refused hello is not one)
    await lc.async_wait_until(lambda: int(rds.get(rkey(room, "viewers")) or -1) == 3, lc.scaled(8),
                              what="viewers == 3 in Redis")
    await a.like(1)
    await b.wait_likes(19, timeout=lc.scaled(5))
    # the connection whose hello was refused can join now
    wn = await n.hello("newbie")
    assert wn["viewers"] == 4 and wn["likes"] == 19


@async_test(timeout=90)
async def test_redis_restart_with_empty_data_does_not_break_the_server(start_server, own_redis, room):
    # Redis comes back empty (no persistence): scripts must be re-loaded, subscriptions re-made.
    redis_proc, rds = own_redis, own_redis.client()
    s = start_server(shard="A", tick_ms=100, redis_port=redis_proc.port)
    a = await Client.joined(s, room, "ann", "json")
    b = await Client.joined(s, room, "bob", "msgpack")
    await a.comment("old")
    await b.wait_comment("old")
    await redis_proc.astop(save=False)
    await lc.async_wait_until(lambda: s.healthz()[0] == 503, lc.scaled(5), what="/healthz 503")
    await redis_proc.astart()
    await lc.async_wait_until(lambda: s.healthz()[0] == 200, lc.scaled(10), what="/healthz 200")
    deadline = time.monotonic() + lc.scaled(10)
    while True:
        await a.comment("new")
        r = await a.wait_for(lambda m: m["type"] == "error" or (m["type"] == "comment" and m["text"] == "new"),
                             what="comment echo or error")
        if r["type"] == "comment":
            break
        assert r["code"] == "unavailable", r
        assert time.monotonic() < deadline
        await asyncio.sleep(0.3)
    await b.wait_comment("new", timeout=lc.scaled(10))
    await a.like(4)
    await b.wait_likes(4, timeout=lc.scaled(10))
    assert int(rds.get(rkey(room, "likes"))) == 4
    c = await Client.joined(s, room, "cid", "json")
    assert [h["text"] for h in c.welcome["history"]] == ["new"]
    # the shard re-establishes its viewer share in the empty Redis
    await lc.async_wait_until(lambda: int(rds.get(rkey(room, "viewers")) or -1) == 3, lc.scaled(8),
                              what="viewers == 3 in Redis after it came back empty")
    await a.wait_viewers(3, timeout=lc.scaled(5))


@async_test(timeout=60)
async def test_a_hello_right_after_a_refused_one_is_rate_limited_and_a_spinning_client_is_closed(
        start_server, own_redis, room):
    """Every hello costs a script: after three refused in a row a client must wait a little
    (200 ms) before the next; one that does is answered again, one that spins is refused without
    Redis and closed 1008."""
    await own_redis.astop()
    s = start_server(wait="listening", redis_port=own_redis.port)
    c = await Client.connect(s, room, "json")
    hello = {"type": "hello", "user": "spin"}
    for _ in range(3):
        await c.send(hello)
        await c.expect_error("unavailable")
    await c.send(hello)
    await c.expect_error("rate_limited")
    await asyncio.sleep(0.3)
    await c.send(hello)
    await c.expect_error("unavailable")          # waited: answered as before
    refused = 0
    while True:                                   # spin: one hello after the other
        try:
            await c.send(hello)
            m = await c.recv_reply()
        except lc.Closed as e:
            assert e.code == 1008, e
            break
        except lc.websockets.exceptions.ConnectionClosed as e:   # closed while sending
            assert e.rcvd and e.rcvd.code == 1008, e
            break
        assert m["type"] == "error" and m["code"] == "rate_limited", m
        refused += 1
        assert refused < 40, "never closed"
    assert refused >= 28, refused


@async_test(timeout=30)
async def test_without_aof_the_shard_says_an_ok_does_not_survive_a_redis_restart(start_server, own_redis):
    """own_redis runs without AOF: /healthz, the log and the metric say so (PROTOCOL.md, "What
    ok means"), and after Redis comes back with AOF on the shard learns it again."""
    s = start_server(redis_port=own_redis.port)
    await lc.async_wait_until(lambda: "durability: none" in s.healthz()[1], lc.scaled(5), what="durability none")
    assert lc.metrics(s.port)['livecart_redis_durability{mode="none"}'] == 1
    r = own_redis.client()
    try:
        r.config_set("appendonly", "yes")
        r.config_set("appendfsync", "everysec")
        r.client_kill_filter(_type="normal", skipme=True)   # the shard reconnects and asks again
    finally:
        r.close()
    await lc.async_wait_until(lambda: "durability: everysec" in s.healthz()[1], lc.scaled(10),
                              what="durability everysec after the reconnect")
    assert lc.metrics(s.port)['livecart_redis_durability{mode="everysec"}'] == 1
