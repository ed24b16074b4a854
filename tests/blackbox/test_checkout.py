"""Checkout: sales with `pay_s` sell by reservation; the shop confirms payments over the HTTP API
(200 paid, idempotent; 409 expired / cancelled / ok; 404; 401), the buyer hears `paid` or `expired`
on whatever shard it is, an unpaid reservation expires by itself exactly once and gives its units
(and its coupon) back -- also when the shard that sold it was SIGKILLed before the deadline, and
in rooms no shard serves any more -- and a payment racing the deadline either pays or expires,
never both; the demo pay path exists in open mode only; livecart_reservations_total
(PROTOCOL.md "Checkout: reservations that must be paid in time", "HTTP API", "Redis layout")."""

import asyncio
import collections
import re
import threading
import time

import pytest

import lc
from lc import Client, async_test, rkey

KEY = "checkout-api-key-0123456789"
API = {"LIVECART_API_KEY": KEY}
# Enough tokens for tests in which one connection sends several buys/cancels on purpose.
ROOMY = {"buy_rate": 1000, "buy_burst": 1000}
PAY_S = 30          # the least pay_s: the expiry tests wait for it

STATE_KEYS = {"order", "user", "sku", "qty", "state", "price", "ts"}
STATE_OPTIONAL = {"pay_by", "paid_ts", "list_price", "coupon"}


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


def records(rds, room, kind, order=None):
    """Fields of the order stream's records of one kind (about one order when given)."""
    return [f for _, f in lc.orders(rds, room, kind) if order is None or f.get("order") == order]


def check_event(m, typ, order, sku, qty):
    """A `paid` / `expired` message: exactly order, sku, qty (the user travels on the bus only)."""
    assert m == {"type": typ, "order": order, "sku": sku, "qty": qty}, m


def check_move_record(f, kind, order, user, sku, qty, shards):
    """A kind=paid / kind=expire record: order, user, sku, qty, shard, ts."""
    assert {k: f.get(k) for k in ("kind", "order", "user", "sku", "qty")} == \
        {"kind": kind, "order": order, "user": user, "sku": sku, "qty": str(qty)}, f
    assert f.get("shard") in shards, f
    assert re.fullmatch(r"\d{13}", f.get("ts", "")), f


def check_state(b, order, user, sku, qty, state, price, **extra):
    """A GET /api/rooms/R/orders/O body: the keys PROTOCOL.md lists; extra=None: key absent."""
    assert isinstance(b, dict), b
    assert not STATE_KEYS - set(b), f"order state lacks {STATE_KEYS - set(b)}: {b}"
    assert not set(b) - STATE_KEYS - STATE_OPTIONAL, f"order state with unlisted keys: {b}"
    assert {k: b[k] for k in ("order", "user", "sku", "qty", "state", "price")} == \
        {"order": order, "user": user, "sku": sku, "qty": qty, "state": state, "price": price}, b
    assert lc.is_int(b["ts"]) and abs(b["ts"] - lc.cid(order)[0]) <= 2000, f"ts is not the order's time: {b}"
    for k, v in extra.items():
        if v is None:
            assert k not in b, f"{k} does not apply here: {b}"
        elif v is int:
            assert lc.is_int(b.get(k)), f"{k} must be an integer: {b}"
        else:
            assert b.get(k) == v, f"{k}: expected {v!r}: {b}"
    return b


def reservations(port, outcome):
    return lc.metric(port, f'livecart_reservations_total{{outcome="{outcome}"}}')


def two_shards(start_server, **flags):
    return (start_server(shard="A", env=API, **ROOMY, **flags),
            start_server(shard="B", env=API, **ROOMY, **flags))


async def reserve(c, sku, req, qty=1, coupon=None):
    o = await lc.buy_coupon(c, sku, req, qty=qty, coupon=coupon)
    assert o["status"] == "reserved", o
    return o


# ------------------------------------------------------------------------------ reserve and pay


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(timeout=60)
async def test_a_sale_with_pay_s_reserves_and_the_shops_payment_reaches_the_buyer_on_every_shard(
        start_server, room, rds, redis_port, fmt):
    other = "msgpack" if fmt == "json" else "json"
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(A, room, "ann", fmt)
    ann_b = await Client.joined(B, room, "ann", other)        # the same buyer on the other shard
    watcher = await Client.joined(B, room, "watcher", fmt)
    sale = await lc.open_sale_pay(host, "COAT", 5, price=12900, limit=2, pay_s=PAY_S, title="Wool coat")
    expect = {"type": "sale", "sku": "COAT", "title": "Wool coat", "price": 12900, "stock": 5, "limit": 2,
              "pay_s": PAY_S}
    assert sale == expect, sale
    assert await lc.got(watcher, "sale", sku="COAT") == expect

    t0 = lc.redis_ms(redis_port, room)
    o = await reserve(ann, "COAT", "r1", qty=2)
    t1 = lc.redis_ms(redis_port, room)
    assert {k: o.get(k) for k in ("req", "sku", "status", "qty", "left", "price")} == \
        {"req": "r1", "sku": "COAT", "status": "reserved", "qty": 2, "left": 3, "price": 12900}, o
    assert "coupon" not in o, o
    assert t0 + PAY_S * 1000 <= o["pay_by"] <= t1 + PAY_S * 1000, \
        f"pay_by {o['pay_by']} is not the reservation time + pay_s (Redis clock {t0}..{t1})"
    oid = o["order"]
    # the units left the stock at once; the deadline is in Redis; the stream has the reservation
    assert sale_left(rds, room, "COAT") == 3
    assert rds.hget(rkey(room, "bought:COAT"), "ann") == "2"
    assert int(rds.zscore(rkey(room, "paydue"), oid)) == o["pay_by"]
    es = lc.orders(rds, room)
    assert [i for i, _ in es] == [oid], es
    f = es[0][1]
    assert {k: f.get(k) for k in ("kind", "user", "sku", "qty", "price", "req", "pay_by", "shard")} == \
        {"kind": "order", "user": "ann", "sku": "COAT", "qty": "2", "price": "12900", "req": "r1",
         "pay_by": str(o["pay_by"]), "shard": "A"}, f
    await lc.wait_stock(watcher, "COAT", 3)
    st, b = lc.get_order(B.port, room, oid, KEY)
    assert st == 200, (st, b)
    check_state(b, oid, "ann", "COAT", 2, "reserved", 12900, pay_by=o["pay_by"], paid_ts=None)
    # a late joiner's welcome carries pay_s too
    late = await Client.joined(B, room, "late", fmt)
    assert [s for s in late.welcome["sales"] if s["sku"] == "COAT"] == [{**expect, "stock": 3, "total": 5}]

    # the shop confirms the payment through shard B: both of ann's connections hear it
    paid_before = {s.shard: reservations(s.port, "paid") for s in (A, B)}
    st, b = lc.mark_paid(B.port, room, oid, KEY)
    assert (st, b) == (200, {"order": oid, "status": "paid"}), (st, b)
    for c in (ann, ann_b):
        check_event(await lc.got(c, "paid", order=oid), "paid", oid, "COAT", 2)
    # a repeat (through the other shard) is 200 again and moves nothing
    assert lc.mark_paid(A.port, room, oid, KEY) == (200, {"order": oid, "status": "paid"})
    assert lc.mark_paid(B.port, room, oid, KEY) == (200, {"order": oid, "status": "paid"})
    paid = records(rds, room, "paid")
    assert len(paid) == 1, paid
    check_move_record(paid[0], "paid", oid, "ann", "COAT", 2, ("B",))
    assert rds.zscore(rkey(room, "paydue"), oid) is None, "a paid order is no longer due"
    st, b = lc.get_order(A.port, room, oid, KEY)
    assert st == 200, (st, b)
    check_state(b, oid, "ann", "COAT", 2, "paid", 12900, paid_ts=int)
    assert b["paid_ts"] >= b["ts"], b
    assert sale_left(rds, room, "COAT") == 3
    # the shard whose script made the move counts it, once
    assert reservations(B.port, "paid") == paid_before["B"] + 1
    assert reservations(A.port, "paid") == paid_before["A"]
    # the retried tap answers the first answer, on any shard, though the order is paid now
    again = await lc.buy_coupon(ann_b, "COAT", "r1", qty=2)
    assert same_answer(again, o), (again, o)
    # only the buyer hears about its payment
    await lc.drain([watcher, host, late, ann, ann_b])
    for c in (watcher, host, late):
        assert not [m for m in c.received if m["type"] in ("paid", "expired")], c.received[-5:]
    for c in (ann, ann_b):
        assert not [m for m in c.received if m["type"] == "expired"]


@async_test(timeout=60)
async def test_the_shop_api_answers_409_for_cancelled_and_plain_orders_404_for_unknown_and_401_without_key(
        start_server, room, rds):
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(A, room, "ann", "msgpack")
    bob = await Client.joined(B, room, "bob", "json")
    await lc.open_sale_pay(host, "PLAIN", 5, price=300)                 # no pay_s: ok is final
    await lc.open_sale_pay(host, "RSV", 5, price=700, pay_s=600)
    plain = await lc.buy_coupon(ann, "PLAIN", "p1")
    assert plain["status"] == "ok" and plain["price"] == 300 and "pay_by" not in plain, plain
    rsv = await reserve(bob, "RSV", "b1")
    assert rsv["price"] == 700 and rsv["left"] == 4, rsv

    # not a reservation: 409 ok, and its state is ok (no deadline)
    assert lc.mark_paid(B.port, room, plain["order"], KEY) == (409, {"order": plain["order"], "status": "ok"})
    st, b = lc.get_order(B.port, room, plain["order"], KEY)
    assert st == 200, (st, b)
    check_state(b, plain["order"], "ann", "PLAIN", 1, "ok", 300, pay_by=None, paid_ts=None)
    # a cancelled reservation cannot be paid any more
    c = await lc.cancel(bob, rsv["order"])
    assert c == {"type": "cancelled", "order": rsv["order"], "status": "ok", "sku": "RSV", "qty": 1, "left": 5,
                 "pay_by": rsv["pay_by"]}, c
    for port in (A.port, B.port):
        assert lc.mark_paid(port, room, rsv["order"], KEY) == (409, {"order": rsv["order"], "status": "cancelled"})
    st, b = lc.get_order(A.port, room, rsv["order"], KEY)
    assert st == 200, (st, b)
    check_state(b, rsv["order"], "bob", "RSV", 1, "cancelled", 700, paid_ts=None)
    assert not records(rds, room, "paid")
    # unknown orders, and orders of another room, are 404
    for path_room, oid in ((room, "1-1"), (room, "99999999999999-7"), (room + "x", plain["order"]),
                           (room + "x", rsv["order"])):
        st, b = lc.mark_paid(A.port, path_room, oid, KEY)
        assert st == 404, (path_room, oid, st, b)
        st, b = lc.get_order(A.port, path_room, oid, KEY)
        assert st == 404, (path_room, oid, st, b)
    # no key or a wrong key: 401, and nothing happens
    rsv2 = await reserve(bob, "RSV", "b2")
    for key in (None, "wrong-key"):
        for method, path in (("POST", f"/api/rooms/{room}/orders/{rsv2['order']}/paid"),
                             ("GET", f"/api/rooms/{room}/orders/{rsv2['order']}")):
            st, b, h = lc.api_call(A.port, method, path, key=key)
            assert st == 401, (method, key, st, b)
            assert h.get("www-authenticate", "").startswith("Bearer"), h
    st, b = lc.get_order(B.port, room, rsv2["order"], KEY)
    assert b["state"] == "reserved", b
    assert not records(rds, room, "paid")
    await bob.assert_silent(0.3, types=("paid", "expired"))


@async_test()
async def test_without_an_api_key_the_order_api_does_not_exist(start_server, room):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "json")
    await lc.open_sale_pay(host, "NOKEY", 2, pay_s=PAY_S)
    o = await reserve(ann, "NOKEY", "n1")
    for key in (None, KEY):
        assert lc.mark_paid(s.port, room, o["order"], key)[0] == 404
        assert lc.get_order(s.port, room, o["order"], key)[0] == 404
    await ann.assert_silent(0.3, types=("paid",))


# ------------------------------------------------------------------------------------- cancel


@async_test(timeout=60)
async def test_a_cancelled_reservation_gives_its_units_back_at_once_and_never_expires(start_server, room, rds):
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(A, room, "ann", "msgpack")
    bob = await Client.joined(B, room, "bob", "json")
    watcher = await Client.joined(B, room, "watcher", "msgpack")
    await lc.open_sale_pay(host, "LAMP", 1, price=4500, pay_s=PAY_S)
    o = await reserve(ann, "LAMP", "a1")
    assert o["left"] == 0, o
    await lc.got(watcher, "sold_out", sku="LAMP")
    # (retry: decided by Redis, so that the answer is stored; the shard's own sold_out is not)
    assert (await lc.buy_coupon(bob, "LAMP", "b1", retry=True))["status"] == "sold_out"

    before = reservations(A.port, "cancelled")
    c = await lc.cancel(ann, o["order"])
    assert c == {"type": "cancelled", "order": o["order"], "status": "ok", "sku": "LAMP", "qty": 1, "left": 1,
                 "pay_by": o["pay_by"]}, c
    assert sale_left(rds, room, "LAMP") == 1
    assert rds.hget(rkey(room, "bought:LAMP"), "ann") in (None, "0")
    assert rds.zscore(rkey(room, "paydue"), o["order"]) is None, "a cancelled reservation is not due any more"
    await lc.wait_stock(watcher, "LAMP", 1)
    await lc.wait_stock(bob, "LAMP", 1)
    cancels = records(rds, room, "cancel")
    assert len(cancels) == 1 and cancels[0]["order"] == o["order"] and cancels[0]["user"] == "ann", cancels
    assert reservations(A.port, "cancelled") == before + 1
    st, b = lc.get_order(B.port, room, o["order"], KEY)
    check_state(b, o["order"], "ann", "LAMP", 1, "cancelled", 4500, paid_ts=None)
    assert (await lc.cancel(ann, o["order"]))["status"] == "already"
    assert (await lc.cancel(bob, o["order"]))["status"] == "not_found"
    # the unit is on sale again: bob reserves it (his old tap stays sold_out: a new tap)
    assert (await lc.buy_coupon(bob, "LAMP", "b1", retry=True))["status"] == "sold_out"
    ob = await reserve(bob, "LAMP", "b2")
    assert ob["left"] == 0 and ob["order"] != o["order"], ob
    for v in (watcher, ann):
        if len(lc.of_sku(v, "LAMP", ("sold_out",))) < 2:
            await v.wait_for(lambda m, v=v: len(lc.of_sku(v, "LAMP", ("sold_out",))) >= 2, what="a second sold_out")
    # and the cancelled one never expires nor gets paid
    assert lc.mark_paid(A.port, room, o["order"], KEY) == (409, {"order": o["order"], "status": "cancelled"})
    await ann.assert_silent(0.3, types=("paid", "expired"))
    assert not records(rds, room, "expire")
    assert sale_left(rds, room, "LAMP") == 0


@async_test(timeout=60)
async def test_a_reservation_cancels_at_any_time_a_paid_order_within_the_window_after_its_payment(
        start_server, room, rds):
    s = start_server(shard="A", env=API, cancel_window_s=1, **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "json")
    await lc.open_sale_pay(host, "VASE", 10, price=900, limit=10, pay_s=PAY_S)
    o1 = await reserve(ann, "VASE", "v1")
    o2 = await reserve(ann, "VASE", "v2")
    o3 = await reserve(ann, "VASE", "v3")
    await asyncio.sleep(1.5)                            # past --cancel-window-s of the reservations
    # a reservation: any time before it expires
    assert (await lc.cancel(ann, o1["order"]))["status"] == "ok"
    # a paid order: within the window after its payment, however old the order is
    assert lc.mark_paid(s.port, room, o2["order"], KEY)[0] == 200
    await lc.got(ann, "paid", order=o2["order"])
    c2 = await lc.cancel(ann, o2["order"])
    assert c2["status"] == "ok" and c2["left"] == 9, c2
    assert lc.mark_paid(s.port, room, o3["order"], KEY)[0] == 200
    await asyncio.sleep(1.5)
    assert (await lc.cancel(ann, o3["order"]))["status"] == "expired"
    assert sale_left(rds, room, "VASE") == 9
    assert rds.hget(rkey(room, "bought:VASE"), "ann") == "1"
    states = {o["order"]: lc.get_order(s.port, room, o["order"], KEY)[1]["state"] for o in (o1, o2, o3)}
    assert states == {o1["order"]: "cancelled", o2["order"]: "cancelled", o3["order"]: "paid"}, states
    assert [f["order"] for f in records(rds, room, "cancel")] == [o1["order"], o2["order"]]
    # a cancelled paid order is cancelled for the shop too
    assert lc.mark_paid(s.port, room, o2["order"], KEY) == (409, {"order": o2["order"], "status": "cancelled"})


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_pay_s_out_of_range_is_bad_request_and_the_bounds_are_carried(start_server, room, rds, fmt):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", fmt, role="streamer")
    base = {"type": "sale_open", "sku": "PS", "title": "t", "price": 1, "stock": 1}
    bad = [0, 29, 3601, -30, "30", None, True, 10**12]
    if fmt == "json":
        bad.append(30.0)
    for v in bad:
        await host.send({**base, "pay_s": v})
        await lc.expect_error_answer(host, "bad_request")
    await host.ping_pong()
    assert rds.smembers(rkey(room, "sales")) == set()
    lo = await lc.open_sale_pay(host, "LO", 1, price=1, pay_s=30)
    hi = await lc.open_sale_pay(host, "HI", 1, price=1, pay_s=3600)
    assert (lo["pay_s"], hi["pay_s"]) == (30, 3600)
    plain = await lc.open_sale_pay(host, "NONE", 1, price=1)
    assert "pay_s" not in plain, plain
    late = await Client.joined(s, room, "late", fmt)
    assert {x["sku"]: x.get("pay_s") for x in late.welcome["sales"]} == {"LO": 30, "HI": 3600, "NONE": None}


# ------------------------------------------------------------------------------------ expiry


@async_test(timeout=120)
async def test_the_selling_shard_killed_before_the_deadline_the_survivor_expires_its_reservations_on_time_once(
        start_server, rds, redis_port):
    """Shard A sells three units by reservation (one bought with a coupon) and is SIGKILLed long
    before the deadline; one reservation is paid through B.  B, which has viewers in the room,
    expires the other two on time: exactly once, units back, the coupon back, `expired` to the
    buyers (also on connections made after the kill).  Rooms that only A served are expired by
    the first GET / paid that names their order, or when B next welcomes a viewer to them."""
    room, room2, room3 = lc.uniq("killed_"), lc.uniq("orphan_"), lc.uniq("rejoin_")
    A, B = two_shards(start_server)
    host = await Client.joined(B, room, "host", "json", role="streamer")
    ann = await Client.joined(A, room, "ann", "json")
    ann_b = await Client.joined(B, room, "ann", "msgpack")
    bob = await Client.joined(A, room, "bob", "msgpack")
    cat = await Client.joined(A, room, "cat", "json")
    watcher = await Client.joined(B, room, "watcher", "json")
    dan = await Client.joined(B, room, "dan", "msgpack")
    # rooms that only shard A serves
    host2 = await Client.joined(A, room2, "host", "json", role="streamer")
    eve2 = await Client.joined(A, room2, "eve", "msgpack")
    host3 = await Client.joined(A, room3, "host", "msgpack", role="streamer")
    eve3 = await Client.joined(A, room3, "eve", "json")

    await lc.drop_coupon(host, "KILL300", quota=5, off=300, secs=600)
    cl = await lc.claim_coupon(bob, "KILL300", "c1")
    assert cl["status"] == "ok", cl
    await lc.open_sale_pay(host, "KETTLE", 3, price=2000, pay_s=PAY_S)
    await lc.open_sale_pay(host2, "ORPH", 5, price=100, limit=5, pay_s=PAY_S)
    await lc.open_sale_pay(host3, "BACK", 5, price=100, pay_s=PAY_S)
    await asyncio.gather(*(lc.got(c, "sale", sku="KETTLE") for c in (ann, bob, cat, watcher)))

    oa = await reserve(ann, "KETTLE", "a1")
    ob = await reserve(bob, "KETTLE", "b1", coupon="KILL300")
    assert (ob["price"], ob["coupon"]) == (1700, "KILL300"), ob
    oc = await reserve(cat, "KETTLE", "c1")
    assert oc["left"] == 0, oc
    ox = await reserve(eve2, "ORPH", "x")
    oy = await reserve(eve2, "ORPH", "y")
    oz = await reserve(eve3, "BACK", "z")
    assert lc.mark_paid(B.port, room, oc["order"], KEY)[0] == 200
    await lc.got(cat, "paid", order=oc["order"])
    # B knows the room's stock (and so its next deadline) before A dies
    await lc.wait_stock(watcher, "KETTLE", 0)
    assert int(rds.hget(rkey(room, "cused:KILL300"), "bob")) == 1
    expired_before = reservations(B.port, "expired")
    A.kill()
    killed_at = now_ms()
    assert killed_at < oa["pay_by"] - 20000, "A was killed too late to prove anything"
    for c in (ann, bob, cat):
        code, _ = await c.expect_close(lc.scaled(5))
        assert code == 1006, code
    # the buyers come back through B
    ann_b2 = await Client.joined(B, room, "ann", "json")
    bob_b = await Client.joined(B, room, "bob", "json")

    async def arrival(c, order):
        m = await c.wait_for(lambda m: m["type"] in ("expired", "paid") and m.get("order") == order,
                             lc.scaled(PAY_S + 15), what=f"expired {order}")
        return m, now_ms()

    got = await asyncio.gather(arrival(ann_b, oa["order"]), arrival(ann_b2, oa["order"]),
                               arrival(bob_b, ob["order"]))
    tick = B.opts["tick-ms"]
    for (m, at), o, sku in zip(got, (oa, oa, ob), ("KETTLE",) * 3):
        check_event(m, "expired", o["order"], sku, 1)
        late = at - o["pay_by"]
        # "within about one tick plus one second of pay_by" (+ 300 ms for a busy box)
        assert -50 <= late <= 1000 + tick + 300, f"expired {late} ms after pay_by"
    print(f"expired after pay_by: {[at - o['pay_by'] for (m, at), o in zip(got, (oa, oa, ob))]} ms")

    # units back exactly once: stock on the survivor rises to 2, the sale hash says 2, one
    # kind=expire per order (written by B), the paid one untouched
    await lc.wait_stock(watcher, "KETTLE", 2, lc.scaled(5))
    seq = lc.stock_seq(watcher, "KETTLE")
    after0 = seq[len(seq) - 1 - seq[::-1].index(0):]
    assert after0 == sorted(after0) and max(after0) == 2, f"stock after the sell-out: {seq}"
    assert sale_left(rds, room, "KETTLE") == 2
    for o, user in ((oa, "ann"), (ob, "bob")):
        ex = records(rds, room, "expire", o["order"])
        assert len(ex) == 1, f"{len(ex)} kind=expire records for {o['order']}"
        check_move_record(ex[0], "expire", o["order"], user, "KETTLE", 1, ("B",))
    assert records(rds, room, "expire", oc["order"]) == []
    assert [f["order"] for f in records(rds, room, "paid")] == [oc["order"]]
    assert rds.zcard(rkey(room, "paydue")) == 0
    for user in ("ann", "bob"):
        assert rds.hget(rkey(room, "bought:KETTLE"), user) in (None, "0"), user
    st, b = lc.get_order(B.port, room, oa["order"], KEY)
    check_state(b, oa["order"], "ann", "KETTLE", 1, "expired", 2000, pay_by=oa["pay_by"], paid_ts=None)
    st, b = lc.get_order(B.port, room, ob["order"], KEY)
    check_state(b, ob["order"], "bob", "KETTLE", 1, "expired", 1700, list_price=2000, coupon="KILL300")
    st, b = lc.get_order(B.port, room, oc["order"], KEY)
    assert b["state"] == "paid", b
    assert lc.mark_paid(B.port, room, oa["order"], KEY) == (409, {"order": oa["order"], "status": "expired"})
    assert (await lc.cancel(ann_b2, oa["order"]))["status"] == "expired"
    # the retried tap still answers the reservation it made
    assert same_answer(await lc.buy_coupon(ann_b2, "KETTLE", "a1"), oa)

    # bob's coupon is his again, unused: he buys with it once more
    assert rds.hget(rkey(room, "cused:KILL300"), "bob") in (None, "0")
    mine = (await lc.my_coupons(bob_b))["coupons"]
    assert [(x["coupon"], x["claimed"], x["used"]) for x in mine] == [("KILL300", 1, 0)], mine
    ob2 = await reserve(bob_b, "KETTLE", "b2", coupon="KILL300")
    assert (ob2["price"], ob2["left"]) == (1700, 1), ob2
    assert (await reserve(dan, "KETTLE", "d1"))["left"] == 0
    if len(lc.of_sku(watcher, "KETTLE", ("sold_out",))) < 2:
        await watcher.wait_for(lambda m: len(lc.of_sku(watcher, "KETTLE", ("sold_out",))) >= 2, lc.scaled(5),
                               what="a second sold_out")

    # a room nobody serves: GET reports an overdue reservation expired at once; the first paid
    # that names it expires it
    assert now_ms() > oy["pay_by"]
    st, b = lc.get_order(B.port, room2, ox["order"], KEY)
    assert st == 200, (st, b)
    check_state(b, ox["order"], "eve", "ORPH", 1, "expired", 100, pay_by=ox["pay_by"], paid_ts=None)
    for o in (ox, oy):
        assert lc.mark_paid(B.port, room2, o["order"], KEY) == (409, {"order": o["order"], "status": "expired"})
    assert lc.get_order(B.port, room2, oy["order"], KEY)[1]["state"] == "expired"
    for o in (ox, oy):
        ex = records(rds, room2, "expire", o["order"])
        assert len(ex) == 1, ex
        check_move_record(ex[0], "expire", o["order"], "eve", "ORPH", 1, ("B",))
    assert sale_left(rds, room2, "ORPH") == 5
    # ... or B's next welcome to it
    assert now_ms() > oz["pay_by"]
    v3 = await Client.joined(B, room3, "late", "json")
    await lc.async_wait_until(lambda: len(records(rds, room3, "expire", oz["order"])) == 1, lc.scaled(3),
                              what="the rejoined room to be swept")
    assert sale_left(rds, room3, "BACK") == 5
    def back_stock():     # what the late viewer was shown last: its welcome, then stock messages
        seq = lc.stock_seq(v3, "BACK")
        return seq[-1] if seq else [x["stock"] for x in v3.welcome["sales"] if x["sku"] == "BACK"][0]
    if back_stock() != 5:
        await v3.wait_for(lambda m: back_stock() == 5, lc.scaled(3), what="stock BACK back to 5")

    # every expiry was made by B's scripts (A is dead), and counted there once
    assert reservations(B.port, "expired") == expired_before + 5
    # nobody heard anything twice
    await lc.drain([ann_b, ann_b2, bob_b, watcher])
    for c, o in ((ann_b, oa), (ann_b2, oa), (bob_b, ob)):
        evs = [m for m in c.received if m["type"] in ("paid", "expired") and m.get("order") == o["order"]]
        assert len(evs) == 1, evs
    assert not [m for m in watcher.received if m["type"] in ("paid", "expired")]


@async_test(timeout=120)
async def test_a_payment_racing_the_deadline_either_pays_or_expires_never_both(start_server, room, rds):
    """Several shop threads pay each reservation at about its pay_by (through both shards) while
    both shards sweep: per order exactly one outcome, told alike to every caller and the buyer."""
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    offsets = [-800, -60, -30, -15, -8, -3, 0, 3, 8, 15, 30, 60, 800]    # ms from pay_by
    n = len(offsets)
    buyers = [await Client.joined((A, B)[i % 2], room, f"payer{i:02d}", lc.FORMATS[(i // 2) % 2])
              for i in range(n)]
    watcher = await Client.joined(B, room, "watcher", "msgpack")
    await lc.open_sale_pay(host, "RACE", n, price=500, pay_s=PAY_S)
    await asyncio.gather(*(lc.got(c, "sale", sku="RACE") for c in buyers))
    res = []
    for c in buyers:
        res.append(await reserve(c, "RACE", "tap"))
    await lc.wait_stock(watcher, "RACE", 0)
    before = {(s.shard, o): reservations(s.port, o) for s in (A, B) for o in ("paid", "expired")}

    answers = collections.defaultdict(list)
    lock = threading.Lock()

    def shop(order, at, port):
        while time.time() * 1000 < at - 2:
            time.sleep(min(0.5, max(0.0005, (at - time.time() * 1000) / 2000)))
        while time.time() * 1000 < at:
            pass
        for _ in range(50):
            sent = now_ms()
            st, b = lc.mark_paid(port, room, order, KEY)
            if st not in (503, 504):
                break
            time.sleep(0.05)
        with lock:
            answers[order].append((sent, st, b))

    threads = []
    for o, off in zip(res, offsets):
        for j in range(4):
            at = o["pay_by"] + off + (j - 1.5) * 3
            threads.append(threading.Thread(target=shop, args=(o["order"], at, (A, B)[j % 2].port), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        await asyncio.to_thread(t.join, lc.scaled(PAY_S + 20))
    assert not any(t.is_alive() for t in threads)

    outcome = {}
    for o, off in zip(res, offsets):
        oid = o["order"]
        got = answers[oid]
        assert len(got) == 4, got
        sts = {st for _, st, _ in got}
        assert sts in ({200}, {409}), f"order {oid} (offset {off} ms) answered {got}"
        win = "paid" if sts == {200} else "expired"
        for _, st, b in got:
            assert b == {"order": oid, "status": win}, (off, got)
        outcome[oid] = win
    # the clear cases are clear: well before the deadline pays, well after is too late
    assert outcome[res[0]["order"]] == "paid" and outcome[res[-1]["order"]] == "expired", outcome

    # the buyer is told the same, once
    for c, o in zip(buyers, res):
        win = outcome[o["order"]]
        m = await c.wait_for(lambda m, o=o: m["type"] in ("paid", "expired") and m.get("order") == o["order"],
                             lc.scaled(5), what=f"paid or expired for {o['order']}")
        check_event(m, win, o["order"], "RACE", 1)
    await lc.drain(buyers + [watcher], quiet=0.5)
    for c, o in zip(buyers, res):
        evs = [m["type"] for m in c.received if m["type"] in ("paid", "expired")]
        assert evs == [outcome[o["order"]]], (o["order"], evs)
    # the stream and the order hash agree: one move per order, never both
    for o in res:
        oid, win = o["order"], outcome[o["order"]]
        paid, exp = records(rds, room, "paid", oid), records(rds, room, "expire", oid)
        assert (len(paid), len(exp)) == ((1, 0) if win == "paid" else (0, 1)), (oid, win, paid, exp)
        assert lc.get_order(B.port, room, oid, KEY)[1]["state"] == win
        assert lc.mark_paid(A.port, room, oid, KEY) == ((200, {"order": oid, "status": "paid"}) if win == "paid"
                                                        else (409, {"order": oid, "status": "expired"}))
    n_exp = sum(1 for w in outcome.values() if w == "expired")
    assert sale_left(rds, room, "RACE") == n_exp
    await lc.wait_stock(watcher, "RACE", n_exp, lc.scaled(3))
    assert rds.zcard(rkey(room, "paydue")) == 0
    # each move counted once, by whichever shard made it
    for o in ("paid", "expired"):
        moved = sum(reservations(s.port, o) - before[(s.shard, o)] for s in (A, B))
        assert moved == sum(1 for w in outcome.values() if w == o), (o, moved, outcome)
    # a retried tap answers its reservation, whatever became of it
    for c, o in list(zip(buyers, res))[:3]:
        assert same_answer(await lc.buy_coupon(c, "RACE", "tap"), o)
    print("outcomes by offset:", {off: outcome[o["order"]] for o, off in zip(res, offsets)})


# ------------------------------------------------------------------------------------ demo shop


@async_test()
async def test_the_demo_pay_path_pays_without_a_key_in_open_mode(start_server, room, rds):
    s = start_server(shard="A", **ROOMY)                 # open mode, no API key
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "msgpack")
    await lc.open_sale_pay(host, "DEMO", 3, price=250, pay_s=PAY_S)
    await lc.open_sale_pay(host, "NOW", 3, price=250)
    o = await reserve(ann, "DEMO", "d1")
    path = f"/demo/rooms/{room}/orders/{o['order']}/pay"
    st, b, _ = lc.api_call(s.port, "POST", path)
    assert (st, b) == (200, {"order": o["order"], "status": "paid"}), (st, b)
    check_event(await lc.got(ann, "paid", order=o["order"]), "paid", o["order"], "DEMO", 1)
    assert lc.api_call(s.port, "POST", path)[:2] == (200, {"order": o["order"], "status": "paid"})
    assert len(records(rds, room, "paid", o["order"])) == 1
    # it answers like .../paid: 409 for what is not a reservation, 404 for no such order
    plain = await lc.buy_coupon(ann, "NOW", "n1")
    assert lc.api_call(s.port, "POST", f"/demo/rooms/{room}/orders/{plain['order']}/pay")[:2] == \
        (409, {"order": plain["order"], "status": "ok"})
    assert lc.api_call(s.port, "POST", f"/demo/rooms/{room}/orders/1-1/pay")[0] == 404
    # the shop API itself still needs a key (none is configured here)
    assert lc.mark_paid(s.port, room, o["order"], KEY)[0] == 404


@async_test()
async def test_the_demo_pay_path_is_404_when_tokens_are_configured(start_server, room, rds, keys):
    s = start_server(shard="J", jwt_key_file=keys.path, env=API, **ROOMY)
    host = await lc.join_token(s, room, keys.issue("host", "streamer", room), "json")
    ann = await lc.join_token(s, room, keys.issue("ann"), "msgpack")
    await lc.open_sale_pay(host, "TOK", 3, price=250, pay_s=PAY_S)
    o = await reserve(ann, "TOK", "t1")
    for key in (None, KEY):
        st, b, _ = lc.api_call(s.port, "POST", f"/demo/rooms/{room}/orders/{o['order']}/pay", key=key)
        assert st == 404, (st, b)
    assert lc.get_order(s.port, room, o["order"], KEY)[1]["state"] == "reserved"
    assert not records(rds, room, "paid")
    await ann.assert_silent(0.3, types=("paid",))
    # the real shop path works
    assert lc.mark_paid(s.port, room, o["order"], KEY) == (200, {"order": o["order"], "status": "paid"})
    await lc.got(ann, "paid", order=o["order"])


@async_test(timeout=60)
async def test_a_sale_closed_and_opened_again_is_not_credited_by_the_old_runs_reservations(start_server, room, rds):
    """Review finding: a reservation of a sku's first run, cancelled after the sku was closed and
    opened again with fresh stock, puts nothing into the new run (no oversell, no negative
    counts); its coupon goes back all the same."""
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(B, room, "ann", "msgpack")
    await lc.open_sale_pay(host, "VASE", 3, price=2000, pay_s=PAY_S)
    o = await reserve(ann, "VASE", "a1")
    assert o["left"] == 2, o
    await host.send({"type": "sale_close", "sku": "VASE"})
    await lc.got(ann, "sale_closed", sku="VASE")
    await lc.open_sale_pay(host, "VASE", 5, price=2000, pay_s=PAY_S)
    await lc.got(ann, "sale", sku="VASE", stock=5)
    c = await lc.cancel(ann, o["order"])
    assert c["status"] == "ok" and c["left"] == 5, c
    assert sale_left(rds, room, "VASE") == 5, "the old run's unit must not join the new run's stock"
    assert rds.hget(rkey(room, "bought:VASE"), "ann") in (None, "0"), "no negative count in the new run"
    # the new run sells exactly its 5: ann (limit 1) and four others
    assert (await reserve(ann, "VASE", "a2"))["left"] == 4
