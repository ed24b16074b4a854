"""Group-buy (拼团): teams of exactly K, concurrent joins over two shards, already / named teams /
not_found, expiry, stock across teams, teams counts, sale_close, cancels of group orders
(PROTOCOL.md "Group-buy" and "Orders: the hand-off to the shop")."""

import asyncio
import collections
import re
import time

import pytest

import lc
from lc import Client, async_test, rkey

# Enough tokens for tests in which one connection sends several joins/cancels on purpose.
ROOMY = {"buy_rate": 1000, "buy_burst": 1000}


def sale_left(rds, room, sku):
    v = rds.hget(rkey(room, f"sale:{sku}"), "left")
    return None if v is None else int(v)


def open_teams(rds, room, sku):
    return rds.zcard(rkey(room, f"teams:{sku}"))


def group_orders(rds, room, sku):
    """{team: [(order id, fields)]} of the order entries of sku."""
    d = collections.defaultdict(list)
    for i, f in lc.orders(rds, room, "order"):
        if f.get("sku") == sku:
            d[f.get("team")].append((i, f))
    return d


def check_joined(m, sku, members, size, team=None):
    assert m["type"] == "group" and m["status"] == "joined" and m["sku"] == sku, m
    assert m["members"] == members and m["size"] == size, m
    assert isinstance(m["team"], str) and m["team"], m
    if team is not None:
        assert m["team"] == team, m
    return m["team"]


async def wait_teams(c, sku, teams, waiting, timeout=None):
    """Wait until the last `teams` message about sku says (teams, waiting)."""
    def last():
        ms = lc.of_sku(c, sku, ("teams",))
        return (ms[-1]["teams"], ms[-1]["waiting"]) if ms else None
    if last() == (teams, waiting):
        return
    await c.wait_for(lambda m: last() == (teams, waiting), timeout,
                     what=f"teams {sku} = ({teams}, {waiting}) (last {last()})")


async def two_shards(start_server, **flags):
    return start_server(shard="A", **ROOMY, **flags), start_server(shard="B", **ROOMY, **flags)


# ------------------------------------------------------------------------- a team of exactly K


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(timeout=60)
async def test_team_completes_at_exactly_k_with_one_order_per_member(start_server, room, rds, fmt):
    A, B = await two_shards(start_server)
    other = "msgpack" if fmt == "json" else "json"
    host = await Client.joined(A, room, "host", "json", role="streamer")
    u1 = await Client.joined(A, room, "u1", fmt)
    u2 = await Client.joined(B, room, "u2", other)
    u3 = await Client.joined(B, room, "u3", fmt)
    watcher = await Client.joined(A, room, "watcher", other)
    g = await lc.open_group(host, "TEA", size=3, stock=9, ttl_s=600, price=700, title="Oolong")
    assert g == {"type": "group_sale", "sku": "TEA", "title": "Oolong", "price": 700, "size": 3, "stock": 9,
                 "ttl_s": 600, "teams": 0}, g
    for c in (u1, u2, u3, watcher):
        await lc.got(c, "group_sale")

    j1 = await lc.group_join(u1, "TEA", "j-u1")
    team = check_joined(j1, "TEA", 1, 3)
    await wait_teams(watcher, "TEA", 1, 1)
    j2 = await lc.group_join(u2, "TEA", "j-u2")
    check_joined(j2, "TEA", 2, 3, team)
    await wait_teams(watcher, "TEA", 1, 2)
    await asyncio.gather(u1.assert_silent(0.3, types=("group_done", "group_failed")),
                         u2.assert_silent(0.3, types=("group_done", "group_failed")))
    assert sale_left(rds, room, "TEA") == 9 and lc.orders(rds, room) == []

    j3 = await lc.group_join(u3, "TEA", "j-u3")
    check_joined(j3, "TEA", 3, 3, team)
    done = {}
    for u, c in (("u1", u1), ("u2", u2), ("u3", u3)):
        m = await lc.got(c, "group_done", lc.scaled(10))
        assert set(m) == {"type", "team", "sku", "order"} and m["team"] == team and m["sku"] == "TEA", m
        done[u] = m["order"]
    assert len(set(done.values())) == 3, done

    es = lc.orders(rds, room)
    assert len(es) == 3, es
    assert {f["user"]: i for i, f in es} == done
    for i, f in es:
        assert {k: f.get(k) for k in ("kind", "sku", "qty", "price", "team")} == \
            {"kind": "order", "sku": "TEA", "qty": "1", "price": "700", "team": team}, f
        assert f["req"] == f"j-{f['user']}" and f["shard"] in ("A", "B") and re.fullmatch(r"\d{13}", f["ts"]), f
    assert sale_left(rds, room, "TEA") == 6
    await lc.wait_stock(watcher, "TEA", 6)
    await wait_teams(watcher, "TEA", 0, 0)
    assert open_teams(rds, room, "TEA") == 0
    # only members hear group_done
    await lc.drain([watcher, host])
    assert not [m for m in host.received + watcher.received if m["type"] == "group_done"]
    # a retried join repeats its first answer and changes nothing
    again = await lc.group_join(u2, "TEA", "j-u2")
    assert {k: again.get(k) for k in ("status", "team", "members")} == {"status": "joined", "team": team, "members": 2}
    assert len(lc.orders(rds, room)) == 3
    # the next join starts a new team
    u4 = await Client.joined(B, room, "u4", fmt)
    t2 = check_joined(await lc.group_join(u4, "TEA", "j-u4"), "TEA", 1, 3)
    assert t2 != team
    await wait_teams(watcher, "TEA", 1, 1)


# ---------------------------------------------------------------------- concurrency, two shards


@async_test(timeout=90)
async def test_concurrent_joins_over_two_shards_never_make_a_team_of_k_plus_1(start_server, room, rds):
    A, B = await two_shards(start_server)
    K, n, stock = 4, 202, 1000
    host = await Client.joined(A, room, "host", "json", role="streamer")
    watcher = await Client.joined(B, room, "watcher", "msgpack")
    users = [f"m{i:03d}" for i in range(n)]
    clients = []
    for i in range(0, n, 100):
        clients += await asyncio.gather(*(Client.joined((A, B)[j % 2], room, users[j], lc.FORMATS[(j // 2) % 2])
                                          for j in range(i, min(n, i + 100))))
    await lc.open_group(host, "KIT", size=K, stock=stock, ttl_s=600)
    await asyncio.gather(*(lc.got(c, "group_sale", lc.scaled(10))
                           for c in clients + [watcher]))
    t0 = time.monotonic()
    for u, c in zip(users, clients):
        await c.send({"type": "group_join", "sku": "KIT", "req": f"go-{u}"})
    answers = await asyncio.gather(*(lc.group_reply(c, f"go-{u}", lc.scaled(20)) for u, c in zip(users, clients)))
    by_team = collections.defaultdict(list)
    for u, m in zip(users, answers):
        assert m["status"] == "joined" and m["size"] == K and 1 <= m["members"] <= K, m
        by_team[m["team"]].append((m["members"], u))
    full = {t: v for t, v in by_team.items() if len(v) == K}
    assert len(full) == n // K and len(by_team) == n // K + 1, \
        {t: sorted(v) for t, v in by_team.items() if len(v) != K}
    for t, v in by_team.items():
        assert sorted(mm for mm, _ in v) == list(range(1, len(v) + 1)), f"team {t}: join positions {sorted(v)}"
    waiting = [u for t, v in by_team.items() if t not in full for _, u in v]
    assert len(waiting) == n % K

    # every member of a full team gets group_done with its own order, the others nothing
    done_users = [u for v in full.values() for _, u in v]
    cl = dict(zip(users, clients))
    dones = await asyncio.gather(*(lc.got(cl[u], "group_done", lc.scaled(15))
                                   for u in done_users))
    await lc.drain([cl[u] for u in waiting] + [watcher, clients[0], clients[1]])
    elapsed = time.monotonic() - t0
    for u in waiting:
        assert not [m for m in cl[u].received if m["type"] in ("group_done", "group_failed")]
    team_of = {u: t for t, v in by_team.items() for _, u in v}
    for u, m in zip(done_users, dones):
        assert m["team"] == team_of[u] and m["sku"] == "KIT", m
        assert len([x for x in cl[u].received if x["type"] == "group_done"]) == 1

    # the order stream: exactly K orders per completed team, K distinct users, the ids members got
    go = group_orders(rds, room, "KIT")
    assert set(go) == set(full), "teams in the stream are not the full teams"
    for t, entries in go.items():
        assert len(entries) == K, f"team {t} has {len(entries)} orders"
        assert sorted(f["user"] for _, f in entries) == sorted(u for _, u in full[t])
    order_of = {f["user"]: i for v in go.values() for i, f in v}
    assert {u: m["order"] for u, m in zip(done_users, dones)} == order_of
    assert sale_left(rds, room, "KIT") == stock - K * len(full)
    assert open_teams(rds, room, "KIT") == 1
    await lc.wait_stock(watcher, "KIT", stock - K * len(full), timeout=lc.scaled(10))
    await wait_teams(watcher, "KIT", 1, n % K, timeout=lc.scaled(10))
    tick = A.opts["tick-ms"] / 1000
    for c in (watcher, clients[0], clients[1]):
        nt = len(lc.of_sku(c, "KIT", ("teams",)))
        ns = len(lc.stock_seq(c, "KIT"))
        assert nt <= elapsed / tick + 3 and ns <= elapsed / tick + 3, \
            f"{nt} teams and {ns} stock messages in {elapsed:.1f}s: not coalesced per tick"
        assert lc.stock_seq(c, "KIT") == sorted(set(lc.stock_seq(c, "KIT")), reverse=True)


@async_test(timeout=60)
async def test_concurrent_joins_of_one_named_team_fill_it_to_exactly_k(start_server, room, rds):
    A, B = await two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    await lc.open_group(host, "CUP", size=3, stock=30, ttl_s=600)
    owner = await Client.joined(A, room, "owner", "json")
    t = check_joined(await lc.group_join(owner, "CUP", "o"), "CUP", 1, 3)
    users = [f"friend{i:02d}" for i in range(30)]
    cs = await asyncio.gather(*(Client.joined((A, B)[i % 2], room, u, lc.FORMATS[i // 2 % 2])
                                for i, u in enumerate(users)))
    for u, c in zip(users, cs):
        await c.send({"type": "group_join", "sku": "CUP", "req": f"f-{u}", "team": t})
    answers = await asyncio.gather(*(lc.group_reply(c, f"f-{u}", lc.scaled(15)) for u, c in zip(users, cs)))
    st = collections.Counter(m["status"] for m in answers)
    assert st == {"joined": 2, "not_found": 28}, st
    assert sorted(m["members"] for m in answers if m["status"] == "joined") == [2, 3]
    assert all(m["team"] == t for m in answers if m["status"] == "joined")
    await lc.got(owner, "group_done", lc.scaled(10))
    go = group_orders(rds, room, "CUP")
    assert list(go) == [t] and len(go[t]) == 3, go
    assert open_teams(rds, room, "CUP") == 0, "a named join that found the team full made a team"
    assert sale_left(rds, room, "CUP") == 27


# ------------------------------------------------------------- already, named teams, not_found


@async_test(timeout=60)
async def test_second_join_of_the_same_user_is_already(start_server, room, rds):
    A, B = await two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    await lc.open_group(host, "POT", size=3, stock=30, ttl_s=600)
    ann = await Client.joined(A, room, "ann", "json")
    ann_b = await Client.joined(B, room, "ann", "msgpack")    # the same user on another shard
    t = check_joined(await lc.group_join(ann, "POT", "a1"), "POT", 1, 3)
    for c, req in ((ann, "a2"), (ann_b, "a3")):
        m = await lc.group_join(c, "POT", req)
        assert m["status"] == "already" and m["team"] == t, m
    m = await lc.group_join(ann_b, "POT", "a4", team=t)
    assert m["status"] == "already" and m["team"] == t, m
    # the same req again is the first answer
    m = await lc.group_join(ann_b, "POT", "a1")
    assert (m["status"], m["team"], m["members"]) == ("joined", t, 1), m
    bob = await Client.joined(B, room, "bob", "json")
    check_joined(await lc.group_join(bob, "POT", "b1"), "POT", 2, 3, t)
    cid = await Client.joined(A, room, "cid", "msgpack")
    check_joined(await lc.group_join(cid, "POT", "c1"), "POT", 3, 3, t)
    await lc.got(ann, "group_done", lc.scaled(10))
    go = group_orders(rds, room, "POT")
    assert sorted(f["user"] for _, f in go[t]) == ["ann", "bob", "cid"]
    # both of ann's connections hear her group_done, with the same order
    m2 = await lc.got(ann_b, "group_done", lc.scaled(10))
    assert m2["order"] == [i for i, f in go[t] if f["user"] == "ann"][0]
    # the team is done: ann is in no open team and may join again
    t2 = check_joined(await lc.group_join(ann, "POT", "a5"), "POT", 1, 3)
    assert t2 != t
    assert sale_left(rds, room, "POT") == 27


@async_test(timeout=60)
async def test_join_a_named_team_and_not_found_for_unknown_or_finished_teams(start_server, room, rds):
    A, B = await two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    await lc.open_group(host, "JAR", size=3, stock=30, ttl_s=600)
    await lc.open_group(host, "LID", size=3, stock=30, ttl_s=600)
    u = [await Client.joined((A, B)[i % 2], room, f"f{i}", lc.FORMATS[i % 2]) for i in range(5)]
    t = check_joined(await lc.group_join(u[0], "JAR", "x0"), "JAR", 1, 3)
    check_joined(await lc.group_join(u[1], "JAR", "x1", team=t), "JAR", 2, 3, t)
    for team, sku in (("T999999", "JAR"), ("nope", "JAR"), (t, "LID")):
        m = await lc.group_join(u[2], sku, f"nf-{team}-{sku}", team=team)
        assert m["status"] == "not_found" and m["sku"] == sku and "order" not in m, (team, sku, m)
    assert open_teams(rds, room, "LID") == 0, "a not_found join created a team"
    assert open_teams(rds, room, "JAR") == 1
    check_joined(await lc.group_join(u[2], "JAR", "x2", team=t), "JAR", 3, 3, t)
    await lc.got(u[2], "group_done", lc.scaled(10))
    m = await lc.group_join(u[3], "JAR", "x3", team=t)      # the team is full and done
    assert m["status"] == "not_found", m
    assert len(group_orders(rds, room, "JAR")[t]) == 3
    assert open_teams(rds, room, "JAR") == 0
    assert sale_left(rds, room, "JAR") == 27


# ----------------------------------------------------------------------------------- expiry


@async_test(timeout=60)
async def test_team_not_full_after_ttl_dissolves_without_taking_stock(start_server, room, rds):
    A, B = await two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    u1 = await Client.joined(A, room, "u1", "msgpack")
    u2 = await Client.joined(B, room, "u2", "json")
    u3 = await Client.joined(B, room, "u3", "msgpack")
    watcher = await Client.joined(B, room, "watcher", "json")
    await lc.open_group(host, "HONEY", size=3, stock=6, ttl_s=5)
    t0 = time.monotonic()
    t = check_joined(await lc.group_join(u1, "HONEY", "h1"), "HONEY", 1, 3)
    check_joined(await lc.group_join(u2, "HONEY", "h2"), "HONEY", 2, 3, t)
    await wait_teams(watcher, "HONEY", 1, 2)
    fails = await asyncio.gather(*(lc.got(c, "group_failed", lc.scaled(12))
                                   for c in (u1, u2)))
    took = time.monotonic() - t0
    for m in fails:
        assert m == {"type": "group_failed", "team": t, "sku": "HONEY"}, m
    assert 4.5 <= took <= 5 + lc.scaled(3), f"dissolved {took:.1f}s after the first join (ttl 5 s)"
    assert sale_left(rds, room, "HONEY") == 6
    assert lc.orders(rds, room) == []
    assert open_teams(rds, room, "HONEY") == 0
    await wait_teams(watcher, "HONEY", 0, 0)
    await lc.drain([u1, u2, u3, watcher])
    assert not [m for m in u1.received + u2.received if m["type"] == "group_done"]
    assert len([m for m in u1.received + u2.received if m["type"] == "group_failed"]) == 2
    assert not [m for m in u3.received + watcher.received if m["type"] == "group_failed"]
    # the dissolved team is gone; its members are free to join again (a new team)
    m = await lc.group_join(u3, "HONEY", "h3", team=t)
    assert m["status"] == "not_found", m
    t2 = check_joined(await lc.group_join(u1, "HONEY", "h4"), "HONEY", 1, 3)
    assert t2 != t
    check_joined(await lc.group_join(u2, "HONEY", "h5"), "HONEY", 2, 3, t2)
    check_joined(await lc.group_join(u3, "HONEY", "h6"), "HONEY", 3, 3, t2)
    await lc.got(u1, "group_done", lc.scaled(10))
    assert sale_left(rds, room, "HONEY") == 3
    assert len(group_orders(rds, room, "HONEY")[t2]) == 3


# ------------------------------------------------------------------------- stock across teams


@async_test(timeout=60)
async def test_stock_never_oversold_across_teams(start_server, room, rds):
    A, B = await two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    watcher = await Client.joined(A, room, "watcher", "msgpack")
    users = [f"s{i:02d}" for i in range(12)]
    cs = [await Client.joined((A, B)[i % 2], room, u, lc.FORMATS[(i // 2) % 2]) for i, u in enumerate(users)]
    await lc.open_group(host, "RICE", size=2, stock=5, ttl_s=600)
    await asyncio.gather(*(lc.got(c, "group_sale") for c in cs))
    for u, c in zip(users, cs):
        await c.send({"type": "group_join", "sku": "RICE", "req": f"r-{u}"})
    answers = await asyncio.gather(*(lc.group_reply(c, f"r-{u}") for u, c in zip(users, cs)))
    st = collections.Counter(m["status"] for m in answers)
    assert st == {"joined": 4, "sold_out": 8}, st
    for m in answers:
        if m["status"] == "sold_out":
            assert "team" not in m and m.get("left", 1) == 1, m
    joined = [u for u, m in zip(users, answers) if m["status"] == "joined"]
    cl = dict(zip(users, cs))
    await asyncio.gather(*(lc.got(cl[u], "group_done", lc.scaled(10))
                           for u in joined))
    go = group_orders(rds, room, "RICE")
    assert len(go) == 2 and all(len(v) == 2 for v in go.values()), go
    assert sorted(f["user"] for v in go.values() for _, f in v) == sorted(joined)
    assert sale_left(rds, room, "RICE") == 1
    assert open_teams(rds, room, "RICE") == 0
    await lc.wait_stock(watcher, "RICE", 1)
    await lc.drain(cs + [watcher])
    # teams are coalesced: the room may not have heard of them at all, but it ends at none open
    tm = lc.of_sku(watcher, "RICE", ("teams",))
    assert not tm or (tm[-1]["teams"], tm[-1]["waiting"]) == (0, 0), tm
    assert not [m for c in cs for m in c.received if m["type"] == "group_failed"]
    # one unit left < size 2: a new join cannot start a team
    m = await lc.group_join(cl[joined[0]], "RICE", "late")
    assert m["status"] == "sold_out", m
    assert open_teams(rds, room, "RICE") == 0
    late = await Client.joined(B, room, "late", "json")
    assert [(s["stock"], s["teams"]) for s in late.welcome["sales"] if s["sku"] == "RICE"] == [(1, 0)]


# ------------------------------------------------------------------------------- sale_close


@async_test(timeout=60)
async def test_sale_close_of_a_group_dissolves_open_teams(start_server, room, rds):
    A, B = await two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    u1 = await Client.joined(A, room, "u1", "json")
    u2 = await Client.joined(B, room, "u2", "msgpack")
    u3 = await Client.joined(B, room, "u3", "json")
    await lc.open_group(host, "OIL", size=3, stock=9, ttl_s=600)
    t = check_joined(await lc.group_join(u1, "OIL", "o1"), "OIL", 1, 3)
    check_joined(await lc.group_join(u2, "OIL", "o2"), "OIL", 2, 3, t)
    assert await lc.close_sale(host, "OIL") == {"type": "sale_closed", "sku": "OIL"}
    for c in (u1, u2):
        m = await lc.got(c, "group_failed", lc.scaled(10))
        assert m == {"type": "group_failed", "team": t, "sku": "OIL"}, m
    for c in (u1, u2, u3):
        await lc.got(c, "sale_closed")
    await lc.drain([u1, u2, u3])
    assert not [m for m in u3.received if m["type"] == "group_failed"]
    assert len([m for m in u1.received + u2.received if m["type"] == "group_failed"]) == 2
    m = await lc.group_join(u3, "OIL", "o3")
    assert m["status"] == "closed", m
    m = await lc.group_join(u3, "OIL", "o4", team=t)
    assert m["status"] in ("closed", "not_found"), m
    assert sale_left(rds, room, "OIL") == 9
    assert lc.orders(rds, room) == []
    assert open_teams(rds, room, "OIL") == 0
    late = await Client.joined(A, room, "late", "msgpack")
    assert [s for s in late.welcome["sales"] if s["sku"] == "OIL"] == []
    # opened again later: u1 is in no open team any more
    await lc.open_group(host, "OIL", size=2, stock=4, ttl_s=600)
    t2 = check_joined(await lc.group_join(u1, "OIL", "o5"), "OIL", 1, 2)
    assert t2 != t


# ------------------------------------------------------------------------------ group cancel


@async_test(timeout=60)
async def test_group_order_can_be_cancelled_and_its_unit_returns(start_server, room, rds):
    A, B = await two_shards(start_server)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    u = [await Client.joined((A, B)[i % 2], room, f"c{i}", lc.FORMATS[i % 2]) for i in range(4)]
    watcher = await Client.joined(B, room, "watcher", "msgpack")
    await lc.open_group(host, "SOAP", size=2, stock=3, ttl_s=600)
    t = check_joined(await lc.group_join(u[0], "SOAP", "k0"), "SOAP", 1, 2)
    check_joined(await lc.group_join(u[1], "SOAP", "k1"), "SOAP", 2, 2, t)
    d0 = await lc.got(u[0], "group_done", lc.scaled(10))
    assert (await lc.group_join(u[2], "SOAP", "k2"))["status"] == "sold_out"
    c = await lc.cancel(u[0], d0["order"])
    assert (c["status"], c.get("sku"), c.get("qty"), c.get("left")) == ("ok", "SOAP", 1, 2), c
    cf = lc.orders(rds, room, "cancel")
    assert [(f["order"], f["user"], f["sku"], f["qty"]) for _, f in cf] == [(d0["order"], "c0", "SOAP", "1")]
    await lc.wait_stock(watcher, "SOAP", 2)
    assert (await lc.cancel(u[1], d0["order"]))["status"] == "not_found"
    # two units again: a new team can complete
    t2 = check_joined(await lc.group_join(u[2], "SOAP", "k3"), "SOAP", 1, 2)
    check_joined(await lc.group_join(u[3], "SOAP", "k4"), "SOAP", 2, 2, t2)
    await lc.got(u[3], "group_done", lc.scaled(10))
    assert sale_left(rds, room, "SOAP") == 0
    await lc.got(watcher, "sold_out", lc.scaled(10))
    await lc.drain(watcher)
    ms = lc.of_sku(watcher, "SOAP", ("stock", "sold_out"))
    assert ms[-2:] == [{"type": "stock", "sku": "SOAP", "left": 0}, {"type": "sold_out", "sku": "SOAP"}], ms
    assert [m["type"] for m in ms].count("sold_out") == 1, ms


# ------------------------------------------------------------------------------- validation


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_group_open_and_join_validation(start_server, room, rds, fmt):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", fmt, role="streamer")
    ann = await Client.joined(s, room, "ann", fmt)
    base = {"type": "group_open", "sku": "G", "title": "t", "price": 1, "size": 2, "stock": 5, "ttl_s": 5}
    for change in ({"size": 1}, {"size": 101}, {"ttl_s": 4}, {"ttl_s": 86401}, {"stock": 0},
                   {"sku": "bad sku"}, {"title": ""}, {"size": "2"}):
        await host.send({**base, **change})
        await lc.expect_error_answer(host, "bad_request")
    assert rds.smembers(rkey(room, "sales")) == set()
    await lc.open_group(host, "G", size=100, stock=5, ttl_s=86400)
    await lc.open_sale(host, "FLASH", 5)
    await host.send(base)                    # already open
    await lc.expect_error_answer(host, "bad_request")
    m = await lc.group_join(ann, "bad sku", "v1")
    assert m["status"] == "invalid", m
    for sku in ("NONE", "FLASH"):            # no open group-buy with this sku
        m = await lc.group_join(ann, sku, f"c-{sku}")
        assert m["status"] == "closed", m
    m = await lc.buy(ann, "G", "b1")         # a group-buy is not a flash sale
    assert m["status"] == "closed", m
    for bad in ({"type": "group_join", "sku": "G"}, {"type": "group_join", "sku": "G", "req": 3},
                {"type": "group_join", "sku": "G", "req": "x", "team": 5}):
        await ann.send(bad)
        await lc.expect_error_answer(ann, "bad_request")
    await ann.ping_pong()
    assert lc.orders(rds, room) == [] and open_teams(rds, room, "G") == 0
    assert sale_left(rds, room, "G") == 5 and sale_left(rds, room, "FLASH") == 5


# ------------------------------------------------------------------------------- Redis layout


@async_test()
async def test_team_keys_follow_the_layout(start_server, room, rds):
    s = start_server(shard="A", **ROOMY)
    host = await Client.joined(s, room, "host", "json", role="streamer")
    u1 = await Client.joined(s, room, "u1", "msgpack")
    u2 = await Client.joined(s, room, "u2", "json")
    u3 = await Client.joined(s, room, "u3", "msgpack")
    await lc.open_group(host, "NUT", size=3, stock=30, ttl_s=120, price=450)
    h = rds.hgetall(rkey(room, "sale:NUT"))
    assert {k: h.get(k) for k in ("kind", "price", "stock", "left", "size", "ttl_s")} == \
        {"kind": "group", "price": "450", "stock": "30", "left": "30", "size": "3", "ttl_s": "120"}, h
    assert rds.smembers(rkey(room, "sales")) == {"NUT"} and room in rds.smembers("lc:sale-rooms")
    sec, usec = rds.time()
    now_ms = sec * 1000 + usec // 1000
    t = check_joined(await lc.group_join(u1, "NUT", "n1"), "NUT", 1, 3)
    check_joined(await lc.group_join(u2, "NUT", "n2"), "NUT", 2, 3, t)
    assert rds.zrange(rkey(room, "teams:NUT"), 0, -1) == [t]
    assert rds.type(rkey(room, f"team:{t}")) == "hash"
    assert rds.lrange(rkey(room, f"team:{t}:m"), 0, -1) == ["u1", "u2"]
    assert rds.type(rkey(room, f"team:{t}:r")) == "hash"
    assert rds.hgetall(rkey(room, "inteam:NUT")) == {"u1": t, "u2": t}
    deadline = rds.zscore(rkey(room, "tdead"), t)
    assert deadline is not None and abs(deadline - (now_ms + 120000)) < 5000, (deadline, now_ms)
    check_joined(await lc.group_join(u3, "NUT", "n3"), "NUT", 3, 3, t)
    await lc.got(u3, "group_done", lc.scaled(10))
    assert rds.zcard(rkey(room, "teams:NUT")) == 0
    assert rds.hgetall(rkey(room, "inteam:NUT")) == {}
    assert rds.zscore(rkey(room, "tdead"), t) is None
    assert sale_left(rds, room, "NUT") == 27
    for k in rds.keys(f"*{room}*"):
        assert k.startswith(f"lc:{{{room}}}:"), f"key {k!r} lacks the room's hash tag"
