"""Leaderboards and "people are buying": the `likes` board (likes each user sent, over every shard,
exactly once per batch even when a Redis reply is lost) and the `buyers` board (units bought;
reservations count while they hold their units; cancelled and expired units come off), top 10 best
first with ties by user id bytewise, in every welcome (`tops`) and as `top` to the room at most once
a second per board and only when the top 10 changed, kept in Redis across restarts; `buying`: the
orders of the last 10 s and up to 3 newest buyers, at most once a second per room whichever shard
sold, silent when nothing was ordered in the last 10 s (PROTOCOL.md "Leaderboards and \"people are
buying\"", "Flash sale", "Checkout")."""

import asyncio
import time

import pytest

import lc
from lc import Client, async_test, member

KEY = "boards-api-key-0123456789"
API = {"LIVECART_API_KEY": KEY}
ROOMY = {"buy_rate": 1000, "buy_burst": 1000}
PAY_S = 30           # the least pay_s: the expiry test waits for it
GAP = 0.9            # "at most once a second", less what delivery jitter may take off a gap


def two_shards(start_server, **flags):
    opts = {**ROOMY, **flags}
    return (start_server(shard="A", env=API, **opts), start_server(shard="B", env=API, **opts))


def welcome_tops(c):
    """{board: entries} of c's welcome: exactly the two boards."""
    tops = [lc.check_top(m) for m in c.welcome.get("tops", [])]
    assert sorted(m["board"] for m in tops) == ["buyers", "likes"], f"welcome.tops must hold both boards: {tops}"
    return {m["board"]: lc.top_without_zeros(m["entries"]) for m in tops}


async def wait_boards(clients, board, scores, timeout=None):
    want = lc.board_entries(scores)
    await asyncio.gather(*(lc.wait_board(c, board, want, timeout) for c in clients))
    return want


def times_of(rec, typ, board=None):
    return [t for t, m in rec if m["type"] == typ and (board is None or m.get("board") == board)]


# ------------------------------------------------------------------------------------ welcome


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(timeout=60)
async def test_both_boards_are_in_every_welcome_empty_at_first_then_with_the_scores(start_server, room, fmt):
    other = "msgpack" if fmt == "json" else "json"
    A, B = two_shards(start_server)
    first = await Client.joined(A, room, "first", fmt)
    assert welcome_tops(first) == {"likes": [], "buyers": []}, first.welcome
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(B, room, "ann", other)
    bob = await Client.joined(A, room, "bob", fmt)
    await lc.open_sale(host, "TEE", 10, price=100, limit=5)
    await ann.like(7)
    assert (await lc.buy(bob, "TEE", "b1", qty=2))["status"] == "ok"
    await wait_boards([first, host], "likes", {"ann": 7})
    await wait_boards([first, host], "buyers", {"bob": 2})
    for m in lc.tops_of(first, "likes") + lc.tops_of(first, "buyers"):
        assert m.get("type") == "top", m
        assert all(e.get("type") == "member" for e in m["entries"]), m
    late = await Client.joined(B, room, "late", fmt)
    assert welcome_tops(late) == {"likes": [member("ann", 7)], "buyers": [member("bob", 2)]}, late.welcome


# ------------------------------------------------------------------------------------ likes


@async_test(timeout=60)
async def test_the_likes_board_counts_the_likes_each_user_sent_over_both_shards_top_10_ties_bytewise(
        start_server, room, redis_port):
    """13 users like through both shards (cat through both at once, ann in two batches). The board
    is the top 10, best first, ties by user id bytewise ("Zed" < "abe" < "cat" < "éva"; of the two
    with 2 only "ned" makes the cut); Redis holds every score exactly; a restarted shard's welcome
    has the same board."""
    A, B = two_shards(start_server)
    wa = await Client.joined(A, room, "wa", "json")
    wb = await Client.joined(B, room, "wb", "msgpack")
    expect = {"bob": 10, "ann": 8, "kim": 7, "lou": 6, "Zed": 4, "abe": 4, "cat": 4, "éva": 4, "max": 3,
              "ned": 2, "oli": 2, "pam": 1, "quy": 1}
    plan = {u: [(A, B)[i % 2], [n]] for i, (u, n) in enumerate(expect.items())}
    plan["ann"] = [A, [5, 3]]
    conns = {u: await Client.joined(s, room, u, lc.FORMATS[i % 2]) for i, (u, (s, _)) in enumerate(plan.items())}
    cat_b = await Client.joined(B, room, "cat", "json")
    for u, (_, counts) in plan.items():
        if u == "cat":
            await asyncio.gather(conns["cat"].like(2), cat_b.like(2))
            continue
        for n in counts:
            await conns[u].like(n)
    want = await wait_boards([wa, wb, cat_b], "likes", expect)
    assert [e["user"] for e in want] == ["bob", "ann", "kim", "lou", "Zed", "abe", "cat", "éva", "max", "ned"]
    assert lc.zboard(redis_port, room, "likes") == expect
    await wa.wait_likes(sum(expect.values()))
    assert lc.last_board(wa, "buyers") == [], "likes moved the buyers board"

    # the board is in Redis: a restarted shard's welcome has it
    await A.astop()
    await A.astart()
    late = await Client.joined(A, room, "late", "msgpack")
    assert welcome_tops(late)["likes"] == want, late.welcome
    await cat_b.like(1)                                         # and it goes on from there
    expect["cat"] += 1
    await wait_boards([late, wb], "likes", expect)
    assert lc.zboard(redis_port, room, "likes") == expect


@pytest.mark.single_redis_only   # a reply-dropping proxy in front of one redis-server
@async_test(timeout=60)
async def test_a_like_batch_whose_reply_was_lost_counts_once_on_the_board(start_server, redis_proc, room):
    proxy = lc.ReplyDroppingProxy(redis_proc.port)
    try:
        s = start_server(shard="A", redis_port=proxy.port)
        ann = await Client.joined(s, room, "ann", "json")
        watcher = await Client.joined(s, room, "watcher", "msgpack")
        await ann.like(3)
        await wait_boards([watcher], "likes", {"ann": 3})
        await asyncio.sleep(1.2)
        proxy.arm(lc.rkey(room, "like").encode())
        await ann.like(7)
        await lc.async_wait_until(lambda: proxy.cuts >= 1, lc.scaled(8),
                                  what="the like batch (a command naming lc:{room}:like*) seen and its reply dropped")
        await wait_boards([watcher], "likes", {"ann": 10}, lc.scaled(15))
        await asyncio.sleep(1.5)
        assert lc.zboard(redis_proc.port, room, "likes") == {"ann": 10}, "the retried batch counted twice"
        assert max(e["score"] for m in lc.tops_of(watcher, "likes") for e in m["entries"]) == 10, \
            lc.tops_of(watcher, "likes")
    finally:
        proxy.close()


# ------------------------------------------------------------------------------------ buyers


@async_test(timeout=90)
async def test_the_buyers_board_counts_units_held_and_cancelled_and_expired_units_come_off(
        start_server, room, redis_port):
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    wa = await Client.joined(A, room, "wa", "json")
    wb = await Client.joined(B, room, "wb", "msgpack")
    c = {u: await Client.joined(s, room, u, f) for u, s, f in (
        ("dan", B, "msgpack"), ("eve", A, "json"), ("ann", A, "json"), ("bob", B, "json"), ("cat", A, "msgpack"),
        ("fay", B, "msgpack"), ("gus", A, "json"))}
    ann_b = await Client.joined(B, room, "ann", "msgpack")
    await lc.open_sale_pay(host, "RSV", 10, price=500, limit=10, pay_s=PAY_S)
    await lc.open_sale_pay(host, "TEE", 100, price=100, limit=10)
    # reservations count while they hold their units; a paid one stays
    o_dan = await lc.buy_coupon(c["dan"], "RSV", "d1", qty=2)
    assert o_dan["status"] == "reserved", o_dan
    o_eve = await lc.buy_coupon(c["eve"], "RSV", "e1")
    assert o_eve["status"] == "reserved", o_eve
    assert lc.mark_paid(B.port, room, o_eve["order"], KEY)[0] == 200
    # units, through both shards
    assert (await lc.buy(c["ann"], "TEE", "a1", qty=3))["status"] == "ok"
    assert (await lc.buy(ann_b, "TEE", "a2"))["status"] == "ok"
    assert (await lc.buy(c["bob"], "TEE", "b1", qty=2))["status"] == "ok"
    # a cancel takes the units off
    oc = await lc.buy(c["cat"], "TEE", "c1")
    assert (await lc.cancel(c["cat"], oc["order"]))["status"] == "ok"
    f1 = await lc.buy(c["fay"], "TEE", "f1")
    assert (await lc.buy(c["fay"], "TEE", "f2"))["status"] == "ok"
    assert (await lc.cancel(c["fay"], f1["order"]))["status"] == "ok"
    # what was not bought counts nothing
    assert (await lc.buy(c["gus"], "TEE", "g1", qty=11))["status"] == "limit"
    assert (await lc.buy(c["gus"], "NOPE", "g2"))["status"] == "closed"
    expect = {"ann": 4, "bob": 2, "dan": 2, "eve": 1, "fay": 1}
    await wait_boards([wa, wb, host], "buyers", expect)
    assert lc.zboard(redis_port, room, "buyers") == expect
    assert lc.last_board(wb, "likes") == [], "buys moved the likes board"

    # dan's reservation expires unpaid: his units come off the board
    m = await c["dan"].wait_for(lambda m: m["type"] == "expired" and m.get("order") == o_dan["order"],
                                lc.scaled(PAY_S + 15), what="dan's reservation to expire")
    assert m["qty"] == 2, m
    del expect["dan"]
    await wait_boards([wa, wb], "buyers", expect)
    assert lc.zboard(redis_port, room, "buyers") == expect
    late = await Client.joined(B, room, "late", "json")
    assert welcome_tops(late)["buyers"] == lc.board_entries(expect)


# ------------------------------------------------------------------------------------ rate


async def board_burst(senders, seconds, host_sku="TEE"):
    """Each (client, user) likes 1 every 100 ms and buys 1 unit every 200 ms for `seconds`;
    returns ({user: likes sent}, {user: buy reqs})."""
    likes, reqs = {}, {}

    async def one(c, user):
        likes[user], reqs[user] = 0, []
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            await c.like(1)
            likes[user] += 1
            if i % 2 == 0:
                req = f"burst{i}"
                await lc.send_buy(c, host_sku, req)
                reqs[user].append(req)
            i += 1
            await asyncio.sleep(0.1)

    await asyncio.gather(*(one(c, u) for c, u in senders))
    return likes, reqs


@async_test(timeout=60)
async def test_top_goes_out_at_most_once_a_second_per_board_and_only_when_the_top_10_changed(
        start_server, room, redis_port):
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    wa = await Client.joined(A, room, "wa", "json")
    wb = await Client.joined(B, room, "wb", "msgpack")
    base = {**{f"u{i:02d}": 20 + i for i in range(9)}, "ann": 50, "low": 1}
    conns = {u: await Client.joined(A, room, u, lc.FORMATS[i % 2]) for i, u in enumerate(base)}
    await lc.open_sale(host, "TEE", 10000, price=100, limit=10000)
    for u, n in base.items():
        await conns[u].like(n)
    await wait_boards([wa, wb], "likes", base)
    await asyncio.sleep(1.2)
    await lc.drain([wa, wb])

    # a like that leaves the top 10 as it was publishes nothing
    await conns["low"].like(1)
    await lc.async_wait_until(lambda: lc.zboard(redis_port, room, "likes").get("low") == 2, lc.T,
                              what="low's like on the board in Redis")
    await asyncio.gather(wa.assert_silent(2.0, types=("top",)), wb.assert_silent(2.0, types=("top",)))

    # ann (in the top 10) likes every 100 ms and buys every 200 ms through A for 3.5 s: both
    # boards change at every tick, `top` goes out at most once a second per board
    rec = {wa: [], wb: []}
    (likes, reqs), *_ = await asyncio.gather(board_burst([(conns["ann"], "ann")], 3.5),
                                             lc.record_timed(wa, 4.5, rec[wa]), lc.record_timed(wb, 4.5, rec[wb]))
    orders = await lc.wait_answers(conns["ann"], "order", reqs["ann"])
    assert {m["status"] for m in orders.values()} == {"ok"}, orders
    base["ann"] += likes["ann"]
    for w in (wa, wb):
        for board in lc.BOARDS:
            ts = times_of(rec[w], "top", board)
            assert 2 <= len(ts) <= 6, f"{len(ts)} `top` {board} in 4.5 s of changes at every tick on {w.welcome['shard']}"
            assert lc.min_gap(ts) >= GAP, \
                f"two `top` {board} {lc.min_gap(ts) * 1000:.0f} ms apart on {w.welcome['shard']}"
    await wait_boards([wa, wb], "likes", base)
    await wait_boards([wa, wb], "buyers", {"ann": len(reqs["ann"])})
    # nothing changes any more: nothing more is sent
    await asyncio.sleep(1.2)
    await asyncio.gather(wa.assert_silent(1.5, types=("top",)), wb.assert_silent(1.5, types=("top",)))


@async_test(timeout=60)
async def test_top_goes_out_at_most_once_a_second_per_board_also_when_both_shards_change_it(start_server, room):
    """PROTOCOL's table: `top` to the room at most once per second per board -- here the boards
    change on both shards at every tick."""
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    wa = await Client.joined(A, room, "wa", "json")
    wb = await Client.joined(B, room, "wb", "msgpack")
    ann = await Client.joined(A, room, "ann", "msgpack")
    bob = await Client.joined(B, room, "bob", "json")
    await lc.open_sale(host, "TEE", 10000, price=100, limit=10000)
    await lc.drain([wa, wb])
    rec = {wa: [], wb: []}
    (likes, reqs), *_ = await asyncio.gather(board_burst([(ann, "ann"), (bob, "bob")], 3.5),
                                             lc.record_timed(wa, 4.5, rec[wa]), lc.record_timed(wb, 4.5, rec[wb]))
    for c, u in ((ann, "ann"), (bob, "bob")):
        orders = await lc.wait_answers(c, "order", reqs[u])
        assert {m["status"] for m in orders.values()} == {"ok"}, orders
    for w in (wa, wb):
        for board in lc.BOARDS:
            ts = times_of(rec[w], "top", board)
            assert len(ts) >= 2, f"{len(ts)} `top` {board} in 4.5 s of changes on {w.welcome['shard']}"
            assert lc.min_gap(ts) >= GAP, \
                f"two `top` {board} {lc.min_gap(ts) * 1000:.0f} ms apart on {w.welcome['shard']} " \
                f"(arrivals {[round(t - ts[0], 2) for t in ts]})"
    await wait_boards([wa, wb], "likes", likes)
    await wait_boards([wa, wb], "buyers", {u: len(r) for u, r in reqs.items()})


# ------------------------------------------------------------------------------------ buying


@async_test(timeout=60)
async def test_buying_tells_the_orders_of_the_last_10_s_and_the_3_newest_buyers_once_a_second_then_goes_quiet(
        start_server, room):
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    wa = await Client.joined(A, room, "wa", "json")
    wb = await Client.joined(B, room, "wb", "msgpack")
    names = ["ann", "bob", "cat", "dan"]
    buyers = [await Client.joined((A, B)[i % 2], room, u, lc.FORMATS[i % 2]) for i, u in enumerate(names)]
    eve = await Client.joined(A, room, "eve", "json")
    fay = await Client.joined(B, room, "fay", "msgpack")
    await lc.open_sale(host, "TEE", 100, price=100, limit=5)
    await lc.drain([wa, wb])
    assert not [m for m in wa.received + wb.received if m["type"] == "buying"], "buying before any order"

    placed = []          # (user, monotonic before the buy was sent, monotonic at its answer)

    async def shop():
        for c, u in zip(buyers, names):
            sent = time.monotonic()
            o = await lc.buy(c, "TEE", "t1", qty=3 if u == "ann" else 1)     # orders, not units
            assert o["status"] == "ok", o
            placed.append((u, sent, time.monotonic()))
            await asyncio.sleep(0.3)
        # not orders
        assert (await lc.buy(eve, "TEE", "e1", qty=6))["status"] == "limit"
        assert (await lc.buy(eve, "NOPE", "e2"))["status"] == "closed"

    rec = {wa: [], wb: []}
    await asyncio.gather(shop(), lc.record_timed(wa, 13.5, rec[wa]), lc.record_timed(wb, 13.5, rec[wb]))
    last_order = placed[-1][2]
    newest_first = names[::-1]
    for w in (wa, wb):
        got = [(t, m) for t, m in rec[w] if m["type"] == "buying"]
        print(f"buying on {w.welcome['shard']}:",
              [(round(t - placed[0][1], 2), m["count"], m["users"]) for t, m in got])
        assert got, f"no buying on {w.welcome['shard']}"
        for t, m in got:
            assert set(m) == {"type", "count", "users"}, f"buying must carry exactly count and users: {m}"
            assert lc.is_int(m["count"]) and isinstance(m["users"], list), m
            # published at p in [t - 0.3 s, t]: the orders surely in its last 10 s, and those that may be
            surely = [u for u, sent, ans in placed if ans <= t - 0.3 and sent > t - 10]
            maybe = [u for u, sent, ans in placed if sent <= t and ans > t - 10.3]
            assert len(surely) <= m["count"] <= len(maybe), \
                f"buying {m} at +{t - placed[0][1]:.2f} s: orders in the last 10 s are {len(surely)}..{len(maybe)}"
            us = m["users"]
            assert 1 <= len(us) <= 3 and us[0] in maybe, f"buying {m}: the newest buyer is one of {maybe}"
            i = newest_first.index(us[0])
            assert us == newest_first[i:i + len(us)], f"buying {m}: users are not the newest buyers, newest first"
            assert len(us) >= min(3, len(surely)), f"buying {m}: fewer users than recent buyers {surely}"
        # after the last order the room is told all four
        after = [m for t, m in got if t > last_order]
        assert after and after[0] == {"type": "buying", "count": 4, "users": ["dan", "cat", "bob"]}, after[:2]
        ts = [t for t, _ in got]
        assert lc.min_gap(ts) >= GAP, f"two buying {lc.min_gap(ts) * 1000:.0f} ms apart on {w.welcome['shard']}"
        late = [round(t - last_order, 2) for t in ts if t > last_order + 10.3]
        assert not late, f"buying {late} s after the last order (nothing was ordered in the last 10 s)"
    # the old orders have left the window: a new one is counted alone
    assert time.monotonic() > last_order + 10.5
    assert (await lc.buy(fay, "TEE", "f1"))["status"] == "ok"
    for w in (wa, wb):
        m = await w.wait_for(lambda m: m["type"] == "buying", lc.scaled(3), what="buying after fay's order")
        print("after the quiet:", m)
        # PROTOCOL does not say whether `users` is limited to the last 10 s: fay alone, or fay and
        # the two newest buyers before her
        assert m["count"] == 1 and m["users"] in (["fay"], ["fay", "dan", "cat"]), m
