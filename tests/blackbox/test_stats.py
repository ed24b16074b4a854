"""The funnel: the seller's numbers, live.  GET /api/rooms/R/stats over two shards against a scripted
session whose truth the test knows (viewers now / peak / unique, engaged, buyers, orders, units,
revenue, cvr, the 360-point series); reservations count once when paid (not when reserved, not on
a replayed buy or a repeated payment); a completed team counts each member's order; the streamer's
`stats` message (within a second of joining, then every 5 s, the API's figures, both formats, never
to viewers or moderators); the Prometheus gauges add up over shards with each room reported by
exactly one shard, and another shard takes the report over when the reporter dies; likes count
exactly once over two shards, a SIGTERM and a lost batch reply (PROTOCOL.md "The funnel: the
seller's numbers, live", "Flash sale", "Checkout", "Group-buy", "Coupon drops", "HTTP API",
"Redis layout")."""

import asyncio
import collections
import re
import time

import pytest

import lc
from lc import Client, async_test, rkey

KEY = "stats-api-key-0123456789"
API = {"LIVECART_API_KEY": KEY}
# Enough tokens for tests in which one connection sends several buys/cancels on purpose.
ROOMY = {"buy_rate": 1000, "buy_burst": 1000}
PAY_S = 30

POINT_MS = 10000
POINTS = 360
FIGURES = ("viewers_now", "viewers_peak", "viewers_unique", "engaged", "buyers", "orders", "units", "revenue")
API_KEYS = {"room", *FIGURES, "cvr", "unique_error", "ts", "series"}
STATS_KEYS = {"type", *FIGURES, "ts", "series"}
POINT_KEYS = {"t", "viewers", "orders", "likes", "comments"}
GAUGES = {
    "viewers_now": "livecart_funnel_viewers",
    "viewers_peak": "livecart_funnel_viewers_peak",
    "viewers_unique": "livecart_funnel_viewers_unique",
    "engaged": "livecart_funnel_engaged",
    "buyers": "livecart_funnel_buyers",
    "orders": "livecart_funnel_orders",
    "units": "livecart_funnel_units",
    "revenue": "livecart_funnel_revenue_cents",
}
ROOMS_GAUGE = "livecart_funnel_rooms"


def two_shards(start_server, **flags):
    opts = {**ROOMY, **flags}
    return start_server(shard="A", env=API, **opts), start_server(shard="B", env=API, **opts)


class Approx:
    """A HyperLogLog figure (standard error 0.81 %): within max(1, 2 %) of the truth."""

    def __init__(self, n):
        self.n = n

    def __eq__(self, other):
        return lc.is_int(other) and abs(other - self.n) <= max(1, 0.02 * self.n)

    def __repr__(self):
        return f"~{self.n}"


def bucket(ms):
    """The start of the 10-s point that holds the time ms."""
    return ms - ms % POINT_MS


# ------------------------------------------------------------------------------------ shapes


def check_series(series, ts, point_keys):
    """360 points, oldest first, t on the 10-s grid and 10 s apart, the last one holding ts."""
    assert isinstance(series, list) and len(series) == POINTS, \
        f"series must have {POINTS} points, has {len(series) if isinstance(series, list) else series!r}"
    for p in series:
        assert isinstance(p, dict) and set(p) == point_keys, f"a series point must be exactly {sorted(point_keys)}: {p}"
        if "type" in point_keys:
            assert p["type"] == "point", p
        for k in POINT_KEYS:
            assert lc.is_int(p[k]) and p[k] >= 0, f"series point {k} must be a non-negative integer: {p}"
        assert p["t"] % POINT_MS == 0, f"series point t {p['t']} is not a multiple of {POINT_MS}"
    ts_ = [p["t"] for p in series]
    assert all(b - a == POINT_MS for a, b in zip(ts_, ts_[1:])), \
        f"series points not {POINT_MS} ms apart, oldest first: {[b - a for a, b in zip(ts_, ts_[1:]) if b - a != POINT_MS][:5]}"
    assert ts_[-1] <= ts < ts_[-1] + POINT_MS, f"the last point starts at {ts_[-1]}, ts is {ts}: not the current point"


def check_cvr(b):
    vu, buyers, cvr = b["viewers_unique"], b["buyers"], b["cvr"]
    assert isinstance(cvr, (int, float)) and not isinstance(cvr, bool), f"cvr must be a number: {cvr!r}"
    assert 0 <= cvr <= 1, b
    if vu == 0:
        assert cvr == 0, f"cvr must be 0 with no viewers: {b}"
        return
    assert abs(cvr - round(cvr, 4)) < 1e-12, f"cvr {cvr!r} is not rounded to 4 decimals"
    assert abs(cvr - buyers / vu) <= 0.00005 + 1e-12, \
        f"cvr {cvr} is not buyers/viewers_unique = {buyers}/{vu} = {buyers / vu:.6f} rounded"


def check_api_stats(b, room, t0=None, t1=None):
    """A GET /api/rooms/R/stats body: exactly the keys PROTOCOL.md lists, their types, cvr from
    the answered numbers, unique_error 0.0081, ts Redis's clock now, the series grid."""
    assert isinstance(b, dict), b
    assert set(b) == API_KEYS, f"stats answer keys: missing {API_KEYS - set(b)}, unlisted {set(b) - API_KEYS}"
    assert b["room"] == room, b
    for k in FIGURES:
        assert lc.is_int(b[k]) and b[k] >= 0, f"{k} must be a non-negative integer: {b[k]!r}"
    assert b["unique_error"] == 0.0081, f"unique_error: {b['unique_error']!r}"
    assert lc.is_int(b["ts"]), b["ts"]
    if t0 is not None:
        assert t0 - 1000 <= b["ts"] <= t1 + 5, f"ts {b['ts']} is not Redis's clock at the read ({t0}..{t1})"
    check_cvr(b)
    check_series(b["series"], b["ts"], POINT_KEYS)
    assert b["viewers_peak"] >= b["viewers_now"], b
    return b


def check_stats_msg(m):
    """A streamer's `stats` message: exactly the keys PROTOCOL.md lists (no cvr), integers, the
    series as `point` maps."""
    assert m.get("type") == "stats", m
    assert set(m) == STATS_KEYS, f"stats message keys: missing {STATS_KEYS - set(m)}, unlisted {set(m) - STATS_KEYS}"
    for k in (*FIGURES, "ts"):
        assert lc.is_int(m[k]) and m[k] >= 0, f"stats.{k} must be a non-negative integer: {m[k]!r}"
    check_series(m["series"], m["ts"], POINT_KEYS | {"type"})
    return m


async def rebuy(c, sku, req, qty=1):
    """A re-send of a buy's req, marked as one (PROTOCOL.md "Sold out at the shard": a re-send
    always reaches Redis and gets the first decision back); returns its `order` answer."""
    await c.send({"type": "buy", "sku": sku, "req": req, "qty": qty, "retry": True})
    return await lc.order_answer(c, req)


def figures(b):
    return {k: b[k] for k in FIGURES}


def get_stats(port, room, key=KEY):
    """GET /api/rooms/R/stats -> (status, body, headers)."""
    return lc.api_call(port, "GET", f"/api/rooms/{room}/stats", key=key)


def read_stats(port, room, redis_port):
    t0 = lc.redis_ms(redis_port, room)
    st, b, h = get_stats(port, room)
    t1 = lc.redis_ms(redis_port, room)
    assert st == 200, (st, b)
    assert h.get("content-type", "").startswith("application/json"), h
    return check_api_stats(b, room, t0, t1)


def mismatches(b, want):
    return {k: (b.get(k), v) for k, v in want.items() if not (v == b.get(k))}


async def settle(port, room, redis_port, want, timeout=None, what=""):
    """Poll the stats API until the figures in want hold (they travel through tick coalescing);
    returns the answer."""
    deadline = time.monotonic() + (timeout or lc.scaled(8))
    while True:
        b = await asyncio.to_thread(read_stats, port, room, redis_port)
        bad = mismatches(b, want)
        if not bad:
            return b
        if time.monotonic() > deadline:
            raise AssertionError(f"stats of {room} never became the truth{' ' + what if what else ''}: "
                                 f"(answered, truth) = {bad}; answer: {figures(b)}")
        await asyncio.sleep(0.1)


async def steady(port, room, redis_port, want, secs=0.6, what=""):
    """The figures in want hold now and stay so for secs (nothing counted late, or twice)."""
    end = time.monotonic() + secs
    while True:
        b = await asyncio.to_thread(read_stats, port, room, redis_port)
        bad = mismatches(b, want)
        assert not bad, f"stats of {room}{' ' + what if what else ''}: (answered, truth) = {bad}; answer: {figures(b)}"
        if time.monotonic() > end:
            return b
        await asyncio.sleep(0.15)


def series_sum(b, k):
    return sum(p[k] for p in b["series"])


def per_point(b, k):
    return {p["t"]: p[k] for p in b["series"] if p[k]}


def per_bucket(times_ms):
    return dict(collections.Counter(bucket(ms) for ms in times_ms))


def order_ms(order_id):
    return lc.cid(order_id)[0]


def redis_call(redis_port, room, method, *args):
    """One redis-py call on the node that holds the room."""
    r = lc.room_redis(redis_port, room)
    try:
        return getattr(r, method)(*args)
    finally:
        r.close()


def check_layout(redis_port, room, b):
    """The funnel's Redis keys hold what the API answered (PROTOCOL.md "Redis layout")."""
    r = lc.room_redis(redis_port, room)
    try:
        f = r.hgetall(rkey(room, "funnel"))
        assert {k: int(f.get(k, 0)) for k in ("orders", "units", "revenue", "peak")} == \
            {"orders": b["orders"], "units": b["units"], "revenue": b["revenue"], "peak": b["viewers_peak"]}, \
            f"lc:{{R}}:funnel {f} is not the answer {figures(b)}"
        assert r.hlen(rkey(room, "fbuyers")) == b["buyers"], r.hgetall(rkey(room, "fbuyers"))
        assert all(int(v) > 0 for v in r.hvals(rkey(room, "fbuyers"))), r.hgetall(rkey(room, "fbuyers"))
        assert r.pfcount(rkey(room, "uv")) == b["viewers_unique"]
        assert r.pfcount(rkey(room, "engaged")) == b["engaged"]
        fields = r.hkeys(rkey(room, "series"))
        assert len(fields) <= 5 * POINTS, f"the series ring holds {len(fields)} fields"
        for name in fields:
            m = re.fullmatch(r"([bvolc])(\d+)", name)
            assert m and int(m.group(2)) < POINTS, f"series field {name!r} is not bN/vN/oN/lN/cN with N < {POINTS}"
    finally:
        r.close()


def check_viewer_series(b):
    """`viewers` of the series: 0 before the room's first viewer, the most seen in each 10 s,
    carried over 10 s without change, so never 0 again while the room had viewers; its maximum is
    the peak (the whole room's life is in the last hour)."""
    vs = [p["viewers"] for p in b["series"]]
    first = next((i for i, v in enumerate(vs) if v), None)
    assert first is not None, f"no viewers in the series: {vs[-10:]}"
    assert 0 not in vs[first:], f"a point without viewers after the first one (not carried over): {vs[first:]}"
    assert not any(vs[:first]), vs[:first]
    assert max(vs) == b["viewers_peak"], f"series viewers peak {max(vs)} is not viewers_peak {b['viewers_peak']}"
    assert vs[-1] >= b["viewers_now"], f"the current point's viewers {vs[-1]} < viewers_now {b['viewers_now']}"


# ------------------------------------------------------------------------------ the API itself


@async_test(timeout=30)
async def test_the_stats_api_needs_the_key_is_404_without_an_api_and_an_unknown_room_is_all_zeros(
        start_server, server, room, redis_port):
    A = start_server(shard="A", env=API)
    for key in (None, "wrong", KEY + "x"):
        st, b, h = get_stats(A.port, room, key=key)
        assert st == 401 and b == {"error": "unauthorized"}, (key, st, b)
        assert h.get("www-authenticate", "").startswith("Bearer"), h
    assert get_stats(A.port, "bad!room")[0] == 404
    assert get_stats(server.port, room)[0] == 404, "the stats API answered on a shard without an API key"
    b = read_stats(A.port, lc.uniq("nobody_"), redis_port)
    assert figures(b) == dict.fromkeys(FIGURES, 0) and b["cvr"] == 0, b
    assert all(p["viewers"] == p["orders"] == p["likes"] == p["comments"] == 0 for p in b["series"]), \
        [p for p in b["series"] if any(p[k] for k in POINT_KEYS - {"t"})][:3]


# ------------------------------------------------------------------------------ a scripted session


@async_test(timeout=90)
async def test_the_funnel_over_two_shards_is_the_truth_of_a_scripted_session(start_server, room, redis_port):
    """13 users (the streamer too) on two shards, one reconnecting to the other shard and one on
    both shards at once; 5 of them comment or like (one both), one comment refused; 7 ok orders from
    buyers on both shards (two users buy twice, one with a coupon), refused buys count nothing; two
    cancels (one a user's only order); a replayed buy and a repeated cancel change nothing; the
    figures outlive both shards."""
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    users = [f"u{i:02d}" for i in range(1, 13)]
    conn = {}
    for i, u in enumerate(users):                       # u01 A, u02 B, u03 A, ...
        conn[u] = await Client.joined((A, B)[i % 2], room, u, lc.FORMATS[(i // 2) % 2])
    await host.wait_viewers(13)
    # u02 leaves B and comes back on A; u05 opens a second connection on B; u07 and u09 leave
    await conn["u02"].close()
    await host.wait_viewers(12)
    conn["u02"] = await Client.joined(A, room, "u02", "msgpack")
    await host.wait_viewers(13)
    u05b = await Client.joined(B, room, "u05", "json")
    await host.wait_viewers(14)
    for u in ("u07", "u09"):
        await conn.pop(u).close()
    await host.wait_viewers(12)
    viewers_now, viewers_peak, unique = 12, 14, 13

    # engagement: u01, u02, u04 comment (u01 twice), u03, u04, u05 (both connections) like
    await conn["u06"].comment("")
    await conn["u06"].expect_error("bad_request")        # refused: not a comment, not engaged
    await host.send({"type": "mute", "user": "u12", "secs": 600})
    await lc.async_wait_until(lambda: redis_call(redis_port, room, "hexists", rkey(room, "mutes"), "u12"),
                              lc.scaled(5), what="u12 muted")
    await conn["u12"].comment("let me talk")
    await conn["u12"].expect_error("muted")              # refused too
    await conn["u01"].comment("first!")
    await conn["u01"].comment("second")
    await conn["u02"].comment("hi from A now")
    await conn["u04"].comment("hi from B")
    await conn["u03"].like(3)
    await conn["u04"].like(5)
    await conn["u05"].like(2)
    await u05b.like(1)
    comments, likes, engaged = 4, 11, 5
    await host.wait_comments(comments)
    await host.wait_likes(likes)
    comment_ms = [c["ts"] for c in host.comments]

    # sales without pay_s; a coupon
    await lc.open_sale(host, "HAT", 50, price=1250, limit=5)
    await lc.open_sale(host, "PIN", 3, price=399, limit=3)
    await lc.drop_coupon(host, "C300", quota=5, secs=60, off=300)
    ok = {}                                              # order id -> (user, unit price, qty)

    async def ok_buy(u, sku, req, qty, price, coupon=None):
        o = await lc.buy_coupon(conn[u], sku, req, qty=qty, coupon=coupon)
        assert o["status"] == "ok" and o["qty"] == qty and o["price"] == price, o
        ok[o["order"]] = (u, price, qty)
        return o

    await ok_buy("u04", "HAT", "u04-1", 2, 1250)
    o_u04_2 = await ok_buy("u04", "HAT", "u04-2", 1, 1250)
    o_u06_pin = await ok_buy("u06", "PIN", "u06-1", 2, 399)
    assert (await lc.claim_coupon(conn["u06"], "C300", "u06-c"))["status"] == "ok"
    await ok_buy("u06", "HAT", "u06-2", 2, 950, coupon="C300")
    o_u08 = await ok_buy("u08", "HAT", "u08-1", 1, 1250)
    assert (await lc.buy_coupon(conn["u10"], "PIN", "u10-1", qty=2))["status"] == "sold_out"
    await ok_buy("u10", "PIN", "u10-2", 1, 399)
    await ok_buy("u01", "HAT", "u01-1", 1, 1250)         # a buyer on A
    assert (await lc.buy_coupon(conn["u12"], "HAT", "u12-1", qty=6))["status"] == "limit"
    assert (await lc.buy_coupon(conn["u12"], "NOPE", "u12-2"))["status"] == "closed"
    all_orders_ms = [order_ms(o) for o in ok]

    def truth():
        return {"buyers": len({u for u, _, _ in ok.values()}), "orders": len(ok),
                "units": sum(q for _, _, q in ok.values()), "revenue": sum(p * q for _, p, q in ok.values())}

    want = {"viewers_now": viewers_now, "viewers_peak": viewers_peak, "viewers_unique": Approx(unique),
            "engaged": Approx(engaged), **truth()}
    assert truth() == {"buyers": 5, "orders": 7, "units": 10, "revenue": 9347}
    b = await settle(B.port, room, redis_port, want, what="after the buys")
    assert figures(await asyncio.to_thread(read_stats, A.port, room, redis_port)) == figures(b), \
        "the two shards answer different figures"

    # two cancels: u08's only order (buyers down), u04's second (u04 still a buyer)
    assert (await lc.cancel(conn["u08"], o_u08["order"]))["status"] == "ok"
    del ok[o_u08["order"]]
    assert (await lc.cancel(conn["u04"], o_u04_2["order"]))["status"] == "ok"
    del ok[o_u04_2["order"]]
    assert truth() == {"buyers": 4, "orders": 5, "units": 8, "revenue": 6847}
    want.update(truth())
    await settle(A.port, room, redis_port, want, what="after the cancels")
    # a repeated cancel and a replayed buy change nothing
    assert (await lc.cancel(conn["u04"], o_u04_2["order"]))["status"] == "already"
    again = await rebuy(conn["u06"], "PIN", "u06-1", qty=2)      # PIN is sold out now
    assert (again["status"], again.get("order")) == ("ok", o_u06_pin["order"]), again
    b = await steady(B.port, room, redis_port, want, what="after a repeated cancel and a replayed buy")

    # the series: comments and orders in the 10 s in which they happened (cancels do not go back)
    assert series_sum(b, "comments") == comments, [p for p in b["series"] if p["comments"]]
    assert per_point(b, "comments") == per_bucket(comment_ms)
    assert series_sum(b, "likes") == likes, [p for p in b["series"] if p["likes"]]
    assert series_sum(b, "orders") == 7, [p for p in b["series"] if p["orders"]]
    assert per_point(b, "orders") == per_bucket(all_orders_ms)
    check_viewer_series(b)
    check_layout(redis_port, room, b)

    # the figures are in Redis: both shards gone, a restarted one answers the same (no viewers now)
    kept = figures(b)
    await lc.close_all_clients()
    await asyncio.gather(A.astop(), B.astop())
    await A.astart()
    after = await settle(A.port, room, redis_port, {**{k: kept[k] for k in FIGURES}, "viewers_now": 0},
                         what="after both shards stopped and one restarted")
    for k in ("comments", "likes", "orders"):
        assert series_sum(after, k) == series_sum(b, k), k


# ------------------------------------------------------------------------------ reservations


@async_test(timeout=60)
async def test_a_reservation_counts_once_when_paid_not_when_reserved_replayed_or_paid_again(
        start_server, room, redis_port):
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(B, room, "ann", "msgpack")
    bob = await Client.joined(A, room, "bob", "json")
    await lc.open_sale_pay(host, "COAT", 10, price=12900, limit=3, pay_s=PAY_S)
    await lc.open_sale_pay(host, "TEE", 10, price=500, limit=3)
    zero = {"buyers": 0, "orders": 0, "units": 0, "revenue": 0}

    o = await lc.buy_coupon(ann, "COAT", "r1", qty=2)
    assert o["status"] == "reserved", o
    oid = o["order"]
    b = await steady(A.port, room, redis_port, zero, what="with a reservation not paid")
    assert series_sum(b, "orders") == 0, "a reservation went into the series before it was paid"
    again = await rebuy(ann, "COAT", "r1", qty=2)                 # a retried tap
    assert (again["status"], again.get("order")) == ("reserved", oid), again
    await steady(B.port, room, redis_port, zero, secs=0.3, what="after a replayed reservation")

    st, body = lc.mark_paid(A.port, room, oid, KEY)
    assert st == 200 and body == {"order": oid, "status": "paid"}, (st, body)
    paid = {"buyers": 1, "orders": 1, "units": 2, "revenue": 25800}
    b = await steady(B.port, room, redis_port, paid, what="after the payment")
    st, state = lc.get_order(A.port, room, oid, KEY)
    assert st == 200 and state["state"] == "paid" and lc.is_int(state.get("paid_ts")), state
    assert per_point(b, "orders") == {bucket(state["paid_ts"]): 1}, \
        "the paid order is not in the series at the time of its payment"
    # paid again (the shop's retry) and the buy replayed after the payment: counted once
    st, body = lc.mark_paid(B.port, room, oid, KEY)
    assert st == 200 and body == {"order": oid, "status": "paid"}, (st, body)
    again = await rebuy(ann, "COAT", "r1", qty=2)
    assert (again["status"], again.get("order")) == ("reserved", oid), again
    b = await steady(A.port, room, redis_port, paid, what="after a repeated payment and a replayed buy")
    assert series_sum(b, "orders") == 1

    # a reservation cancelled before payment never counts; paying it is 409
    o2 = await lc.buy_coupon(bob, "COAT", "b1")
    assert o2["status"] == "reserved", o2
    assert (await lc.cancel(bob, o2["order"]))["status"] == "ok"
    st, body = lc.mark_paid(A.port, room, o2["order"], KEY)
    assert st == 409 and body == {"order": o2["order"], "status": "cancelled"}, (st, body)
    await steady(B.port, room, redis_port, paid, secs=0.3, what="after a cancelled reservation")

    # a plain order on top; then the paid order is cancelled: it leaves orders/units/revenue/buyers
    ot = await lc.buy_coupon(bob, "TEE", "t1")
    assert ot["status"] == "ok", ot
    assert (await rebuy(bob, "TEE", "t1"))["order"] == ot["order"]
    await steady(A.port, room, redis_port, {"buyers": 2, "orders": 2, "units": 3, "revenue": 26300}, secs=0.3)
    assert (await lc.cancel(ann, oid))["status"] == "ok"
    assert lc.mark_paid(B.port, room, oid, KEY) == (409, {"order": oid, "status": "cancelled"})
    b = await steady(B.port, room, redis_port, {"buyers": 1, "orders": 1, "units": 1, "revenue": 500},
                     what="after the paid order was cancelled")
    assert series_sum(b, "orders") == 2, "a cancel took an order back out of the series"
    check_layout(redis_port, room, b)


# ------------------------------------------------------------------------------ group-buy


@async_test(timeout=60)
async def test_a_completed_team_counts_each_members_order_and_a_dissolved_one_nothing(
        start_server, room, redis_port):
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    c = {u: await Client.joined(s, room, u, f) for u, s, f in (
        ("g1", A, "json"), ("g2", B, "msgpack"), ("g3", B, "json"), ("g4", A, "msgpack"))}
    await lc.open_group(host, "TEA", size=3, stock=9, ttl_s=600, price=700)
    await lc.open_group(host, "MUG", size=2, stock=4, ttl_s=600, price=300)
    zero = {"buyers": 0, "orders": 0, "units": 0, "revenue": 0}
    assert (await lc.group_join(c["g1"], "TEA", "j1"))["status"] == "joined"
    assert (await lc.group_join(c["g2"], "TEA", "j2"))["status"] == "joined"
    assert (await lc.group_join(c["g4"], "MUG", "m4"))["status"] == "joined"
    await steady(B.port, room, redis_port, zero, secs=0.3, what="with open teams")

    assert (await lc.group_join(c["g3"], "TEA", "j3"))["status"] == "joined"
    done = {u: (await lc.got(c[u], "group_done", lc.scaled(10)))["order"] for u in ("g1", "g2", "g3")}
    want = {"buyers": 3, "orders": 3, "units": 3, "revenue": 2100}
    b = await steady(A.port, room, redis_port, want, what="after the team completed")
    assert series_sum(b, "orders") == 3
    assert per_point(b, "orders") == per_bucket(order_ms(o) for o in done.values())
    # a replayed join, and a team dissolved by the close, count nothing
    assert (await lc.group_join(c["g3"], "TEA", "j3"))["status"] == "joined"
    await lc.close_sale(host, "MUG")
    await lc.got(c["g4"], "group_failed", lc.scaled(10))
    await steady(B.port, room, redis_port, want, secs=0.3, what="after a replayed join and a dissolved team")
    # a member's order cancelled leaves
    assert (await lc.cancel(c["g1"], done["g1"]))["status"] == "ok"
    b = await steady(A.port, room, redis_port, {"buyers": 2, "orders": 2, "units": 2, "revenue": 1400})
    assert series_sum(b, "orders") == 3


# ------------------------------------------------------------------------------ the `stats` message


@async_test(timeout=60)
async def test_streamers_get_stats_on_joining_then_every_5_s_with_the_apis_figures_viewers_and_moderators_never(
        start_server, room, redis_port):
    A, B = two_shards(start_server)
    va = await Client.joined(A, room, "va", "json")
    mod = await Client.joined(A, room, "mod", "msgpack", role="moderator")
    vb = await Client.joined(B, room, "vb", "msgpack")
    host_as_viewer = await Client.joined(B, room, "host", "json")    # the streamer's user, as a viewer
    quiet = [va, mod, vb, host_as_viewer]

    async def join_streamer(server, user, fmt):
        c = await Client.joined(server, room, user, fmt, role="streamer")
        t = time.monotonic()
        m = await c.recv_type("stats", lc.scaled(1.5))
        assert time.monotonic() - t <= lc.scaled(1.5), "no stats within a second of joining"
        print(f"{fmt} streamer {user} on {server.shard}: stats {time.monotonic() - t:.2f}s after the welcome")
        return c, check_stats_msg(m)

    sj, first = await join_streamer(A, "host", "json")
    # some of everything, from both shards
    await lc.open_sale(sj, "HAT", 10, price=1500, limit=3)
    assert (await lc.buy(vb, "HAT", "vb-1", qty=2))["status"] == "ok"
    await va.comment("nice hat")
    await vb.like(4)
    sm, _ = await join_streamer(A, "host", "msgpack")          # the same streamer, the other format
    sb, _ = await join_streamer(B, "host2", "msgpack")         # a streamer on the other shard
    streamers = [sj, sm, sb]
    want = {"viewers_now": 7, "viewers_unique": Approx(5), "engaged": Approx(2), "buyers": 1, "orders": 1,
            "units": 2, "revenue": 3000}
    await settle(A.port, room, redis_port, want)

    recs = {id(c): [] for c in streamers + quiet}
    await asyncio.gather(*(lc.record_timed(c, lc.scaled(11), recs[id(c)]) for c in streamers + quiet))
    for c in quiet:
        got = [m for m in c.received if m["type"] == "stats"]
        assert not got, f"a viewer or moderator connection ({c.fmt} on {c.welcome['shard']}) received stats: {got[0]!r:.300}"

    api = figures(await asyncio.to_thread(read_stats, B.port, room, redis_port))
    lo, hi = 5 - 1 * lc.SCALE, 5 + 2 * lc.SCALE
    for c in streamers:
        times = [t for t, m in recs[id(c)] if m["type"] == "stats"]
        msgs = [check_stats_msg(m) for t, m in recs[id(c)] if m["type"] == "stats"]
        assert len(msgs) >= 2, f"{c.fmt} streamer on {c.welcome['shard']}: {len(msgs)} stats in 11 s"
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(lo <= g <= hi for g in gaps), f"stats not every 5 s: gaps {gaps}"
        print(f"{c.fmt} streamer on {c.welcome['shard']}: stats gaps {[round(g, 2) for g in gaps]}")
        last = msgs[-1]
        assert figures(last) == api, f"the last stats {figures(last)} is not the API's {api}"
        assert last["series"][-1]["viewers"] >= last["viewers_now"]
        assert sum(p["orders"] for p in last["series"]) == 1 and sum(p["comments"] for p in last["series"]) == 1
        assert sum(p["likes"] for p in last["series"]) == 4
    for c in streamers:      # the one on joining, and at least two periodic ones in the 11 s
        assert len([m for m in c.received if m["type"] == "stats"]) >= 3
    # one shard's streamers get the same message in either format (one ask per period)
    by_ts = {}
    for c in (sj, sm):
        for m in (m for _, m in recs[id(c)] if m["type"] == "stats"):
            by_ts.setdefault(m["ts"], {})[c.fmt] = m
    both = [d for d in by_ts.values() if len(d) == 2]
    assert both, f"A's json and msgpack streamers never got the same period's stats: {sorted(by_ts)}"
    for d in both:
        assert d["json"] == d["msgpack"], (d["json"], d["msgpack"])
    assert not mismatches(api, want), (api, want)


# ------------------------------------------------------------------------------ Prometheus


def gauges(port):
    v = lc.metrics(port)
    missing = [n for n in (ROOMS_GAUGE, *GAUGES.values()) if n not in v]
    assert not missing, f"/metrics lacks {missing}"
    return {"rooms": v[ROOMS_GAUGE], **{k: v[n] for k, n in GAUGES.items()}}


def reporter(redis_port, room):
    return redis_call(redis_port, room, "get", rkey(room, "reporter"))


def room_sum(per_room):
    out = {"rooms": len(per_room), **dict.fromkeys(GAUGES, 0)}
    for f in per_room:
        for k in GAUGES:
            out[k] += f[k]
    return out


@async_test(timeout=90)
async def test_the_gauges_add_up_over_shards_each_room_once_and_another_shard_takes_over_a_dead_reporter(
        start_server, redis_port):
    r1, r2 = lc.uniq("r1_"), lc.uniq("r2_")
    A, B = two_shards(start_server)
    shards = {"A": A, "B": B}
    h1 = await Client.joined(A, r1, "h1", "json", role="streamer")
    a1 = await Client.joined(A, r1, "ann", "msgpack")
    # only A has viewers in r1 yet: A takes its lease, and keeps it once B has viewers too
    await lc.async_wait_until(lambda: reporter(redis_port, r1) == "A", lc.scaled(8), interval=0.1,
                              what="A holding r1's reporter lease")
    b1 = await Client.joined(B, r1, "bob", "json")
    d1 = await Client.joined(B, r1, "dan", "msgpack")
    h2 = await Client.joined(B, r2, "h2", "msgpack", role="streamer")
    b2 = await Client.joined(B, r2, "bob", "msgpack")                  # bob in both rooms
    c2 = await Client.joined(B, r2, "cat", "json")
    await lc.open_sale(h1, "S1", 10, price=300, limit=5)
    await lc.open_sale(h2, "S2", 10, price=1000, limit=5)
    assert (await lc.buy(b1, "S1", "b1", qty=2))["status"] == "ok"
    assert (await lc.buy(a1, "S1", "a1"))["status"] == "ok"
    assert (await lc.buy(b2, "S2", "b2", qty=3))["status"] == "ok"
    # reservations left unpaid (they expire while the rest goes on): never in any figure
    await lc.open_sale_pay(h1, "P1", 10, price=5000, limit=5, pay_s=PAY_S)
    rsv = {}
    for c, qty in ((b1, 1), (d1, 2)):
        o = await lc.buy_coupon(c, "P1", f"p-{qty}", qty=qty)
        assert o["status"] == "reserved", o
        rsv[o["order"]] = c
    await a1.like(2)
    await c2.comment("hello r2")
    f1 = figures(await settle(A.port, r1, redis_port, {"viewers_now": 4, "viewers_peak": 4, "engaged": 1, "buyers": 2,
                                                       "orders": 2, "units": 3, "revenue": 900}))
    f2 = figures(await settle(B.port, r2, redis_port, {"viewers_now": 3, "viewers_peak": 3, "engaged": 1, "buyers": 1,
                                                       "orders": 1, "units": 3, "revenue": 3000}))
    truth = {r1: f1, r2: f2}

    def reported():
        """{shard: the rooms whose lease it holds}"""
        d = {"A": [], "B": []}
        for r in (r1, r2):
            who = reporter(redis_port, r)
            if who is not None:
                assert who in d, f"lc:{{{r}}}:reporter holds {who!r}, not a shard id"
                d[who].append(r)
        return d

    def holds(live=("A", "B"), rooms=(r1, r2)):
        """Every live shard's gauges are the sum over the rooms it holds the lease of, and every
        room in rooms is held by one of them."""
        rep = reported()
        if sorted(r for s in live for r in rep[s]) != sorted(rooms):
            return False
        for s in live:
            if gauges(shards[s].port) != room_sum([truth[r] for r in rep[s]]):
                return False
        return rep

    def state(live):
        return {s: gauges(shards[s].port) for s in live}, reported()

    try:
        rep = await lc.async_wait_until(holds, lc.scaled(12), interval=0.2, what="gauges = sum over reported rooms")
    except AssertionError as e:
        raise AssertionError(f"{e}: gauges, leases = {state(('A', 'B'))}; truth {truth}") from None
    assert rep["B"].count(r2) == 1, f"r2 has viewers on B only, yet {rep}"
    total = {k: gauges(A.port)[k] + gauges(B.port)[k] for k in ("rooms", *GAUGES)}
    assert total == room_sum([f1, f2]), (total, f1, f2)

    # r2 empties: its share leaves B's gauges at once
    for c in (h2, b2, c2):
        await c.close()
    t = time.monotonic()
    try:
        await lc.async_wait_until(lambda: gauges(B.port) == room_sum([truth[r] for r in rep["B"] if r != r2]),
                                  lc.scaled(3), interval=0.1, what="r2 out of B's gauges")
    except AssertionError as e:
        raise AssertionError(f"{e}: B's gauges {gauges(B.port)}; r1 {f1}; leases {reported()}") from None
    left_after = time.monotonic() - t

    # the shard that reports r1 dies: the other one takes the lease within 15 s (+ one 5-s period)
    dead, alive = "A", "B"
    assert reporter(redis_port, r1) == dead, "the lease moved while its holder was alive and asking"
    await shards[dead].akill()
    t = time.monotonic()

    def taken_over():
        if reporter(redis_port, r1) != alive:
            return False
        g = gauges(shards[alive].port)
        return g["rooms"] == 1 and all(g[k] == f1[k] for k in GAUGES if k != "viewers_now")

    try:
        await lc.async_wait_until(taken_over, lc.scaled(22), interval=0.2,
                                  what=f"{alive} reporting r1 after {dead} was SIGKILLed")
    except AssertionError as e:
        raise AssertionError(f"{e}: {alive}'s gauges {gauges(shards[alive].port)}; lease "
                             f"{reporter(redis_port, r1)!r}; r1 {f1}") from None
    took = time.monotonic() - t
    assert took <= lc.scaled(21), f"took {took:.1f}s"
    print(f"r2 left B's gauges after {left_after:.2f}s; {alive} took r1 over {took:.1f}s after {dead} died")

    # the reservations expire (swept by B): no figure moves, nobody becomes or stops being a buyer
    for oid, c in rsv.items():
        m = await lc.got(c, "expired", lc.scaled(25), order=oid)
        assert m["sku"] == "P1", m
    keep = {k: v for k, v in f1.items() if k != "viewers_now"}
    b = await steady(B.port, r1, redis_port, keep, what="after the reservations expired")
    check_layout(redis_port, r1, b)
    assert series_sum(b, "orders") == 2
    await lc.async_wait_until(lambda: {k: gauges(B.port)[k] for k in keep} == keep, lc.scaled(7), interval=0.2,
                              what="B's gauges unchanged by the expiries")


# ------------------------------------------------------------------------------ likes once


@async_test(timeout=60)
async def test_likes_through_two_shards_and_a_sigterm_add_up_exactly_in_the_series(start_server, room, redis_port):
    A, B = two_shards(start_server)
    wa = await Client.joined(A, room, "wa", "json")
    wb = await Client.joined(B, room, "wb", "msgpack")
    ann = await Client.joined(A, room, "ann", "json")
    bob = await Client.joined(B, room, "bob", "msgpack")
    cat_a = await Client.joined(A, room, "cat", "msgpack")
    cat_b = await Client.joined(B, room, "cat", "json")
    await ann.like(3)
    await ann.like(4)
    await bob.like(5)
    await asyncio.gather(cat_a.like(2), cat_b.like(2), bob.like(1))
    await asyncio.gather(wa.wait_likes(17), wb.wait_likes(17))
    b = await settle(B.port, room, redis_port, {"engaged": Approx(3)})
    assert series_sum(b, "likes") == 17, [p for p in b["series"] if p["likes"]]
    # likes still in A's batch when it is told to stop are flushed, and counted once
    await ann.like(7)
    await cat_a.like(1)
    for c in (ann, cat_a):
        await c.ping_pong()
    assert await A.astop() == 0
    await wb.wait_likes(25, lc.scaled(3))
    await A.astart()
    again = await Client.joined(A, room, "ann", "json")
    await again.like(1)
    await wb.wait_likes(26, lc.scaled(3))
    st, state, _ = lc.api_call(B.port, "GET", f"/api/rooms/{room}", key=KEY)
    assert st == 200 and state["likes"] == 26, state
    await asyncio.sleep(0.5)
    b = await asyncio.to_thread(read_stats, A.port, room, redis_port)
    assert series_sum(b, "likes") == 26, [p for p in b["series"] if p["likes"]]
    assert series_sum(b, "comments") == 0 and b["engaged"] == Approx(3), figures(b)


@pytest.mark.single_redis_only   # a reply-dropping proxy in front of one redis-server
@async_test(timeout=60)
async def test_a_like_batch_whose_reply_was_lost_counts_once_in_the_series(start_server, redis_proc, room):
    proxy = lc.ReplyDroppingProxy(redis_proc.port)
    try:
        s = start_server(shard="A", redis_port=proxy.port, env=API)
        ann = await Client.joined(s, room, "ann", "json")
        watcher = await Client.joined(s, room, "watcher", "msgpack")
        await ann.like(3)
        await watcher.wait_likes(3)
        await asyncio.sleep(0.5)
        proxy.arm(rkey(room, "likeseq").encode())
        await ann.like(7)
        await lc.async_wait_until(lambda: proxy.cuts >= 1, lc.scaled(8),
                                  what="the like batch (a command naming lc:{room}:likeseq) seen and its reply dropped")
        await watcher.wait_likes(10, lc.scaled(15))
        await asyncio.sleep(1.0)

        def series_likes():
            st, b, _ = get_stats(s.port, room)
            assert st == 200, (st, b)
            check_api_stats(b, room)
            return series_sum(b, "likes"), b["engaged"]

        got = await lc.async_wait_until(lambda: series_likes(), lc.scaled(5), what="stats answered")
        assert got[0] == 10, f"the retried batch counted {got[0]} likes in the series, 10 were sent"
        assert got[1] == 1, f"engaged {got[1]}: only ann liked"
        assert watcher.likes == 10
        await s.astop()          # before the proxy goes (a shard without Redis drains slowly)
    finally:
        proxy.close()


# ------------------------------------------------------------------------------ roles by token


@async_test(timeout=40)
async def test_a_refresh_to_streamer_starts_the_stats_and_a_refresh_to_viewer_stops_them(start_server, keys, room):
    """With tokens the role is the token's, and a refresh's role applies from then on
    (PROTOCOL.md "Identity"): the `stats` follow it."""
    s = start_server(shard="A", env=API, jwt_key_file=keys.path)
    vic = await lc.join_token(s, room, keys.issue("vic", "viewer", room), "json")
    sue = await lc.join_token(s, room, keys.issue("sue", "streamer", room), "msgpack")
    check_stats_msg(await sue.recv_type("stats", lc.scaled(1.5)))
    await vic.ping_pong()            # whatever vic got as a viewer came before this pong
    before = len([m for m in vic.received if m["type"] == "stats"])
    assert not before, "a viewer received stats before its refresh to streamer"
    await vic.send({"type": "refresh", "token": keys.issue("vic", "streamer", room)})
    await sue.send({"type": "refresh", "token": keys.issue("sue", "viewer", room)})
    for c in (vic, sue):
        await c.ping_pong()          # the refresh was taken (it has no answer of its own)
    rv, rs = [], []
    await asyncio.gather(lc.record_timed(vic, lc.scaled(6.5), rv), lc.record_timed(sue, lc.scaled(6.5), rs))
    assert [m for _, m in rv if m["type"] == "stats"], "a connection refreshed to streamer got no stats in 6.5 s"
    for m in (m for _, m in rv if m["type"] == "stats"):
        check_stats_msg(m)
    got = [m for _, m in rs if m["type"] == "stats"]
    assert not got, f"a connection refreshed to viewer still receives stats: {got[0]!r:.200}"
