"""Flash sales: the 2,000-buyer race over two shards, limits, validation, closed sales, forbidden
viewers, cancels, the per-connection rate limit, Redis outages, late joiners and idempotency
across shards (PROTOCOL.md "Flash sale" and "Orders: the hand-off to the shop")."""

import asyncio
import collections
import re
import threading
import time

import pytest

import lc
from lc import Client, async_test, rkey

# Enough tokens for tests in which one connection sends many buys/cancels on purpose
# (only the rate-limit test and the race use the defaults, 2/s burst 5).
ROOMY = {"buy_rate": 1000, "buy_burst": 1000}

ORDER_ID = re.compile(r"\d+-\d+")


def sale_left(rds, room, sku):
    v = rds.hget(rkey(room, f"sale:{sku}"), "left")
    return None if v is None else int(v)


def check_order_entry(fields, user, sku, qty, price, req, shards):
    assert fields.get("kind") == "order", fields
    assert fields.get("user") == user, fields
    assert fields.get("sku") == sku, fields
    assert fields.get("qty") == str(qty), fields
    assert fields.get("price") == str(price), fields
    assert fields.get("req") == req, fields
    assert fields.get("shard") in shards, fields
    assert re.fullmatch(r"\d{13}", fields.get("ts", "")), fields
    assert "team" not in fields, f"a flash-sale order has no team: {fields}"


class LeftWatcher:
    """Polls HGET lc:{room}:sale:SKU left in a thread and remembers every value it saw (the
    last one read after the thread stopped)."""

    def __init__(self, port, room, sku):
        self.port = port
        self.key = rkey(room, f"sale:{sku}")
        self.seen = []
        self.errors = 0
        self.last_error = None
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _client(self):
        return lc.client_for_key(self.port, self.key, socket_timeout=1, socket_connect_timeout=1)

    def _run(self):
        r = self._client()
        while not self._stop.is_set():
            try:
                v = r.hget(self.key, "left")
            except Exception as e:  # noqa: BLE001 - Redis may be down on purpose
                self.errors += 1
                self.last_error = e
                r.close()
                r = self._client()
                time.sleep(0.05)
                continue
            if v is not None:
                self.seen.append(int(v))
            time.sleep(0.002)
        r.close()

    def stop(self):
        self._stop.set()
        self._t.join(5)
        r = self._client()
        try:
            v = r.hget(self.key, "left")
        finally:
            r.close()
        if v is not None:
            self.seen.append(int(v))
        return self.seen


# ------------------------------------------------------------------------------------------ race


async def _join_many(server, room, users_fmts, batch=200):
    out = []
    for i in range(0, len(users_fmts), batch):
        out += await asyncio.gather(*(Client.joined(server, room, u, f) for u, f in users_fmts[i:i + batch]))
    return out


@async_test(timeout=120)
async def test_race_2000_buyers_on_two_shards_sell_exactly_the_stock_and_retries_repeat(
        start_server, room, rds, redis_port):
    sku, stock, price = "RACE-1", 100, 4999
    A = start_server(shard="A")
    B = start_server(shard="B")
    shards = (A, B)
    t0 = time.monotonic()
    streamer = await Client.joined(A, room, "host", "json", role="streamer")
    # pure viewers that never buy, on both shards, in both formats
    viewers = [await Client.joined(shards[i % 2], room, f"watcher{i}", lc.FORMATS[(i // 2) % 2]) for i in range(6)]
    n = 2000
    users = [f"buyer{i:04d}" for i in range(n)]
    by_user = {}
    for s_i, s in enumerate(shards):    # buyer i on shard i % 2, format (i // 2) % 2
        mine = [(users[i], lc.FORMATS[(i // 2) % 2]) for i in range(s_i, n, 2)]
        by_user.update(zip([u for u, _ in mine], await _join_many(s, room, mine)))
    buyers = list(by_user.values())
    assert len(buyers) == n
    t_connected = time.monotonic()

    watch = LeftWatcher(redis_port, room, sku)
    channel = lc.ChannelWatcher(redis_port, room)
    await lc.open_sale(streamer, sku, stock, price=price, limit=1, title="Race kettle")
    everyone = [streamer] + viewers + buyers
    # the sale reaches every connection on both shards
    await asyncio.gather(*(c.wait_for(lambda m, c=c: any(x["type"] == "sale" and x["sku"] == sku for x in c.received),
                                      lc.scaled(15), what="sale")
                           for c in everyone if not any(x["type"] == "sale" and x.get("sku") == sku for x in c.received)))
    for c in everyone:
        s = [m for m in c.received if m["type"] == "sale"]
        assert s == [{"type": "sale", "sku": sku, "title": "Race kettle", "price": price, "stock": stock, "limit": 1}], s

    # go: every buyer taps once; half of them double-tap at once (retry before any answer),
    # the other half retry after the first answer
    t_go = time.monotonic()
    for i, u in enumerate(users):
        c = by_user[u]
        await lc.send_buy(c, sku, f"tap-{u}")
        if i % 2:
            await lc.send_buy(c, sku, f"tap-{u}")

    async def answers(i, u):
        c = by_user[u]
        first = await lc.order_reply(c, f"tap-{u}", timeout=lc.scaled(30))
        if not i % 2:
            await lc.send_buy(c, sku, f"tap-{u}", retry=True)
        second = await lc.order_reply(c, f"tap-{u}", timeout=lc.scaled(30))
        return u, first, second

    results = await asyncio.gather(*(answers(i, u) for i, u in enumerate(users)))
    t_answered = time.monotonic()

    # every connection ends with stock 0 followed by one sold_out
    await asyncio.gather(*(lc.got(c, "sold_out", lc.scaled(15))
                           for c in everyone if not lc.of_sku(c, sku, ("sold_out",))))
    await lc.drain(everyone, quiet=0.5)   # several ticks: whatever else comes is checked below
    seen_left = watch.stop()
    channel.close()

    ok = [(u, f) for u, f, _ in results if f["status"] == "ok"]
    statuses = collections.Counter(f["status"] for _, f, _ in results)
    assert statuses == {"ok": stock, "sold_out": n - stock}, statuses
    for u, first, second in results:
        assert first["sku"] == sku and first["req"] == f"tap-{u}", first
        if first["status"] == "ok":
            assert first["qty"] == 1 and ORDER_ID.fullmatch(first["order"]), first
        else:
            assert "order" not in first, first
            assert first.get("left", 0) == 0, f"sold_out while units were left: {first}"
        same = {k: second.get(k) for k in ("type", "req", "sku", "status", "order", "qty")}
        assert same == {k: first.get(k) for k in ("type", "req", "sku", "status", "order", "qty")}, \
            f"retry of {u} answered {second}, first answer was {first}"
    lefts = sorted(f["left"] for _, f in ok)
    assert lefts == list(range(stock)), f"`left` of the ok answers is not 99..0 once each: {lefts}"
    ids = [f["order"] for _, f in ok]
    assert len(set(ids)) == stock, "order ids are not distinct"

    # the hand-off stream: exactly the 100 orders, 100 distinct users, the ids the buyers got
    entries = lc.orders(rds, room)
    assert len(entries) == stock, f"{len(entries)} entries in the order stream"
    assert {i for i, _ in entries} == set(ids)
    winners = {u for u, _ in ok}
    assert {f["user"] for _, f in entries} == winners and len(winners) == stock
    for i, f in entries:
        check_order_entry(f, f["user"], sku, 1, price, f"tap-{f['user']}", ("A", "B"))
    assert sale_left(rds, room, sku) == 0
    assert seen_left and min(seen_left) == 0, f"left seen in Redis: min {min(seen_left, default=None)}"
    assert seen_left == sorted(seen_left, reverse=True), "left went up during a sale without cancels"
    bought = rds.hgetall(rkey(room, f"bought:{sku}"))
    assert {u: int(q) for u, q in bought.items() if int(q)} == {u: 1 for u in winners}

    # every connection (buyers, pure viewers on both shards, the streamer): stock only falls,
    # never below 0, is coalesced, ends at 0, and then exactly one sold_out
    tick = A.opts["tick-ms"] / 1000
    max_stock_msgs = (time.monotonic() - t_go) / tick + 3
    for c in everyone:
        ms = lc.of_sku(c, sku, ("stock", "sold_out"))
        seq = [m["left"] for m in ms if m["type"] == "stock"]
        who = f"{c.welcome['shard']}/{c.fmt} connection"
        assert ms and ms[-1] == {"type": "sold_out", "sku": sku}, f"{who}: last sale messages {ms[-3:]}"
        assert [m["type"] for m in ms].count("sold_out") == 1, f"{who}: {ms[-5:]}"
        assert ms[-2] == {"type": "stock", "sku": sku, "left": 0}, f"{who}: {ms[-3:]}"
        assert seq == sorted(set(seq), reverse=True), f"{who}: stock not strictly falling: {seq}"
        assert all(lc.is_int(x) and 0 <= x < stock for x in seq), seq
        assert len(seq) <= max_stock_msgs, f"{len(seq)} stock messages is more than one per tick"
    # the same numbers on every shard: Redis's published sequence (each shard coalesces it again
    # per tick, so a shard may skip a value another one shows), identical for all connections of
    # a shard, ending at 0
    published = [m["left"] for m in channel.of_sku(sku, ("stock",))]
    assert published and published[-1] == 0 and published == sorted(set(published), reverse=True), published
    views = lc.check_stock_views(lc.by_shard(everyone), published, sku)
    assert set(views) == {"A", "B"}

    # a late joiner sees the sale, sold out
    late = await Client.joined(B, room, "late", "msgpack")
    assert [x for x in late.welcome["sales"] if x["sku"] == sku] == [
        {"type": "sale", "sku": sku, "title": "Race kettle", "price": price, "stock": 0, "limit": 1,
         "total": stock}]
    print(f"connect {t_connected - t0:.1f}s, answers {t_answered - t_go:.2f}s, "
          f"stock shown {views}, published {published}, total {time.monotonic() - t0:.1f}s")


# ------------------------------------------------------------------------ limits and validation


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_limit_two_allows_two_units_then_answers_limit(start_server, room, rds, fmt):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", fmt, role="streamer")
    ann = await Client.joined(s, room, "ann", fmt)
    bob = await Client.joined(s, room, "bob", fmt)
    sale = await lc.open_sale(host, "TEE", 10, price=1500, limit=2)
    assert sale == {"type": "sale", "sku": "TEE", "title": "item TEE", "price": 1500, "stock": 10, "limit": 2}

    o1 = await lc.buy(ann, "TEE", "a1", qty=2)
    assert {k: o1.get(k) for k in ("type", "req", "sku", "status", "qty", "left")} == \
        {"type": "order", "req": "a1", "sku": "TEE", "status": "ok", "qty": 2, "left": 8}, o1
    o2 = await lc.buy(ann, "TEE", "a2", qty=1)
    assert o2["status"] == "limit" and o2["req"] == "a2" and "order" not in o2, o2
    # another user has a limit of their own; 1 + 2 > 2 is over it too
    assert (await lc.buy(bob, "TEE", "b1", qty=1))["status"] == "ok"
    assert (await lc.buy(bob, "TEE", "b2", qty=2))["status"] == "limit"
    assert (await lc.buy(bob, "TEE", "b3", qty=1))["status"] == "ok"
    assert (await lc.buy(bob, "TEE", "b4", qty=1))["status"] == "limit"

    assert sale_left(rds, room, "TEE") == 6
    assert rds.hgetall(rkey(room, "bought:TEE")) == {"ann": "2", "bob": "2"}
    es = lc.orders(rds, room)
    assert [(f["user"], f["qty"], f["req"]) for _, f in es] == [("ann", "2", "a1"), ("bob", "1", "b1"), ("bob", "1", "b3")]
    check_order_entry(es[0][1], "ann", "TEE", 2, 1500, "a1", ("A",))
    assert es[0][0] == o1["order"]
    await lc.wait_stock(ann, "TEE", 6)


@async_test()
async def test_default_limit_is_one_unit(start_server, room, rds):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "msgpack")
    sale = await lc.open_sale(host, "MUG", 5)
    assert sale["limit"] == 1, sale
    assert (await lc.buy(ann, "MUG", "m1", qty=2))["status"] == "limit"
    assert (await lc.buy(ann, "MUG", "m2"))["status"] == "ok"      # qty defaults to 1
    assert (await lc.buy(ann, "MUG", "m3"))["status"] == "limit"
    assert [f["qty"] for _, f in lc.orders(rds, room)] == ["1"]
    assert sale_left(rds, room, "MUG") == 4


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_qty_out_of_range_and_bad_sku_answer_invalid_and_take_nothing(start_server, room, rds, fmt):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", fmt)
    await lc.open_sale(host, "CAP", 5000, limit=5000)
    cases = [("q0", "CAP", 0), ("q1001", "CAP", 1001), ("qneg", "CAP", -1), ("qhuge", "CAP", 2**40),
             ("sp", "bad sku", 1), ("bang", "CAP!", 1), ("dot", "C.P", 1), ("uni", "CÄP", 1)]
    for req, sku, qty in cases:
        m = await lc.buy(ann, sku, req, qty=qty)
        assert m["status"] == "invalid" and m["req"] == req and m["sku"] == sku and "order" not in m, (req, m)
    # an sku of the wrong length is "not an sku" (order status invalid) or "a field out of range"
    # (error bad_request): PROTOCOL.md allows both readings; either way nothing is bought
    for req, sku in (("long", "S" * 65), ("empty", "")):
        await lc.send_buy(ann, sku, req)
        m = await lc.recv_answer(ann)
        assert (m["type"], m.get("status") or m.get("code")) in (("order", "invalid"), ("error", "bad_request")), m
    await ann.ping_pong()
    assert lc.orders(rds, room) == []
    assert sale_left(rds, room, "CAP") == 5000
    # the bounds themselves are valid
    m = await lc.buy(ann, "CAP", "q1000", qty=1000)
    assert m["status"] == "ok" and m["qty"] == 1000 and m["left"] == 4000, m
    m = await lc.buy(ann, "CAP", "q1", qty=1)
    assert m["status"] == "ok" and m["left"] == 3999, m


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_buy_without_req_or_with_wrong_types_is_bad_request(start_server, room, rds, fmt):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", fmt)
    await lc.open_sale(host, "PEN", 10, limit=10)
    bad = [
        {"type": "buy", "sku": "PEN", "qty": 1},                       # no req
        {"type": "buy", "sku": "PEN", "qty": "1", "req": "s1"},        # qty a string
        {"type": "buy", "sku": "PEN", "qty": True, "req": "s2"},       # qty a bool
        {"type": "buy", "sku": "PEN", "qty": 1.5, "req": "s3"},        # qty not an integer
        {"type": "buy", "sku": "PEN", "qty": 1, "req": 7},             # req a number
        {"type": "buy", "sku": "PEN", "qty": 1, "req": ""},            # req empty
        {"type": "buy", "sku": "PEN", "qty": 1, "req": "r" * 65},      # req too long
        {"type": "buy", "sku": 12, "qty": 1, "req": "s4"},             # sku a number
        {"type": "buy", "qty": 1, "req": "s5"},                        # no sku
    ]
    if fmt == "json":
        bad.append({"type": "buy", "sku": "PEN", "qty": 1.0, "req": "s6"})   # JSON 1.0 is not an integer
    for msg in bad:
        await ann.send(msg)
        m = await lc.recv_answer(ann)
        assert m["type"] == "error" and m.get("code") == "bad_request", (msg, m)
    await ann.ping_pong()      # still open, and no second answer to any of them
    assert lc.orders(rds, room) == []
    assert sale_left(rds, room, "PEN") == 10
    # a 64-byte req is fine
    m = await lc.buy(ann, "PEN", "r" * 64)
    assert m["status"] == "ok" and m["req"] == "r" * 64, m


@async_test()
async def test_buy_of_an_unknown_sku_is_closed(start_server, room, rds):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "msgpack")
    m = await lc.buy(ann, "NOPE", "n1")
    assert m["status"] == "closed" and m["sku"] == "NOPE" and "order" not in m, m
    await lc.open_sale(host, "YES", 3)
    assert (await lc.buy(ann, "NOPE", "n2"))["status"] == "closed"
    # an sku of another room is not open in this one
    other = await Client.joined(s, room + "x", "ann", "json")
    assert (await lc.buy(other, "YES", "n3"))["status"] == "closed"
    assert lc.orders(rds, room) == [] and lc.orders(rds, room + "x") == []
    assert sale_left(rds, room, "YES") == 3


@async_test()
async def test_sale_close_tells_the_room_and_later_buys_are_closed(start_server, room, rds):
    A = start_server(shard="A", **ROOMY)
    B = start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(A, room, "ann", "msgpack")
    bob = await Client.joined(B, room, "bob", "json")
    watcher = await Client.joined(B, room, "watcher", "msgpack")
    await lc.open_sale(host, "HAT", 5)
    assert (await lc.buy(ann, "HAT", "h1"))["status"] == "ok"
    # opening an sku that is open is refused
    await host.send({"type": "sale_open", "sku": "HAT", "title": "again", "price": 1, "stock": 1})
    await lc.expect_error_answer(host, "bad_request")
    assert sale_left(rds, room, "HAT") == 4

    closed = await lc.close_sale(host, "HAT")
    assert closed == {"type": "sale_closed", "sku": "HAT"}
    for c in (ann, bob, watcher):
        m = await lc.got(c, "sale_closed")
        assert m == {"type": "sale_closed", "sku": "HAT"}
    assert (await lc.buy(bob, "HAT", "h2"))["status"] == "closed"
    assert (await lc.buy(ann, "HAT", "h3"))["status"] == "closed"
    assert [f["req"] for _, f in lc.orders(rds, room)] == ["h1"]
    assert sale_left(rds, room, "HAT") == 4
    assert "HAT" not in rds.smembers(rkey(room, "sales"))
    # closing it again is refused; so is closing something never opened
    await host.send({"type": "sale_close", "sku": "HAT"})
    await lc.expect_error_answer(host, "bad_request")
    await host.send({"type": "sale_close", "sku": "NEVER"})
    await lc.expect_error_answer(host, "bad_request")
    await lc.drain([ann, bob, watcher, host])
    for c in (ann, bob, watcher, host):
        assert [m for m in c.received if m["type"] == "sale_closed"] == [{"type": "sale_closed", "sku": "HAT"}]


# ---------------------------------------------------------------------------------- forbidden


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_viewer_may_not_open_or_close_sales_nothing_is_published(start_server, room, rds, fmt):
    A = start_server(shard="A", **ROOMY)
    B = start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(A, room, "ann", fmt)
    watcher = await Client.joined(B, room, "watcher", "msgpack")
    explicit = await Client.joined(B, room, "vic", fmt, role="viewer")
    for v in (ann, explicit):
        await v.send({"type": "sale_open", "sku": "FAKE", "title": "t", "price": 1, "stock": 10})
        await lc.expect_error_answer(v, "forbidden")
        await v.send({"type": "group_open", "sku": "GFAKE", "title": "t", "price": 1, "size": 2, "stock": 10,
                      "ttl_s": 60})
        await lc.expect_error_answer(v, "forbidden")
        await v.send({"type": "sale_close", "sku": "FAKE"})
        await lc.expect_error_answer(v, "forbidden")
    await asyncio.gather(*(c.assert_silent(0.5, types=lc.ROOM_TRAFFIC - {"viewers"})
                           for c in (ann, explicit, watcher, host)))
    assert rds.smembers(rkey(room, "sales")) == set()
    assert not rds.exists(rkey(room, "sale:FAKE")) and not rds.exists(rkey(room, "sale:GFAKE"))
    assert (await lc.buy(ann, "FAKE", "f1"))["status"] == "closed"

    # a viewer cannot close the streamer's sale either
    await lc.open_sale(host, "REAL", 3)
    await ann.send({"type": "sale_close", "sku": "REAL"})
    await lc.expect_error_answer(ann, "forbidden")
    await watcher.assert_silent(0.5, types=("sale_closed",))
    assert (await lc.buy(explicit, "REAL", "r1"))["status"] == "ok"
    assert rds.smembers(rkey(room, "sales")) == {"REAL"}


# -------------------------------------------------------------------------------------- cancel


@async_test(timeout=60)
async def test_cancel_returns_stock_and_the_users_count_and_records_a_cancel(start_server, room, rds):
    A = start_server(shard="A", **ROOMY)
    B = start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(A, room, "ann", "msgpack")
    bob = await Client.joined(B, room, "bob", "json")
    watcher = await Client.joined(B, room, "watcher", "msgpack")
    await lc.open_sale(host, "BAG", 2, price=2500, limit=1)
    oa = await lc.buy(ann, "BAG", "a1")
    ob = await lc.buy(bob, "BAG", "b1")
    assert oa["status"] == ob["status"] == "ok"
    await lc.got(watcher, "sold_out")
    assert lc.stock_seq(watcher, "BAG")[-1] == 0
    # sold out and at her limit: either answer is right (PROTOCOL.md gives no precedence)
    assert (await lc.buy(ann, "BAG", "a2"))["status"] in ("sold_out", "limit")

    c = await lc.cancel(ann, oa["order"])
    assert c == {"type": "cancelled", "order": oa["order"], "status": "ok", "sku": "BAG", "qty": 1, "left": 1}, c
    assert sale_left(rds, room, "BAG") == 1
    assert rds.hget(rkey(room, "bought:BAG"), "ann") in (None, "0")
    await lc.wait_stock(watcher, "BAG", 1)
    await lc.wait_stock(bob, "BAG", 1)
    cancels = lc.orders(rds, room, "cancel")
    assert len(cancels) == 1
    cf = cancels[0][1]
    assert {k: cf.get(k) for k in ("kind", "order", "user", "sku", "qty")} == \
        {"kind": "cancel", "order": oa["order"], "user": "ann", "sku": "BAG", "qty": "1"}, cf
    assert cf.get("shard") == "A" and re.fullmatch(r"\d{13}", cf.get("ts", "")), cf
    assert lc.cid(cancels[0][0]) > lc.cid(ob["order"])

    # the retried first tap repeats its first answer and takes nothing
    again = await lc.buy(ann, "BAG", "a1", retry=True)
    assert (again["status"], again.get("order")) == ("ok", oa["order"]), again
    assert sale_left(rds, room, "BAG") == 1
    # cancelling twice: already; someone else's order or an unknown id: not_found
    assert (await lc.cancel(ann, oa["order"]))["status"] == "already"
    assert (await lc.cancel(ann, ob["order"]))["status"] == "not_found"
    assert (await lc.cancel(bob, oa["order"]))["status"] == "not_found"
    assert (await lc.cancel(ann, "1-0"))["status"] == "not_found"
    assert sale_left(rds, room, "BAG") == 1
    assert len(lc.orders(rds, room, "cancel")) == 1

    # ann's count is down: she can buy again, up to the limit; the room sells out again
    oa2 = await lc.buy(ann, "BAG", "a3")
    assert oa2["status"] == "ok" and oa2["order"] != oa["order"] and oa2["left"] == 0, oa2
    assert (await lc.buy(ann, "BAG", "a4"))["status"] in ("limit", "sold_out")
    for v in (watcher, bob, ann):
        if len(lc.of_sku(v, "BAG", ("sold_out",))) < 2:
            await v.wait_for(lambda m: len(lc.of_sku(v, "BAG", ("sold_out",))) == 2, what="a second sold_out")
        assert lc.stock_seq(v, "BAG")[-2:] == [1, 0], lc.stock_seq(v, "BAG")
        ms = lc.of_sku(v, "BAG", ("stock", "sold_out"))
        assert ms[-2:] == [{"type": "stock", "sku": "BAG", "left": 0}, {"type": "sold_out", "sku": "BAG"}]
    kinds = [(f["kind"], f["user"]) for _, f in lc.orders(rds, room)]
    assert kinds == [("order", "ann"), ("order", "bob"), ("cancel", "ann"), ("order", "ann")], kinds
    assert rds.hget(rkey(room, "bought:BAG"), "ann") == "1"


@async_test(timeout=60)
async def test_cancel_after_the_window_is_expired(start_server, room, rds):
    s = start_server(shard="A", cancel_window_s=1, **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "json")
    await lc.open_sale(host, "VASE", 3, limit=2)
    o_old = await lc.buy(ann, "VASE", "v1")
    await asyncio.sleep(2.2)
    o_new = await lc.buy(ann, "VASE", "v2")
    c = await lc.cancel(ann, o_old["order"])
    assert c["status"] == "expired", c
    assert sale_left(rds, room, "VASE") == 1
    # an order inside the window still cancels
    assert (await lc.cancel(ann, o_new["order"]))["status"] == "ok"
    assert sale_left(rds, room, "VASE") == 2
    assert [f["kind"] for _, f in lc.orders(rds, room)] == ["order", "order", "cancel"]
    assert rds.hget(rkey(room, "bought:VASE"), "ann") == "1"


# ---------------------------------------------------------------------------------- rate limit


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(timeout=60)
async def test_burst_of_buys_is_rate_limited_by_the_shard_before_redis(start_server, room, rds, redis_port, fmt):
    s = start_server(shard="A")    # defaults: 2 per second, burst 5
    host = await Client.joined(s, room, "host", "json", role="streamer")
    user = lc.uniq("tapper")
    ann = await Client.joined(s, room, user, fmt)
    await lc.open_sale(host, "GUM", 100, limit=100)
    t0 = time.monotonic()
    for i in range(20):
        await lc.send_buy(ann, "GUM", f"t{i}")
    got = await lc.wait_answers(ann, "order", [f"t{i}" for i in range(20)])
    spent = time.monotonic() - t0
    await ann.ping_pong()
    assert all(len(v) == 1 for v in lc.answers_by(ann, "order").values()), "one answer per buy"
    answers = list(got.values())
    passed = [m for m in answers if m["status"] != "rate_limited"]
    allowed = 5 + int(spent * 2)
    assert 5 <= len(passed) <= allowed, f"{len(passed)} of 20 buys in {spent:.2f}s got through: {answers}"
    assert all(m["status"] == "ok" for m in passed), passed
    limited = [m for m in answers if m["status"] == "rate_limited"]
    assert all("order" not in m for m in limited)
    # Redis saw only the buys that passed
    assert len(lc.orders(rds, room)) == len(passed)
    assert len(lc.req_entries(redis_port, room, user)) == len(passed)
    assert sale_left(rds, room, "GUM") == 100 - len(passed)

    # tokens come back (2/s): a rate-limited req, sent again later, is decided now
    await asyncio.sleep(1.2)
    again = await lc.buy(ann, "GUM", limited[0]["req"], retry=True)
    assert again["status"] == "ok", again
    # cancels share the bucket
    for m in passed:
        await ann.send({"type": "cancel", "order": m["order"]})
    cs = list((await lc.wait_answers(ann, "cancelled", [m["order"] for m in passed], key="order")).values())
    assert any(x["status"] == "rate_limited" for x in cs), cs
    n_ok = sum(x["status"] == "ok" for x in cs)
    assert 1 <= n_ok <= 3, cs
    assert len(lc.orders(rds, room, "cancel")) == n_ok


# ---------------------------------------------------------------------------- Redis outages


async def buy_until_decided(c, sku, req, timeout):
    """Send the same buy until the answer is not `unavailable` or `unknown` (the shard may need
    a moment after Redis is back); returns (answer, number of such answers)."""
    deadline = time.monotonic() + timeout
    refusals = 0
    while True:
        m = await lc.buy(c, sku, req, retry=True)
        if m["status"] not in ("unavailable", "unknown"):
            return m, refusals
        refusals += 1
        assert time.monotonic() < deadline, f"buy {req} still unavailable after {timeout:.0f}s"
        await asyncio.sleep(0.3)


async def both_health(servers, status):
    await lc.async_wait_until(lambda: all(s.healthz()[0] == status for s in servers), lc.scaled(10),
                              what=f"/healthz {status} on every shard")


async def check_unavailable_while_down(host, buyers, room, sku, orders_to_cancel):
    """While Redis is down: buys answer `unavailable` (req echoed, no order), cancels too, sale
    changes and hellos get error `unavailable`, and every connection stays open."""
    for i, c in enumerate(buyers):
        m = await lc.buy(c, sku, f"down-{i}")
        assert m["status"] == "unavailable" and m["req"] == f"down-{i}" and "order" not in m, m
    for c, oid in orders_to_cancel:
        m = await lc.cancel(c, oid)
        assert m["status"] == "unavailable", m
    await host.send({"type": "sale_open", "sku": "OTHER", "title": "t", "price": 1, "stock": 1})
    await lc.expect_error_answer(host, "unavailable")
    for c in [host] + buyers:
        # the next direct reply is the pong (no error was pending); a `stock` of the sale (room
        # traffic: a change coalesced before Redis went down) may come first
        await c.send({"type": "ping"})
        m = await c.wait_for(lambda m: m["type"] not in ("comment", "likes", "viewers", "top", "buying",
                                                          "stats", "stock"), what="a reply")
        assert m["type"] == "pong", m
        assert c.is_open


@async_test(timeout=90)
async def test_redis_restart_mid_sale_unavailable_while_down_then_no_oversell_and_first_answers_kept(
        own_redis, start_server, room):
    rds = own_redis.client()
    A = start_server(shard="A", redis_port=own_redis.port, **ROOMY)
    B = start_server(shard="B", redis_port=own_redis.port, **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    buyers = [await Client.joined((A, B)[i % 2], room, f"u{i}", lc.FORMATS[(i // 2) % 2]) for i in range(8)]
    watcher = await Client.joined(B, room, "watcher", "msgpack")
    await lc.open_sale(host, "LAMP", 5)
    first = [await lc.buy(buyers[i], "LAMP", f"r{i}") for i in range(3)]
    assert [m["status"] for m in first] == ["ok"] * 3 and first[-1]["left"] == 2
    await lc.wait_stock(watcher, "LAMP", 2)
    watch = LeftWatcher(own_redis.port, room, "LAMP")

    await own_redis.astop(save=True)          # a restart that keeps the data (SHUTDOWN SAVE)
    await both_health((A, B), 503)
    await check_unavailable_while_down(host, buyers[3:5], room, "LAMP", [(buyers[0], first[0]["order"])])
    newbie = await Client.connect(A, room, "json")
    await newbie.send({"type": "hello", "user": "newbie"})
    await lc.expect_error_answer(newbie, "unavailable")
    assert A.alive() and B.alive()

    await own_redis.astart()
    await both_health((A, B), 200)
    # the unavailable buys were not decided: the same req now buys
    m3, _ = await buy_until_decided(buyers[3], "LAMP", "down-0", lc.scaled(10))
    m4, _ = await buy_until_decided(buyers[4], "LAMP", "down-1", lc.scaled(10))
    assert (m3["status"], m4["status"]) == ("ok", "ok"), (m3, m4)
    assert sorted([m3["left"], m4["left"]]) == [0, 1]
    for i in (5, 6, 7):
        assert (await lc.buy(buyers[i], "LAMP", f"r{i}"))["status"] == "sold_out"
    # answers from before the restart are repeated, and the cancel that was refused did nothing
    for i in range(3):
        again = await lc.buy(buyers[i], "LAMP", f"r{i}", retry=True)
        assert (again["status"], again.get("order")) == ("ok", first[i]["order"]), again
    seen = watch.stop()
    entries = lc.orders(rds, room)
    assert [f["kind"] for _, f in entries] == ["order"] * 5, entries
    assert sorted(f["user"] for _, f in entries) == ["u0", "u1", "u2", "u3", "u4"]
    assert sale_left(rds, room, "LAMP") == 0
    assert seen and min(seen) == 0, (seen[-5:], watch.errors, getattr(watch, "last_error", None))
    await lc.got(watcher, "sold_out", lc.scaled(10))
    assert lc.stock_seq(watcher, "LAMP")[-1] == 0 and min(lc.stock_seq(watcher, "LAMP")) == 0
    await lc.drain(watcher)
    assert len(lc.of_sku(watcher, "LAMP", ("sold_out",))) == 1
    # a new session works, and sees the sale sold out
    w = await newbie.hello("newbie")
    assert [s for s in w["sales"] if s["sku"] == "LAMP"][0]["stock"] == 0


@async_test(timeout=90)
async def test_redis_restart_with_empty_data_sale_is_gone_and_a_reopened_sale_sells_exactly(
        own_redis, start_server, room):
    rds = own_redis.client()
    A = start_server(shard="A", redis_port=own_redis.port, **ROOMY)
    B = start_server(shard="B", redis_port=own_redis.port, **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    buyers = [await Client.joined((A, B)[i % 2], room, f"u{i}", lc.FORMATS[i % 2]) for i in range(6)]
    await lc.open_sale(host, "FAN", 4)
    o0 = await lc.buy(buyers[0], "FAN", "r0")
    assert o0["status"] == "ok"

    await own_redis.astop(save=False)         # Redis loses everything
    await both_health((A, B), 503)
    await check_unavailable_while_down(host, buyers[1:3], room, "FAN", [(buyers[0], o0["order"])])
    await own_redis.astart()
    await both_health((A, B), 200)

    # the sale is gone with the data: buys are closed (not an error, not a hang)
    m, _ = await buy_until_decided(buyers[1], "FAN", "down-0", lc.scaled(10))
    assert m["status"] == "closed", m
    # the streamer opens it again (the shard reloaded its scripts); it sells exactly its stock
    deadline = time.monotonic() + lc.scaled(10)
    while True:
        await host.send({"type": "sale_open", "sku": "FAN", "title": "again", "price": 100, "stock": 2})
        r = await host.wait_for(lambda m: m["type"] == "error" or (m["type"] == "sale" and m["sku"] == "FAN"
                                                                   and m["title"] == "again"), what="sale or error")
        if r["type"] == "sale":
            break
        assert r["code"] == "unavailable" and time.monotonic() < deadline, r
        await asyncio.sleep(0.3)
    for c in buyers[1:]:
        await lc.send_buy(c, "FAN", "after")
    got = [await lc.order_reply(c, "after") for c in buyers[1:]]
    assert sorted(m["status"] for m in got) == ["ok", "ok", "sold_out", "sold_out", "sold_out"], got
    assert sale_left(rds, room, "FAN") == 0
    assert len(lc.orders(rds, room)) == 2
    late = await Client.joined(B, room, "late", "msgpack")
    assert [s["stock"] for s in late.welcome["sales"] if s["sku"] == "FAN"] == [0]
    for c in buyers:
        await lc.got(c, "sold_out", lc.scaled(10))


@async_test(timeout=90)
async def test_redis_killed_with_appendonly_keeps_stock_orders_and_answers(aof_redis, start_server, room):
    # (redis fixture first: torn down after the servers, so their shutdown flush finds Redis)
    rds = aof_redis.client()
    A = start_server(shard="A", redis_port=aof_redis.port, **ROOMY)
    B = start_server(shard="B", redis_port=aof_redis.port, **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    u0 = await Client.joined(A, room, "u0", "json")
    u1 = await Client.joined(B, room, "u1", "msgpack")
    u2 = await Client.joined(A, room, "u2", "msgpack")
    u3 = await Client.joined(B, room, "u3", "json")
    await lc.open_sale(host, "DESK", 3, price=39900)
    o0 = await lc.buy(u0, "DESK", "r0")
    o1 = await lc.buy(u1, "DESK", "r1")
    assert o0["status"] == o1["status"] == "ok"
    before = lc.orders(rds, room)

    await aof_redis.akill()                    # crash: no SHUTDOWN, only the AOF survives
    await both_health((A, B), 503)
    m = await lc.buy(u2, "DESK", "r2")
    assert m["status"] == "unavailable", m
    await aof_redis.astart()
    await both_health((A, B), 200)

    assert sale_left(rds, room, "DESK") == 1
    assert lc.orders(rds, room) == before
    # u0 retries its first tap after a reconnect, on the other shard: the first answer
    await u0.close()
    u0b = await Client.joined(B, room, "u0", "msgpack")
    again, _ = await buy_until_decided(u0b, "DESK", "r0", lc.scaled(10))
    assert (again["status"], again.get("order"), again.get("qty")) == ("ok", o0["order"], 1), again
    m2, _ = await buy_until_decided(u2, "DESK", "r2", lc.scaled(10))
    assert m2["status"] == "ok" and m2["left"] == 0, m2
    assert (await lc.buy(u3, "DESK", "r3"))["status"] == "sold_out"
    assert sale_left(rds, room, "DESK") == 0
    assert sorted(f["user"] for _, f in lc.orders(rds, room)) == ["u0", "u1", "u2"]
    await lc.got(u3, "sold_out", lc.scaled(10))


# ------------------------------------------------------------------------------ late joiners


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_late_joiner_welcome_lists_open_sales_with_current_stock(start_server, room, fmt):
    A = start_server(shard="A", **ROOMY)
    B = start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(A, room, "ann", "msgpack")
    bob = await Client.joined(A, room, "bob", "json")
    early = await Client.joined(B, room, "early", fmt)
    assert early.welcome["sales"] == []
    await lc.open_sale(host, "S1", 10, price=1234, limit=3, title="Sneakers ✓")
    await lc.open_sale(host, "S2", 4, price=5)
    await lc.open_group(host, "G1", size=3, stock=9, ttl_s=600, price=700, title="Team tea")
    assert (await lc.buy(ann, "S1", "a1", qty=3))["status"] == "ok"
    assert (await lc.group_join(bob, "G1", "g1"))["status"] == "joined"
    await lc.close_sale(host, "S2")

    late = await Client.joined(B, room, "late", fmt)
    sales = sorted(late.welcome["sales"], key=lambda s: s["sku"])
    assert sales == [
        {"type": "group_sale", "sku": "G1", "title": "Team tea", "price": 700, "size": 3, "stock": 9,
         "ttl_s": 600, "teams": 1, "total": 9},
        {"type": "sale", "sku": "S1", "title": "Sneakers ✓", "price": 1234, "stock": 7, "limit": 3,
         "total": 10},
    ], sales
    # the early joiner heard the same story live
    await lc.wait_stock(early, "S1", 7)
    await lc.drain(early)
    assert [m["sku"] for m in early.received if m["type"] in ("sale", "group_sale")] == ["S1", "S2", "G1"]
    assert [m["sku"] for m in early.received if m["type"] == "sale_closed"] == ["S2"]


# ------------------------------------------------------------------ idempotency across shards


@async_test(timeout=60)
async def test_same_req_on_another_shard_after_reconnect_gets_the_first_answer(start_server, room, rds):
    A = start_server(shard="A", **ROOMY)
    B = start_server(shard="B", **ROOMY)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    await lc.open_sale(host, "BOOK", 5, limit=2)
    await lc.open_sale(host, "ONE", 1)
    ann = await Client.joined(A, room, "ann", "json")
    bob = await Client.joined(B, room, "bob", "msgpack")
    o = await lc.buy(ann, "BOOK", "tap-1")
    assert o["status"] == "ok" and o["left"] == 4
    ob = await lc.buy(bob, "ONE", "b-1")
    assert ob["status"] == "ok"
    so = await lc.buy(ann, "ONE", "tap-2")
    assert so["status"] == "sold_out"
    await ann.close()

    ann_b = await Client.joined(B, room, "ann", "msgpack")
    for _ in range(2):
        r = await lc.buy(ann_b, "BOOK", "tap-1")
        assert (r["status"], r["order"], r["qty"], r["sku"]) == ("ok", o["order"], 1, "BOOK"), r
    # the stored answer wins even if the retry says something else
    r = await lc.buy(ann_b, "BOOK", "tap-1", qty=2)
    assert (r["status"], r.get("order"), r.get("qty")) == ("ok", o["order"], 1), r
    assert sale_left(rds, room, "BOOK") == 4
    # a failed answer is an answer too: after stock came back, the old req is still sold_out
    assert (await lc.cancel(bob, ob["order"]))["status"] == "ok"
    r = await lc.buy(ann_b, "ONE", "tap-2")
    assert r["status"] == "sold_out", r
    assert sale_left(rds, room, "ONE") == 1
    # the key is (user, req): bob's "tap-1" is his own buy
    rb = await lc.buy(bob, "BOOK", "tap-1")
    assert rb["status"] == "ok" and rb["order"] != o["order"] and rb["left"] == 3, rb
    assert [(f["user"], f["req"]) for _, f in lc.orders(rds, room, "order")] == \
        [("ann", "tap-1"), ("bob", "b-1"), ("bob", "tap-1")]
    # a new req is a new tap
    n = await lc.buy(ann_b, "BOOK", "tap-3")
    assert n["status"] == "ok" and n["order"] != o["order"] and n["left"] == 2, n


@async_test(timeout=60)
async def test_same_req_sent_on_both_shards_at_once_is_decided_once(start_server, room, rds):
    A, B = start_server(shard="A"), start_server(shard="B")
    host = await Client.joined(A, room, "host", "json", role="streamer")
    users = [f"twin{i:02d}" for i in range(60)]
    pairs = []
    for i, u in enumerate(users):
        a = await Client.joined(A, room, u, lc.FORMATS[i % 2])
        b = await Client.joined(B, room, u, lc.FORMATS[(i + 1) % 2])
        pairs.append((a, b))
    await lc.open_sale(host, "DUO", 20)
    await asyncio.gather(*(lc.got(c, "sale") for p in pairs for c in p))
    for u, (a, b) in zip(users, pairs):
        await lc.send_buy(a, "DUO", f"same-{u}")
        await lc.send_buy(b, "DUO", f"same-{u}")
    got = await asyncio.gather(*(lc.order_reply(c, f"same-{u}", lc.scaled(15))
                                 for u, p in zip(users, pairs) for c in p))
    ok_ids = set()
    for k, u in enumerate(users):
        a, b = got[2 * k], got[2 * k + 1]
        assert (a["status"], a.get("order")) == (b["status"], b.get("order")), (u, a, b)
        assert a["status"] in ("ok", "sold_out"), a
        if a["status"] == "ok":
            ok_ids.add(a["order"])
    assert len(ok_ids) == 20
    entries = lc.orders(rds, room)
    assert {i for i, _ in entries} == ok_ids and len(entries) == 20
    assert len({f["user"] for _, f in entries}) == 20
    assert sale_left(rds, room, "DUO") == 0


@async_test(timeout=60)
async def test_limit_holds_for_one_user_over_several_connections_and_shards(start_server, room, rds):
    A, B = start_server(shard="A"), start_server(shard="B")
    host = await Client.joined(A, room, "host", "json", role="streamer")
    conns = [await Client.joined((A, B)[i % 2], room, "ann", lc.FORMATS[i // 2 % 2]) for i in range(6)]
    await lc.open_sale(host, "SOCK", 100, limit=2)
    await asyncio.gather(*(lc.got(c, "sale") for c in conns))
    for i, c in enumerate(conns):
        await lc.send_buy(c, "SOCK", f"c{i}")
    got = await asyncio.gather(*(lc.order_reply(c, f"c{i}") for i, c in enumerate(conns)))
    assert collections.Counter(m["status"] for m in got) == {"ok": 2, "limit": 4}, got
    assert rds.hget(rkey(room, "bought:SOCK"), "ann") == "2"
    assert sale_left(rds, room, "SOCK") == 98
    assert len(lc.orders(rds, room)) == 2


@async_test()
async def test_buy_of_more_than_is_left_is_sold_out_and_takes_nothing(start_server, room, rds):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "msgpack")
    watcher = await Client.joined(s, room, "watcher", "json")
    await lc.open_sale(host, "PAN", 3, limit=10)
    m = await lc.buy(ann, "PAN", "p5", qty=5)
    assert m["status"] == "sold_out" and "order" not in m, m
    assert sale_left(rds, room, "PAN") == 3 and lc.orders(rds, room) == []
    assert rds.hget(rkey(room, "bought:PAN"), "ann") in (None, "0")
    await watcher.assert_silent(0.3, types=("stock", "sold_out"))
    m = await lc.buy(ann, "PAN", "p3", qty=3)
    assert m["status"] == "ok" and m["qty"] == 3 and m["left"] == 0, m
    await lc.got(watcher, "sold_out", lc.scaled(10))
    assert lc.of_sku(watcher, "PAN", ("stock", "sold_out")) == [
        {"type": "stock", "sku": "PAN", "left": 0}, {"type": "sold_out", "sku": "PAN"}]
    assert (await lc.buy(ann, "PAN", "p1"))["status"] == "sold_out"


@async_test(timeout=60)
async def test_stock_is_coalesced_per_tick_and_the_same_on_both_shards(start_server, room, rds, redis_port):
    A, B = start_server(shard="A"), start_server(shard="B")
    host = await Client.joined(A, room, "host", "json", role="streamer")
    buyers = [await Client.joined((A, B)[i % 2], room, f"w{i:02d}", lc.FORMATS[i // 2 % 2]) for i in range(30)]
    watchers = [await Client.joined(s, room, f"watch{s.shard}{f}", f) for s in (A, B) for f in lc.FORMATS]
    channel = lc.ChannelWatcher(redis_port, room)
    await lc.open_sale(host, "WAVE", 30)
    t0 = time.monotonic()
    for w in range(6):                 # six waves of five buys, each followed by a quiet spell
        wave = buyers[5 * w: 5 * w + 5]
        for c in wave:
            await lc.send_buy(c, "WAVE", "go")
        assert [(await lc.order_reply(c, "go"))["status"] for c in wave] == ["ok"] * 5
        await asyncio.sleep(0.35)
    await asyncio.gather(*(lc.got(c, "sold_out", lc.scaled(10)) for c in watchers))
    elapsed = time.monotonic() - t0
    await lc.drain(watchers + buyers)
    channel.close()
    published = [m["left"] for m in channel.of_sku("WAVE", ("stock",))]
    tick = A.opts["tick-ms"] / 1000
    assert published == sorted(set(published), reverse=True) and published[-1] == 0, published
    assert len(published) < 30, f"one stock message per buy on the channel is not coalesced: {published}"
    views = lc.check_stock_views(lc.by_shard(watchers + buyers), published, "WAVE")
    for shard, seq in views.items():
        # after each wave the room was quiet for more than a tick: that value is shown everywhere
        assert {25, 20, 15, 10, 5, 0} <= set(seq), f"shard {shard} never showed a settled value: {seq}"
        assert len(seq) <= elapsed / tick + 2, f"{len(seq)} stock messages in {elapsed:.1f}s"
    for c in watchers:
        assert len(lc.of_sku(c, "WAVE", ("sold_out",))) == 1


# ------------------------------------------------------------------------------- Redis layout


@async_test()
async def test_sale_keys_and_the_order_stream_follow_the_layout(start_server, room, rds, redis_port):
    s = start_server(shard="A", **ROOMY)
    # the shop's consumer group exists before the first order
    rds.xgroup_create(rkey(room, "orders"), "shop", id="0", mkstream=True)
    host = await Client.joined(s, room, "host", "msgpack", role="streamer")
    ann = await Client.joined(s, room, "ann", "json")
    sale = await lc.open_sale(host, "BIG", 10**9, price=10**12, limit=1000, title="Yacht ⛵")
    assert sale["price"] == 10**12 and sale["stock"] == 10**9, sale
    assert room in rds.smembers("lc:sale-rooms")
    assert rds.smembers(rkey(room, "sales")) == {"BIG"}
    h = rds.hgetall(rkey(room, "sale:BIG"))
    assert {k: h.get(k) for k in ("kind", "title", "price", "stock", "left", "limit")} == \
        {"kind": "sale", "title": "Yacht ⛵", "price": str(10**12), "stock": str(10**9),
         "left": str(10**9), "limit": "1000"}, h
    assert "open" in h, h
    o = await lc.buy(ann, "BIG", "y1", qty=7)
    assert o["status"] == "ok" and o["left"] == 10**9 - 7, o
    assert rds.hget(rkey(room, "bought:BIG"), "ann") == "7"
    assert rds.type(rkey(room, "orders")) == "stream" and rds.type(rkey(room, "reqs")) == "hash"
    assert rds.hexists(rkey(room, "orderidx"), o["order"])
    assert len(lc.req_entries(redis_port, room, "ann")) == 1
    assert 86400 - 60 <= rds.ttl(rkey(room, "reqs")) <= 86400, "reqs must expire --req-ttl-s after the last buy"
    assert rds.ttl(rkey(room, "orders")) == -1, "the order stream must never expire"
    # the shop reads it through its group, and acks it
    got = rds.xreadgroup("shop", "worker-1", {rkey(room, "orders"): ">"}, count=100)
    assert len(got) == 1 and [e[0] for e in got[0][1]] == [o["order"]], got
    f = got[0][1][0][1]
    check_order_entry(f, "ann", "BIG", 7, 10**12, "y1", ("A",))
    assert rds.xack(rkey(room, "orders"), "shop", o["order"]) == 1
    c = await lc.cancel(ann, o["order"])
    assert c["status"] == "ok" and c["left"] == 10**9
    got = rds.xreadgroup("shop", "worker-1", {rkey(room, "orders"): ">"}, count=100)
    assert [e[1]["kind"] for e in got[0][1]] == ["cancel"], got
    for k in rds.keys(f"*{room}*"):
        assert k.startswith(f"lc:{{{room}}}:"), f"key {k!r} lacks the room's hash tag"


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_sale_open_out_of_range_is_bad_request(start_server, room, rds, fmt):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", fmt, role="streamer")
    base = {"type": "sale_open", "sku": "OK", "title": "t", "price": 1, "stock": 1}
    for change in ({"stock": 0}, {"stock": 10**9 + 1}, {"price": -1}, {"price": 10**12 + 1}, {"limit": 0},
                   {"title": ""}, {"title": "x" * 201}, {"sku": "a b"}, {"sku": "s" * 65}, {"price": "1"},
                   {"stock": None}):
        await host.send({**base, **change})
        await lc.expect_error_answer(host, "bad_request")
    await host.ping_pong()
    assert rds.smembers(rkey(room, "sales")) == set()
    # the bounds themselves are fine
    m = await lc.open_sale(host, "s" * 64, 10**9, price=0, title="x" * 200)
    assert (m["price"], m["stock"], m["limit"]) == (0, 10**9, 1)
    nobody = await Client.connect(s, room, fmt)
    await lc.send_buy(nobody, "OK", "r")
    await lc.expect_error_answer(nobody, "not_ready")


# ------------------------------------------------------------------ lost replies, crashes mid-race


@pytest.mark.single_redis_only   # a reply-dropping proxy in front of one redis-server
@async_test(timeout=60)
async def test_lost_reply_to_a_buy_takes_stock_once_and_the_retry_gets_that_order(start_server, room, rds,
                                                                                redis_proc):
    proxy = lc.ReplyDroppingProxy(redis_proc.port)
    try:
        s = start_server(shard="A", redis_port=proxy.port, **ROOMY)
        host = await Client.joined(s, room, "host", "json", role="streamer")
        ann = await Client.joined(s, room, "ann", "msgpack")
        await lc.open_sale(host, "LOST", 10, limit=3)
        req = lc.uniq("lostreq-")
        proxy.arm(req.encode())            # the buy runs in Redis; its reply is thrown away
        await lc.send_buy(ann, "LOST", req)
        await lc.async_wait_until(lambda: proxy.cuts >= 1, lc.scaled(8), what="the buy's reply to be dropped")
        assert proxy.triggered == 1 and proxy.dropped
        # the buy was sent and its reply lost: the shard answers unknown (never unavailable:
        # it may have happened); the retry with the same req comes back with the one order made
        deadline = time.monotonic() + lc.scaled(15)
        m = await lc.order_reply(ann, req, lc.scaled(10))
        assert m["status"] in ("unknown", "ok"), m
        while m["status"] in ("unknown", "unavailable", "rate_limited"):
            assert time.monotonic() < deadline, m
            await asyncio.sleep(0.3)
            m = await lc.buy(ann, "LOST", req)
        entries = lc.orders(rds, room)
        assert len(entries) == 1, f"the buy whose reply was lost was applied {len(entries)} times"
        assert (m["status"], m.get("order")) == ("ok", entries[0][0]), m
        assert sale_left(rds, room, "LOST") == 9
        assert rds.hget(rkey(room, "bought:LOST"), "ann") == "1"
        again = await lc.buy(ann, "LOST", req, retry=True)
        assert (again["status"], again.get("order")) == ("ok", entries[0][0])
        assert (await lc.buy(ann, "LOST", "next"))["left"] == 8
    finally:
        proxy.close()


@async_test(timeout=90)
async def test_redis_crash_in_the_middle_of_a_rush_neither_oversells_nor_doubles(aof_redis, start_server, room):
    rds = aof_redis.client()
    A = start_server(shard="A", redis_port=aof_redis.port, **ROOMY)
    B = start_server(shard="B", redis_port=aof_redis.port, **ROOMY)
    # the shard tells the truth about what an ok is worth here: fsynced before the answer
    for s in (A, B):
        await lc.async_wait_until(lambda s=s: "durability: fsync always" in s.healthz()[1], lc.scaled(5),
                                  what="/healthz to state the durability")
        assert lc.metrics(s.port)['livecart_redis_durability{mode="fsync"}'] == 1
        assert "durability: fsync always" in s.current_log()
    host = await Client.joined(A, room, "host", "json", role="streamer")
    users = [f"rush{i:03d}" for i in range(120)]
    cs = await asyncio.gather(*(Client.joined((A, B)[i % 2], room, u, lc.FORMATS[i // 2 % 2])
                                for i, u in enumerate(users)))
    stock = 60
    await lc.open_sale(host, "RUSH", stock)
    watch = LeftWatcher(aof_redis.port, room, "RUSH")
    unavailable = collections.Counter()

    async def buyer(i, c):
        await asyncio.sleep(i * 0.01)          # the rush spreads over ~1.2 s
        deadline = time.monotonic() + lc.scaled(30)
        retry = False
        while True:
            m = await lc.buy(c, "RUSH", f"rush-{users[i]}", timeout=lc.scaled(15), retry=retry)
            retry = True
            if m["status"] not in ("unavailable", "unknown", "rate_limited"):
                return m
            unavailable[m["status"]] += 1
            assert time.monotonic() < deadline, m
            await asyncio.sleep(0.2)

    async def crash():
        await asyncio.sleep(0.5)
        await aof_redis.akill()
        await asyncio.sleep(1.0)
        await aof_redis.astart()

    *answers, _ = await asyncio.gather(*(buyer(i, c) for i, c in enumerate(cs)), crash())
    seen = watch.stop()
    st = collections.Counter(m["status"] for m in answers)
    assert st == {"ok": stock, "sold_out": len(users) - stock}, (st, unavailable)
    assert unavailable["unavailable"] + unavailable["unknown"] > 0, "the crash did not hit the rush"
    ok_ids = {m["order"] for m in answers if m["status"] == "ok"}
    entries = lc.orders(rds, room)
    assert len(entries) == stock and {i for i, _ in entries} == ok_ids, \
        f"{len(entries)} orders in the stream, {len(ok_ids)} ok answers"
    assert len({f["user"] for _, f in entries}) == stock
    assert sale_left(rds, room, "RUSH") == 0
    assert min(seen) == 0, seen[-5:]
    # every retried req still answers what it answered
    for i in (0, 1, len(users) - 1):
        again = await lc.buy(cs[i], "RUSH", f"rush-{users[i]}", retry=True)
        assert (again["status"], again.get("order")) == (answers[i]["status"], answers[i].get("order"))
    print(f"unavailable/unknown answers during the crash: {dict(unavailable)}")


@async_test(timeout=60)
async def test_a_req_used_for_another_sku_or_a_group_join_is_req_reused_never_a_false_ok(start_server, room, rds):
    """One req is one tap: the same req for another sku, or for a group join, must not replay the
    first answer as if it were about the new one (the buyer would believe it bought B)."""
    s = start_server(**ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "msgpack")
    await lc.open_sale(host, "A", 5)
    await lc.open_sale(host, "B", 5)
    await lc.open_group(host, "G", 2, 4)
    first = await lc.buy(ann, "A", "tap1")
    assert first["status"] == "ok"
    other = await lc.buy(ann, "B", "tap1")
    assert other["status"] == "req_reused" and "order" not in other and other["left"] == 5, other
    assert sale_left(rds, room, "B") == 5
    g = await lc.group_join(ann, "G", "tap1")
    assert g["status"] == "req_reused" and "team" not in g, g
    joined = await lc.group_join(ann, "G", "tap2")
    assert joined["status"] == "joined", joined
    back = await lc.buy(ann, "A", "tap2")
    assert back["status"] == "req_reused", back
    again = await lc.buy(ann, "A", "tap1", retry=True)        # the first tap still answers what it did
    assert (again["status"], again["order"]) == ("ok", first["order"]), again
    assert len(lc.orders(rds, room)) == 1


@async_test(timeout=90)
async def test_a_room_holds_at_most_100_open_sales_and_still_welcomes(start_server, room):
    """Every welcome lists the open sales: they are bounded, and a room at the bound is joined as
    before (the 101st open is refused, not the viewers)."""
    s = start_server()
    host = await Client.joined(s, room, "host", "json", role="streamer")
    for i in range(100):
        await host.send({"type": "sale_open", "sku": f"S{i}", "title": "t", "price": 1, "stock": 1})
    await host.wait_for(lambda m: m["type"] == "sale" and m["sku"] == "S99", lc.scaled(20))
    await host.send({"type": "sale_open", "sku": "S100", "title": "t", "price": 1, "stock": 1})
    m = await host.expect_error("bad_request")
    assert "at most 100" in m["message"], m
    v = await Client.connect(s, room, "json")
    w = await v.hello("late")
    assert len(w["sales"]) == 100, len(w["sales"])
    await host.send({"type": "sale_close", "sku": "S0"})
    await host.wait_for(lambda m: m["type"] == "sale_closed" and m["sku"] == "S0", lc.scaled(10))
    await lc.open_sale(host, "S100", 1)             # room again
