"""Coupon drops (抢券): the streamer (or the shop, through the publish API) drops N coupons, viewers
on every shard claim them; exactly the quota is handed out in a 5,000-claimer race over two
shards with retries and reconnects, never more than per_user to a user, never one twice;
claim answers (ok / limit / gone / closed / invalid / req_reused / rate_limited), idempotent
by (user, req) across shards; `coupon` in the room and in welcomes while claimable, coalesced
`coupon_left`, `coupon_gone` exactly once (quota or window); `coupons` -> `my_coupons`;
redeeming in a buy: off and pct math per unit, sku and min_price, used once, given back by a
cancel; livecart_coupons_total (PROTOCOL.md "Coupon drops", "Flash sale", "Checkout")."""

import asyncio
import collections
import time

import pytest

import lc
from lc import Client, async_test, rkey

KEY = "coupon-api-key-0123456789"
API = {"LIVECART_API_KEY": KEY}
ROOMY = {"buy_rate": 1000, "buy_burst": 1000}
NO_DECISION = ("unknown", "unavailable", "rate_limited")   # re-send the same req


def same_answer(a, b):
    """A retried req's answer is the first one, but for `left`: a replay tells the stock now
    (as for flash sales since before checkout: test_sale.py compares the same way)."""
    assert {k: v for k, v in a.items() if k != "left"} == {k: v for k, v in b.items() if k != "left"}, (a, b)
    return True


def now_ms():
    return int(time.time() * 1000)


def sale_left(rds, room, sku):
    v = rds.hget(rkey(room, f"sale:{sku}"), "left")
    return None if v is None else int(v)


def expected_coupon(drop, left=None, ends=None):
    """The `coupon` message for a coupon_drop message (left: quota unless given)."""
    m = {"type": "coupon", "coupon": drop["coupon"], "title": drop["title"], "quota": drop["quota"],
         "left": drop["quota"] if left is None else left, "per_user": drop.get("per_user", 1), "ends": ends}
    for k in ("off", "pct", "sku", "min_price"):
        if k in drop:
            m[k] = drop[k]
    return m


async def drop_checked(host, redis_port, room, coupon, **fields):
    """Drop a coupon; check the `coupon` the streamer receives (every key, ends = Redis's clock
    at the drop + secs) and return (drop message, coupon message)."""
    drop = lc.coupon_drop_msg(coupon, **fields)
    t0 = lc.redis_ms(redis_port, room)
    await host.send(drop)
    m = await lc._answer(host, lambda m: m["type"] == "coupon" and m.get("coupon") == coupon, f"coupon {coupon}")
    t1 = lc.redis_ms(redis_port, room)
    assert lc.is_int(m.get("ends")), m
    assert t0 + drop["secs"] * 1000 <= m["ends"] <= t1 + drop["secs"] * 1000, \
        f"ends {m['ends']} is not the drop time + secs ({t0}..{t1} + {drop['secs']} s)"
    assert m == expected_coupon(drop, ends=m["ends"]), m
    return drop, m


def held(rds, room, coupon, what="cclaim"):
    """{user: n} of lc:{R}:cclaim:ID (or cused:ID), zeros left out."""
    return {u: int(v) for u, v in rds.hgetall(rkey(room, f"{what}:{coupon}")).items() if int(v)}


def coupons_metric(port, event):
    return lc.metric(port, f'livecart_coupons_total{{event="{event}"}}')


def decision(m):
    """A claim answer without `left`: PROTOCOL.md says a retried req answers the first decision,
    and does not say whether `left` is the count then or now."""
    return {k: v for k, v in m.items() if k != "left"}


def claims_metric(port, status):
    return lc.metric(port, f'livecart_coupon_claims_total{{status="{status}"}}')


def welcome_coupons(c):
    return c.welcome.get("coupons", [])


def stream_orders(rds, room, **match):
    return [(i, f) for i, f in lc.orders(rds, room, "order") if all(f.get(k) == v for k, v in match.items())]


# ------------------------------------------------------------------------------------ the drop


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(timeout=60)
async def test_a_dropped_coupon_reaches_every_shard_and_welcomes_list_it_while_claimable(
        start_server, room, rds, redis_port, fmt):
    other = "msgpack" if fmt == "json" else "json"
    A, B = start_server(shard="A", **ROOMY), start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    early_a = await Client.joined(A, room, "early_a", fmt)
    early_b = await Client.joined(B, room, "early_b", other)
    assert welcome_coupons(early_a) == [] and welcome_coupons(early_b) == []
    drop, c = await drop_checked(host, redis_port, room, "SPRING10", title="Spring 10 % ✿", quota=2, secs=120,
                                 pct=10, per_user=1, sku="TEA", min_price=500)
    for v in (early_a, early_b):
        assert await lc.got(v, "coupon", coupon="SPRING10") == c
    late = await Client.joined(B, room, "late", fmt)
    assert welcome_coupons(late) == [{**c, "used": 0}], late.welcome  # the welcome adds `used`
    # the coupon in Redis
    h = rds.hgetall(rkey(room, "coupon:SPRING10"))
    assert {k: h.get(k) for k in ("title", "pct", "quota", "left", "per_user", "ends", "sku", "min_price")} == \
        {"title": "Spring 10 % ✿", "pct": "10", "quota": "2", "left": "2", "per_user": "1",
         "ends": str(c["ends"]), "sku": "TEA", "min_price": "500"}, h
    assert "open" in h and h.get("used") in (None, "0"), h
    ttl = rds.ttl(rkey(room, "coupon:SPRING10"))
    assert 86400 + 120 - 60 <= ttl <= 86400 + 120 + 5, f"the coupon must expire a day after ends: ttl {ttl}"
    assert rds.smembers(rkey(room, "coupons")) == {"SPRING10"}
    assert rds.zscore(rkey(room, "couponids"), "SPRING10") is not None

    ann = await Client.joined(A, room, "ann", other)
    m = await lc.claim_coupon(ann, "SPRING10", "a1")
    assert {k: m.get(k) for k in ("req", "coupon", "status")} == {"req": "a1", "coupon": "SPRING10", "status": "ok"}
    assert m.get("left", 1) == 1, m
    assert held(rds, room, "SPRING10") == {"ann": 1}
    late2 = await Client.joined(A, room, "late2", fmt)
    assert welcome_coupons(late2) == [{**c, "left": 1, "used": 0}], late2.welcome
    # the last one: coupon_gone once everywhere, and welcomes stop listing it
    bob = await Client.joined(B, room, "bob", fmt)
    assert (await lc.claim_coupon(bob, "SPRING10", "b1"))["status"] == "ok"
    everyone = [host, early_a, early_b, late, ann, late2, bob]
    for v in everyone:
        assert await lc.got(v, "coupon_gone", coupon="SPRING10") == {"type": "coupon_gone", "coupon": "SPRING10"}
    late3 = await Client.joined(B, room, "late3", fmt)
    assert welcome_coupons(late3) == [], late3.welcome
    assert rds.smembers(rkey(room, "coupons")) == set()
    assert int(rds.hget(rkey(room, "coupon:SPRING10"), "left")) == 0
    await lc.drain(everyone)
    for v in everyone:
        assert len(lc.coupons_of(v, "SPRING10", ("coupon_gone",))) == 1
        assert len(lc.coupons_of(v, "SPRING10", ("coupon",))) <= 1     # the drop, live, only once


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_a_viewer_or_moderator_may_not_drop_a_coupon_and_nothing_is_published(start_server, room, rds, fmt):
    A, B = start_server(shard="A", **ROOMY), start_server(shard="B", **ROOMY)
    watcher = await Client.joined(B, room, "watcher", "msgpack")
    for user, role in (("vic", None), ("val", "viewer"), ("mod", "moderator")):
        c = await Client.joined(A, room, user, fmt, role=role)
        await c.send(lc.coupon_drop_msg("FAKE", quota=5, secs=60, off=100))
        await lc.expect_error_answer(c, "forbidden")
        await c.ping_pong()
    await watcher.assert_silent(0.5, types=lc.COUPON_TRAFFIC)
    assert not rds.exists(rkey(room, "coupon:FAKE"))
    assert rds.smembers(rkey(room, "coupons")) == set()
    assert (await lc.claim_coupon(watcher, "FAKE", "f1"))["status"] == "closed"


@async_test()
async def test_the_shop_drops_a_coupon_through_the_publish_api(start_server, room, rds):
    A = start_server(shard="A", env=API, **ROOMY)
    B = start_server(shard="B", env=API, **ROOMY)
    v = await Client.joined(B, room, "viewer", "msgpack")
    body = {"type": "coupon_drop", "coupon": "SHOP5", "title": "Shop 5 off", "off": 500, "quota": 3, "secs": 300,
            "per_user": 2}
    path = f"/api/rooms/{room}/messages"
    assert lc.api_call(A.port, "POST", path, body=body)[0] == 401
    st, b, _ = lc.api_call(A.port, "POST", path, body=body, key=KEY)
    assert st == 202 and b == {"coupon": "SHOP5"}, (st, b)
    c = await lc.got(v, "coupon", coupon="SHOP5")
    assert c == expected_coupon(body, ends=c["ends"]), c
    assert (await lc.claim_coupon(v, "SHOP5", "s1"))["status"] == "ok"
    # the same rules as the streamer's drop: 400 for a bad one; an id in use is 409 conflict
    # (PROTOCOL "HTTP API": a drop retried after a 504 finds it dropped)
    for bad in ({**body, "coupon": "SHOP6", "pct": 10}, {**body, "coupon": "SHOP6", "quota": 0},
                {**body, "coupon": "bad id"}):
        st, b, _ = lc.api_call(B.port, "POST", path, body=bad, key=KEY)
        assert st == 400, (bad, st, b)
    st, b, _ = lc.api_call(B.port, "POST", path, body=body, key=KEY)
    assert st == 409 and b.get("error") == "conflict", (st, b)
    await v.assert_silent(0.3, types=("coupon",))
    assert not rds.exists(rkey(room, "coupon:SHOP6"))
    assert rds.hget(rkey(room, "coupon:SHOP5"), "quota") == "3"


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_coupon_drop_out_of_range_is_bad_request(start_server, room, rds, fmt):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", fmt, role="streamer")
    base = lc.coupon_drop_msg("OK1", quota=1, secs=60, off=100)
    no_off = {k: v for k, v in base.items() if k != "off"}
    bad = [{**base, "coupon": "a b"}, {**base, "coupon": "x" * 65}, {**base, "coupon": ""}, {**base, "coupon": 7},
           {**base, "title": ""}, {**base, "title": "x" * 201},
           {**base, "pct": 10},                                    # both off and pct
           no_off,                                                 # neither
           {**base, "off": 0}, {**base, "off": 10**12 + 1}, {**base, "off": "100"},
           {**no_off, "pct": 0}, {**no_off, "pct": 91},
           {**base, "quota": 0}, {**base, "quota": 10**6 + 1}, {**base, "per_user": 0}, {**base, "per_user": 101},
           {**base, "secs": 4}, {**base, "secs": 3601}, {**base, "secs": None},
           {**base, "sku": "a b"}, {**base, "sku": "s" * 65}, {**base, "min_price": -1}]
    if fmt == "json":
        bad.append({**base, "quota": 1.0})
    for msg in bad:
        await host.send(msg)
        m = await lc.recv_answer(host)
        assert m["type"] == "error" and m.get("code") == "bad_request", (msg, m)
    await host.ping_pong()
    assert rds.smembers(rkey(room, "coupons")) == set()
    # the bounds themselves are fine
    for i, change in enumerate(({"off": 10**12}, {"quota": 10**6, "per_user": 100, "secs": 3600},
                                {"secs": 5, "min_price": 0, "sku": "s" * 64}, {"title": "x" * 200})):
        msg = {**base, "coupon": f"B{i}", **change}
        await host.send(msg)
        await lc._answer(host, lambda m, i=i: m["type"] == "coupon" and m["coupon"] == f"B{i}", f"coupon B{i}")
    for pct in (1, 90):
        await host.send({**no_off, "coupon": f"P{pct}", "pct": pct})
        m = await lc._answer(host, lambda m, pct=pct: m["type"] == "coupon" and m["coupon"] == f"P{pct}", "coupon")
        assert m["pct"] == pct and "off" not in m, m
    await host.send({**base, "coupon": "c" * 64})
    await lc._answer(host, lambda m: m["type"] == "coupon" and m["coupon"] == "c" * 64, "64-byte id")
    # an id in use is refused
    await host.send({**base, "coupon": "B0", "quota": 5})
    await lc.expect_error_answer(host, "bad_request")
    assert rds.hget(rkey(room, "coupon:B0"), "quota") == "1"


@async_test(timeout=60)
async def test_a_room_holds_at_most_20_claimable_coupons(start_server, room):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    for i in range(20):
        await host.send(lc.coupon_drop_msg(f"K{i}", quota=1, secs=600, off=10))
    await host.wait_for(lambda m: m["type"] == "coupon" and m["coupon"] == "K19", lc.scaled(10))
    assert not [m for m in host.received if m["type"] == "error"], host.received[-3:]
    await host.send(lc.coupon_drop_msg("K20", quota=1, secs=600, off=10))
    await lc.expect_error_answer(host, "bad_request")
    late = await Client.joined(s, room, "late", "msgpack")
    assert sorted(c["coupon"] for c in welcome_coupons(late)) == sorted(f"K{i}" for i in range(20))
    # one is gone (its quota claimed): room for another
    assert (await lc.claim_coupon(late, "K0", "k0"))["status"] == "ok"
    await lc.got(host, "coupon_gone", coupon="K0")
    await lc.drop_coupon(host, "K20", quota=1, secs=600, off=10)


# ---------------------------------------------------------------------------------------- claims


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(timeout=60)
async def test_claims_answer_ok_limit_gone_closed_invalid_and_req_reused(start_server, room, rds, fmt):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", fmt)
    bob = await Client.joined(s, room, "bob", fmt)
    cat = await Client.joined(s, room, "cat", fmt)
    await lc.drop_coupon(host, "DUO", quota=3, per_user=2, secs=600, pct=10)
    a1 = await lc.claim_coupon(ann, "DUO", "a1")
    assert (a1["status"], a1.get("left", 2)) == ("ok", 2), a1
    a2 = await lc.claim_coupon(ann, "DUO", "a2")
    assert (a2["status"], a2.get("left", 1)) == ("ok", 1), a2
    a3 = await lc.claim_coupon(ann, "DUO", "a3")         # holds per_user already
    assert a3["status"] == "limit" and a3["coupon"] == "DUO", a3
    assert int(rds.hget(rkey(room, "coupon:DUO"), "left")) == 1
    b1 = await lc.claim_coupon(bob, "DUO", "b1")
    assert (b1["status"], b1.get("left", 0)) == ("ok", 0), b1
    c1 = await lc.claim_coupon(cat, "DUO", "c1")         # the quota is exhausted
    assert c1["status"] == "gone", c1
    # at the limit and gone: either is true (PROTOCOL.md gives no precedence)
    assert (await lc.claim_coupon(ann, "DUO", "a4"))["status"] in ("limit", "gone")
    assert held(rds, room, "DUO") == {"ann": 2, "bob": 1}
    # no such coupon: closed; not an id: invalid
    assert (await lc.claim_coupon(cat, "NOPE", "c2"))["status"] == "closed"
    for req, bad in (("c3", "not an id!"), ("c4", "a.b"), ("c5", "ÄÖ")):
        m = await lc.claim_coupon(cat, bad, req)
        assert m["status"] == "invalid" and m["coupon"] == bad, m
    for req, bad in (("c6", "x" * 65), ("c7", "")):       # out of range: invalid or bad_request
        await lc.send_claim(cat, bad, req)
        m = await lc.recv_answer(cat)
        assert (m["type"], m.get("status") or m.get("code")) in (("claim", "invalid"), ("error", "bad_request")), m
    # one req is one tap: a req used for another coupon or for a buy is req_reused
    await lc.drop_coupon(host, "SOLO", quota=10, secs=600, off=50)
    await lc.open_sale_pay(host, "GUM", 10, price=100)
    m = await lc.claim_coupon(ann, "SOLO", "a1")
    assert m["status"] == "req_reused", m
    assert (await lc.buy_coupon(cat, "GUM", "g1"))["status"] == "ok"
    assert (await lc.claim_coupon(cat, "SOLO", "g1"))["status"] == "req_reused"
    ok = await lc.claim_coupon(cat, "SOLO", "s1")
    assert ok["status"] == "ok"
    assert (await lc.buy_coupon(cat, "GUM", "s1"))["status"] == "req_reused"
    assert held(rds, room, "SOLO") == {"cat": 1}
    assert sale_left(rds, room, "GUM") == 9
    # the first answers stand
    assert decision(await lc.claim_coupon(ann, "DUO", "a3", retry=True)) == decision(a3)
    assert decision(await lc.claim_coupon(ann, "DUO", "a1", retry=True)) == decision(a1)
    # malformed claims are errors, not answers
    for msg in ({"type": "coupon_claim", "coupon": "SOLO"}, {"type": "coupon_claim", "coupon": 5, "req": "e1"},
                {"type": "coupon_claim", "req": "e2"}, {"type": "coupon_claim", "coupon": "SOLO", "req": 9}):
        await cat.send(msg)
        await lc.expect_error_answer(cat, "bad_request")
    nobody = await Client.connect(s, room, fmt)
    await lc.send_claim(nobody, "SOLO", "n1")
    await lc.expect_error_answer(nobody, "not_ready")
    assert held(rds, room, "SOLO") == {"cat": 1}


@async_test(timeout=60)
async def test_claims_share_the_buy_bucket_of_the_connection(start_server, room, rds):
    s = start_server(shard="A")         # defaults: 2 per second, burst 5
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "msgpack")
    await lc.drop_coupon(host, "MANY", quota=100, per_user=100, secs=600, off=1)
    await lc.open_sale_pay(host, "PIN", 100, price=10, limit=100)
    t0 = time.monotonic()
    for i in range(3):
        await lc.send_buy_coupon(ann, "PIN", f"b{i}")
    for i in range(17):
        await lc.send_claim(ann, "MANY", f"c{i}")
    buys = await lc.wait_answers(ann, "order", [f"b{i}" for i in range(3)])
    claims = await lc.wait_answers(ann, "claim", [f"c{i}" for i in range(17)])
    spent = time.monotonic() - t0
    passed = [m for m in list(buys.values()) + list(claims.values()) if m["status"] != "rate_limited"]
    assert all(m["status"] == "ok" for m in passed), passed
    assert 5 <= len(passed) <= 5 + int(spent * 2), f"{len(passed)} of 20 buys and claims passed in {spent:.2f}s"
    limited = [m for m in claims.values() if m["status"] == "rate_limited"]
    assert limited and all("left" not in m or lc.is_int(m["left"]) for m in limited)
    n_claims = sum(1 for m in claims.values() if m["status"] == "ok")
    assert held(rds, room, "MANY") == ({"ann": n_claims} if n_claims else {})
    # a rate-limited claim was never decided: sent again later, it is
    await asyncio.sleep(1.2)
    assert (await lc.claim_coupon(ann, "MANY", limited[0]["req"]))["status"] == "ok"


@async_test(timeout=60)
async def test_a_claim_sent_again_on_another_shard_or_on_both_at_once_is_decided_once(start_server, room, rds):
    A, B = start_server(shard="A", **ROOMY), start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    await lc.drop_coupon(host, "ONCE", quota=25, per_user=3, secs=600, off=100)
    ann = await Client.joined(A, room, "ann", "json")
    first = await lc.claim_coupon(ann, "ONCE", "tap-1")
    assert first["status"] == "ok", first
    await ann.close()
    ann_b = await Client.joined(B, room, "ann", "msgpack")
    for _ in range(2):
        assert decision(await lc.claim_coupon(ann_b, "ONCE", "tap-1")) == decision(first)
    assert held(rds, room, "ONCE") == {"ann": 1}
    assert int(rds.hget(rkey(room, "coupon:ONCE"), "left")) == 24
    # the key is (user, req): bob's tap-1 is his own
    bob = await Client.joined(B, room, "bob", "json")
    assert (await lc.claim_coupon(bob, "ONCE", "tap-1"))["status"] == "ok"
    # 30 users, each connected to both shards, send the same req on both at once
    users = [f"twin{i:02d}" for i in range(30)]
    pairs = []
    for i, u in enumerate(users):
        pairs.append((await Client.joined(A, room, u, lc.FORMATS[i % 2]),
                      await Client.joined(B, room, u, lc.FORMATS[(i + 1) % 2])))
    # both marked re-sends: they are one claim sent twice, and a first attempt may be answered
    # `gone` by a shard that already heard the coupon run out (PROTOCOL.md "Sold out at the
    # shard") while its twin on the other shard reached Redis in time
    for u, (a, b) in zip(users, pairs):
        await lc.send_claim(a, "ONCE", f"same-{u}", retry=True)
        await lc.send_claim(b, "ONCE", f"same-{u}", retry=True)
    got = await asyncio.gather(*(lc.claim_answer(c, f"same-{u}", lc.scaled(15)) for u, p in zip(users, pairs)
                                 for c in p))
    winners = set()
    for k, u in enumerate(users):
        a, b = got[2 * k], got[2 * k + 1]
        assert decision(a) == decision(b), (u, a, b)
        assert a["status"] in ("ok", "gone"), a
        if a["status"] == "ok":
            winners.add(u)
    assert len(winners) == 23, f"{len(winners)} of 23 coupons left were handed out"
    assert held(rds, room, "ONCE") == {"ann": 1, "bob": 1, **{u: 1 for u in winners}}
    assert int(rds.hget(rkey(room, "coupon:ONCE"), "left")) == 0


# -------------------------------------------------------------------------- the 5,000-claimer race


@async_test(timeout=180)
async def test_race_5000_claimers_over_two_shards_take_exactly_the_quota_and_nobody_one_twice(
        start_server, room, rds, redis_port):
    """5,000 users, one connection each, half on each shard, claim 500 coupons (per_user 2): every
    user taps once (every other one double-taps the same req before any answer), every tenth
    taps three times; 200 lose their connection right after tapping and come back on the other
    shard re-sending the same reqs; a no-decision answer is re-sent with the same req."""
    coupon, quota, per_user, n = "RUSH", 500, 2, 5000
    # default buckets (a real crowd); a 250 ms tick: 5,000 joins make every connection hear a
    # `viewers` per tick, and at 100 ms that flood alone keeps this Python client busy for longer
    # than the race (coupon_left coalescing at the default tick: the test after this one)
    A, B = start_server(shard="A", tick_ms=250), start_server(shard="B", tick_ms=250)
    shards = (A, B)
    t0 = time.monotonic()
    streamer = await Client.joined(A, room, "host", "json", role="streamer")
    viewers = [await Client.joined(shards[i % 2], room, f"watcher{i}", lc.FORMATS[(i // 2) % 2]) for i in range(6)]
    users = [f"grab{i:04d}" for i in range(n)]
    conns = {}
    for i in range(0, n, 250):
        part = range(i, min(n, i + 250))
        got = await asyncio.gather(*(Client.joined(shards[j % 2], room, users[j], lc.FORMATS[(j // 2) % 2])
                                     for j in part))
        conns.update(zip((users[j] for j in part), got))
    original = dict(conns)
    t_connected = time.monotonic()
    claimed_before = sum(coupons_metric(s.port, "claimed") for s in shards)

    try:
        c = await lc.drop_coupon(streamer, coupon, title="Rush: 1 yuan off", quota=quota, per_user=per_user,
                                 secs=600, off=100)
        everyone = [streamer] + viewers + list(conns.values())
        await asyncio.gather(*(x.wait_for(lambda m, x=x: bool(lc.coupons_of(x, coupon, ("coupon",))), lc.scaled(40),
                                          what="the coupon")
                               for x in everyone if not lc.coupons_of(x, coupon, ("coupon",))))
        for x in everyone:
            assert lc.coupons_of(x, coupon, ("coupon",)) == [c]

        taps = {u: ["t1", "t2", "t3"] if i % 10 == 5 else ["t1"] for i, u in enumerate(users)}
        droppers = {u for i, u in enumerate(users) if i % 25 == 3}
        closing = []
        t_go = time.monotonic()
        for i, u in enumerate(users):
            x = conns[u]
            for k, t in enumerate(taps[u]):
                await lc.send_claim(x, coupon, f"{t}-{u}")
                if k == 0 and i % 2:
                    await lc.send_claim(x, coupon, f"{t}-{u}", retry=True)  # a double tap before any answer
            if u in droppers:
                if i % 2:
                    x.ws.transport.abort()                          # cut
                else:
                    closing.append(asyncio.ensure_future(x.ws.close()))   # closed
        retried = collections.Counter()

        async def settle(i, u):
            """Until every tap of u is decided; returns {req: first decided answer}."""
            x = conns[u]
            reqs = [f"{t}-{u}" for t in taps[u]]
            sent = {r: 1 for r in reqs}
            if i % 2:
                sent[reqs[0]] = 2
            if u in droppers:
                await asyncio.sleep(0.02 * (i % 10))
                x = conns[u] = await Client.joined(shards[(i + 1) % 2], room, u, lc.FORMATS[((i // 2) + 1) % 2])
                retried["reconnect"] += 1
                sent = {r: 0 for r in reqs}
            final = {}
            deadline = time.monotonic() + lc.scaled(60)
            while True:
                for r in reqs:
                    if r in final:
                        continue
                    have = [m for m in x.received if m["type"] == "claim" and m.get("req") == r]
                    decided = [m for m in have if m["status"] not in NO_DECISION]
                    if decided:
                        final[r] = decided[0]
                    elif len(have) >= sent[r]:          # all it sent was answered, none decided it
                        if have:
                            retried[have[-1]["status"]] += 1
                            await asyncio.sleep(0.6 if have[-1]["status"] == "rate_limited" else 0.2)
                        await lc.send_claim(x, coupon, r, retry=True)   # a re-send: decided by Redis
                        sent[r] += 1
                if len(final) == len(reqs):
                    return final
                assert time.monotonic() < deadline, f"{u}: taps not decided: {[r for r in reqs if r not in final]}"
                m = await x.wait_for(lambda m: m["type"] in ("claim", "error"), lc.scaled(30), what=f"a claim for {u}")
                assert m["type"] == "claim", f"{u}: {m}"

        decisions = await asyncio.gather(*(settle(i, u) for i, u in enumerate(users)))
        t_decided = time.monotonic()
        await asyncio.gather(*closing, return_exceptions=True)
        final = {(u, r): m for u, d in zip(users, decisions) for r, m in d.items()}

        # exactly the quota, never more than per_user, a limit only for a user who holds per_user
        statuses = collections.Counter(m["status"] for m in final.values())
        assert set(statuses) <= {"ok", "gone", "limit"}, statuses
        assert statuses["ok"] == quota, statuses
        oks = collections.Counter(u for (u, _), m in final.items() if m["status"] == "ok")
        assert max(oks.values()) <= per_user
        for (u, r), m in final.items():
            assert m["coupon"] == coupon and m["req"] == r, m
            if m["status"] == "limit":
                assert oks[u] == per_user, f"{u} was told limit holding {oks[u]}: {m}"
        # every answer to one (user, req), on any connection, is the first decision
        for u in users:
            for x in {id(original[u]): original[u], id(conns[u]): conns[u]}.values():
                for m in x.received:
                    if m["type"] == "claim" and m["status"] not in NO_DECISION:
                        assert decision(m) == decision(final[(u, m["req"])]), (m, final[(u, m["req"])])
        # a req sent once on a connection that stayed: its answer is the decision itself, and the
        # coupons left after two ok claims are never the same number
        once = [m["left"] for (u, r), m in final.items() if m["status"] == "ok" and "left" in m
                and u not in droppers and not (r.startswith("t1-") and int(u[4:]) % 2)]
        assert len(once) == len(set(once)) and all(0 <= v < quota for v in once), "two ok claims saw the same left"
        # Redis agrees: the claim hash is exactly the ok answers, nothing left
        assert held(rds, room, coupon) == dict(oks)
        assert int(rds.hget(rkey(room, f"coupon:{coupon}"), "left")) == 0
        assert coupon not in rds.smembers(rkey(room, "coupons"))

        # every connection that was there all along saw coupon_gone once; coupon_left only fell,
        # to 0, coalesced, the same on every connection of a shard
        steady = [streamer] + viewers + [original[u] for u in users if u not in droppers]
        await asyncio.gather(*(lc.got(x, "coupon_gone", lc.scaled(15), coupon=coupon) for x in steady))
        back = [conns[u] for u in droppers]
        await lc.drain(steady + back, quiet=0.5)
        tick = A.opts["tick-ms"] / 1000
        most = (time.monotonic() - t_go) / tick + 3
        for x in steady:
            who = f"{x.welcome['shard']}/{x.fmt} connection"
            gone = lc.coupons_of(x, coupon, ("coupon_gone",))
            assert gone == [{"type": "coupon_gone", "coupon": coupon}], f"{who}: {gone}"
            lefts = lc.coupons_of(x, coupon, ("coupon_left",))
            seq = [m["left"] for m in lefts]
            assert seq and seq[-1] == 0, f"{who}: coupon_left {seq[-5:]}"
            assert seq == sorted(set(seq), reverse=True) and all(0 <= v < quota for v in seq), f"{who}: {seq}"
            assert all(m.get("used") == 0 for m in lefts), lefts[:3]
            assert len(seq) <= most, f"{who}: {len(seq)} coupon_left messages is more than one per tick"
        views = {}
        for shard, xs in lc.by_shard(steady).items():
            seqs = collections.Counter(tuple(lc.coupon_left_seq(x, coupon)) for x in xs)
            assert len(seqs) == 1, f"connections of shard {shard} saw different coupon_left: {seqs.most_common(3)}"
            views[shard] = next(iter(seqs))
        for x in back:
            gone = lc.coupons_of(x, coupon, ("coupon_gone",))
            listed = any(w["coupon"] == coupon for w in welcome_coupons(x))
            # a connection welcomed while the coupon was claimable hears it go; none hears it twice
            assert len(gone) <= 1 and (len(gone) == 1 or not listed), (listed, gone)

        # the winners hold their coupons; a late joiner is not offered the coupon any more
        for u in list(oks)[:10]:
            mine = (await lc.my_coupons(conns[u]))["coupons"]
            assert [(m["coupon"], m["claimed"], m["used"]) for m in mine] == [(coupon, oks[u], 0)], mine
        late = await Client.joined(B, room, "late", "msgpack")
        assert not [w for w in welcome_coupons(late) if w["coupon"] == coupon]
        # counted once per coupon handed out, whichever shard answered (replays hand out nothing)
        claimed = sum(coupons_metric(s.port, "claimed") for s in shards) - claimed_before
        print(f"connect {t_connected - t0:.1f}s, decided {t_decided - t_go:.2f}s, statuses {dict(statuses)}, "
              f"retried {dict(retried)}, coupon_left per shard {[len(v) for v in views.values()]}, "
              f"total {time.monotonic() - t0:.1f}s")
    finally:
        # drop the 5,000 at once (closing them one by one at teardown takes longer than the race)
        for x in list(lc._open_clients):
            x.ws.transport.abort()
            lc._open_clients.remove(x)
    assert claimed == quota, f"livecart_coupons_total{{event=\"claimed\"}} went up by {claimed} for {quota} coupons"


# ---------------------------------------------------------------------------- coupon_left, gone


@async_test(timeout=60)
async def test_coupon_left_is_coalesced_per_tick_the_same_on_both_shards_and_counts_used(start_server, room, rds):
    A, B = start_server(shard="A", **ROOMY), start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    claimers = [await Client.joined((A, B)[i % 2], room, f"w{i:02d}", lc.FORMATS[i // 2 % 2]) for i in range(40)]
    watchers = [await Client.joined(s, room, f"watch{s.shard}{f}", f) for s in (A, B) for f in lc.FORMATS]
    await lc.drop_coupon(host, "WAVE", quota=100, secs=600, off=100)
    await lc.open_sale_pay(host, "SHOE", 10, price=1000)
    t0 = time.monotonic()
    for w in range(5):                  # five waves of eight claims, each followed by a quiet spell
        wave = claimers[8 * w: 8 * w + 8]
        for x in wave:
            await lc.send_claim(x, "WAVE", "go")
        assert [(await lc.claim_answer(x, "go"))["status"] for x in wave] == ["ok"] * 8
        await asyncio.sleep(0.35)
    await asyncio.gather(*(x.wait_for(lambda m, x=x: lc.coupon_left_seq(x, "WAVE")[-1:] == [60], lc.scaled(5),
                                      what="coupon_left 60") for x in watchers
                           if lc.coupon_left_seq(x, "WAVE")[-1:] != [60]))
    elapsed = time.monotonic() - t0
    await lc.drain(watchers + claimers)
    tick = A.opts["tick-ms"] / 1000
    views = {}
    for shard, xs in lc.by_shard(watchers + claimers).items():
        seqs = collections.Counter(tuple((m["left"], m["used"]) for m in lc.coupons_of(x, "WAVE", ("coupon_left",)))
                                   for x in xs)
        assert len(seqs) == 1, f"shard {shard}: different coupon_left sequences {seqs.most_common(3)}"
        seq = next(iter(seqs))
        lefts = [v for v, _ in seq]
        assert lefts == sorted(set(lefts), reverse=True) and lefts[-1] == 60, seq
        assert {92, 84, 76, 68, 60} <= set(lefts), f"shard {shard} never showed a settled value: {seq}"
        assert all(u == 0 for _, u in seq), seq
        assert len(seq) < 40 and len(seq) <= elapsed / tick + 2, f"{len(seq)} coupon_left in {elapsed:.1f}s"
        views[shard] = seq
    assert set(views) == {"A", "B"}
    # a redeem changes `used` (net of returns): the room hears it; the quota is not touched
    buyer = claimers[1]
    o = await lc.buy_coupon(buyer, "SHOE", "s1", coupon="WAVE")
    assert (o["status"], o["price"], o["coupon"]) == ("ok", 900, "WAVE"), o

    async def shown(x, left, used):          # the last coupon_left x received says (left, used)
        def last():
            ms = lc.coupons_of(x, "WAVE", ("coupon_left",))
            return (ms[-1]["left"], ms[-1]["used"]) if ms else None
        if last() != (left, used):
            await x.wait_for(lambda m: last() == (left, used), lc.scaled(5), what=f"coupon_left {left}, used {used}")

    await asyncio.gather(*(shown(x, 60, 1) for x in watchers))
    assert (await lc.cancel(buyer, o["order"]))["status"] == "ok"
    await asyncio.gather(*(shown(x, 60, 0) for x in watchers))
    assert rds.hget(rkey(room, "coupon:WAVE"), "used") in ("0", None)
    # nothing changes: nothing is sent
    await asyncio.gather(*(x.assert_silent(0.5, types=lc.COUPON_TRAFFIC) for x in watchers))


@async_test(timeout=60)
async def test_the_claim_window_ends_claims_are_closed_coupon_gone_once_and_claimed_coupons_still_redeem(
        start_server, room, rds):
    A, B = start_server(shard="A", **ROOMY), start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(A, room, "ann", "msgpack")
    bob = await Client.joined(B, room, "bob", "json")
    watchers = [await Client.joined(s, room, f"watch{s.shard}{f}", f) for s in (A, B) for f in lc.FORMATS]
    everyone = [host, ann, bob] + watchers
    w5 = await lc.drop_coupon(host, "W5", quota=10, secs=5, off=100)
    q1 = await lc.drop_coupon(host, "Q1", quota=1, secs=5, off=50)
    await lc.open_sale_pay(host, "MUG", 5, price=1000, limit=5)
    assert (await lc.claim_coupon(ann, "W5", "a1"))["status"] == "ok"
    assert (await lc.claim_coupon(bob, "Q1", "b1"))["status"] == "ok"      # Q1's quota: gone at once
    await asyncio.gather(*(lc.got(x, "coupon_gone", coupon="Q1") for x in everyone))
    assert (await lc.claim_coupon(ann, "Q1", "a2"))["status"] == "gone"

    # the window ends: the claim script itself says closed, whatever the shards swept yet
    await asyncio.sleep(max(0, w5["ends"] - now_ms() + 50) / 1000)
    m = await lc.claim_coupon(bob, "W5", "b2")
    assert m["status"] == "closed", m
    got = await asyncio.gather(*(lc.got(x, "coupon_gone", lc.scaled(12), coupon="W5") for x in everyone))
    delay = now_ms() - w5["ends"]
    assert all(g == {"type": "coupon_gone", "coupon": "W5"} for g in got)
    late = await Client.joined(B, room, "late", "json")
    assert [c["coupon"] for c in welcome_coupons(late)] == []
    assert not {"W5", "Q1"} & rds.smembers(rkey(room, "coupons"))
    # claimed coupons redeem after the window (until a day after it)
    o = await lc.buy_coupon(ann, "MUG", "m1", coupon="W5")
    assert (o["status"], o["price"], o["coupon"]) == ("ok", 900, "W5"), o
    o = await lc.buy_coupon(bob, "MUG", "m2", coupon="Q1")
    assert (o["status"], o["price"]) == ("ok", 950), o
    # a coupon id lives on after its window: it cannot be dropped again
    await host.send(lc.coupon_drop_msg("W5", quota=3, secs=60, off=10))
    await lc.expect_error_answer(host, "bad_request")
    # coupon_gone was sent exactly once per coupon: Q1 (quota) is not gone again at its window's end
    await asyncio.sleep(max(0, q1["ends"] - now_ms()) / 1000 + 1.5)
    await lc.drain(everyone + [late])
    for x in everyone:
        for cp in ("W5", "Q1"):
            assert len(lc.coupons_of(x, cp, ("coupon_gone",))) == 1, (cp, lc.coupons_of(x, cp, ("coupon_gone",)))
    assert not lc.coupons_of(late, "W5", ("coupon_gone",)) and not lc.coupons_of(late, "Q1", ("coupon_gone",))
    print(f"coupon_gone for the window came {delay} ms after ends")


# ------------------------------------------------------------------------------------ my_coupons


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_coupons_lists_what_the_caller_holds_and_has_used(start_server, room, fmt):
    A, B = start_server(shard="A", **ROOMY), start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(A, room, "ann", fmt)
    bob = await Client.joined(B, room, "bob", fmt)
    c1 = await lc.drop_coupon(host, "C1", title="Two off", quota=10, per_user=3, secs=600, off=200, sku="X",
                              min_price=100)
    c2 = await lc.drop_coupon(host, "C2", title="Fifth off", quota=10, secs=600, pct=20)
    await lc.open_sale_pay(host, "X", 10, price=1000, limit=5)
    assert (await lc.my_coupons(ann)) == {"type": "my_coupons", "coupons": []}
    for req in ("a1", "a2"):
        assert (await lc.claim_coupon(ann, "C1", req))["status"] == "ok"
    assert (await lc.claim_coupon(ann, "C2", "a3"))["status"] == "ok"

    def item(c, claimed, used):
        d = {"type": "coupon", "coupon": c["coupon"], "title": c["title"], "ends": c["ends"], "claimed": claimed,
             "used": used}
        for k in ("off", "pct", "sku", "min_price"):
            if k in c:
                d[k] = c[k]
        return d

    mine = await lc.my_coupons(ann)
    assert set(mine) == {"type", "coupons"}, mine
    assert sorted(mine["coupons"], key=lambda x: x["coupon"]) == [item(c1, 2, 0), item(c2, 1, 0)], mine
    assert (await lc.my_coupons(bob))["coupons"] == []
    # a buy with one: used; the same user on another shard sees the same
    o = await lc.buy_coupon(ann, "X", "x1", coupon="C1")
    assert (o["status"], o["price"]) == ("ok", 800), o
    ann_b = await Client.joined(B, room, "ann", "json" if fmt == "msgpack" else "msgpack")
    mine = await lc.my_coupons(ann_b)
    assert sorted(mine["coupons"], key=lambda x: x["coupon"]) == [item(c1, 2, 1), item(c2, 1, 0)], mine
    # only this room's
    elsewhere = await Client.joined(A, room + "x", "ann", fmt)
    assert (await lc.my_coupons(elsewhere))["coupons"] == []
    nobody = await Client.connect(A, room, fmt)
    await nobody.send({"type": "coupons"})
    await lc.expect_error_answer(nobody, "not_ready")


# ------------------------------------------------------------------------------------ redeeming


@async_test(timeout=60)
async def test_a_coupon_takes_off_or_pct_off_each_unit_and_is_recorded_with_the_order(start_server, room, rds):
    s = start_server(shard="A", env=API, **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "msgpack")
    # (coupon, off/pct, sku, list price, qty, expected unit price)
    cases = [("FLAT", {"off": 500}, "P1", 1999, 2, 1499),
             ("HUGE", {"off": 5000}, "P2", 1999, 1, 0),          # never below 0
             ("PCT15", {"pct": 15}, "P3", 1999, 1, 1699),        # 1699.15 rounded down
             ("PCT33", {"pct": 33}, "P4", 999, 3, 669),          # 669.33 rounded down
             ("PCT90", {"pct": 90}, "P5", 1, 1, 0)]              # 0.1 rounded down
    for cp, how, sku, price, qty, _ in cases:
        await lc.drop_coupon(host, cp, quota=5, secs=600, **how)
        await lc.open_sale_pay(host, sku, 10, price=price, limit=5)
        assert (await lc.claim_coupon(ann, cp, f"claim-{cp}"))["status"] == "ok"
    for cp, how, sku, price, qty, unit in cases:
        o = await lc.buy_coupon(ann, sku, f"buy-{cp}", qty=qty, coupon=cp)
        assert {k: o.get(k) for k in ("status", "sku", "qty", "price", "coupon", "left")} == \
            {"status": "ok", "sku": sku, "qty": qty, "price": unit, "coupon": cp, "left": 10 - qty}, (cp, o)
        (oid, f), = stream_orders(rds, room, sku=sku)
        assert oid == o["order"]
        assert {k: f.get(k) for k in ("user", "qty", "price", "list_price", "coupon", "req")} == \
            {"user": "ann", "qty": str(qty), "price": str(unit), "list_price": str(price), "coupon": cp,
             "req": f"buy-{cp}"}, f
        st, b = lc.get_order(s.port, room, oid, KEY)
        assert st == 200, (st, b)
        assert {k: b.get(k) for k in ("state", "qty", "price", "list_price", "coupon")} == \
            {"state": "ok", "qty": qty, "price": unit, "list_price": price, "coupon": cp}, b
        assert int(rds.hget(rkey(room, f"cused:{cp}"), "ann")) == 1
        assert rds.hget(rkey(room, f"coupon:{cp}"), "used") == "1"
    # without a coupon: the list price, no coupon
    await lc.open_sale_pay(host, "P6", 10, price=1234)
    o = await lc.buy_coupon(ann, "P6", "plain")
    assert (o["status"], o["price"]) == ("ok", 1234) and "coupon" not in o, o
    (_, f), = stream_orders(rds, room, sku="P6")
    assert f["price"] == "1234" and "coupon" not in f, f
    st, b = lc.get_order(s.port, room, o["order"], KEY)
    assert b["price"] == 1234 and "coupon" not in b, b


@async_test(timeout=60)
async def test_a_coupon_applies_only_to_its_sku_and_from_its_min_price(start_server, room, rds):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "json")
    await lc.drop_coupon(host, "ONLYA", quota=5, secs=600, off=100, sku="SKU-A")
    await lc.drop_coupon(host, "MIN2K", quota=5, secs=600, pct=50, min_price=2000)
    await lc.open_sale_pay(host, "SKU-A", 5, price=1000)
    await lc.open_sale_pay(host, "SKU-B", 5, price=1000)
    await lc.open_sale_pay(host, "CHEAP", 5, price=1999)
    await lc.open_sale_pay(host, "DEAR", 5, price=2000)
    for cp in ("ONLYA", "MIN2K"):
        assert (await lc.claim_coupon(ann, cp, f"c-{cp}"))["status"] == "ok"
    for sku, cp, req in (("SKU-B", "ONLYA", "r1"), ("CHEAP", "MIN2K", "r2")):
        m = await lc.buy_coupon(ann, sku, req, coupon=cp)
        assert m["status"] == "coupon_invalid" and m["sku"] == sku, m
        assert sale_left(rds, room, sku) == 5
    assert lc.orders(rds, room) == []
    assert held(rds, room, "ONLYA", "cused") == {} and held(rds, room, "MIN2K", "cused") == {}
    a = await lc.buy_coupon(ann, "SKU-A", "r3", coupon="ONLYA")
    assert (a["status"], a["price"]) == ("ok", 900), a
    d = await lc.buy_coupon(ann, "DEAR", "r4", coupon="MIN2K")
    assert (d["status"], d["price"]) == ("ok", 1000), d


@async_test(timeout=60)
async def test_a_coupon_is_used_once_and_a_cancel_gives_it_back(start_server, room, rds):
    A, B = start_server(shard="A", **ROOMY), start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(A, room, "ann", "msgpack")
    ann_b = await Client.joined(B, room, "ann", "json")
    bob = await Client.joined(B, room, "bob", "json")
    await lc.drop_coupon(host, "ONE", quota=5, secs=600, off=250)
    await lc.open_sale_pay(host, "HAT", 10, price=1000, limit=5)
    await lc.open_sale_pay(host, "CAP", 10, price=1000, limit=5)
    await lc.open_sale_pay(host, "RSV", 10, price=1000, limit=5, pay_s=600)
    # not held: coupon_invalid, no stock taken
    m = await lc.buy_coupon(bob, "HAT", "b1", coupon="ONE")
    assert m["status"] == "coupon_invalid" and "order" not in m, m
    assert (await lc.buy_coupon(bob, "HAT", "b2", coupon="NOSUCH"))["status"] == "coupon_invalid"
    assert sale_left(rds, room, "HAT") == 10
    assert (await lc.claim_coupon(ann, "ONE", "c1"))["status"] == "ok"
    o1 = await lc.buy_coupon(ann, "HAT", "h1", coupon="ONE")
    assert (o1["status"], o1["price"], o1["coupon"]) == ("ok", 750, "ONE"), o1
    # the retried tap repeats its answer and uses nothing more
    assert same_answer(await lc.buy_coupon(ann_b, "HAT", "h1", coupon="ONE"), o1)
    # used: a second buy with it, on any shard, is coupon_invalid and takes nothing
    for c, sku, req in ((ann, "CAP", "h2"), (ann_b, "HAT", "h3"), (ann_b, "RSV", "h4")):
        m = await lc.buy_coupon(c, sku, req, coupon="ONE")
        assert m["status"] == "coupon_invalid", m
    assert (sale_left(rds, room, "HAT"), sale_left(rds, room, "CAP"), sale_left(rds, room, "RSV")) == (9, 10, 10)
    assert len(lc.orders(rds, room)) == 1
    assert held(rds, room, "ONE", "cused") == {"ann": 1}
    # the cancel gives it back, unused
    c = await lc.cancel(ann, o1["order"])
    assert (c["status"], c.get("coupon")) == ("ok", "ONE") and "pay_by" not in c, c
    assert held(rds, room, "ONE", "cused") == {}
    mine = (await lc.my_coupons(ann_b))["coupons"]
    assert [(x["claimed"], x["used"]) for x in mine] == [(1, 0)], mine
    # usable again, also for a reservation; cancelling that one gives it back too
    r = await lc.buy_coupon(ann_b, "RSV", "h5", coupon="ONE")
    assert (r["status"], r["price"], r["coupon"]) == ("reserved", 750, "ONE"), r
    assert (await lc.buy_coupon(ann, "CAP", "h6", coupon="ONE"))["status"] == "coupon_invalid"
    c = await lc.cancel(ann_b, r["order"])
    assert (c["status"], c.get("coupon"), c.get("pay_by")) == ("ok", "ONE", r["pay_by"]), c
    assert held(rds, room, "ONE", "cused") == {}
    o3 = await lc.buy_coupon(ann, "CAP", "h7", coupon="ONE")
    assert (o3["status"], o3["price"]) == ("ok", 750), o3
    assert held(rds, room, "ONE", "cused") == {"ann": 1}
    assert held(rds, room, "ONE") == {"ann": 1}       # one claimed all along


@async_test(timeout=60)
async def test_coupon_invalid_is_decided_after_closed_and_limit_and_before_stock(start_server, room, rds):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "msgpack")
    bob = await Client.joined(s, room, "bob", "json")
    await lc.drop_coupon(host, "GOOD", quota=5, secs=600, off=10)
    await lc.open_sale_pay(host, "LIM", 5, price=100)            # limit 1
    await lc.open_sale_pay(host, "SOLD", 1, price=100)
    await lc.open_sale_pay(host, "FREE", 5, price=100)
    assert (await lc.claim_coupon(ann, "GOOD", "c1"))["status"] == "ok"
    assert (await lc.buy_coupon(ann, "NOTOPEN", "r1", coupon="BOGUS"))["status"] == "closed"
    assert (await lc.buy_coupon(ann, "LIM", "r2"))["status"] == "ok"
    assert (await lc.buy_coupon(ann, "LIM", "r3", coupon="BOGUS"))["status"] == "limit"
    assert (await lc.buy_coupon(bob, "SOLD", "b1"))["status"] == "ok"
    # Redis's order (retry: the shard leaves it to Redis); the shard itself, having heard the
    # sell-out, answers a first attempt sold_out (PROTOCOL.md "Sold out at the shard")
    assert (await lc.buy_coupon(ann, "SOLD", "r4", coupon="BOGUS", retry=True))["status"] == "coupon_invalid"
    assert (await lc.buy_coupon(ann, "SOLD", "r4b", coupon="BOGUS"))["status"] == "sold_out"
    # a good coupon on a sold-out sku: sold_out, and the coupon stays unused
    assert (await lc.buy_coupon(ann, "SOLD", "r5", coupon="GOOD", retry=True))["status"] == "sold_out"
    assert held(rds, room, "GOOD", "cused") == {}
    assert (await lc.buy_coupon(ann, "FREE", "r6", coupon="GOOD"))["price"] == 90
    assert len(lc.orders(rds, room)) == 3


@async_test()
async def test_coupon_events_are_counted_in_metrics(start_server, room):
    s = start_server(shard="A", env=API, **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "msgpack")
    bob = await Client.joined(s, room, "bob", "json")
    before = {e: coupons_metric(s.port, e) for e in ("claimed", "used")}
    claims_before = {st: claims_metric(s.port, st) for st in ("limit", "closed")}
    await lc.drop_coupon(host, "MET", quota=10, per_user=3, secs=600, off=5)
    await lc.open_sale_pay(host, "NOW", 10, price=100, limit=5)
    await lc.open_sale_pay(host, "LATER", 10, price=100, limit=5, pay_s=600)
    for req in ("c1", "c2"):
        assert (await lc.claim_coupon(ann, "MET", req))["status"] == "ok"
    assert (await lc.claim_coupon(ann, "MET", "c1"))["status"] == "ok"            # a replay: no new claim
    o = await lc.buy_coupon(ann, "NOW", "b1", coupon="MET")
    assert o["status"] == "ok"
    assert same_answer(await lc.buy_coupon(ann, "NOW", "b1", coupon="MET"), o)     # a replay: nothing more used
    assert (await lc.buy_coupon(bob, "NOW", "x1", coupon="MET"))["status"] == "coupon_invalid"
    assert (await lc.cancel(ann, o["order"]))["status"] == "ok"
    r = await lc.buy_coupon(ann, "LATER", "b2", coupon="MET")
    assert r["status"] == "reserved"
    assert lc.mark_paid(s.port, room, r["order"], KEY)[0] == 200
    assert (await lc.claim_coupon(ann, "MET", "c3"))["status"] == "ok"
    assert (await lc.claim_coupon(ann, "MET", "c4"))["status"] == "limit"
    assert (await lc.claim_coupon(bob, "NOPE", "c5"))["status"] == "closed"
    after = {e: coupons_metric(s.port, e) for e in ("claimed", "used")}
    # claimed: coupons handed out (a replay hands out nothing); used: redeemed in a buy (twice:
    # the cancel gave it back, the reservation redeemed it again)
    assert {e: after[e] - before[e] for e in after} == {"claimed": 3, "used": 2}, (before, after)
    assert {st: claims_metric(s.port, st) - claims_before[st] for st in claims_before} == {"limit": 1, "closed": 1}
