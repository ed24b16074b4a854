"""Lucky bag (福袋): the streamer opens a lottery with a commit (SHA-256 of a secret seed), viewers on
every shard enter once -- by commenting its keyword (ASCII letters case-insensitive, anywhere in
the text, in the comment's own script: a retried `req` enters once) or with `lottery_enter`
(answered ok / already / closed / keyword / muted / banned / rate_limited, the buy bucket) --,
`entered` to the entrant's connections once; muted and banned users do not get in; exactly one
draw at `ends` by a shard with viewers, also with the opening shard SIGKILLed, and in a room
nobody watched at its next join; `lottery_result` once per connection, `won` to the winners'
connections only; the revealed seed matches the commit and the winners recompute from the seed
and the bytewise-sorted entrants (PROTOCOL's rule, implemented here with hashlib); k = min(K, n),
0 entrants draw an empty result; one open lottery per room, ids unique; GET
/api/rooms/R/lotteries/ID open (no seed), closed (the seed) and drawn (seed, winners, sorted
entrants); the two-step draw's failures: a lost answer to the close is asked again, a shard that
dies between the close and the record leaves it to the next shard; livecart-verify-draw
(PROTOCOL.md "Lucky bag (福袋): a draw anyone can verify", "Moderation", "HTTP API")."""

import asyncio
import json
import os
import subprocess
import time

import pytest

import lc
from lc import Client, async_test, rkey

KEY = "lottery-api-key-0123456789"
API = {"LIVECART_API_KEY": KEY}
ROOMY = {"buy_rate": 1000, "buy_burst": 1000}
SECS = 10            # the least `secs`: every draw test waits for it


def now_ms():
    return int(time.time() * 1000)


def two_shards(start_server, **flags):
    opts = {**ROOMY, **flags}
    return (start_server(shard="A", env=API, **opts), start_server(shard="B", env=API, **opts))


def strip_type(m):
    return {k: v for k, v in m.items() if k != "type"}


def welcome_lotteries(c):
    return [lc.check_lottery_msg(m) for m in c.welcome.get("lotteries", [])]


def listed(c, lot, entries):
    """c's welcome lists lot (the `lottery` broadcast) with `entries` so far, and nothing else."""
    items = welcome_lotteries(c)
    assert [strip_type(m) for m in items] == [{**strip_type(lot), "entries": entries}], \
        f"welcome.lotteries {items}, expected the open lottery with entries {entries}"
    return True


def of_lottery(c, typ, lottery):
    return [m for m in c.received if m["type"] == typ and m.get("lottery") == lottery]


def no_seed_seen(clients):
    for c in clients:
        leaked = [m for m in c.received if "seed" in m]
        assert not leaked, f"the seed was shown before the draw: {leaked[:2]}"


def check_get_open(b, lot, entries):
    """GET before the draw: exactly lottery, prize, winners K, ends, keyword?, commit, state open,
    entries n -- no seed, no entrant list."""
    expect = {"lottery": lot["lottery"], "prize": lot["prize"], "winners": lot["winners"], "ends": lot["ends"],
              "commit": lot["commit"], "state": "open", "entries": entries}
    if "keyword" in lot:
        expect["keyword"] = lot["keyword"]
    assert b == expect, f"GET of an open lottery: {b}, expected {expect}"


def check_get_closed(b, lot, entries):
    """GET between the two steps of the draw: the open fields, state closed, and the seed (which
    must match the commit); no winners or entrants yet."""
    expect = {"lottery": lot["lottery"], "prize": lot["prize"], "winners": lot["winners"], "ends": lot["ends"],
              "commit": lot["commit"], "state": "closed", "entries": entries}
    if "keyword" in lot:
        expect["keyword"] = lot["keyword"]
    assert {k: v for k, v in b.items() if k != "seed"} == expect and "seed" in b, \
        f"GET of a closed lottery: {b}, expected {expect} and the seed"
    assert lc.hashlib.sha256(lc.seed_bytes(b["seed"])).hexdigest() == lot["commit"], b


def check_get_drawn(b, lot, result, entrants):
    """GET after the draw: the open fields, state drawn, the seed, the winners in draw order (K is
    then `k`), the entrants sorted bytewise."""
    expect = {"lottery": lot["lottery"], "prize": lot["prize"], "k": lot["winners"], "ends": lot["ends"],
              "commit": lot["commit"], "state": "drawn", "entries": len(entrants), "seed": result["seed"],
              "winners": result["winners"], "entrants": lc.bytewise(entrants)}
    if "keyword" in lot:
        expect["keyword"] = lot["keyword"]
    assert b == expect, f"GET of a drawn lottery: {b}, expected {expect}"


async def arrival(c, lottery, timeout):
    """The lottery_result c receives, and when (ms, local clock = Redis's on this box)."""
    m = await c.wait_for(lambda m: m["type"] == "lottery_result" and m.get("lottery") == lottery, timeout,
                         what=f"lottery_result {lottery}")
    return m, now_ms()


async def results_on_time(clients, lot, slack_ms=1000):
    """Every client receives the same lottery_result within [ends - 50 ms, ends + slack_ms]."""
    got = await asyncio.gather(*(arrival(c, lot["lottery"], lc.scaled((lot["ends"] - now_ms()) / 1000 + 10))
                                 for c in clients))
    res = got[0][0]
    lates = [at - lot["ends"] for _, at in got]
    print(f"lottery_result {lot['lottery']} arrived {min(lates)}..{max(lates)} ms after ends")
    for (m, at), c in zip(got, clients):
        assert m == res, f"{c.welcome['shard']} told another result: {m} vs {res}"
        assert -50 <= at - lot["ends"] <= lc.scaled(slack_ms), \
            f"lottery_result reached a connection on {c.welcome['shard']} {at - lot['ends']} ms after ends"
    return res


def once_each(clients, typ, lottery, expect=None):
    for c in clients:
        ms = of_lottery(c, typ, lottery)
        assert len(ms) == 1, f"{len(ms)} {typ} messages on a connection of {c.welcome['shard']}: {ms}"
        if expect is not None:
            assert ms[0] == expect, ms[0]


def entered(lottery):
    return {"type": "entered", "lottery": lottery}


# ------------------------------------------------------------------------------ open and welcome


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(timeout=60)
async def test_a_lottery_reaches_every_shard_with_its_commit_and_welcomes_list_it_with_the_entries_so_far(
        start_server, room, redis_port, fmt):
    other = "msgpack" if fmt == "json" else "json"
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann = await Client.joined(A, room, "ann", fmt)
    bob = await Client.joined(B, room, "bob", other)
    for c in (host, ann, bob):
        assert welcome_lotteries(c) == [], c.welcome
    t0 = lc.redis_ms(redis_port, room)
    lot = await lc.open_lottery(host, "BAG1", prize="Tea set ✿ 福袋", winners=2, secs=120, keyword="lucky")
    t1 = lc.redis_ms(redis_port, room)
    assert t0 + 120000 <= lot["ends"] <= t1 + 120000, \
        f"ends {lot['ends']} is not the open time + secs (Redis clock {t0}..{t1} + 120 s)"
    assert lot.get("entries", 0) == 0, lot
    assert {k: v for k, v in lot.items() if k not in ("ends", "commit", "entries")} == \
        {"type": "lottery", "lottery": "BAG1", "prize": "Tea set ✿ 福袋", "winners": 2, "keyword": "lucky"}, lot
    for c in (ann, bob):
        assert await lc.got(c, "lottery", lottery="BAG1") == lot
    late = await Client.joined(B, room, "late", fmt)
    assert listed(late, lot, 0)

    await ann.comment("I want it, lucky me")
    await bob.comment("LUCKY!!")
    for c in (ann, bob):
        assert await lc.got(c, "entered", lottery="BAG1") == entered("BAG1")
    late2 = await Client.joined(A, room, "late2", other)
    assert listed(late2, lot, 2)
    for port in (A.port, B.port):
        st, b = lc.get_lottery(port, room, "BAG1", KEY)
        assert st == 200, (st, b)
        check_get_open(b, lot, 2)
    # nobody else hears `entered`, and nothing shows the seed before the draw
    await lc.drain([host, ann, bob, late, late2])
    for c in (host, late, late2):
        assert not [m for m in c.received if m["type"] == "entered"], c.received[-5:]
    no_seed_seen([host, ann, bob, late, late2])


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(timeout=60)
async def test_lottery_open_is_for_streamers_and_out_of_range_fields_are_bad_request(start_server, room, fmt):
    s = start_server(shard="A", env=API, **ROOMY)
    host = await Client.joined(s, room, "host", fmt, role="streamer")
    viewer = await Client.joined(s, room, "vic", fmt)
    mod = await Client.joined(s, room, "mod", fmt, role="moderator")
    for c in (viewer, mod):
        await c.send(lc.lottery_open_msg("NOPE", winners=1, secs=SECS))
        await lc.expect_error_answer(c, "forbidden")
    base = lc.lottery_open_msg("V1", prize="p", winners=1, secs=SECS, keyword="k")
    bad = [("lottery", ""), ("lottery", "x" * 65), ("lottery", "a b"), ("lottery", "é"), ("lottery", 5),
           ("prize", ""), ("prize", "p" * 201), ("prize", 7), ("winners", 0), ("winners", 1001), ("winners", -1),
           ("winners", "3"), ("winners", True), ("winners", None), ("secs", 9), ("secs", 3601), ("secs", 0),
           ("secs", -10), ("keyword", ""), ("keyword", "福" * 17), ("keyword", 3)]
    if fmt == "json":
        bad += [("winners", 1.0), ("secs", 10.0)]
    for k, v in bad:
        await host.send({**base, k: v})
        m = await lc.recv_answer(host)
        assert m["type"] == "error" and m.get("code") == "bad_request", f"lottery_open {k}={v!r} answered {m}"
    for k in ("lottery", "prize", "winners", "secs"):
        await host.send({x: y for x, y in base.items() if x != k})
        m = await lc.recv_answer(host)
        assert m["type"] == "error" and m.get("code") == "bad_request", f"lottery_open without {k} answered {m}"
    await host.ping_pong()
    await lc.drain([viewer, host])
    assert not [m for m in viewer.received + host.received if m["type"] == "lottery"], "a refused open was published"

    # the bounds themselves are accepted: a 64-character id, a 200-byte prize, 1000 winners,
    # 3600 s, a 50-byte keyword
    big = {"lottery": "Aa0_-" * 12 + "Zz9-", "prize": "福" * 66 + "ab", "winners": 1000, "secs": 3600,
           "keyword": "福" * 16 + "ab"}
    assert len(big["lottery"]) == 64 and len(big["prize"].encode()) == 200 and len(big["keyword"].encode()) == 50
    lot = await lc.open_lottery(host, **big)
    assert {k: lot[k] for k in ("lottery", "prize", "winners", "keyword")} == \
        {k: big[k] for k in ("lottery", "prize", "winners", "keyword")}, lot
    assert await lc.got(viewer, "lottery", lottery=big["lottery"]) == lot
    # one open lottery per room: another id, or the same one, is bad_request
    for lid in ("OTHER", big["lottery"]):
        await host.send(lc.lottery_open_msg(lid, winners=1, secs=SECS))
        await lc.expect_error_answer(host, "bad_request")
    # ... and the lower bounds in another room
    room2 = room + "b"
    host2 = await Client.joined(s, room2, "host", fmt, role="streamer")
    small = await lc.open_lottery(host2, "x", prize="p", winners=1, secs=SECS, keyword="k")
    assert (small["winners"], small["keyword"], small["prize"]) == (1, "k", "p"), small
    late = await Client.joined(s, room, "late", fmt)
    assert [m["lottery"] for m in welcome_lotteries(late)] == [big["lottery"]]


# ------------------------------------------------------------------------------------- entering


@async_test(timeout=60)
async def test_a_comment_containing_the_keyword_anywhere_enters_its_author_once_ascii_letters_ignoring_case(
        start_server, room):
    """Keyword "Café袋": ASCII letters fold, every other byte (é, 袋) must be as it is; the keyword
    may stand anywhere in the text. A user commenting it again, from both shards at once, and a
    comment retried with the same `req` on the other shard, enter once. The draw then picks from
    exactly the authors whose comments matched."""
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    watcher = await Client.joined(B, room, "watcher", "msgpack")
    cases = [  # user, shard, format, text, enters
        ("ann", A, "json", "i want a CAFé袋 please", True),
        ("bob", B, "msgpack", "café袋", True),
        ("Cat", A, "msgpack", "xxcAfé袋yy", True),
        ("émile", B, "json", "tell me about the CAFé袋", True),
        ("dan", B, "json", "CAFÉ袋", False),          # É is not é: only ASCII letters fold
        ("eve", A, "json", "Cafe袋", False),          # e is not é
        ("fay", B, "msgpack", "caf é袋", False),
        ("gus", A, "json", "Café", False),
        ("hal", B, "msgpack", "袋Caf", False),
    ]
    conns = {u: await Client.joined(s, room, u, f) for u, s, f, _, _ in cases}
    ann_b = await Client.joined(B, room, "ann", "msgpack")       # ann's second connection
    gil_a = await Client.joined(A, room, "gil", "json")
    gil_b = await Client.joined(B, room, "gil", "msgpack")
    ivy = await Client.joined(A, room, "ivy", "msgpack")
    everyone = [host, watcher, ann_b, gil_a, gil_b, ivy, *conns.values()]
    lot = await lc.open_lottery(host, "KW", prize="Bag of beans", winners=3, secs=SECS, keyword="Café袋")
    await asyncio.gather(*(lc.got(c, "lottery", lottery="KW") for c in everyone))

    for u, _, _, text, _ in cases:
        await conns[u].comment(text)
    for u, _, _, text, _ in cases:      # every comment is posted, as it was written
        m = await watcher.wait_comment(text)
        assert m["user"] == u, m
    # ann again, from both shards at once; gil's comment retried with its req on the other shard
    await asyncio.gather(conns["ann"].comment("café袋 again"), ann_b.comment("CAFÉ? no: CAFé袋!"))
    await gil_a.comment("my café袋", req="g1")
    await watcher.wait_comment("my café袋")
    await gil_b.comment("my café袋", req="g1")
    # a lottery with a keyword is entered by commenting: lottery_enter says so
    assert (await lc.enter_lottery(ivy, "KW")) == {"type": "enter", "lottery": "KW", "status": "keyword"}

    entrants = ["ann", "bob", "Cat", "émile", "gil"]
    for c in [conns[u] for u in entrants if u != "gil"] + [ann_b, gil_a, gil_b]:
        assert await lc.got(c, "entered", lottery="KW") == entered("KW")
    await watcher.wait_comment("CAFÉ? no: CAFé袋!")
    await lc.drain(everyone, quiet=0.5)
    assert len([m for m in watcher.comments if m["text"] == "my café袋"]) == 1, "a retried comment was posted twice"
    once_each([conns[u] for u in entrants if u != "gil"] + [ann_b, gil_a, gil_b], "entered", "KW", entered("KW"))
    for c in [host, watcher, ivy] + [conns[u] for u, *_, enters in cases if not enters]:
        assert not of_lottery(c, "entered", "KW"), (c.welcome, of_lottery(c, "entered", "KW"))
    st, b = lc.get_lottery(B.port, room, "KW", KEY)
    assert st == 200, (st, b)
    check_get_open(b, lot, len(entrants))
    late = await Client.joined(A, room, "late", "json")
    assert listed(late, lot, len(entrants))

    res = await results_on_time([host, watcher, late, ann_b], lot)
    lc.check_result(res, "KW", lot["commit"], entrants, 3)
    st, b = lc.get_lottery(A.port, room, "KW", KEY)
    assert st == 200, (st, b)
    check_get_drawn(b, lot, res, entrants)


@async_test(timeout=60)
async def test_lottery_enter_sent_twice_on_each_of_two_shards_enters_once(start_server, room):
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    ann_a = await Client.joined(A, room, "ann", "json")
    ann_b = await Client.joined(B, room, "ann", "msgpack")
    bob = await Client.joined(B, room, "bob", "json")
    cat = await Client.joined(A, room, "cat", "msgpack")
    watcher = await Client.joined(B, room, "watcher", "msgpack")
    lot = await lc.open_lottery(host, "ENTER", prize="A lucky bag", winners=1, secs=120)
    assert "keyword" not in lot, lot
    await asyncio.gather(*(lc.got(c, "lottery", lottery="ENTER") for c in (ann_a, ann_b, bob, cat, watcher)))

    await asyncio.gather(lc.send_enter(ann_a, "ENTER"), lc.send_enter(ann_b, "ENTER"),
                         lc.send_enter(ann_a, "ENTER"), lc.send_enter(ann_b, "ENTER"))
    answers = []
    for c in (ann_a, ann_b):
        for _ in range(2):
            answers.append(await lc.enter_answer(c, "ENTER"))
    assert sorted(m["status"] for m in answers) == ["already", "already", "already", "ok"], answers
    for c in (ann_a, ann_b):
        assert await lc.got(c, "entered", lottery="ENTER") == entered("ENTER")
    assert (await lc.enter_lottery(bob, "ENTER"))["status"] == "ok"
    assert (await lc.enter_lottery(bob, "ENTER"))["status"] == "already"
    await lc.got(bob, "entered", lottery="ENTER")
    # a comment enters nobody in a lottery without a keyword
    await cat.comment("ENTER me, lucky bag, prize")
    await watcher.wait_comment("ENTER me, lucky bag, prize")
    # no such lottery: closed; a lottery key missing or of the wrong type: bad_request
    assert (await lc.enter_lottery(cat, "NOSUCH"))["status"] == "closed"
    for msg in ({"type": "lottery_enter"}, {"type": "lottery_enter", "lottery": 7},
                {"type": "lottery_enter", "lottery": ""}):
        await cat.send(msg)
        await lc.expect_error_answer(cat, "bad_request")
    await cat.ping_pong()

    await lc.drain([ann_a, ann_b, bob, cat, watcher, host], quiet=0.5)
    once_each([ann_a, ann_b, bob], "entered", "ENTER", entered("ENTER"))
    for c in (cat, watcher, host):
        assert not of_lottery(c, "entered", "ENTER"), of_lottery(c, "entered", "ENTER")
    for port in (A.port, B.port):
        st, b = lc.get_lottery(port, room, "ENTER", KEY)
        assert st == 200, (st, b)
        check_get_open(b, lot, 2)
    late = await Client.joined(B, room, "late", "json")
    assert listed(late, lot, 2)
    # the API: an unknown lottery is not found, no key is 401
    st, b = lc.get_lottery(A.port, room, "NOSUCH", KEY)
    assert st == 404, (st, b)
    st, b = lc.get_lottery(A.port, room, "ENTER", None)
    assert st == 401, (st, b)
    st, b = lc.get_lottery(A.port, room, "ENTER", "wrong-key")
    assert st == 401, (st, b)


@async_test(timeout=60)
async def test_lottery_enter_takes_a_token_of_the_buy_bucket(start_server, room):
    s = start_server(shard="A", env=API, buy_rate=2, buy_burst=5)      # the defaults, spelled out
    host = await Client.joined(s, room, "host", "json", role="streamer")
    ann = await Client.joined(s, room, "ann", "msgpack")
    await lc.open_lottery(host, "BUCKET", winners=1, secs=120)
    await lc.got(ann, "lottery", lottery="BUCKET")
    # three buys (of nothing on sale: still buys) and three enters at once: the burst is 5
    for i in range(3):
        await lc.send_buy(ann, "NOSALE", f"r{i}")
    for _ in range(3):
        await lc.send_enter(ann, "BUCKET")
    orders = await lc.wait_answers(ann, "order", [f"r{i}" for i in range(3)])
    assert [orders[f"r{i}"]["status"] for i in range(3)] == ["closed"] * 3, orders
    # (the shard answers rate_limited at once, Redis decides the others: any order)
    if len(of_lottery(ann, "enter", "BUCKET")) < 3:
        await ann.wait_for(lambda m: len(of_lottery(ann, "enter", "BUCKET")) >= 3, what="three enter answers")
    statuses = [lc.check_enter_answer(m)["status"] for m in of_lottery(ann, "enter", "BUCKET")]
    assert sorted(statuses) == ["already", "ok", "rate_limited"], statuses
    await asyncio.sleep(1.1)                                           # two tokens back
    assert (await lc.enter_lottery(ann, "BUCKET"))["status"] == "already"


@async_test(timeout=60)
async def test_muted_and_banned_users_cannot_enter(start_server, redis_port):
    room_k, room_e = lc.uniq("kw_"), lc.uniq("en_")
    A, B = two_shards(start_server)
    host_k = await Client.joined(A, room_k, "host", "json", role="streamer")
    host_e = await Client.joined(A, room_e, "host", "msgpack", role="streamer")
    mod_k = await Client.joined(B, room_k, "mod", "json", role="moderator")
    mod_e = await Client.joined(B, room_e, "mod", "msgpack", role="moderator")
    mia_k = await Client.joined(A, room_k, "mia", "msgpack")
    mia_e = await Client.joined(A, room_e, "mia", "json")
    ben_k = await Client.joined(B, room_k, "ben", "json")
    ben_e = await Client.joined(B, room_e, "ben", "msgpack")
    ok_k = await Client.joined(B, room_k, "oki", "msgpack")
    ok_e = await Client.joined(A, room_e, "oki", "json")
    lot_k = await lc.open_lottery(host_k, "MUTEK", winners=1, secs=120, keyword="win")
    lot_e = await lc.open_lottery(host_e, "MUTEE", winners=1, secs=120)
    for c in (mia_k, ben_k, ok_k):
        await lc.got(c, "lottery", lottery="MUTEK")
    for c in (mia_e, ben_e, ok_e):
        await lc.got(c, "lottery", lottery="MUTEE")

    # a moderator on B mutes mia in both rooms
    for mod, r in ((mod_k, room_k), (mod_e, room_e)):
        await mod.send({"type": "mute", "user": "mia", "secs": 60})
        rr = lc.room_redis(redis_port, r)
        try:
            await lc.async_wait_until(lambda: int(rr.hget(rkey(r, "mutes"), "mia") or 0) > now_ms() + 30000,
                                      lc.T, what="mia muted in Redis")
        finally:
            rr.close()
    await mia_k.comment("win win win")
    await lc.expect_error_answer(mia_k, "muted")
    assert (await lc.enter_lottery(mia_e, "MUTEE"))["status"] == "muted"
    await ok_k.comment("I win?")
    await lc.got(ok_k, "entered", lottery="MUTEK")
    assert (await lc.enter_lottery(ok_e, "MUTEE"))["status"] == "ok"
    for r, lot in ((room_k, lot_k), (room_e, lot_e)):
        st, b = lc.get_lottery(A.port, r, lot["lottery"], KEY)
        check_get_open(b, lot, 1)

    # banned: a user whose ban is in Redis (the shards were not told, so the connection is still
    # open) is answered `banned`; a user banned the ordinary way is closed and cannot come back
    rr = lc.room_redis(redis_port, room_e)
    try:
        rr.sadd(rkey(room_e, "bans"), "ben")
    finally:
        rr.close()
    assert (await lc.enter_lottery(ben_e, "MUTEE"))["status"] == "banned"
    await host_k.send({"type": "ban", "user": "ben"})
    await lc.expect_refused(ben_k, "banned", 4003)
    again = await Client.connect(A, room_k, "json")
    await again.send({"type": "hello", "user": "ben"})
    await lc.expect_refused(again, "banned", 4003)

    # once the mute is lifted, mia gets in
    for mod in (mod_k, mod_e):
        await mod.send({"type": "mute", "user": "mia", "secs": 0})
    for r in (room_k, room_e):
        rr = lc.room_redis(redis_port, r)
        try:
            await lc.async_wait_until(lambda: int(rr.hget(rkey(r, "mutes"), "mia") or 0) < now_ms(), lc.T,
                                      what="mia's mute lifted in Redis")
        finally:
            rr.close()
    await mia_k.comment("now I win")
    assert await lc.got(mia_k, "entered", lottery="MUTEK") == entered("MUTEK")
    assert (await lc.enter_lottery(mia_e, "MUTEE"))["status"] == "ok"

    await lc.drain([mia_k, mia_e, ok_k, ok_e], quiet=0.5)
    once_each([mia_k, ok_k], "entered", "MUTEK")
    once_each([mia_e, ok_e], "entered", "MUTEE")
    assert not of_lottery(ben_e, "entered", "MUTEE") and not of_lottery(ben_k, "entered", "MUTEK")
    for r, lot in ((room_k, lot_k), (room_e, lot_e)):
        st, b = lc.get_lottery(B.port, r, lot["lottery"], KEY)
        check_get_open(b, lot, 2)                       # oki and mia: never ben, mia once


# ------------------------------------------------------------------------------------- the draw


@async_test(timeout=90)
async def test_the_opening_shard_killed_before_ends_the_other_shard_draws_once_on_time_and_verifiably(
        start_server, room):
    """Shard A opens the lottery and is SIGKILLed long before `ends`. B, with viewers in the room,
    draws at ends (±1 s): one lottery_result per connection, `won` to each winner's connections
    (also connections made after the kill), nothing to anyone else; the seed matches the commit and
    the winners are the rule's; GET shows the draw with the sorted entrants."""
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    on_a, on_b = ["ann", "Zoë", "_under"], ["bob", "émile", "Ünal", "9lives"]
    conns = {}
    for i, u in enumerate(on_a):
        conns[u] = [await Client.joined(A, room, u, lc.FORMATS[i % 2])]
    for i, u in enumerate(on_b):
        conns[u] = [await Client.joined(B, room, u, lc.FORMATS[i % 2])]
    conns["cat"] = [await Client.joined(A, room, "cat", "json"), await Client.joined(B, room, "cat", "msgpack")]
    watcher = await Client.joined(B, room, "watcher", "msgpack")
    outsider = await Client.joined(B, room, "dave", "json")        # never enters
    lot = await lc.open_lottery(host, "BAG5", prize="Gold bag", winners=4, secs=SECS)
    await asyncio.gather(*(lc.got(c, "lottery", lottery="BAG5") for cs in conns.values() for c in cs))

    answers = await asyncio.gather(*(lc.enter_lottery(cs[0], "BAG5") for u, cs in conns.items() if u != "cat"),
                                   lc.enter_lottery(conns["cat"][0], "BAG5"),
                                   lc.enter_lottery(conns["cat"][1], "BAG5"))
    assert [m["status"] for m in answers[:-2]] == ["ok"] * (len(conns) - 1), answers
    assert sorted(m["status"] for m in answers[-2:]) == ["already", "ok"], answers[-2:]
    entrants = on_a + on_b + ["cat"]
    await asyncio.gather(*(lc.got(c, "entered", lottery="BAG5") for cs in conns.values() for c in cs))
    st, b = lc.get_lottery(B.port, room, "BAG5", KEY)
    assert st == 200, (st, b)
    check_get_open(b, lot, len(entrants))

    assert now_ms() < lot["ends"] - 3000, "too slow to kill A well before ends"
    A.kill()
    for c in [host, conns["cat"][0]] + [conns[u][0] for u in on_a]:
        code, _ = await c.expect_close(lc.scaled(5))
        assert code == 1006, code
    # they come back through B
    for i, u in enumerate(on_a):
        conns[u] = [await Client.joined(B, room, u, lc.FORMATS[(i + 1) % 2])]
    conns["cat"] = [conns["cat"][1], await Client.joined(B, room, "cat", "json")]
    host_b = await Client.joined(B, room, "host", "json", role="streamer")
    assert listed(host_b, lot, len(entrants))
    assert now_ms() < lot["ends"], "the reconnects took past ends"

    live = [c for cs in conns.values() for c in cs] + [watcher, outsider, host_b]
    no_seed_seen(live)
    res = await results_on_time(live, lot)
    lc.check_result(res, "BAG5", lot["commit"], entrants, 4)
    await lc.drain(live, quiet=1.0)
    once_each(live, "lottery_result", "BAG5", res)
    won = {"type": "won", "lottery": "BAG5", "prize": "Gold bag"}
    for u, cs in conns.items():
        for c in cs:
            assert of_lottery(c, "won", "BAG5") == ([won] if u in res["winners"] else []), \
                (u, res["winners"], of_lottery(c, "won", "BAG5"))
    for c in (watcher, outsider, host_b):
        assert not of_lottery(c, "won", "BAG5"), of_lottery(c, "won", "BAG5")
    st, b = lc.get_lottery(B.port, room, "BAG5", KEY)
    assert st == 200, (st, b)
    check_get_drawn(b, lot, res, entrants)
    # it is over: nobody enters any more, welcomes no longer list it
    assert (await lc.enter_lottery(outsider, "BAG5"))["status"] == "closed"
    late = await Client.joined(B, room, "late", "msgpack")
    assert welcome_lotteries(late) == []
    await lc.drain(live, quiet=0.3)
    once_each(live, "lottery_result", "BAG5")


@async_test(timeout=60)
async def test_with_fewer_entrants_than_winners_everyone_wins_and_both_shards_tell_the_result_once(
        start_server, room):
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    users = ["wu", "Li", "zhang", "Ōno"]
    conns = [await Client.joined((A, B)[i % 2], room, u, lc.FORMATS[(i // 2) % 2]) for i, u in enumerate(users)]
    wa = await Client.joined(A, room, "wa", "msgpack")
    wb = await Client.joined(B, room, "wb", "json")
    lot = await lc.open_lottery(host, "BAG6", prize="Ten bags", winners=10, secs=SECS, keyword="gift")
    # one open lottery per room: another id, or the same id, is bad_request
    for lid in ("BAG6b", "BAG6"):
        await host.send(lc.lottery_open_msg(lid, winners=1, secs=SECS, keyword="x"))
        await lc.expect_error_answer(host, "bad_request")
    await asyncio.gather(*(lc.got(c, "lottery", lottery="BAG6") for c in conns + [wa, wb]))
    for c in conns:
        await c.comment("a GIFT for me")
    await asyncio.gather(*(lc.got(c, "entered", lottery="BAG6") for c in conns))

    everyone = conns + [wa, wb, host]
    res = await results_on_time(everyone, lot)
    lc.check_result(res, "BAG6", lot["commit"], users, 10)
    assert sorted(res["winners"]) == sorted(users), res
    await lc.drain(everyone, quiet=1.0)
    once_each(everyone, "lottery_result", "BAG6", res)
    once_each(conns, "won", "BAG6", {"type": "won", "lottery": "BAG6", "prize": "Ten bags"})
    for c in (wa, wb, host):
        assert not of_lottery(c, "won", "BAG6")
    st, b = lc.get_lottery(B.port, room, "BAG6", KEY)
    check_get_drawn(b, lot, res, users)

    # after the draw: the keyword enters nothing, lottery_enter is closed, the id still lives,
    # and a new lottery may open
    await wa.comment("gift gift")
    await wb.wait_comment("gift gift")
    assert (await lc.enter_lottery(wb, "BAG6"))["status"] == "closed"
    await host.send(lc.lottery_open_msg("BAG6", winners=1, secs=SECS))
    await lc.expect_error_answer(host, "bad_request")
    nxt = await lc.open_lottery(host, "BAG7", winners=1, secs=60, keyword="gift")
    assert nxt["commit"] != lot["commit"], "a new lottery needs a new seed"
    await lc.drain([wa, wb], quiet=0.5)
    assert not of_lottery(wa, "entered", "BAG6") and not of_lottery(wa, "entered", "BAG7")


@async_test(timeout=60)
async def test_a_lottery_nobody_entered_draws_an_empty_result_and_a_room_nobody_watches_draws_at_its_next_join(
        start_server):
    room1, room2 = lc.uniq("empty_"), lc.uniq("alone_")
    A, B = two_shards(start_server)
    host1 = await Client.joined(A, room1, "host", "json", role="streamer")
    v1 = await Client.joined(B, room1, "v1", "msgpack")
    host2 = await Client.joined(A, room2, "host", "msgpack", role="streamer")
    e1 = await Client.joined(A, room2, "e1", "json")
    e2 = await Client.joined(B, room2, "e2", "msgpack")
    lot1 = await lc.open_lottery(host1, "EMPTY", prize="Nobody's", winners=3, secs=SECS)
    lot2 = await lc.open_lottery(host2, "ALONE", prize="Somebody's", winners=1, secs=SECS)
    for c in (e1, e2):
        await lc.got(c, "lottery", lottery="ALONE")
        assert (await lc.enter_lottery(c, "ALONE"))["status"] == "ok"
    # everyone leaves room2: no shard serves it at ends
    for c in (host2, e1, e2):
        await c.close()

    res1 = await results_on_time([host1, v1], lot1)
    lc.check_result(res1, "EMPTY", lot1["commit"], [], 3)
    assert res1["winners"] == [] and res1["entries"] == 0, res1
    st, b = lc.get_lottery(B.port, room1, "EMPTY", KEY)
    check_get_drawn(b, lot1, res1, [])
    await lc.drain([host1, v1], quiet=0.5)
    once_each([host1, v1], "lottery_result", "EMPTY")
    assert not [m for m in host1.received + v1.received if m["type"] == "won"]

    # room2 at its next join
    await asyncio.sleep(max(0.0, (lot2["ends"] + 1500 - now_ms()) / 1000))
    st, b = lc.get_lottery(A.port, room2, "ALONE", KEY)
    assert st == 200 and b.get("state") in ("open", "drawn"), (st, b)
    print(f"unwatched room 1.5 s after ends: state {b.get('state')}")
    joiner = await Client.joined(B, room2, "late", "json")

    def drawn():
        st, b = lc.get_lottery(B.port, room2, "ALONE", KEY)
        return b if st == 200 and b.get("state") == "drawn" else None
    b = await lc.async_wait_until(drawn, lc.scaled(3), what="the unwatched room's lottery drawn after a join")
    res2 = {"type": "lottery_result", "lottery": "ALONE", "winners": b["winners"], "entries": b["entries"],
            "seed": b["seed"]}
    lc.check_result(res2, "ALONE", lot2["commit"], ["e1", "e2"], 1)
    check_get_drawn(b, lot2, res2, ["e1", "e2"])
    assert welcome_lotteries(await Client.joined(A, room2, "later", "msgpack")) == []
    await lc.drain(joiner, quiet=0.5)
    assert len(of_lottery(joiner, "lottery_result", "ALONE")) <= 1


@pytest.mark.single_redis_only   # a reply-dropping proxy in front of one redis-server
@async_test(timeout=60)
async def test_a_draw_whose_answer_was_lost_is_asked_again_and_the_room_hears_one_result(
        start_server, redis_proc, room):
    """The only shard with viewers reaches Redis through a proxy that loses the reply to its first
    draw request (and then cuts the connection): it asks again, and the room hears one result, the
    rule's. Meanwhile GET through a shard without viewers (on Redis directly) shows the lottery
    open (no seed), closed (the seed) or drawn."""
    proxy = lc.ReplyDroppingProxy(redis_proc.port)
    try:
        A = start_server(shard="A", env=API, redis_port=proxy.port, **ROOMY)
        B = start_server(shard="B", env=API, **ROOMY)             # the API only: no viewers here
        host = await Client.joined(A, room, "host", "json", role="streamer")
        users = ["ann", "bob", "cat", "dan", "eve"]
        conns = [await Client.joined(A, room, u, lc.FORMATS[i % 2]) for i, u in enumerate(users)]
        lot = await lc.open_lottery(host, "LOST", winners=2, secs=SECS)
        for c in conns:
            await lc.got(c, "lottery", lottery="LOST")
            assert (await lc.enter_lottery(c, "LOST"))["status"] == "ok"
        proxy.arm(b"\r\ndraw\r\n")                                 # the op of the draw request
        states = []

        async def poll():
            while True:
                st, b = await asyncio.to_thread(lc.get_lottery, B.port, room, "LOST", KEY)
                states.append((now_ms(), st, b))
                if st == 200 and b.get("state") == "drawn":
                    return
                await asyncio.sleep(0.02 if now_ms() > lot["ends"] - 300 else 0.3)

        (res, at), _ = await asyncio.gather(arrival(host, "LOST", lc.scaled(SECS + 15)), poll())
        print(f"lost draw reply: result {at - lot['ends']} ms after ends; proxy triggered {proxy.triggered}, "
              f"cuts {proxy.cuts}")
        assert proxy.triggered == 1 and proxy.dropped, "the draw request was not seen (or its reply not dropped)"
        lc.check_result(res, "LOST", lot["commit"], users, 2)
        await lc.drain(conns + [host], quiet=1.0)
        once_each(conns + [host], "lottery_result", "LOST", res)
        won = {"type": "won", "lottery": "LOST", "prize": lot["prize"]}
        for u, c in zip(users, conns):
            assert of_lottery(c, "won", "LOST") == ([won] if u in res["winners"] else []), (u, res)
        seen = []
        for t, st, b in states:
            assert st == 200, (t - lot["ends"], st, b)
            if b["state"] == "open":
                check_get_open(b, lot, len(users))
            elif b["state"] == "closed":
                check_get_closed(b, lot, len(users))
                assert b["seed"] == res["seed"], (b, res)
            else:
                check_get_drawn(b, lot, res, users)
            if not seen or seen[-1] != b["state"]:
                seen.append(b["state"])
        assert seen in (["open", "drawn"], ["open", "closed", "drawn"]), f"GET states went {seen}"
        print("GET states:", seen)
    finally:
        proxy.close()


@pytest.mark.single_redis_only   # a reply-dropping proxy in front of one redis-server
@async_test(timeout=60)
async def test_a_shard_that_dies_between_the_close_and_the_record_leaves_it_closed_and_the_next_shard_records_it(
        start_server, redis_proc, room):
    """Shard A (the only one with viewers) closes the lottery at `ends`; the answer is lost on the
    way (a proxy) and A is SIGKILLed before it could ask again: the lottery stays closed, its
    seed told, no winners. When the viewers come back through B, B finds it closed and records the
    draw: the rule's winners from the same seed, told once."""
    proxy = lc.ReplyDroppingProxy(redis_proc.port)
    try:
        A = start_server(shard="A", env=API, redis_port=proxy.port, **ROOMY)
        B = start_server(shard="B", env=API, **ROOMY)
        host = await Client.joined(A, room, "host", "json", role="streamer")
        users = ["ann", "bob", "cat", "dan", "eve", "fay"]
        conns = [await Client.joined(A, room, u, lc.FORMATS[i % 2]) for i, u in enumerate(users)]
        lot = await lc.open_lottery(host, "HALF", prize="Half a bag", winners=3, secs=SECS)
        for c in conns:
            await lc.got(c, "lottery", lottery="HALF")
            assert (await lc.enter_lottery(c, "HALF"))["status"] == "ok"
        proxy.arm(b"\r\ndraw\r\n")
        await lc.async_wait_until(lambda: proxy.triggered, lc.scaled(SECS + 5), interval=0.005,
                                  what="A's draw request at ends")
        A.kill()
        st, b = lc.get_lottery(B.port, room, "HALF", KEY)
        assert st == 200, (st, b)
        check_get_closed(b, lot, len(users))
        seed = b["seed"]
        await asyncio.sleep(1.0)
        st, b = lc.get_lottery(B.port, room, "HALF", KEY)
        check_get_closed(b, lot, len(users))                    # no shard with viewers: it waits
        assert (await lc.enter_lottery(await Client.joined(B, room + "x", "zed", "json"), "HALF"))["status"] == \
            "closed"                                            # (another room: no such lottery there)

        back = [await Client.joined(B, room, u, lc.FORMATS[(i + 1) % 2]) for i, u in enumerate(users)]
        assert (await lc.enter_lottery(back[0], "HALF"))["status"] == "closed", "an entry after the close"

        def drawn():
            st, b = lc.get_lottery(B.port, room, "HALF", KEY)
            return b if st == 200 and b.get("state") == "drawn" else None
        b = await lc.async_wait_until(drawn, lc.scaled(5), what="B to record the closed lottery's draw")
        res = {"type": "lottery_result", "lottery": "HALF", "winners": b["winners"], "entries": b["entries"],
               "seed": b["seed"]}
        assert b["seed"] == seed, "the record used another seed than the close told"
        lc.check_result(res, "HALF", lot["commit"], users, 3)
        check_get_drawn(b, lot, res, users)
        await lc.drain(back, quiet=1.0)
        for u, c in zip(users, back):
            got = of_lottery(c, "lottery_result", "HALF")
            assert got in ([], [res]), got
            assert of_lottery(c, "won", "HALF") in ([], [{"type": "won", "lottery": "HALF", "prize": lot["prize"]}])
            if u not in res["winners"]:
                assert not of_lottery(c, "won", "HALF"), (u, res)
        print("results told to the returning viewers:", sum(len(of_lottery(c, "lottery_result", "HALF")) for c in back))
        # and the room is free for the next lottery
        host_b = await Client.joined(B, room, "host", "msgpack", role="streamer")
        await lc.open_lottery(host_b, "NEXT", winners=1, secs=60)
    finally:
        proxy.close()


@async_test(timeout=60)
async def test_livecart_verify_draw_accepts_the_answer_and_refuses_a_tampered_one(start_server, room, tmp_path):
    tool = lc.verify_draw_tool()
    assert os.path.exists(tool), f"livecart-verify-draw not found ({tool}; set LIVECART_VERIFY_DRAW)"
    A, B = two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    users = ["ann", "bob", "cat", "dan", "eve", "fay"]
    conns = [await Client.joined((A, B)[i % 2], room, u, lc.FORMATS[i % 2]) for i, u in enumerate(users)]
    lot = await lc.open_lottery(host, "VERIFY", winners=2, secs=SECS)
    for c in conns:
        await lc.got(c, "lottery", lottery="VERIFY")
        assert (await lc.enter_lottery(c, "VERIFY"))["status"] == "ok"
    res = await results_on_time([host], lot)
    lc.check_result(res, "VERIFY", lot["commit"], users, 2)
    st, body = lc.get_lottery(A.port, room, "VERIFY", KEY)
    assert st == 200, (st, body)

    def verify(doc):
        return subprocess.run([tool], input=json.dumps(doc), capture_output=True, text=True, timeout=lc.T)

    ok = verify(body)
    assert ok.returncode == 0, f"livecart-verify-draw refused the real draw: {ok.stdout} {ok.stderr}"
    others = [u for u in users if u not in body["winners"]]
    seed = bytearray(lc.seed_bytes(body["seed"]))
    seed[0] ^= 1
    tampered = [("winners swapped", {**body, "winners": body["winners"][::-1]}),
                ("another winner", {**body, "winners": [body["winners"][0], others[0]]}),
                ("another seed", {**body, "seed": bytes(seed).hex()})]
    if lc.draw_winners(lc.seed_bytes(body["seed"]), users + ["zed"], 2) != body["winners"]:
        tampered.append(("another entrant", {**body, "entrants": lc.bytewise(users + ["zed"]), "entries": 7}))
    for what, doc in tampered:
        r = verify(doc)
        assert r.returncode != 0, f"livecart-verify-draw accepted a draw with {what}: {r.stdout}"
