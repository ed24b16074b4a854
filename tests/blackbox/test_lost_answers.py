"""A request Redis did not answer is `unknown` ("it may have happened: send the same req again"),
never `unavailable` ("nothing happened"): no buyer is told a buy failed that made an order.

`unavailable` is kept for what certainly did not run: Redis known down (nothing sent) or an
error Redis gives before running anything (here: OOM under maxmemory)."""

import asyncio
import collections
import threading
import time

import pytest

import lc
from lc import Client, async_test

ROOMY = {"buy_rate": 1000, "buy_burst": 1000}
STALL_TIMEOUT_MS = 1500   # --redis-timeout-ms of these tests
STALL_S = 3               # DEBUG SLEEP: longer than the timeout


@pytest.fixture
def debug_redis(request, tmp_path):
    """A redis-server of this test that accepts DEBUG SLEEP (from loopback)."""
    r = lc.RedisProc(tmp_path / "debug-redis", extra_args=["--enable-debug-command", "local"])
    r.start()
    yield r
    if r.alive():
        r.kill()


def stall(redis_proc, seconds):
    """DEBUG SLEEP on its own connection, in a thread (it blocks that connection too). Returns
    the thread; it has sent the command when this returns."""
    sent = threading.Event()

    def run():
        r = lc.redis_mod.Redis(host=lc.HOST, port=redis_proc.port, socket_timeout=seconds + 30)
        try:
            sent.set()
            r.execute_command("DEBUG", "SLEEP", str(seconds))
        finally:
            r.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    sent.wait(5)
    time.sleep(0.1)  # the command is at Redis
    return t


async def until_decided(send, timeout):
    """Calls send() (re-sending the same request) until its answer is neither unknown nor
    unavailable; returns (answer, statuses seen before)."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        m = await send()
        if m["status"] not in ("unknown", "unavailable"):
            return m, seen
        seen.append(m["status"])
        assert time.monotonic() < deadline, f"still {m['status']} after {timeout:.0f}s: {m}"
        await asyncio.sleep(0.3)


@async_test(timeout=120)
async def test_buys_in_flight_when_redis_stalls_past_the_timeout_are_unknown_and_a_retry_finds_the_order(
        debug_redis, start_server, room):
    rds = debug_redis.client()
    A = start_server(shard="A", redis_port=debug_redis.port, redis_timeout_ms=STALL_TIMEOUT_MS, **ROOMY)
    B = start_server(shard="B", redis_port=debug_redis.port, redis_timeout_ms=STALL_TIMEOUT_MS, **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    buyers = await asyncio.gather(*(Client.joined((A, B)[i % 2], room, f"b{i:02d}", lc.FORMATS[i // 2 % 2])
                                    for i in range(40)))
    await lc.open_sale(host, "MUG", 100, limit=1)

    t = stall(debug_redis, STALL_S)
    await asyncio.gather(*(lc.send_buy(c, "MUG", f"req-{i}") for i, c in enumerate(buyers)))
    first = await asyncio.gather(*(lc.order_reply(c, f"req-{i}", lc.scaled(15)) for i, c in enumerate(buyers)))
    t.join(STALL_S + lc.scaled(10))
    statuses = collections.Counter(m["status"] for m in first)
    # every one was sent: none may claim that nothing happened
    assert statuses["unavailable"] == 0, statuses
    assert set(statuses) <= {"unknown", "ok"} and statuses["unknown"] > 0, statuses

    # Redis is back: the same req tells each buyer the outcome, and it is the stream's truth
    await lc.async_wait_until(lambda: A.healthz()[0] == 200 and B.healthz()[0] == 200, lc.scaled(15),
                              what="both shards healthy again")
    final = [(await until_decided(lambda i=i, c=c: lc.buy(c, "MUG", f"req-{i}", retry=True), lc.scaled(20)))[0]
             for i, c in enumerate(buyers)]
    entries = lc.orders(rds, room, kind="order")
    by_req = {f["req"]: i for i, f in entries}
    assert len(by_req) == len(entries), "one req made two orders"
    for i, m in enumerate(final):
        assert m["status"] == "ok", m
        assert by_req[f"req-{i}"] == m["order"], (m, by_req.get(f"req-{i}"))
    # every order that exists was reported ok or unknown at first, never unavailable
    for i, m in enumerate(first):
        if f"req-{i}" in by_req:
            assert m["status"] in ("ok", "unknown"), m
    assert int(rds.hget(lc.rkey(room, "sale:MUG"), "left")) == 100 - len(entries)
    # and the metrics say unknown, not unavailable
    unknown = sum(lc.metrics(s.port).get('livecart_orders_total{status="unknown"}', 0) for s in (A, B))
    unavailable = sum(lc.metrics(s.port).get('livecart_orders_total{status="unavailable"}', 0) for s in (A, B))
    assert unknown == statuses["unknown"] and unavailable == 0, (unknown, unavailable)


@async_test(timeout=90)
async def test_cancel_and_group_join_in_flight_when_redis_stalls_are_unknown_then_the_retry_tells(
        debug_redis, start_server, room):
    rds = debug_redis.client()
    s = start_server(redis_port=debug_redis.port, redis_timeout_ms=STALL_TIMEOUT_MS, **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "msgpack")
    bob = await Client.joined(s, room, "bob", "json")
    await lc.open_sale(host, "CUP", 5, limit=2)
    await lc.open_group(host, "BAG", 2, 4)
    order = await lc.buy(ann, "CUP", "first")
    assert order["status"] == "ok"

    t = stall(debug_redis, STALL_S)
    await ann.send({"type": "cancel", "order": order["order"]})
    await bob.send({"type": "group_join", "sku": "BAG", "req": "g1"})
    c1 = await lc._answer(ann, lambda m: m["type"] == "cancelled", "cancelled", lc.scaled(15))
    g1 = await lc.group_reply(bob, "g1", lc.scaled(15))
    t.join(STALL_S + lc.scaled(10))
    assert c1["status"] == "unknown", c1
    assert g1["status"] == "unknown", g1
    await lc.async_wait_until(lambda: s.healthz()[0] == 200, lc.scaled(15), what="healthy again")

    # the cancel ran (Redis read it after its sleep) or not: re-sending it tells which, and
    # stock comes back exactly once
    c2, _ = await until_decided(lambda: lc.cancel(ann, order["order"]), lc.scaled(20))
    assert c2["status"] in ("ok", "already"), c2
    assert len(lc.orders(rds, room, kind="cancel")) == 1
    assert int(rds.hget(lc.rkey(room, "sale:CUP"), "left")) == 5
    # the join: the same req again answers the one membership it made
    g2, _ = await until_decided(lambda: lc.group_join(bob, "BAG", "g1"), lc.scaled(20))
    assert g2["status"] == "joined" and g2["members"] == 1, g2
    g3 = await lc.group_join(bob, "BAG", "g1")
    assert (g3["status"], g3.get("team")) == ("joined", g2.get("team")), g3


@async_test(timeout=90)
async def test_a_comment_in_flight_when_redis_stalls_is_unknown_and_its_req_posts_it_once(
        debug_redis, start_server, room):
    rds = debug_redis.client()
    s = start_server(redis_port=debug_redis.port, redis_timeout_ms=STALL_TIMEOUT_MS)
    ann = await Client.joined(s, room, "ann", "json")
    t = stall(debug_redis, STALL_S)
    await ann.comment("are you there?", req="c-1")
    err = await ann.wait_for(lambda m: m["type"] == "error", lc.scaled(15), what="an error")
    t.join(STALL_S + lc.scaled(10))
    assert err["code"] == "unknown", err
    await lc.async_wait_until(lambda: s.healthz()[0] == 200, lc.scaled(15), what="healthy again")
    # a new connection (the old one may have missed the comment while the subscriber reconnected)
    again = await Client.joined(s, room, "ann", "msgpack")
    deadline = time.monotonic() + lc.scaled(15)
    while True:
        await again.comment("are you there?", req="c-1")
        try:
            m = await again.wait_for(lambda m: m["type"] in ("error", "comment"), lc.scaled(3), what="answer")
        except AssertionError:
            m = None   # a dup is answered by nothing: the comment already went out
        if m is None or m["type"] == "comment" or m["code"] not in ("unknown", "unavailable"):
            break
        assert time.monotonic() < deadline, m
        await asyncio.sleep(0.3)
    texts = [f["t"] for _i, f in rds.xrange(lc.rkey(room, "chat"))]
    assert texts.count("are you there?") == 1, texts


@async_test(timeout=60)
async def test_a_buy_redis_refuses_before_running_it_is_unavailable_and_nothing_happened(
        own_redis, start_server, room):
    rds = own_redis.client()
    s = start_server(redis_port=own_redis.port, **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "msgpack")
    await lc.open_sale(host, "PEN", 3)
    rds.config_set("maxmemory-policy", "noeviction")
    rds.config_set("maxmemory", "1")          # every write is refused with OOM, before it runs
    try:
        m = await lc.buy(ann, "PEN", "oom-1")
        assert m["status"] == "unavailable", m
        assert lc.orders(rds, room) == []
        assert int(rds.hget(lc.rkey(room, "sale:PEN"), "left")) == 3
    finally:
        rds.config_set("maxmemory", "0")
    m = await lc.buy(ann, "PEN", "oom-1", retry=True)       # the same req now buys: it was never decided
    assert m["status"] == "ok", m
    assert len(lc.orders(rds, room)) == 1
