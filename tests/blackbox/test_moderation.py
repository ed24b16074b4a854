"""Moderation across two shards: mute, ban/unban, delete, slow mode, who may moderate, state
that survives a restart (Redis), and the word filter with SIGHUP reload (PROTOCOL.md
"Moderation", Errors `muted` / `banned` / `rate_limited` / `filtered` / `forbidden`)."""

import asyncio
import signal
import time

import pytest

import lc
from lc import Client, async_test, join_token, rkey


async def wait_redis(pred, what, timeout=None):
    """Moderation has no answer of its own: wait until Redis shows its effect."""
    return await lc.async_wait_until(pred, timeout or lc.T, what=what)


async def got_room(c, typ, timeout=None, **match):
    """The first `typ` message (room traffic such as deleted / slow_mode) with these values that c
    received, now or later."""
    return await lc.got(c, typ, timeout, **match)


async def no_error_pending(c):
    """Nothing c sent since the last check (or since it connected) was refused: no error was
    skipped while waiting for something else, and the next reply is the pong."""
    start = getattr(c, "_errors_checked", 0)
    await c.ping_pong()
    errs = [m for m in c.received[start:] if m["type"] == "error"]
    c._errors_checked = len(c.received)
    assert not errs, f"unexpected errors: {errs!r:.400}"


def pair(start_server, **flags):
    return start_server(shard="A", **flags), start_server(shard="B", **flags)


# ------------------------------------------------------------------ mute


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(40)
async def test_mute_across_shards_and_lift(start_server, room, rds, fmt):
    """A moderator on A mutes U: U's comments on both shards get `muted` and reach nobody, others
    are unaffected; the mute ends by itself after N s; `secs` 0 lifts a long mute at once."""
    a, b = pair(start_server)
    mod = await Client.joined(a, room, "mod", fmt, role="moderator")
    u_b = await Client.joined(b, room, "loud", fmt)
    u_a = await Client.joined(a, room, "loud", fmt)
    w = await Client.joined(b, room, "calm", fmt)

    await mod.send({"type": "mute", "user": "loud", "secs": 3})
    until = int(await wait_redis(lambda: rds.hget(rkey(room, "mutes"), "loud"), "loud in lc:{R}:mutes"))
    now_ms = time.time() * 1000
    assert now_ms + 1500 <= until <= now_ms + 3500, f"muted until {until}, now {now_ms:.0f}: not ~3 s"
    await no_error_pending(mod)

    await u_b.comment("muted on B")
    await u_b.expect_error("muted")
    await u_a.comment("muted on A")
    await u_a.expect_error("muted")
    await w.comment("calm is fine")
    m = await u_a.wait_comment("calm is fine")
    assert m["user"] == "calm"
    await u_b.ping_pong()          # still open

    # still muted shortly before the end ...
    await asyncio.sleep(max(0, (until - 800) / 1000 - time.time()))
    await u_b.comment("still muted")
    await u_b.expect_error("muted")
    # ... and free after it
    await asyncio.sleep(max(0, (until + 200) / 1000 - time.time()))
    await u_b.comment("free again")
    for c in (w, mod, u_a):
        m = await c.wait_comment("free again")
        assert m["user"] == "loud"
    texts = [x["text"] for x in w.comments]
    assert not [t for t in texts if "muted" in t], f"a muted comment reached the room: {texts}"

    # a long mute lifted with secs 0
    await mod.send({"type": "mute", "user": "loud", "secs": 600})
    await wait_redis(lambda: int(rds.hget(rkey(room, "mutes"), "loud") or 0) > time.time() * 1000 + 500_000,
                     "the 600 s mute in Redis")
    await u_a.comment("muted long")
    await u_a.expect_error("muted")
    await mod.send({"type": "mute", "user": "loud", "secs": 0})
    await wait_redis(lambda: int(rds.hget(rkey(room, "mutes"), "loud") or 0) < time.time() * 1000,
                     "the mute lifted in Redis")
    await u_a.comment("unmuted by 0")
    await w.wait_comment("unmuted by 0")


# ------------------------------------------------------------------ ban / unban


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(40)
async def test_ban_closes_everywhere_and_unban(start_server, room, rds, fmt):
    """A streamer on A bans U: U's connections on A and B get `banned` + 4003 at once; others stay;
    U's rejoin on either shard gets `banned` + 4003 (no welcome); U may still join another room;
    after unban U joins and comments again."""
    a, b = pair(start_server)
    st = await Client.joined(a, room, "shop", fmt, role="streamer")
    elsewhere = await Client.joined(b, room + "x", "troll", fmt)      # same user, another room
    u_a = await Client.joined(a, room, "troll", fmt)
    u_b = await Client.joined(b, room, "troll", "msgpack" if fmt == "json" else "json")
    w = await Client.joined(b, room, "nice", fmt)
    await w.wait_viewers(4)

    t0 = time.monotonic()
    await st.send({"type": "ban", "user": "troll"})
    await asyncio.gather(lc.expect_refused(u_a, "banned", 4003), lc.expect_refused(u_b, "banned", 4003))
    assert time.monotonic() - t0 < lc.scaled(2), f"ban took {time.monotonic() - t0:.2f} s to close the user"
    assert "troll" in rds.smembers(rkey(room, "bans")), rds.smembers(rkey(room, "bans"))
    await w.wait_viewers(2)
    await no_error_pending(st)
    await no_error_pending(w)

    for srv, f in ((a, "json"), (b, "msgpack")):
        c = await Client.connect(srv, room, f)
        await c.send({"type": "hello", "user": "troll"})
        await lc.expect_refused(c, "banned", 4003)
    await elsewhere.ping_pong()                                        # a ban is per room
    elsewhere2 = await Client.joined(a, room + "x", "troll", fmt)
    await elsewhere2.ping_pong()

    await st.send({"type": "unban", "user": "troll"})
    await wait_redis(lambda: "troll" not in rds.smembers(rkey(room, "bans")), "troll out of lc:{R}:bans")
    back = await Client.joined(b, room, "troll", fmt)
    await back.comment("i behave now")
    m = await w.wait_comment("i behave now")
    assert m["user"] == "troll"
    await back.ping_pong()


@async_test(30)
async def test_ban_with_tokens(start_server, keys, room, rds):
    """With tokens, bans name the token's sub: a moderator token (no room) bans `vic`, whose
    connection closes 4003; a rejoin with a fresh token for `vic` whose hello claims another user
    is refused; a viewer token claiming role moderator in hello cannot ban (forbidden)."""
    a, b = pair(start_server, jwt_key_file=keys.path)
    mod = await join_token(a, room, keys.issue("mo", "moderator"), "msgpack")
    vic = await join_token(b, room, keys.issue("vic", "viewer"), "json", user="someone")
    fake = await join_token(b, room, keys.issue("fake", "viewer", room=room), "json", role="moderator")
    await fake.send({"type": "ban", "user": "vic"})
    await fake.expect_error("forbidden")
    await vic.ping_pong()

    await mod.send({"type": "ban", "user": "vic"})
    await lc.expect_refused(vic, "banned", 4003)
    assert rds.smembers(rkey(room, "bans")) == {"vic"}
    again = await Client.connect(a, room, "json")
    await again.send({"type": "hello", "token": keys.issue("vic", "viewer", room=room), "user": "not-vic"})
    await lc.expect_refused(again, "banned", 4003)
    await no_error_pending(mod)


# ------------------------------------------------------------------ delete


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(30)
async def test_delete_comment(start_server, room, rds, fmt):
    """delete: both shards' connections receive {"type":"deleted","id":ID}; the comment leaves the
    stream, a joiner's history and a resume; an unknown or malformed id gets bad_request."""
    a, b = pair(start_server)
    mod = await Client.joined(a, room, "mod", fmt, role="moderator")
    u = await Client.joined(b, room, "ann", fmt)
    w = await Client.joined(a, room, "bob", fmt)
    for t in ("first", "second", "third"):
        await u.comment(t)
    ids = {t: (await w.wait_comment(t))["id"] for t in ("first", "second", "third")}

    await mod.send({"type": "delete", "id": ids["second"]})
    for c in (u, w, mod):
        m = await got_room(c, "deleted", id=ids["second"])
        assert set(m) == {"type", "id"}, m
    entries = [i for i, _ in rds.xrange(rkey(room, "chat"))]
    assert entries == [ids["first"], ids["third"]], entries

    j = await Client.joined(b, room, "late", fmt)
    assert [h["text"] for h in j.welcome["history"]] == ["first", "third"], j.welcome["history"]
    assert j.welcome["last"] == ids["third"]
    r = await Client.joined(a, room, "back", fmt, since=ids["first"])
    assert [h["id"] for h in r.welcome["history"]] == [ids["third"]], r.welcome
    assert r.welcome.get("recovered") is True, r.welcome

    for bad in (ids["second"], "1-0", "not-an-id"):
        await mod.send({"type": "delete", "id": bad})
        await mod.expect_error("bad_request")
    # an id of another room is unknown here, and that room keeps its comment
    x = await Client.joined(b, room + "x", "xan", fmt)
    await x.comment("other room")
    xid = (await x.wait_comment("other room"))["id"]
    await mod.send({"type": "delete", "id": xid})
    await mod.expect_error("bad_request")
    assert [i for i, _ in rds.xrange(rkey(room + "x", "chat"))] == [xid]
    await u.ping_pong()
    assert [m["id"] for m in u.received if m["type"] == "deleted"] == [ids["second"]], \
        "a refused delete was broadcast"


# ------------------------------------------------------------------ slow mode


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(40)
async def test_slow_mode_across_shards(start_server, room, rds, fmt):
    """slow_mode 2: both shards receive {"type":"slow_mode","secs":2}; a viewer's second comment
    within 2 s — on either shard — gets rate_limited; other viewers, the streamer and moderators
    are unaffected; after 2 s the viewer may comment again; 0 turns it off."""
    a, b = pair(start_server)
    st = await Client.joined(a, room, "shop", fmt, role="streamer")
    mod = await Client.joined(b, room, "mod", fmt, role="moderator")
    u_b = await Client.joined(b, room, "ann", fmt)
    u_a = await Client.joined(a, room, "ann", fmt)
    w = await Client.joined(b, room, "bob", fmt)

    await st.send({"type": "slow_mode", "secs": 2})
    for c in (st, mod, u_a, u_b, w):
        m = await got_room(c, "slow_mode")
        assert m == {"type": "slow_mode", "secs": 2}, m
    assert rds.get(rkey(room, "slow")) == "2"

    await u_b.comment("ann 1")
    first = await w.wait_comment("ann 1")
    await u_a.comment("ann 2 via A")
    await u_a.expect_error("rate_limited")
    await u_b.comment("ann 3 via B")
    await u_b.expect_error("rate_limited")
    await w.comment("bob 1")
    await w.wait_comment("bob 1")
    for c, who in ((st, "shop"), (mod, "mod")):
        for i in range(3):
            await c.comment(f"{who} {i}")
        for i in range(3):
            await w.wait_comment(f"{who} {i}")
    await no_error_pending(st)
    await no_error_pending(mod)

    # 2 s after ann's accepted comment (Redis time of its id), ann may comment again
    await asyncio.sleep(max(0, first["ts"] / 1000 + 2.2 - time.time()))
    await u_a.comment("ann 4")
    m = await w.wait_comment("ann 4")
    assert m["user"] == "ann"
    assert not [c for c in w.comments if c["text"].startswith(("ann 2", "ann 3"))], w.comments

    await mod.send({"type": "slow_mode", "secs": 0})
    for c in (st, u_a, u_b):
        await got_room(c, "slow_mode", secs=0)
    u_b._errors_checked = len(u_b.received)
    await u_a.comment("ann 5")
    await u_b.comment("ann 6")
    await w.wait_comment("ann 5")
    await w.wait_comment("ann 6")
    await no_error_pending(u_b)


@async_test(30)
async def test_slow_mode_refusals_count_toward_abuse_close(start_server, room):
    """Errors table: `rate_limited` (over a per-connection limit, or slow mode) — "closed 1008
    after --abuse-close in a row".  A viewer that keeps commenting in slow mode (well inside the
    comment bucket) is closed 1008 after --abuse-close (5) refusals in a row."""
    s = start_server(shard="A", abuse_close=5)
    st = await Client.joined(s, room, "shop", "json", role="streamer")
    v = await Client.joined(s, room, "pushy", "json")
    await st.send({"type": "slow_mode", "secs": 60})
    await got_room(v, "slow_mode", secs=60)
    await v.comment("first")
    await v.wait_comment("first")
    for i in range(5):
        await v.comment(f"again {i}")
        m = await v.recv_reply()
        assert m["type"] == "error" and m["code"] == "rate_limited", m
    try:
        code, rest = await v.expect_close(lc.scaled(2))
    except AssertionError:
        await v.ping_pong()
        raise AssertionError("5 slow-mode refusals in a row with --abuse-close 5: the connection is still open")
    assert code == 1008, (code, rest)


# ------------------------------------------------------------------ who may moderate


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(30)
async def test_viewer_cannot_moderate(start_server, room, rds, fmt):
    """Every moderation message from a viewer gets `forbidden` and changes nothing."""
    a, b = pair(start_server)
    v = await Client.joined(a, room, "vee", fmt)
    t = await Client.joined(b, room, "target", fmt)
    await t.comment("target's comment")
    cid = (await v.wait_comment("target's comment"))["id"]
    for msg in ({"type": "mute", "user": "target", "secs": 60},
                {"type": "ban", "user": "target"},
                {"type": "unban", "user": "target"},
                {"type": "delete", "id": cid},
                {"type": "slow_mode", "secs": 30}):
        await v.send(msg)
        await v.expect_error("forbidden")
    await asyncio.sleep(0.3)
    for k in ("bans", "mutes", "slow"):
        assert not rds.exists(rkey(room, k)), f"a forbidden moderation wrote {rkey(room, k)}"
    assert [i for i, _ in rds.xrange(rkey(room, "chat"))] == [cid]
    await t.comment("still here")
    await t.comment("and again")
    await v.wait_comment("and again")
    assert not [m for m in v.received + t.received if m["type"] in ("deleted", "slow_mode")]
    await t.ping_pong()


# ------------------------------------------------------------------ restart


@async_test(60)
async def test_moderation_survives_restart(start_server, room, rds):
    """Ban, mute, slow mode and a deletion, set through shard A, hold after both shards restart."""
    a, b = pair(start_server)
    st = await Client.joined(a, room, "shop", "json", role="streamer")
    w = await Client.joined(b, room, "w", "msgpack")
    for t in ("keep 1", "drop me", "keep 2"):
        await w.comment(t)
    ids = {t: (await st.wait_comment(t))["id"] for t in ("keep 1", "drop me", "keep 2")}
    await st.send({"type": "ban", "user": "bad"})
    await st.send({"type": "mute", "user": "loud", "secs": 600})
    await st.send({"type": "slow_mode", "secs": 30})
    await st.send({"type": "delete", "id": ids["drop me"]})
    await got_room(st, "deleted", id=ids["drop me"])
    await wait_redis(lambda: rds.sismember(rkey(room, "bans"), "bad") and rds.hget(rkey(room, "mutes"), "loud")
                     and rds.get(rkey(room, "slow")) == "30", "ban, mute and slow mode in Redis")
    await lc.close_all_clients()

    await a.astop()
    await b.astop()
    await a.astart()
    await b.astart()

    bad = await Client.connect(b, room, "json")
    await bad.send({"type": "hello", "user": "bad"})
    await lc.expect_refused(bad, "banned", 4003)
    loud = await Client.joined(a, room, "loud", "msgpack")
    await loud.comment("hello?")
    await loud.expect_error("muted")
    x = await Client.joined(b, room, "x", "json")
    assert [h["text"] for h in x.welcome["history"]] == ["keep 1", "keep 2"], x.welcome["history"]
    await x.comment("x 1")
    await x.wait_comment("x 1")
    await x.comment("x 2")
    await x.expect_error("rate_limited")


# ------------------------------------------------------------------ word filter


BLOCKLIST = "# terms refused in comments\nBadWord\n\nspam link\n"


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(40)
async def test_word_filter_and_sighup_reload(start_server, tmp_path, room, fmt):
    """--blocklist: a comment containing a term anywhere, in any case, gets `filtered` and reaches
    nobody; `#` lines and blank lines are not terms; after the file changes and SIGHUP, the new
    term is refused and the removed one allowed.  The log holds no comment text."""
    bl = tmp_path / "blocklist.txt"
    bl.write_text(BLOCKLIST)
    s = start_server(shard="A", blocklist=str(bl))
    u = await Client.joined(s, room, "ann", fmt)
    w = await Client.joined(s, room, "bob", fmt)
    refused = ["this has badword inside", "BADWORD", "xxBaDwOrDxx", "a Spam Link here", "SPAM LINKS!"]
    allowed = ["bad word", "terms refused in comments", "spam  link", "perfectly fine"]
    for t in refused:
        await u.comment(t)
        await u.expect_error("filtered")
    for t in allowed:
        await u.comment(t)
    await w.wait_comment(allowed[-1])
    assert [c["text"] for c in w.comments] == allowed, [c["text"] for c in w.comments]
    await u.ping_pong()

    bl.write_text("# reloaded\nspam link\nNewTerm\n")
    s.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + lc.T
    n = 0
    while True:
        n += 1
        await u.comment(f"a newterm probe {n}")
        m = await u.wait_for(lambda m: m["type"] == "error" or (m["type"] == "comment" and m["text"] == f"a newterm probe {n}"))
        if m["type"] == "error":
            assert m["code"] == "filtered", m
            break
        assert time.monotonic() < deadline, "SIGHUP did not reload the blocklist"
        await asyncio.sleep(0.1)
    await u.comment("BadWord is allowed now")
    await w.wait_comment("BadWord is allowed now")
    await u.comment("spam link still")
    await u.expect_error("filtered")
    assert s.alive(), "SIGHUP killed the server"

    log = s.current_log()
    leaked = [t for t in refused + allowed if t in log]
    assert not leaked, f"the server log holds comment text: {leaked}"
