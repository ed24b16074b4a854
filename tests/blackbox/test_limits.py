"""Abuse limits with the documented defaults: per-connection comment and like buckets (the room
receives at most the bucket's worth, others unaffected, 1008 after --abuse-close refusals in a
row, streamer exempt), connections per IP (429 + Retry-After, X-Forwarded-For only from trusted
proxies), the per-IP unit cap of a sale over two shards, and the audit stream (PROTOCOL.md
"Abuse limits")."""

import asyncio
import re
import time

import pytest

import lc
from lc import Client, async_test, join_token, rkey

# Leave the per-connection buckets at the server's built-in defaults (lc.Server.DEFAULTS raises
# them for the other suites): comments 2/s burst 5, like frames 10/s burst 20.
DEFAULT_BUCKETS = {"comment_rate": None, "comment_burst": None, "like_rate": None, "like_burst": None}
ABUSE_CLOSE = 10


def limited(start_server, shard="A", **flags):
    return start_server(shard=shard, abuse_close=ABUSE_CLOSE, **DEFAULT_BUCKETS, **flags)


def encode(fmt, msg):
    """(opcode, payload) of one client message in fmt."""
    if fmt == "msgpack":
        return 0x2, lc.mp(msg)
    return 0x1, lc.json.dumps(msg).encode()


class Flooder:
    """A client on a blocking RawWS run in a thread: joins, then floods in two phases.

    phase 1 (`steady`): one frame every `interval` seconds for `n1` frames — the bucket refills
      meanwhile, and with these rates the refusals in a row stay below --abuse-close;
    pause `pause` seconds (a token or more: the next frame is accepted and ends any row);
    phase 2 (`burst`): n2 frames in ONE write, so the server has them all before it closes.
    Then it reads until the connection ends.  Times are monotonic."""

    def __init__(self, port, room, fmt, user, make):
        self.port, self.room, self.fmt, self.user, self.make = port, room, fmt, user, make

    def run(self, n1, interval, pause, n2):
        r = lc.RawWS(self.port, self.room, self.fmt)
        try:
            r.send({"type": "hello", "user": self.user})
            while True:
                m = r.recv_msg()
                assert m is not None, f"closed before welcome: {r.end}"
                if m["type"] == "welcome":
                    break
            self.t0 = time.monotonic()
            for i in range(n1):
                r.send_frame(*encode(self.fmt, self.make(i)))
                time.sleep(interval)
            time.sleep(pause)
            # everything phase 1 caused has arrived by now (the pause is long on loopback)
            r.set_timeout(0.05)
            while True:
                try:
                    if r.recv_msg() is None:
                        break
                except OSError:          # socket.timeout: nothing more for now
                    break
            self.phase1 = list(r.messages)
            self.t1 = time.monotonic()
            r.sock.sendall(b"".join(r.frame(*encode(self.fmt, self.make(n1 + i))) for i in range(n2)))
            r.set_timeout(lc.T)
            while not r.closed:
                r.recv_msg()
            self.t2 = time.monotonic()
            self.messages = list(r.messages)
            self.phase2 = self.messages[len(self.phase1):]
            self.close_code, self.end = r.close_code, r.end
            return self
        finally:
            r.close()

    def errors(self, msgs):
        return [m.get("code") for m in msgs if m["type"] == "error"]


# ------------------------------------------------------------------ comment and like buckets


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(40)
async def test_comment_flood(start_server, room, fmt):
    """One client floods comments against the default bucket (2/s, burst 5): first 20 frames at
    10/s, then 40 in one write.  The room — on both shards — receives at least the burst plus the
    refill and at most 5 + 2/s x elapsed of its comments; each refused frame gets rate_limited;
    the burst ends with exactly --abuse-close (10) refusals and close 1008; a bystander commenting
    on the same shard meanwhile is unaffected."""
    a = limited(start_server, "A")
    b = limited(start_server, "B")
    by = await Client.joined(a, room, "bystander", fmt)
    obs = await Client.joined(b, room, "obs", fmt)
    fl = Flooder(a.port, room, fmt, "flood", lambda i: {"type": "comment", "text": f"flood {i}"})

    async def bystander():
        for i in range(6):
            await asyncio.sleep(0.4)
            await by.comment(f"by {i}")

    await asyncio.gather(asyncio.to_thread(fl.run, 20, 0.1, 0.7, 40), bystander())
    assert (fl.end, fl.close_code) == ("close frame", 1008), f"the flooder's connection ended with {fl.end} {fl.close_code}"

    await obs.wait_comment("by 5")
    await lc.drain([obs, by], 0.3)
    mine = [m["text"] for m in obs.comments if m["user"] == "flood"]
    assert [m["text"] for m in by.comments if m["user"] == "flood"] == mine, "the two shards disagree"
    idx = [int(t.split()[1]) for t in mine]
    assert idx == sorted(idx), mine
    p1 = [i for i in idx if i < 20]
    p2 = [i for i in idx if i >= 20]
    elapsed = fl.t2 - fl.t0
    steady = fl.t1 - fl.t0
    assert len(mine) <= 5 + 2 * elapsed, \
        f"the room got {len(mine)} flood comments in {elapsed:.2f} s; the bucket allows {5 + 2 * elapsed:.1f}: {mine}"
    # 2 s at 10/s: the burst of 5 plus ~3-4 refilled tokens (at least 2 proves the refill)
    assert len(p1) >= 7, f"only {len(p1)} of 20 steady comments in {steady:.1f} s: {mine}"
    assert p1[:5] == [0, 1, 2, 3, 4], f"the burst of 5 was not accepted: {mine}"
    assert 1 <= len(p2) <= 3, f"after a {0.7} s pause the burst got {len(p2)} comments through: {mine}"
    errs1 = fl.errors(fl.phase1)
    assert errs1 == ["rate_limited"] * (20 - len(p1)), f"phase 1: {len(p1)} accepted, errors {errs1}"
    errs2 = fl.errors(fl.phase2)
    assert errs2 == ["rate_limited"] * ABUSE_CLOSE, \
        f"closed after {len(errs2)} refusals in a row (--abuse-close {ABUSE_CLOSE}): {errs2}"

    assert [m["text"] for m in obs.comments if m["user"] == "bystander"] == [f"by {i}" for i in range(6)]
    await by.ping_pong()
    assert not [m for m in by.received if m["type"] == "error"], "the bystander was refused something"


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(40)
async def test_like_flood(start_server, room, rds, fmt):
    """Like frames against the default bucket (10/s, burst 20): 60 frames at 40/s, then 50 in one
    write.  The room's total holds at least the burst plus the refill and at most
    20 + 10/s x elapsed of the flooder's frames (each frame's whole count); refused frames get
    rate_limited; the burst ends with exactly 10 refusals and close 1008; a bystander's likes all
    count."""
    a = limited(start_server, "A")
    by = await Client.joined(a, room, "bystander", fmt)
    fl = Flooder(a.port, room, fmt, "flood", lambda i: {"type": "like", "count": 100})

    async def bystander():
        for _ in range(8):
            await asyncio.sleep(0.2)
            await by.like(1)

    await asyncio.gather(asyncio.to_thread(fl.run, 60, 0.025, 0.35, 50), bystander())
    assert (fl.end, fl.close_code) == ("close frame", 1008), f"the like flooder's connection ended with {fl.end} {fl.close_code}"
    await by.ping_pong()
    assert not [m for m in by.received if m["type"] == "error"], "the bystander was refused something"

    await asyncio.sleep(0.4)          # a few ticks: every accepted like is in Redis
    total = int(rds.get(rkey(room, "likes")) or 0)
    frames, rest = divmod(total - 8, 100)
    assert rest == 0, f"total {total} is not 100 x frames + the bystander's 8"
    elapsed = fl.t2 - fl.t0
    steady = fl.t1 - fl.t0
    assert frames <= 20 + 10 * elapsed, f"{frames} like frames counted in {elapsed:.2f} s (bucket allows {20 + 10 * elapsed:.1f})"
    errs1 = fl.errors(fl.phase1)
    errs2 = fl.errors(fl.phase2)
    accepted1 = 60 - len(errs1)
    assert set(errs1) <= {"rate_limited"} and set(errs2) == {"rate_limited"}, (errs1, errs2)
    # 1.5 s at 40/s: the burst of 20 plus ~15 refilled tokens (at least 8 proves the refill)
    assert accepted1 >= 28, f"only {accepted1} of 60 steady like frames in {steady:.1f} s"
    assert len(errs2) == ABUSE_CLOSE, f"closed after {len(errs2)} refusals in a row (--abuse-close {ABUSE_CLOSE})"
    assert frames - accepted1 >= 1, "after the pause the first like frame of the burst was refused"
    await by.wait_likes(total)


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(40)
async def test_bucket_refills_and_refusals_must_be_in_a_row(start_server, room, fmt):
    """A person's pace is fine: 5 at once, then after 1 s two more are accepted (2/s) and the next
    is refused.  Only refusals in a row close: 9 refused, 1 accepted after a pause, 9 refused leaves
    the connection open; the 10th in a row closes it 1008."""
    a = limited(start_server, "A")
    u = await Client.joined(a, room, "flood", fmt)
    obs = await Client.joined(a, room, "obs", fmt)

    async def replies(n):
        """The next n answers to u's comments, sorted: "ok" (its comment came back) or an error
        code (errors come at once, accepted comments after the trip through Redis)."""
        got = []
        for _ in range(n):
            got.append(await u.wait_for(lambda m: m["type"] == "error" or
                                        (m["type"] == "comment" and m["user"] == "flood")))
        return sorted("ok" if m["type"] == "comment" else m["code"] for m in got)

    for i in range(5):
        await u.comment(f"b{i}")
    assert await replies(5) == ["ok"] * 5
    await asyncio.sleep(1.05)
    for i in range(3):
        await u.comment(f"p{i}")
    assert await replies(3) == ["ok", "ok", "rate_limited"]   # the 3rd of p0..p2 is refused

    for i in range(8):
        await u.comment(f"x{i}")
    assert await replies(8) == ["rate_limited"] * 8           # 9 in a row with p2
    await asyncio.sleep(0.6)                                   # one token
    await u.comment("breather")
    assert await replies(1) == ["ok"]
    for i in range(9):
        await u.comment(f"y{i}")
    assert await replies(9) == ["rate_limited"] * 9
    assert u.is_open
    await u.comment("the tenth")
    code, _ = await u.expect_close()
    assert code == 1008, code
    await obs.ping_pong()
    texts = [m["text"] for m in obs.comments if m["user"] == "flood"]
    assert texts == ["b0", "b1", "b2", "b3", "b4", "p0", "p1", "breather"], texts


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(40)
async def test_streamer_exempt_from_comment_and_like_limits(start_server, room, rds, fmt):
    """The streamer's 40 comments and 60 like frames, back to back, all reach the room."""
    a = limited(start_server, "A")
    st = await Client.joined(a, room, "shop", fmt, role="streamer")
    obs = await Client.joined(a, room, "obs", fmt)
    for i in range(40):
        await st.comment(f"s{i}")
    for _ in range(60):
        await st.like(2)
    await obs.wait_comment("s39")
    await obs.wait_likes(120)
    assert [m["text"] for m in obs.comments] == [f"s{i}" for i in range(40)]
    await st.ping_pong()
    assert not [m for m in st.received if m["type"] == "error"], [m for m in st.received if m["type"] == "error"][:3]
    assert rds.get(rkey(room, "likes")) == "120"


# ------------------------------------------------------------------ connections per IP


def _open(port, room, n, headers=None, source=None):
    """n upgrades; returns the statuses and the open sockets."""
    statuses, socks = [], []
    for _ in range(n):
        st, hdrs, s = lc.upgrade(port, f"/live?room={room}", headers=headers, source=source)
        statuses.append(st)
        if st == 101:
            socks.append(s)
        else:
            ra = hdrs.get("retry-after")
            assert ra is not None and ra.isdigit() and int(ra) >= 1, f"{st} without a Retry-After in seconds: {hdrs}"
    return statuses, socks


@async_test(30)
async def test_max_conns_per_ip(start_server, room):
    """--max-conns-per-ip 3: the 4th upgrade from 127.0.0.1 gets HTTP 429 with Retry-After (the
    three others keep working), another source address still gets in, and closing one connection
    frees a slot."""
    s = start_server(shard="A", max_conns_per_ip=3)
    c1 = await Client.joined(s, room, "u1", "json")
    c2 = await Client.joined(s, room, "u2", "msgpack")
    c3 = await Client.connect(s, room, "json")                 # not even a hello yet: counts too
    st, hdrs, _ = await asyncio.to_thread(lc.upgrade, s.port, f"/live?room={room}")
    assert st == 429, f"4th connection from one IP: {st}"
    assert hdrs.get("retry-after", "").isdigit(), f"429 without Retry-After: {hdrs}"
    st, hdrs, _ = await asyncio.to_thread(lc.upgrade, s.port, f"/live?room={room}x")
    assert st == 429, f"the cap is per IP, not per room: {st}"
    o = await Client.connect(s, room, "json", local_addr=("127.0.0.2", 0))
    await o.hello("from-127.0.0.2")
    for c in (c1, c2):
        await c.ping_pong()
    await c3.hello("u3")

    await c1.close()

    def slot_free():
        st, _, sock = lc.upgrade(s.port, f"/live?room={room}")
        if st == 101:
            sock.close()
        return st == 101
    await asyncio.to_thread(lc.wait_until, slot_free, lc.T, 0.1, "a slot freed by a close")


@async_test(30)
async def test_refused_connections_free_their_slot(start_server, keys, room):
    """With --max-conns-per-ip 2 and tokens: connections closed for a bad token (4001), refused
    with 400 (bad room) or 429 hold no slot: afterwards exactly two connections get in."""
    s = start_server(shard="A", max_conns_per_ip=2, jwt_key_file=keys.path)
    for _ in range(4):
        c = await Client.connect(s, room, "json")
        await c.send({"type": "hello", "token": "bad"})
        await lc.expect_refused(c, "unauthorized", 4001)
    held = []
    try:
        def run():
            out = []
            for _ in range(3):
                out.append(lc.upgrade(s.port, "/live?room=bad%20room")[0])
            for _ in range(2):
                st, _, so = lc.upgrade(s.port, f"/live?room={room}")
                out.append(st)
                held.append(so)
            for _ in range(3):
                out.append(lc.upgrade(s.port, f"/live?room={room}")[0])
            held.pop().close()
            return out
        got = await asyncio.to_thread(run)
        assert got == [400] * 3 + [101, 101] + [429] * 3, got
        await asyncio.sleep(0.3)
        c = await join_token(s, room, keys.issue("ann"), "json")
        await c.ping_pong()
    finally:
        for so in held:
            so.close()


@async_test(30)
async def test_xff_from_trusted_proxy(start_server, room):
    """With --trusted-proxy 127.0.0.1 the client IP is the rightmost X-Forwarded-For entry that is
    not a trusted proxy: each forwarded address has its own cap of 2; a spoofed left entry does
    not help; a peer that is not a trusted proxy (127.0.0.2) is counted by its own address
    whatever X-Forwarded-For it sends."""
    s = start_server(shard="A", max_conns_per_ip=2, trusted_proxy=["127.0.0.1"])
    socks = []
    try:
        def run():
            out = {}
            for name, hdr, n, src in (
                    ("10.0.0.1", "10.0.0.1", 3, None),
                    ("10.0.0.2", "10.0.0.2", 2, None),
                    ("spoof-left", "10.0.0.2, 10.0.0.1", 1, None),      # rightmost = 10.0.0.1: full
                    ("through-proxy", "10.0.0.3, 127.0.0.1", 2, None),  # 127.0.0.1 is the proxy
                    ("3rd-of-10.0.0.3", "10.0.0.3", 1, None),
                    ("no-xff", None, 2, None),                          # the proxy's own address
                    ("untrusted-peer", "10.0.0.5", 2, "127.0.0.2"),
                    ("untrusted-peer-other-xff", "10.0.0.6", 1, "127.0.0.2")):
                st, ss = _open(s.port, room, n, {"X-Forwarded-For": hdr} if hdr else None, src)
                socks.extend(ss)
                out[name] = st
            return out
        got = await asyncio.to_thread(run)
        assert got == {
            "10.0.0.1": [101, 101, 429],
            "10.0.0.2": [101, 101],
            "spoof-left": [429],
            "through-proxy": [101, 101],
            "3rd-of-10.0.0.3": [429],
            "no-xff": [101, 101],
            "untrusted-peer": [101, 101],
            "untrusted-peer-other-xff": [429],
        }, got
    finally:
        for x in socks:
            x.close()


@pytest.mark.parametrize("trusted", [None, "10.9.9.9"])
@async_test(30)
async def test_xff_ignored_unless_from_trusted_proxy(start_server, room, trusted):
    """Without --trusted-proxy (or with one that is not the peer) X-Forwarded-For is ignored: three
    connections claiming three addresses are one IP, the third is refused."""
    s = start_server(shard="A", max_conns_per_ip=2, trusted_proxy=[trusted] if trusted else None)
    socks = []
    try:
        def run():
            out = []
            for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
                st, ss = _open(s.port, room, 1, {"X-Forwarded-For": ip})
                socks.extend(ss)
                out += st
            return out
        assert await asyncio.to_thread(run) == [101, 101, 429]
    finally:
        for x in socks:
            x.close()


# ------------------------------------------------------------------ sale anti-fraud


def audit_rows(rds, room):
    return lc.audit(rds, room)


@async_test(40)
async def test_sale_max_per_ip_across_shards(start_server, room, rds):
    """--sale-max-per-ip 3 over two shards: the 4th unit from 127.0.0.1 gets status `limit` (on
    either shard, whoever the user), another address still buys, another sale has its own count,
    qty counts units.  With the default audit rules buys 0.4 s after the open are not audited, one
    right after the open is (`fast`, < 300 ms)."""
    a = start_server(shard="A", sale_max_per_ip=3)
    b = start_server(shard="B", sale_max_per_ip=3)
    st = await Client.joined(a, room, "shop", "json", role="streamer")
    users = {}
    for i, srv in ((1, a), (2, b), (3, a), (4, b)):
        users[i] = await Client.joined(srv, room, f"u{i}", "msgpack" if i % 2 else "json")
    far = await Client.connect(b, room, "json", local_addr=("127.0.0.2", 0))
    await far.hello("u5")

    await lc.open_sale(st, "sku1", 100, limit=5)
    await asyncio.sleep(0.4)
    answers = [await lc.buy(users[i], "sku1", f"r{i}") for i in (1, 2, 3)]
    assert [x["status"] for x in answers] == ["ok"] * 3, answers
    assert (await lc.buy(users[4], "sku1", "r4"))["status"] == "limit"
    assert (await lc.buy(users[1], "sku1", "r1b"))["status"] == "limit"
    again = await lc.buy(users[1], "sku1", "r1", retry=True)  # a retry: the first answer, no new unit
    assert again["status"] == "ok" and again["order"] == answers[0]["order"], (again, answers[0])
    ok5 = await lc.buy(far, "sku1", "r5")
    assert ok5["status"] == "ok" and ok5["left"] == 96, ok5
    units = rds.hgetall(rkey(room, "ipunits:sku1"))
    assert sorted(units.values()) == ["1", "3"], units
    assert any("127.0.0.1" in k for k in units) and any("127.0.0.2" in k for k in units), units
    assert len(lc.orders(rds, room, "order")) == 4
    assert audit_rows(rds, room) == [], "buys 0.4 s after the open were audited (default 300 ms, 5 users)"

    await lc.open_sale(st, "sku2", 100, limit=5)
    fast = await lc.buy(users[4], "sku2", "s4", qty=2)       # right after the open
    assert fast["status"] == "ok", fast
    assert (await lc.buy(users[2], "sku2", "s2", qty=2))["status"] == "limit"   # 2 + 2 > 3
    assert (await lc.buy(users[2], "sku2", "s2b", qty=1))["status"] == "ok"
    assert (await lc.buy(users[3], "sku2", "s3", qty=1))["status"] == "limit"
    rows = audit_rows(rds, room)
    assert [(r["rule"], r["user"], r["sku"]) for r in rows][:1] == [("fast", "u4", "sku2")], rows
    assert int(rows[0]["ms_after_open"]) < 300, rows[0]


@async_test(40)
async def test_audit_stream(start_server, room, rds):
    """--audit-fast-ms 10000 --audit-ip-users 2: every ok buy is a `fast` entry; the ok buy of the
    third user from 127.0.0.1 is also a `shared_ip` entry; refused buys are not audited; every
    entry has the documented fields with the buy's values."""
    a = start_server(shard="A", audit_fast_ms=10000, audit_ip_users=2)
    b = start_server(shard="B", audit_fast_ms=10000, audit_ip_users=2)
    st = await Client.joined(a, room, "shop", "json", role="streamer")
    buyers = {"u1": (a, None), "u2": (b, None), "u3": (a, None), "u4": (b, "127.0.0.2")}
    cl = {}
    for u, (srv, src) in buyers.items():
        kw = {"local_addr": (src, 0)} if src else {}
        cl[u] = await Client.connect(srv, room, "json", **kw)
        await cl[u].hello(u)
    opened = time.time()
    await lc.open_sale(st, "hot", 50, limit=1)
    answers = {}
    for u in ("u1", "u2", "u3", "u4"):
        answers[u] = await lc.buy(cl[u], "hot", f"req-{u}")
        assert answers[u]["status"] == "ok", answers[u]
    assert (await lc.buy(cl["u1"], "hot", "req-again"))["status"] == "limit"
    assert (await lc.buy(cl["u2"], "nosuch", "req-x"))["status"] == "closed"
    done = time.time()

    rows = audit_rows(rds, room)
    got = sorted((r["rule"], r["user"]) for r in rows)
    assert got == sorted([("fast", "u1"), ("fast", "u2"), ("fast", "u3"), ("fast", "u4"),
                          ("shared_ip", "u3")]), rows
    fields = {"rule", "user", "ip", "sku", "req", "qty", "order", "ms_after_open", "users_on_ip", "shard", "ts"}
    for r in rows:
        u = r["user"]
        assert set(r) - {"_id"} == fields, f"audit entry fields {sorted(r)}"
        assert r["ip"] == (buyers[u][1] or "127.0.0.1"), r
        assert r["sku"] == "hot" and r["req"] == f"req-{u}" and r["qty"] == "1", r
        assert r["order"] == answers[u]["order"], (r, answers[u])
        assert r["shard"] == buyers[u][0].shard, r
        ms = int(r["ms_after_open"])
        assert 0 <= ms <= (done - opened) * 1000 + 50 and ms < 10000, r
        assert re.fullmatch(r"\d{13}", r["ts"]) and opened * 1000 - 50 <= int(r["ts"]) <= done * 1000 + 50, r
        expect_users = {"u1": 1, "u2": 2, "u3": 3, "u4": 1}[u]
        assert int(r["users_on_ip"]) == expect_users, r
    assert rds.exists(rkey(room, "ipusers:hot")), "no lc:{R}:ipusers:SKU hash"
