"""Sold out at the shard: once a shard has heard a sku sold out (a `stock` of 0, or a buy's answer
with `left` 0) it answers first-attempt buys `sold_out` itself for the trust second, then lets one
buy at a time through to Redis (the probe); a `"retry": true` buy always reaches Redis (and gets
its first decision back); a closed sale's buys are answered `closed` and a coupon heard gone
answers claims `gone` (`closed` when its window ended with coupons left) at the shard;
`livecart_answered_at_shard_total{kind}` counts these answers (PROTOCOL.md "Flash sale" →
"Sold out at the shard", the `buy` / `coupon_claim` rows, "Coupon drops").

Redis calls are counted with `INFO commandstats` (cmdstat_evalsha) on the node that holds the
room: every decision is one script run by SHA.  Only this test's two shards use that Redis while
it measures, but their periodic scripts (viewer shares, the funnel, likes) run too, so a burst of
N taps answered at the shard is asserted to cost far fewer than N calls, and a burst of N
`retry` taps (which must reach Redis) at least N."""

import asyncio
import time

import pytest

import lc
from lc import Client, async_test, rkey

# one connection taps many times on purpose: lift the per-connection buy bucket
ROOMY = {"buy_rate": 100000, "buy_burst": 100000}
N = 200                 # taps per shard in the big bursts
CHEAP = 20              # "tiny": what a burst of N taps answered at the shard may cost in scripts
TRUST_S = 1.0           # LC_SALE_OUT_TRUST_MS
BUY = 'livecart_answered_at_shard_total{kind="buy"}'
CLAIM = 'livecart_answered_at_shard_total{kind="claim"}'
SHARD_ANSWER_KEYS = {"type", "req", "sku", "status"}


# ------------------------------------------------------------------------------------- helpers


def evalsha_calls(redis_port, room):
    """EVALSHA calls so far on the Redis (node) that holds the room's keys."""
    r = lc.client_for_key(redis_port, rkey(room, "chat"), socket_timeout=lc.T, decode_responses=True)
    try:
        st = r.info("commandstats")
    finally:
        r.close()
    return int(st.get("cmdstat_evalsha", {}).get("calls", 0))


def at_shard(server, kind=BUY):
    return lc.metric(server.port, kind)


async def join_users(server, room, names, fmts=lc.FORMATS):
    return list(await asyncio.gather(*(Client.joined(server, room, u, fmts[i % len(fmts)])
                                       for i, u in enumerate(names))))


async def tap_burst(clients, sku, tag, per_client, retry=False):
    """Every client sends per_client buys (new reqs, `retry` as given) at once, then waits for
    every answer; returns {req: order answer}."""
    reqs = {c: [f"{tag}-{j}-{i}" for i in range(per_client)] for j, c in enumerate(clients)}

    async def one(c):
        for r in reqs[c]:
            await lc.send_buy(c, sku, r, retry=retry)
        return await lc.wait_answers(c, "order", reqs[c], timeout=lc.scaled(15))

    out = {}
    for got in await asyncio.gather(*(one(c) for c in clients)):
        out.update(got)
    return out


async def claim_burst(clients, coupon, tag, per_client, retry=False):
    reqs = {c: [f"{tag}-{j}-{i}" for i in range(per_client)] for j, c in enumerate(clients)}

    async def one(c):
        for r in reqs[c]:
            await lc.send_claim(c, coupon, r, retry=retry)
        return await lc.wait_answers(c, "claim", reqs[c], timeout=lc.scaled(15))

    out = {}
    for got in await asyncio.gather(*(one(c) for c in clients)):
        out.update(got)
    return out


async def renew(c, sku, req):
    """A `retry` buy reaches Redis whatever the shard heard; for a sold-out sku its answer says
    `left` 0, which is a buy's answer with left 0: the shard's mark is fresh as of now."""
    m = await lc.buy(c, sku, req, retry=True)
    assert m["status"] == "sold_out" and m.get("left") == 0, \
        f"a retry buy of sold-out {sku} answered {m} (expected Redis's sold_out with left 0)"
    return time.monotonic()


def statuses(answers):
    out = {}
    for m in answers.values():
        out[m["status"]] = out.get(m["status"], 0) + 1
    return out


def buy_orders(rds, room):
    return [(f["user"], f["req"]) for _, f in lc.orders(rds, room, "order")]


async def sold_out_everywhere(sku, clients):
    """Every client (at least one per shard) has seen the room's sold_out for sku."""
    await asyncio.gather(*(lc.got(c, "sold_out", sku=sku) for c in clients))


# ------------------------------------------------------------------------------ 1. the burst


@async_test(timeout=60)
async def test_after_a_sell_out_first_attempt_taps_on_both_shards_are_answered_sold_out_without_redis(
        start_server, room, rds, redis_port):
    A = start_server(shard="A", **ROOMY)
    B = start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    bob = await Client.joined(A, room, "bob", "msgpack")
    on_a = await join_users(A, room, [f"a{i:02d}" for i in range(20)])
    on_b = await join_users(B, room, [f"b{i:02d}" for i in range(20)])
    await lc.open_sale(host, "TV", 1, price=99900)
    won = await lc.buy(bob, "TV", "bob-1")
    assert (won["status"], won["left"]) == ("ok", 0), won
    await sold_out_everywhere("TV", [on_a[0], on_b[0], host])
    await lc.drain(on_a + on_b + [host, bob], quiet=0.2)

    calls0, ma0, mb0 = evalsha_calls(redis_port, room), at_shard(A), at_shard(B)
    t0 = time.monotonic()
    ans_a, ans_b = await asyncio.gather(tap_burst(on_a, "TV", "tap", N // len(on_a)),
                                        tap_burst(on_b, "TV", "tap", N // len(on_b)))
    spent = time.monotonic() - t0
    calls = evalsha_calls(redis_port, room) - calls0
    da, db = at_shard(A) - ma0, at_shard(B) - mb0
    print(f"{2 * N} sold-out taps in {spent:.2f}s cost {calls} EVALSHA; at shard: A {da:.0f}, B {db:.0f}")

    assert len(ans_a) == len(ans_b) == N
    assert statuses(ans_a) == {"sold_out": N}, statuses(ans_a)
    assert statuses(ans_b) == {"sold_out": N}, statuses(ans_b)
    assert all("order" not in m for m in list(ans_a.values()) + list(ans_b.values()))
    assert calls < CHEAP, f"{2 * N} taps of a sold-out sku cost {calls} EVALSHA calls (expected < {CHEAP}: " \
                          f"the shards heard the sell-out)"
    # each shard answered (nearly) all of its taps itself: only a probe per trust second went on
    probes = 2 + int(spent / TRUST_S)
    assert N - probes <= da <= N, f"shard A answered {da} of {N} taps itself (probes allowed: {probes})"
    assert N - probes <= db <= N, f"shard B answered {db} of {N} taps itself (probes allowed: {probes})"
    assert buy_orders(rds, room) == [("bob", "bob-1")]
    assert rds.hget(rkey(room, "sale:TV"), "left") == "0"

    # the same number of taps marked retry must each reach Redis, and none is answered at the shard
    calls0, ma0 = evalsha_calls(redis_port, room), at_shard(A)
    ans_r = await tap_burst(on_a, "TV", "re", N // len(on_a), retry=True)
    calls = evalsha_calls(redis_port, room) - calls0
    print(f"{N} retry taps cost {calls} EVALSHA")
    assert statuses(ans_r) == {"sold_out": N}, statuses(ans_r)
    assert calls >= N, f"{N} retry taps cost only {calls} EVALSHA calls: some were answered without Redis"
    assert at_shard(A) == ma0, "a retry buy was answered at the shard"
    assert buy_orders(rds, room) == [("bob", "bob-1")]


# ------------------------------------------------------------------------------ 2. re-sends


@async_test(timeout=60)
async def test_a_retry_of_the_winning_req_gets_its_ok_back_and_a_resend_without_retry_is_told_sold_out(
        start_server, room, rds, redis_port):
    A = start_server(shard="A", **ROOMY)
    B = start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    bob = await Client.joined(A, room, "bob", "json")
    bob_b = await Client.joined(B, room, "bob", "msgpack")     # the same user on the other shard
    cat = await Client.joined(A, room, "cat", "msgpack")
    dan = await Client.joined(B, room, "dan", "json")
    await lc.open_sale(host, "LAMP", 1, price=4200)
    won = await lc.buy(bob, "LAMP", "win")
    assert (won["status"], won["left"]) == ("ok", 0), won
    decision = {k: won[k] for k in ("status", "order", "qty", "price", "sku", "req")}
    await sold_out_everywhere("LAMP", [cat, dan])

    for shard, me, other in ((A, bob, cat), (B, bob_b, dan)):
        for i in range(3):
            await renew(other, "LAMP", f"renew-{shard.shard}-{i}")
            # first attempts are answered at the shard meanwhile...
            m0 = at_shard(shard)
            tap = await lc.buy(other, "LAMP", f"tap-{shard.shard}-{i}")
            assert tap == {"type": "order", "req": f"tap-{shard.shard}-{i}", "sku": "LAMP", "status": "sold_out"}, tap
            assert at_shard(shard) == m0 + 1, f"shard {shard.shard}: a first attempt after a sell-out went to Redis"
            # ...but the winner's re-send marked retry reaches Redis and gets its first decision
            calls0 = evalsha_calls(redis_port, room)
            again = await lc.buy(me, "LAMP", "win", retry=True)
            assert {k: again.get(k) for k in decision} == decision, \
                f"shard {shard.shard}: retry of the winning req answered {again}, first answer {won}"
            assert again.get("left") == 0, again
            assert evalsha_calls(redis_port, room) > calls0, "the retry did not reach Redis"
            assert at_shard(shard) == m0 + 1, "a retry buy was counted as answered at the shard"
            # the retry's answer (left 0) renewed the mark: the same req WITHOUT retry is a first
            # attempt as far as the shard knows, answered sold_out (only its sender is misled)
            plain = await lc.buy(me, "LAMP", "win")
            assert plain == {"type": "order", "req": "win", "sku": "LAMP", "status": "sold_out"}, \
                f"shard {shard.shard}: the winning req re-sent without retry answered {plain}"
            assert at_shard(shard) == m0 + 2
    assert buy_orders(rds, room) == [("bob", "win")]
    assert rds.hget(rkey(room, "sale:LAMP"), "left") == "0"


# ------------------------------------------------------------------------- 3. stock comes back


@async_test(timeout=60)
async def test_stock_coming_back_ends_the_mark_at_once_on_every_shard(start_server, room, rds):
    A = start_server(shard="A", **ROOMY)
    B = start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    bob = await Client.joined(A, room, "bob", "msgpack")
    carl = await Client.joined(B, room, "carl", "json")
    dave = await Client.joined(A, room, "dave", "json")
    watch_a = await Client.joined(A, room, "watch_a", "msgpack")
    watch_b = await Client.joined(B, room, "watch_b", "json")
    await lc.open_sale(host, "BAG", 1, price=2500)
    ob = await lc.buy(bob, "BAG", "b1")
    assert (ob["status"], ob["left"]) == ("ok", 0), ob
    await sold_out_everywhere("BAG", [watch_a, watch_b])

    async def comes_back(shard, watcher, buyer, tapper, canceller, order, tag):
        """The shard's mark is fresh (renewed now, and a first attempt is answered at the shard);
        an order is cancelled; as soon as the shard's room sees stock 1, a first attempt buys."""
        t_heard = await renew(tapper, "BAG", f"renew-{tag}")
        m0 = at_shard(shard)
        assert (await lc.buy(tapper, "BAG", f"tap-{tag}"))["status"] == "sold_out"
        assert at_shard(shard) == m0 + 1, f"shard {shard.shard} holds no sold-out mark"
        n_stock = len(lc.stock_seq(watcher, "BAG"))
        c = await lc.cancel(canceller, order)
        assert (c["status"], c.get("left")) == ("ok", 1), c
        await watcher.wait_for(lambda m: lc.stock_seq(watcher, "BAG")[n_stock:][-1:] == [1],
                               what=f"stock 1 on shard {shard.shard}")
        o = await lc.buy(buyer, "BAG", f"buy-{tag}")
        elapsed = time.monotonic() - t_heard
        print(f"shard {shard.shard}: bought {elapsed:.2f}s after the sell-out was last heard")
        assert (o["status"], o.get("left")) == ("ok", 0), \
            f"shard {shard.shard}: a first attempt after the room's stock rose to 1 answered {o}"
        assert at_shard(shard) == m0 + 1, "the buy after the stock came back was answered at the shard"
        # the sell-out was heard less than the trust second before: only the stock message could
        # have ended the mark (not its expiry)
        assert elapsed < TRUST_S, f"stock came back {elapsed:.2f}s after the sell-out was heard: too slow to " \
                                  f"tell the stock message from the trust timeout"
        return o

    # bob (A) cancels: shard B's mark ends with the stock message, carl buys on B
    oc = await comes_back(B, watch_b, carl, watch_b, bob, ob["order"], "B")
    # shard A's room has seen the stock fall to 0 again (coalescing may hide a fall and rise
    # within one tick: then there is no rise to see, and only the trust second bounds the mark)
    await lc.drain(watch_a, quiet=0.3)
    await lc.wait_stock(watch_a, "BAG", 0)
    # carl (B) cancels: shard A's mark ends with the stock message, dave buys on A
    await comes_back(A, watch_a, dave, watch_a, carl, oc["order"], "A")
    assert buy_orders(rds, room) == [("bob", "b1"), ("carl", "buy-B"), ("dave", "buy-A")]
    assert rds.hget(rkey(room, "sale:BAG"), "left") == "0"


# --------------------------------------------------------------------------- 4. trust window


@async_test(timeout=60)
async def test_a_mark_is_trusted_one_second_then_a_probe_finds_stock_put_back_without_a_message(
        start_server, room, rds, redis_port):
    A = start_server(shard="A", **ROOMY)
    B = start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    bob = await Client.joined(A, room, "bob", "json")
    eve = await Client.joined(A, room, "eve", "msgpack")
    fay = await Client.joined(B, room, "fay", "json")
    await lc.open_sale(host, "PUMP", 1, price=700)
    ob = await lc.buy(bob, "PUMP", "b1")
    assert (ob["status"], ob["left"]) == ("ok", 0), ob
    await sold_out_everywhere("PUMP", [eve, fay])
    # two units back in Redis, behind the shards' backs: no stock message
    r = lc.client_for_key(redis_port, rkey(room, "sale:PUMP"), socket_timeout=lc.T, decode_responses=True)
    try:
        assert r.hincrby(rkey(room, "sale:PUMP"), "left", 2) == 2
    finally:
        r.close()
    t_put = time.monotonic()
    m0 = {A.shard: at_shard(A), B.shard: at_shard(B)}

    async def keep_tapping(shard, c, tag):
        seen = []
        i = 0
        while time.monotonic() - t_put < lc.scaled(3 * TRUST_S):
            m = await lc.buy(c, "PUMP", f"{tag}{i}")
            seen.append((time.monotonic() - t_put, m))
            if m["status"] != "sold_out":
                break
            i += 1
            await asyncio.sleep(0.02)
        return seen

    seen_a, seen_b = await asyncio.gather(keep_tapping(A, eve, "e"), keep_tapping(B, fay, "f"))
    for shard, seen in ((A, seen_a), (B, seen_b)):
        t_last, last = seen[-1]
        early = [m for _, m in seen[:-1]]
        print(f"shard {shard.shard}: {len(early)} taps sold_out, then {last['status']} at {t_last:.2f}s")
        assert last["status"] == "ok", \
            f"shard {shard.shard}: no tap bought a unit put back in Redis within {t_last:.2f}s: {last}"
        assert t_last <= lc.scaled(1.5 * TRUST_S), \
            f"shard {shard.shard}: the probe found the unit only {t_last:.2f}s after it was put back"
        # before the probe, the shard trusted its mark: Redis held a unit and yet taps were sold_out
        assert early and all(m["status"] == "sold_out" for m in early), early[-3:]
        assert at_shard(shard) - m0[shard.shard] >= len(early), \
            f"shard {shard.shard}: {len(early)} sold_out taps but at-shard count rose " \
            f"{at_shard(shard) - m0[shard.shard]}"
    assert sorted(buy_orders(rds, room)) == sorted([("bob", "b1"), ("eve", seen_a[-1][1]["req"]),
                                                    ("fay", seen_b[-1][1]["req"])])
    assert rds.hget(rkey(room, "sale:PUMP"), "left") == "0"


# ------------------------------------------------------------------------------------ 5. closed


@async_test(timeout=60)
async def test_buys_of_a_closed_sale_are_answered_closed_by_the_shards(start_server, room, rds, redis_port):
    A = start_server(shard="A", **ROOMY)
    B = start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    on_a = await join_users(A, room, [f"a{i}" for i in range(10)])
    on_b = await join_users(B, room, [f"b{i}" for i in range(10)])
    await lc.open_sale(host, "HAT", 50, limit=50)
    assert (await lc.buy(on_a[0], "HAT", "before"))["status"] == "ok"
    await lc.close_sale(host, "HAT")
    await asyncio.gather(*(lc.got(c, "sale_closed", sku="HAT") for c in on_a + on_b))
    await lc.drain(on_a + on_b + [host], quiet=0.2)

    n = 100
    calls0, ma0, mb0 = evalsha_calls(redis_port, room), at_shard(A), at_shard(B)
    ans_a, ans_b = await asyncio.gather(tap_burst(on_a, "HAT", "tap", n // len(on_a)),
                                        tap_burst(on_b, "HAT", "tap", n // len(on_b)))
    calls = evalsha_calls(redis_port, room) - calls0
    da, db = at_shard(A) - ma0, at_shard(B) - mb0
    print(f"{2 * n} taps of a closed sale cost {calls} EVALSHA; at shard: A {da:.0f}, B {db:.0f}")
    assert statuses(ans_a) == {"closed": n} and statuses(ans_b) == {"closed": n}, (statuses(ans_a), statuses(ans_b))
    assert all("order" not in m and m["sku"] == "HAT" for m in list(ans_a.values()) + list(ans_b.values()))
    assert calls < CHEAP, f"{2 * n} taps of a closed sale cost {calls} EVALSHA calls (expected < {CHEAP})"
    assert n - 5 <= da <= n and n - 5 <= db <= n, (da, db)
    # a retry still asks Redis, which says closed too
    calls0 = evalsha_calls(redis_port, room)
    m = await lc.buy(on_b[0], "HAT", "tap-0-0", retry=True)
    assert m["status"] == "closed" and "order" not in m, m
    assert evalsha_calls(redis_port, room) > calls0
    assert at_shard(B) - mb0 == db
    assert buy_orders(rds, room) == [("a0", "before")]
    assert rds.hget(rkey(room, "sale:HAT"), "left") == "49"


# ------------------------------------------------------------------------------------ 6. coupons


@async_test(timeout=60)
async def test_claims_of_a_coupon_heard_gone_are_answered_gone_by_the_shards_and_a_retry_replays_ok(
        start_server, room, rds, redis_port):
    A = start_server(shard="A", **ROOMY)
    B = start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(A, room, "ann", "msgpack")
    ann_b = await Client.joined(B, room, "ann", "json")
    on_a = await join_users(A, room, [f"a{i}" for i in range(5)])
    on_b = await join_users(B, room, [f"b{i}" for i in range(5)])
    await lc.drop_coupon(host, "ONE", quota=1, secs=600, off=100)
    first = await lc.claim_coupon(ann, "ONE", "grab")
    assert first["status"] == "ok", first
    await asyncio.gather(*(lc.got(c, "coupon_gone", coupon="ONE") for c in on_a + on_b + [ann_b]))
    await lc.drain(on_a + on_b + [host, ann, ann_b], quiet=0.2)

    n = 50
    calls0, ma0, mb0 = evalsha_calls(redis_port, room), at_shard(A, CLAIM), at_shard(B, CLAIM)
    ans_a, ans_b = await asyncio.gather(claim_burst(on_a, "ONE", "c", n // len(on_a)),
                                        claim_burst(on_b, "ONE", "c", n // len(on_b)))
    calls = evalsha_calls(redis_port, room) - calls0
    da, db = at_shard(A, CLAIM) - ma0, at_shard(B, CLAIM) - mb0
    print(f"{2 * n} claims of a gone coupon cost {calls} EVALSHA; at shard: A {da:.0f}, B {db:.0f}")
    for ans in (ans_a, ans_b):
        assert statuses(ans) == {"gone": n}, statuses(ans)
        assert all(m["coupon"] == "ONE" for m in ans.values())
    assert calls < CHEAP, f"{2 * n} claims of a gone coupon cost {calls} EVALSHA calls (expected < {CHEAP})"
    assert da == n and db == n, f"claims answered at the shard: A {da}, B {db} of {n} each"
    assert at_shard(A) == at_shard(B) == 0, "claims counted as buys"

    # the winner's re-send marked retry reaches Redis (on either shard) and replays ok
    for me, shard in ((ann, A), (ann_b, B)):
        calls0, m0 = evalsha_calls(redis_port, room), at_shard(shard, CLAIM)
        again = await lc.claim_coupon(me, "ONE", "grab", retry=True)
        assert {k: v for k, v in again.items() if k != "left"} == {k: v for k, v in first.items() if k != "left"}, \
            (again, first)
        assert evalsha_calls(redis_port, room) > calls0 and at_shard(shard, CLAIM) == m0
        # without retry the shard answers it gone (only its sender is misled)
        plain = await lc.claim_coupon(me, "ONE", "grab")
        assert plain["status"] == "gone" and plain["req"] == "grab", plain
        assert at_shard(shard, CLAIM) == m0 + 1
    # a fresh claim marked retry asks Redis, which says gone too
    m = await lc.claim_coupon(on_b[0], "ONE", "fresh", retry=True)
    assert m["status"] == "gone", m
    assert {u: int(v) for u, v in rds.hgetall(rkey(room, "cclaim:ONE")).items() if int(v)} == {"ann": 1}


@async_test(timeout=60)
async def test_claims_of_a_coupon_whose_window_ended_with_coupons_left_are_answered_closed_by_the_shards(
        start_server, room, rds, redis_port):
    A = start_server(shard="A", **ROOMY)
    B = start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    on_a = await join_users(A, room, [f"a{i}" for i in range(4)])
    on_b = await join_users(B, room, [f"b{i}" for i in range(4)])
    await lc.drop_coupon(host, "BRIEF", quota=10, secs=5, pct=10)
    assert (await lc.claim_coupon(on_a[0], "BRIEF", "early"))["status"] == "ok"
    await asyncio.gather(*(lc.got(c, "coupon_gone", lc.scaled(15), coupon="BRIEF") for c in on_a + on_b))
    await lc.drain(on_a + on_b + [host], quiet=0.2)

    n = 40
    calls0, ma0, mb0 = evalsha_calls(redis_port, room), at_shard(A, CLAIM), at_shard(B, CLAIM)
    ans_a, ans_b = await asyncio.gather(claim_burst(on_a, "BRIEF", "c", n // len(on_a)),
                                        claim_burst(on_b, "BRIEF", "c", n // len(on_b)))
    calls = evalsha_calls(redis_port, room) - calls0
    da, db = at_shard(A, CLAIM) - ma0, at_shard(B, CLAIM) - mb0
    print(f"{2 * n} claims after the window cost {calls} EVALSHA; at shard: A {da:.0f}, B {db:.0f}")
    for ans in (ans_a, ans_b):
        assert statuses(ans) == {"closed": n}, statuses(ans)
    assert calls < CHEAP, f"{2 * n} claims of an ended coupon cost {calls} EVALSHA calls (expected < {CHEAP})"
    assert da == n and db == n, (da, db)
    # Redis agrees
    m = await lc.claim_coupon(on_b[1], "BRIEF", "late", retry=True)
    assert m["status"] == "closed", m


# ------------------------------------------------------------------------------ 7. the answer


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(timeout=60)
async def test_the_shards_sold_out_answer_has_exactly_type_req_sku_status_even_where_redis_says_limit_or_coupon_invalid(
        start_server, room, rds, redis_port, fmt):
    A = start_server(shard="A", **ROOMY)
    B = start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    bob = await Client.joined(A, room, "bob", fmt)          # will be at the sale's limit
    bob_b = await Client.joined(B, room, "bob", fmt)
    cy = await Client.joined(A, room, "cy", fmt)
    cy_b = await Client.joined(B, room, "cy_b", fmt)
    await lc.open_sale(host, "KIT", 1, price=1200, limit=1)
    won = await lc.buy(bob, "KIT", "w")
    assert (won["status"], won["left"]) == ("ok", 0), won
    await sold_out_everywhere("KIT", [bob_b, cy_b])

    for shard, at_limit, other in ((A, bob, cy), (B, bob_b, cy_b)):
        s = shard.shard
        await renew(other, "KIT", f"renew-{s}")
        m0 = at_shard(shard)
        taps = [(other, f"plain-{s}", None), (at_limit, f"limit-{s}", None), (other, f"coupon-{s}", "NOPE")]
        for c, req, coupon in taps:
            await lc.send_buy_coupon(c, "KIT", req, coupon=coupon)
            m = await lc.order_reply(c, req)
            assert set(m) == SHARD_ANSWER_KEYS, f"shard {s}: answer with keys {sorted(m)}: {m}"
            assert m == {"type": "order", "req": req, "sku": "KIT", "status": "sold_out"}, m
        assert at_shard(shard) == m0 + len(taps), f"shard {s}: not every tap was answered at the shard"
        # the same taps marked retry are decided by Redis: limit (checked before stock) and
        # coupon_invalid (checked before stock), nothing bought either way
        m = await lc.buy(at_limit, "KIT", f"limit-{s}", retry=True)
        assert m["status"] == "limit" and "order" not in m, m
        await lc.send_buy_coupon(other, "KIT", f"coupon-{s}", coupon="NOPE", retry=True)
        m = await lc.order_reply(other, f"coupon-{s}")
        assert m["status"] == "coupon_invalid" and "order" not in m, m
        assert at_shard(shard) == m0 + len(taps)
    assert buy_orders(rds, room) == [("bob", "w")]
