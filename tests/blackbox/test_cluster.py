"""A shard on a real Redis Cluster (cluster.py: 3 primaries with a replica each, on loopback):
rooms spread over the primaries, each room's traffic stays on its slot's node (sharded pub/sub),
a primary killed mid-sale loses no acknowledged order and oversells nothing, and a room's slot
moved live (redis-cli --cluster reshard) loses and doubles no comment at any viewer.

The room, sale, group, moderation, resume and deploy suites also run whole against a cluster
(LIVECART_REDIS_MODE=cluster, see conftest.py); this file holds what only a cluster can show."""

import asyncio
import collections
import subprocess
import time

import pytest

import cluster
import lc
from lc import Client, async_test

ROOMY = {"buy_rate": 1000, "buy_burst": 1000, "comment_rate": 1000, "comment_burst": 1000}
RETRY = ("unknown", "unavailable")


@pytest.fixture(scope="module")
def redis_proc(tmp_path_factory):
    """This module's Redis is a cluster (start_server gives every server --redis-cluster)."""
    c = cluster.RedisCluster(tmp_path_factory.mktemp("cluster"))
    c.start()
    yield c
    c.kill()


@pytest.fixture
def own_cluster(request, tmp_path):
    """A cluster of this test alone, free to lose a primary."""
    c = cluster.RedisCluster(tmp_path / "own-cluster")
    c.start()
    yield c
    c.kill()


def crc16(data):
    """CRC16-CCITT (XMODEM), Redis Cluster's."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def room_on_slot(slot, prefix="room"):
    """A room name whose keys (lc:{ROOM}:...) hash to slot."""
    for i in range(10_000_000):
        name = f"{prefix}{i}"
        if crc16(name.encode()) % 16384 == slot:
            return name
    raise AssertionError(f"no room name for slot {slot}")


def node_id(c, node):
    r = c._node_client(node)
    try:
        return r.execute_command("CLUSTER", "MYID")
    finally:
        r.close()


def lowest_slot(c, node):
    r = c._node_client(node)
    try:
        return min(lo for lo, hi, master, *_ in r.execute_command("CLUSTER", "SLOTS") if master[1] == node.port)
    finally:
        r.close()


def _status(m):
    return m.get("code") if m["type"] == "error" else m.get("status")


async def until_decided(send, timeout, reconnect=None):
    """send() re-sends the same request and returns its answer; again while it is unknown or
    unavailable (an answer's status or an error's code), or after the connection dropped
    (reconnect() first). Returns (answer, what was retried)."""
    deadline = time.monotonic() + timeout
    retried = []
    while True:
        try:
            m = await send()
        except lc.Closed:
            assert reconnect, "the connection closed"
            await reconnect()
            retried.append("reconnect")
            continue
        if _status(m) not in RETRY:
            return m, retried
        retried.append(_status(m))
        assert time.monotonic() < deadline, f"still {_status(m)} after {timeout:.0f}s: {m}"
        await asyncio.sleep(0.2)


async def post_comment(c, text, timeout=None):
    """Posts a comment with req = text until it is decided (PROTOCOL.md: re-sent with the same
    req, it is posted once; a duplicate gets no answer, the first shows up live). Returns what
    was retried."""
    async def send():
        for m in c.comments:
            if m["text"] == text:
                return m
        await c.send({"type": "comment", "text": text, "req": text})
        return await c.wait_for(lambda m: (m["type"] == "comment" and m.get("text") == text) or m["type"] == "error",
                                lc.scaled(10), what=f"comment {text}")

    m, retried = await until_decided(send, timeout or lc.scaled(30))
    assert m["type"] == "comment", f"comment {text}: {m}"
    return retried


# ------------------------------------------------------------------ spread and layout


@async_test(timeout=60)
async def test_rooms_spread_over_the_primaries_and_each_rooms_traffic_stays_on_its_node(start_server, redis_proc):
    s = start_server(shard="A")
    status, body = s.healthz()
    assert status == 200 and "durability: replicas 1: ok once 1 replica holds it" in body, body
    m = lc.metrics(s.port)
    assert m["livecart_redis_primaries"] == 3 and m["livecart_redis_primaries_down"] == 0, m
    assert m['livecart_redis_durability{mode="replicas"}'] == 1
    primaries = redis_proc.nodes[:3]
    rooms = [room_on_slot(lowest_slot(redis_proc, p), prefix=f"spread{i}-") for i, p in enumerate(primaries)]
    for room in rooms:
        c = await Client.joined(s, room, "ann", "json")
        await c.comment(f"hello {room}")
        await c.wait_comment(f"hello {room}")
        await c.like(2)
        await c.wait_likes(2)
        await c.close()
    for room, p in zip(rooms, primaries):
        r = redis_proc._node_client(p)
        try:
            assert r.exists(lc.rkey(room, "chat")), f"{room}'s stream is not on its slot's primary {p.port}"
            others = [q for q in primaries if q is not p]
            for q in others:
                rq = redis_proc._node_client(q)
                try:
                    assert rq.execute_command("PUBSUB", "SHARDNUMSUB", lc.rkey(room, "ch"))[1] == 0
                finally:
                    rq.close()
        finally:
            r.close()


# ------------------------------------------------------------------ failover


async def _join_all(shards, room, users):
    out = {}
    for i in range(0, len(users), 200):
        part = users[i:i + 200]
        got = await asyncio.gather(*(Client.joined(shards[j % 2], room, u, lc.FORMATS[(j // 2) % 2])
                                     for j, u in enumerate(part, start=i)))
        out.update(zip(part, got))
    return out


@async_test(timeout=240)
async def test_a_primary_killed_mid_sale_loses_no_acknowledged_order_and_oversells_nothing(own_cluster, start_server):
    cl = own_cluster
    sku, stock, n = "FAIL-1", 100, 2000
    A = start_server(shard="A", redis_port=cl.port, redis_cluster=cl.seeds, **ROOMY)
    B = start_server(shard="B", redis_port=cl.port, redis_cluster=cl.seeds, **ROOMY)
    shards = (A, B)
    room = lc.uniq("failover_")
    primary = cl.primary_for(lc.rkey(room, "chat"))
    replica = cl.replica_of(primary)
    host = await Client.joined(A, room, "host", "json", role="streamer")
    viewers = [await Client.joined(shards[i % 2], room, f"viewer{i}", lc.FORMATS[i % 2]) for i in range(4)]
    users = [f"buyer{i:04d}" for i in range(n)]
    conns = await _join_all(shards, room, users)
    await lc.open_sale(host, sku, stock, limit=1, title="Failover kettle")

    async def buyer(i, u):
        sent = []

        async def send():  # re-sends are marked (PROTOCOL.md "Sold out at the shard")
            await lc.send_buy(conns[u], sku, f"tap-{u}", retry=bool(sent))
            sent.append(1)
            return await lc.order_reply(conns[u], f"tap-{u}", lc.scaled(30))

        async def reconnect():
            conns[u] = await Client.joined(shards[i % 2], room, u, lc.FORMATS[(i // 2) % 2])

        await asyncio.sleep(0.002 * i)   # 2,000 taps over 4 s: the kill lands mid-sale
        return u, *(await until_decided(send, lc.scaled(60), reconnect))

    # likes flow all along: a batch whose reply the failover lost is applied once, never twice
    liker = viewers[1]
    likes_sent, liking = 0, True

    async def like():
        nonlocal likes_sent
        while liking:
            await liker.like(1)
            likes_sent += 1
            await asyncio.sleep(0.02)

    liking_task = asyncio.create_task(like())
    race = asyncio.gather(*(buyer(i, u) for i, u in enumerate(users)))
    await asyncio.sleep(0.1)             # ~50 taps in: about half the stock is sold
    killed_at = time.monotonic()
    primary.kill()
    # the cluster promotes the replica; the killed node's supervisor starts it again, and it
    # rejoins as the new primary's replica: until then no buy can be held by a replica, so the
    # buyers of this room hear `unknown` (--ack-replicas 1), never `ok`
    await asyncio.to_thread(lc.wait_until, lambda: cl.primary_for(lc.rkey(room, "chat")) is replica,
                            lc.scaled(30), 0.1, "the replica to take over")
    took_over = time.monotonic() - killed_at
    await asyncio.to_thread(primary.start)
    results = await race
    liking = False
    await liking_task

    # the replica is the slot's primary now
    assert cl.primary_for(lc.rkey(room, "chat")) is replica
    rds = cl.client()
    try:
        stream = lc.orders(rds, room)
        left = int(rds.hget(lc.rkey(room, "sale:" + sku), "left"))
    finally:
        rds.close()
    statuses = collections.Counter(m["status"] for _, m, _ in results)
    assert set(statuses) <= {"ok", "sold_out"}, statuses
    retried = collections.Counter(x for _, _, r in results for x in r)
    assert retried, "no buyer saw the failover: the kill came too late"
    ok_ids = {m["order"] for _, m, _ in results if m["status"] == "ok"}
    stream_ids = [i for i, f in stream if f.get("kind") == "order"]
    buyers_in_stream = [f["user"] for _, f in stream if f.get("kind") == "order"]
    # every buyer told ok has its order in the stream after the failover, and nothing else is there
    assert ok_ids <= set(stream_ids), f"acknowledged orders lost: {sorted(ok_ids - set(stream_ids))[:5]}"
    assert set(stream_ids) == ok_ids, "an order in the stream that its buyer was never told about"
    assert len(stream_ids) == len(set(stream_ids)) and len(buyers_in_stream) == len(set(buyers_in_stream)), \
        "an order doubled"
    assert len(stream_ids) <= stock and left + len(stream_ids) == stock, (left, len(stream_ids))
    assert statuses["ok"] == len(stream_ids)
    print(f"failover: took {took_over:.1f}s, statuses {dict(statuses)}, retried {dict(retried)}")

    def likes_in_redis():
        r = cl.client()
        try:
            return int(r.get(lc.rkey(room, "likes")) or 0)
        finally:
            r.close()

    # a like frame goes into the shard's batch; a batch is applied exactly once, by (shard, boot,
    # seq), on whichever primary holds the room when it is sent again: never counted twice. (Likes
    # are not waited for: a batch the old primary applied and answered but had not replicated is
    # gone with it -- at most the last tick or two.)
    last = -1
    for _ in range(int(lc.scaled(20) / 0.5)):
        await asyncio.sleep(0.5)
        now = likes_in_redis()
        if now == last and now >= likes_sent * 0.9:
            break
        last = now
    assert likes_sent * 0.9 <= likes_in_redis() <= likes_sent, (likes_in_redis(), likes_sent)

    # viewers keep receiving comments once the replica has taken over, and a resume has no hole
    mark = f"after failover {time.monotonic():.3f}"
    await post_comment(host, mark)
    for v in viewers:
        await v.wait_comment(mark, timeout=lc.scaled(15))
    v0 = viewers[0]
    since = v0.comments[-1]["id"]
    await v0.close()
    for k in range(3):
        await post_comment(host, f"while away {k}")
    again = await Client.connect(B, room, "json")
    w = await again.hello("viewer0", since=since)
    texts = [e.get("text") for e in w.get("history", [])]
    assert texts == [f"while away {k}" for k in range(3)], texts
    assert w.get("recovered") is True, w


# ------------------------------------------------------------------ live resharding


@async_test(timeout=180)
async def test_a_rooms_slot_moved_live_loses_and_doubles_no_comment_at_any_viewer(start_server, redis_proc):
    cl = redis_proc
    src, dst = cl.nodes[0], cl.nodes[1]
    room = room_on_slot(lowest_slot(cl, src), prefix=lc.uniq("reshard_"))
    A = start_server(shard="A", **ROOMY)
    B = start_server(shard="B", **ROOMY)
    publisher = await Client.joined(A, room, "pub", "json", role="streamer")
    viewers = [await Client.joined((A, B)[i % 2], room, f"v{i}", lc.FORMATS[i % 2]) for i in range(6)]
    sent, errors, stop = [], collections.Counter(), asyncio.Event()


    async def publish():
        k = 0
        while not stop.is_set():
            text = f"c{k:04d}"
            for r in await post_comment(publisher, text):
                errors[r] += 1
            sent.append(text)
            k += 1
            await asyncio.sleep(0.05)   # 20 comments/s

    pub = asyncio.create_task(publish())
    await asyncio.sleep(1.0)
    r = await asyncio.to_thread(subprocess.run, [
        "redis-cli", "--cluster", "reshard", f"{lc.HOST}:{src.port}", "--cluster-from", node_id(cl, src),
        "--cluster-to", node_id(cl, dst), "--cluster-slots", "1", "--cluster-yes"],
        capture_output=True, text=True, timeout=lc.scaled(60))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert cl.primary_for(lc.rkey(room, "chat")) is dst, "the room's slot did not move"
    await asyncio.sleep(2.0)             # comments go on from the new primary
    stop.set()
    await pub
    assert len(sent) >= 40, len(sent)
    last = sent[-1]
    for v in viewers:
        await v.wait_comment(last, timeout=lc.scaled(15))
        got = [m["text"] for m in v.received if m["type"] == "comment" and m["text"].startswith("c")]
        assert got == sent, f"a viewer's comments differ: missing {sorted(set(sent) - set(got))[:5]}, " \
                            f"doubled {[t for t, c in collections.Counter(got).items() if c > 1][:5]}"
        assert not [m for m in v.received if m["type"] == "error"], v.received
    assert set(errors) <= set(RETRY), errors
    m = lc.metrics(A.port)
    assert m["livecart_redis_map_refreshes_total"] >= 2
    print(f"reshard: {len(sent)} comments, retried {dict(errors)}, shard A redirects "
          f"{ {k: v for k, v in m.items() if 'redirects' in k} }")
    # both shards hold the room's channel on its new node only
    for node, want in ((dst, 2), (src, 0)):
        rn = cl._node_client(node)
        try:
            assert rn.execute_command("PUBSUB", "SHARDNUMSUB", lc.rkey(room, "ch"))[1] == want, node.port
        finally:
            rn.close()


# ------------------------------------------------------------------ ASK and TRYAGAIN


def _setslot(cl, slot, src, dst, how):
    """CLUSTER SETSLOT on both ends (how: "migrating" / "node")."""
    sid, did = node_id(cl, src), node_id(cl, dst)
    rs, rd = cl._node_client(src), cl._node_client(dst)
    try:
        if how == "migrating":
            rd.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", sid)
            rs.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", did)
        else:
            for r in (rd, rs):
                r.execute_command("CLUSTER", "SETSLOT", slot, "NODE", did)
    finally:
        rs.close()
        rd.close()


def _migrate(cl, src, dst, keys):
    r = cl._node_client(src)
    try:
        r.execute_command("MIGRATE", lc.HOST, dst.port, "", 0, 5000, "KEYS", *keys)
    finally:
        r.close()


@async_test(timeout=120)
async def test_a_slot_in_migration_is_followed_by_ask_and_tryagain_and_nothing_runs_twice(start_server, redis_proc):
    """While a slot migrates (set by hand, the way redis-cli --cluster reshard does it), a room
    with no key on the source any more is redirected by ASK, and a script whose keys are split
    between the two nodes gets TRYAGAIN: the shard sends them again until the migration ends --
    never refused within --redis-timeout-ms, never run twice."""
    cl = redis_proc
    src, dst = cl.nodes[2], cl.nodes[0]
    slot = lowest_slot(cl, src)
    s = start_server(shard="A", **ROOMY)
    half = room_on_slot(slot, prefix=lc.uniq("half_"))     # keys on the source
    fresh = room_on_slot(slot, prefix=lc.uniq("fresh_"))   # no key yet
    a = await Client.joined(s, half, "ann", "json")
    b = await Client.joined(s, fresh, "bob", "json")
    await post_comment(a, "before")
    _setslot(cl, slot, src, dst, "migrating")
    try:
        # the fresh room's keys are not on the source: ASK; on the target they are not all there
        # either (none is), so a multi-key script gets TRYAGAIN there until the slot is its
        await b.send({"type": "comment", "text": "asked", "req": "asked"})
        # the half room's stream moves, its other keys stay: TRYAGAIN on the source
        _migrate(cl, src, dst, [lc.rkey(half, "chat")])
        await a.send({"type": "comment", "text": "split", "req": "split"})
        await asyncio.sleep(0.5)
        assert not [m for m in a.comments + b.comments if m["text"] in ("asked", "split")], \
            "a script ran while its slot was half moved"
        m = lc.metrics(s.port)
        assert m['livecart_redis_redirects_total{kind="ask"}'] >= 1, m
        assert m['livecart_redis_redirects_total{kind="tryagain"}'] >= 1, m
        rs = cl._node_client(src)
        try:
            rest = rs.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
        finally:
            rs.close()
        if rest:
            _migrate(cl, src, dst, list(rest))
    finally:
        _setslot(cl, slot, src, dst, "node")
    await a.wait_comment("split", timeout=lc.scaled(10))
    await b.wait_comment("asked", timeout=lc.scaled(10))
    assert not [m for m in a.received + b.received if m["type"] == "error"], a.received[-3:] + b.received[-3:]
    r = cl.client()
    try:
        for room, want in ((half, ["before", "split"]), (fresh, ["asked"])):
            texts = [f.get("t") for _, f in r.xrange(lc.rkey(room, "chat"))]
            assert texts == want, (room, texts)
    finally:
        r.close()
    assert [x["text"] for x in a.comments] == ["before", "split"]
    assert [x["text"] for x in b.comments] == ["asked"]
