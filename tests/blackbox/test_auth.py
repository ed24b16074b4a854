"""Identity: HS256 tokens and roles, refresh and expiry, open mode, livecart-token
(PROTOCOL.md "Identity: tokens and roles", Errors `unauthorized` / `token_expired` / `forbidden`,
close codes 4001 / 4003)."""

import asyncio
import time

import pytest

import lc
from lc import Client, async_test, hello_token, join_token, rkey

ROOMY = {"buy_rate": 1000, "buy_burst": 1000}


# ------------------------------------------------------------------ open mode, livecart-token


def test_open_mode_healthz_and_log(server, start_server, keys):
    """Without a key file /healthz says "ok" and "open mode", and so does the log at start; with
    a key file neither says open mode."""
    status, body = server.healthz()
    assert status == 200, body
    assert body.startswith("ok"), body
    assert "open mode" in body.lower(), f"/healthz body of an open-mode server: {body!r}"
    assert "open mode" in server.current_log().lower(), server.current_log()[-2000:]

    s = start_server(shard="A", jwt_key_file=keys.path)
    status, body = s.healthz()
    assert status == 200 and body.startswith("ok"), body
    assert "open mode" not in body.lower(), f"/healthz of a server with --jwt-key-file: {body!r}"
    assert "open mode" not in s.current_log().lower(), s.current_log()[-2000:]


def test_token_tool_prints_a_valid_token(keys):
    """livecart-token: HS256, sub/role/exp (now + ttl, default 1 h)/room, signed with the file's
    content minus the trailing newline (checked by re-signing it by hand)."""
    before = int(time.time())
    tok = keys.issue("ann", "streamer", room="r1", ttl=120)
    after = int(time.time())
    header, claims = lc.jwt_claims(tok)
    assert header.get("alg") == "HS256", header
    assert claims["sub"] == "ann" and claims["role"] == "streamer" and claims["room"] == "r1", claims
    assert before + 120 <= claims["exp"] <= after + 120, (before, claims, after)
    h, p, sig = tok.split(".")
    assert keys.sign(f"{h}.{p}") == sig, \
        "the signature is not HMAC-SHA256 with the key file's content (minus the newline)"

    tok = keys.issue("bob", "viewer")
    _, claims = lc.jwt_claims(tok)
    assert "room" not in claims, claims
    assert before + 3600 - 5 <= claims["exp"] <= int(time.time()) + 3600 + 5, f"default ttl is not ~1 h: {claims}"

    _, claims = lc.jwt_claims(keys.issue("carl", "moderator", ttl=-86400))
    assert claims["exp"] <= int(time.time()) - 86400 + 1, claims


@pytest.mark.parametrize("case", [
    "no_key_file", "unreadable_key_file", "no_user", "empty_user", "long_user",
    "bad_role", "bad_room", "long_room", "ttl_below", "ttl_above", "ttl_not_number", "ttl_trailing_garbage",
    "unknown_option",
])
def test_token_tool_refuses_bad_arguments(keys, tmp_path, case):
    """A bad argument: non-zero exit, nothing on stdout, a message on stderr."""
    k = keys.path
    args = {
        "no_key_file": ["--user", "u", "--role", "viewer"],
        "unreadable_key_file": ["--key-file", str(tmp_path / "missing.key"), "--user", "u", "--role", "viewer"],
        "no_user": ["--key-file", k, "--role", "viewer"],
        "empty_user": ["--key-file", k, "--user", "", "--role", "viewer"],
        "long_user": ["--key-file", k, "--user", "u" * 65, "--role", "viewer"],
        "bad_role": ["--key-file", k, "--user", "u", "--role", "admin"],
        "bad_room": ["--key-file", k, "--user", "u", "--role", "viewer", "--room", "bad room"],
        "long_room": ["--key-file", k, "--user", "u", "--role", "viewer", "--room", "r" * 65],
        "ttl_below": ["--key-file", k, "--user", "u", "--role", "viewer", "--ttl", "-86401"],
        "ttl_above": ["--key-file", k, "--user", "u", "--role", "viewer", "--ttl", str(400 * 86400)],
        "ttl_not_number": ["--key-file", k, "--user", "u", "--role", "viewer", "--ttl", "abc"],
        "ttl_trailing_garbage": ["--key-file", k, "--user", "u", "--role", "viewer", "--ttl", "10x"],
        "unknown_option": ["--key-file", k, "--user", "u", "--role", "viewer", "--bogus", "1"],
    }[case]
    r = lc.token_tool(*args)
    assert r.returncode != 0, f"livecart-token {args} exited 0 and printed {r.stdout!r}"
    assert r.stdout.strip() == "", f"livecart-token {args} printed {r.stdout!r} though it failed"
    assert r.stderr.strip(), f"livecart-token {args} failed without saying why"


# ------------------------------------------------------------------ every token failure


def _bad_token(case, keys, other_keys, room):
    now = int(time.time())
    good = keys.claims("ann", "viewer")
    valid = keys.forge(good)
    h, p, s = valid.split(".")
    return {
        "missing": None,
        "empty": "",
        "garbage": "not-a-jwt",
        "two_parts": f"{h}.{p}",
        "four_parts": f"{valid}.{s}",
        "bad_base64": f"{h}.{p}!!.{s}",
        "payload_not_json": f"{h}.{lc.b64url('not json')}.{keys.sign(h + '.' + lc.b64url('not json'))}",
        "payload_not_object": keys.forge([1, 2, 3]),
        "other_key_tool": other_keys.issue("ann", "viewer"),
        "other_key": keys.forge(good, key=other_keys.key),
        "key_with_newline": keys.forge(good, key=keys.key + "\n"),
        "tampered_payload": f"{h}.{lc.b64url(lc.json.dumps(dict(good, role='streamer', room=room)))}.{s}",
        "truncated_signature": f"{h}.{p}.{s[:-4]}",
        "alg_none": keys.forge(good, header={"alg": "none", "typ": "JWT"}, signature=""),
        "alg_none_signed": keys.forge(good, header={"alg": "none", "typ": "JWT"}),
        "alg_hs512": keys.forge(good, header={"alg": "HS512", "typ": "JWT"}),
        "no_alg": keys.forge(good, header={"typ": "JWT"}),
        "expired_tool": keys.issue("ann", "viewer", ttl=-30),
        "expired_beyond_skew": keys.forge(dict(good, exp=now - 5)),
        "no_exp": keys.forge({"sub": "ann", "role": "viewer"}),
        "no_sub": keys.forge({"role": "viewer", "exp": now + 600}),
        "empty_sub": keys.forge(dict(good, sub="")),
        "bad_role": keys.forge(dict(good, role="admin")),
        "no_role": keys.forge({"sub": "ann", "exp": now + 600}),
        "wrong_room": keys.issue("ann", "viewer", room=room + "x"),
        "streamer_wrong_room": keys.issue("ann", "streamer", room=room + "x"),
        "streamer_without_room": keys.issue("ann", "streamer"),
        "moderator_wrong_room": keys.issue("ann", "moderator", room=room + "x"),
    }[case]


TOKEN_FAILURES = [
    "missing", "garbage", "two_parts", "four_parts", "bad_base64", "payload_not_json",
    "payload_not_object", "other_key_tool", "other_key", "key_with_newline", "tampered_payload",
    "truncated_signature", "alg_none", "alg_none_signed", "alg_hs512", "no_alg", "expired_tool",
    "expired_beyond_skew", "no_exp", "no_sub", "empty_sub", "bad_role", "no_role", "wrong_room",
    "streamer_wrong_room", "streamer_without_room", "moderator_wrong_room",
]


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(60)
async def test_token_failures(start_server, keys, other_keys, room, rds, fmt):
    """Every kind of bad token at hello: exactly one error `unauthorized`, then close 4001 —
    no welcome, never counted as a viewer; a good token still works afterwards; the log never
    holds a token."""
    s = start_server(shard="A", jwt_key_file=keys.path)
    watcher = await join_token(s, room, keys.issue("watch", "viewer"), fmt)
    tokens = []
    failed = []
    for case in TOKEN_FAILURES:
        tok = _bad_token(case, keys, other_keys, room)
        tokens.append(tok)
        c = await Client.connect(s, room, fmt)
        # the hello's own user/role must not rescue a bad token
        m = await hello_token(c, tok, user="ann", role="streamer") if tok is not None else \
            await hello_token(c, None, user="ann", role="viewer")
        try:
            assert m["type"] == "error" and m.get("code") == "unauthorized", f"{case}: hello answered {m!r:.300}"
            code, rest = await c.expect_close()
            assert code == 4001, f"{case}: closed with {code}, expected 4001 (then {rest!r:.200})"
            assert not [x for x in rest if x["type"] in ("welcome", "comment")], f"{case}: {rest!r:.300}"
        except AssertionError as e:
            failed.append(str(e))
        await c.close()
    assert not failed, f"{len(failed)} of {len(TOKEN_FAILURES)} bad tokens not refused properly:\n" + "\n".join(failed)
    await watcher.ping_pong()
    assert watcher.viewers == 1, f"a refused connection was counted as a viewer: {watcher.viewers}"
    assert rds.get(rkey(room, "viewers")) in (None, "1"), rds.get(rkey(room, "viewers"))
    # a good token right after all that
    c = await join_token(s, room, keys.issue("bea", "viewer", room=room), fmt)
    await c.comment("after the bad ones")
    m = await watcher.wait_comment("after the bad ones")
    assert m["user"] == "bea", m
    log = s.current_log()
    leaked = [t for t in tokens + [keys.key] if t and len(t) > 20 and t in log]
    assert not leaked, f"the server log holds a token / the key: {leaked[:2]}"


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(30)
async def test_token_of_wrong_shape_never_welcomed(start_server, keys, room, fmt):
    """A `token` that is not a 1-4096 byte string (empty, a number, a list, a map, 5000 bytes) is
    never welcomed: either `unauthorized` + 4001, or `bad_request` with the connection still not
    joined (a comment then gets not_ready).  (PROTOCOL.md does not say which of the two.)"""
    s = start_server(shard="A", jwt_key_file=keys.path)
    for tok in ("", 5, ["x"], {"sub": "ann"}, "a" * 3900):
        c = await Client.connect(s, room, fmt)
        m = await hello_token(c, tok, user="ann", role="streamer")
        assert m["type"] == "error" and m.get("code") in ("unauthorized", "bad_request"), f"token {tok!r:.40}: {m!r:.300}"
        if m["code"] == "unauthorized":
            code, rest = await c.expect_close()
            assert code == 4001 and not [x for x in rest if x["type"] == "welcome"], (code, rest)
        else:
            await c.comment("sneaky")
            await c.expect_error("not_ready")
        await c.close()


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(30)
async def test_token_claims_override_hello(start_server, keys, room, fmt):
    """A viewer token whose hello says user mallory / role streamer is the token's viewer: the
    comment's user is the token's sub, a sale_open and any moderation are forbidden; two shards
    show the same sub."""
    a = start_server(shard="A", jwt_key_file=keys.path)
    b = start_server(shard="B", jwt_key_file=keys.path)
    other = await join_token(b, room, keys.issue("olga", "viewer"), fmt)
    v = await Client.connect(a, room, fmt)
    w = await hello_token(v, keys.issue("ann", "viewer", room=room), user="mallory", role="streamer")
    assert w["type"] == "welcome", w
    await v.comment("who am i")
    for cl in (v, other):
        m = await cl.wait_comment("who am i")
        assert m["user"] == "ann", f"the comment's user must be the token's sub: {m}"
    await v.send({"type": "sale_open", "sku": "sku1", "title": "t", "price": 100, "stock": 5})
    await v.expect_error("forbidden")
    await v.send({"type": "mute", "user": "olga", "secs": 60})
    await v.expect_error("forbidden")
    await v.ping_pong()
    await other.assert_silent(0.3, types=("sale",))


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(30)
async def test_streamer_token_sells_and_hello_role_is_ignored(start_server, keys, room, rds, fmt):
    """A streamer token for the room can open a sale even if its hello says role viewer and some
    other user; a moderator token cannot (forbidden); a viewer token's buy is recorded as its sub."""
    s = start_server(shard="A", jwt_key_file=keys.path, **ROOMY)
    st = await join_token(s, room, keys.issue("shop", "streamer", room=room), fmt, user="nobody", role="viewer")
    sale = await lc.open_sale(st, "sku1", 5)
    assert sale["stock"] == 5, sale
    mod = await join_token(s, room, keys.issue("mo", "moderator"), fmt, role="streamer")
    await mod.send({"type": "sale_open", "sku": "sku2", "title": "t", "price": 100, "stock": 5})
    m = await lc.recv_answer(mod)
    assert m["type"] == "error" and m.get("code") == "forbidden", m
    buyer = await join_token(s, room, keys.issue("bea", "viewer"), fmt, user="st")
    ans = await lc.buy(buyer, "sku1", "r1")
    assert ans["status"] == "ok", ans
    entries = lc.orders(rds, room, "order")
    assert [f["user"] for _, f in entries] == ["bea"], entries


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(30)
async def test_room_token_only_in_its_room(start_server, keys, room, fmt):
    """A token with a room claim works in that room (viewer and moderator alike) and is refused
    in another one; a token without a room works anywhere."""
    s = start_server(shard="A", jwt_key_file=keys.path)
    for role in ("viewer", "moderator", "streamer"):
        tok = keys.issue(f"u{role}", role, room=room)
        c = await join_token(s, room, tok, fmt)
        assert c.welcome["room"] == room
        c2 = await Client.connect(s, room + "2", fmt)
        await c2.send({"type": "hello", "token": tok})
        await lc.expect_refused(c2, "unauthorized", 4001)
    free = keys.issue("roamer", "viewer")
    for r in (room, room + "2", room + "3"):
        c = await join_token(s, r, free, fmt)
        assert c.welcome["room"] == r


@async_test(40)
async def test_expiry_within_skew_is_accepted(start_server, keys, room):
    """exp may be up to --jwt-skew seconds in the past: with --jwt-skew 6 a token that expired 3 s
    ago is welcomed (and gets token_expired + 4003 once exp + 6 s passes), one that expired 9 s ago
    is refused; with the default skew (2 s) a token 1 s past exp is welcomed, 5 s past is refused."""
    s6 = start_server(shard="A", jwt_key_file=keys.path, jwt_skew=6)
    d = start_server(shard="B", jwt_key_file=keys.path)
    now = int(time.time())
    exp = now - 3
    c = await join_token(s6, room, keys.forge(keys.claims("ann", ttl=exp - now)), "json")
    refused = await Client.connect(s6, room, "msgpack")
    await refused.send({"type": "hello", "token": keys.forge(keys.claims("bob", ttl=-9))})
    await lc.expect_refused(refused, "unauthorized", 4001)

    c2 = await join_token(d, room, keys.issue("cat", ttl=-1), "msgpack")
    refused = await Client.connect(d, room, "json")
    await refused.send({"type": "hello", "token": keys.issue("dan", ttl=-5)})
    await lc.expect_refused(refused, "unauthorized", 4001)

    # the accepted ones still expire: exp + skew, swept about once a second
    await lc.expect_refused(c, "token_expired", 4003, timeout=exp + 6 - time.time() + lc.scaled(4))
    closed_at = time.time()
    assert closed_at >= exp + 6 - 0.05, f"closed {exp + 6 - closed_at:.2f} s before exp + skew"
    await lc.expect_refused(c2, "token_expired", 4003, timeout=lc.scaled(6))


@async_test(40)
async def test_a_token_not_valid_yet_is_refused_until_its_nbf_within_the_skew(start_server, keys, room):
    """nbf (not before) is honoured with the same skew as exp: 30 s ahead is refused (4001),
    1 s ahead is within the default 2 s skew, and a refresh with a future nbf is refused too."""
    s = start_server(shard="A", jwt_key_file=keys.path)
    now = int(time.time())
    early = await Client.connect(s, room, "json")
    await early.send({"type": "hello", "token": keys.forge(keys.claims("ann", nbf=now + 30))})
    m = await lc.expect_refused(early, "unauthorized", 4001)
    c = await join_token(s, room, keys.forge(keys.claims("bob", nbf=now + 1)), "msgpack")
    await c.send({"type": "refresh", "token": keys.forge(keys.claims("bob", ttl=600, nbf=now + 60))})
    m = await c.recv_reply()
    assert m["type"] == "error" and m["code"] == "unauthorized" and "nbf" in m["message"], m
    await c.ping_pong()


@async_test(40)
async def test_a_token_that_lives_longer_than_max_token_ttl_is_refused(start_server, keys, room):
    """--max-token-ttl-s (default a day): a token whose exp is a million years ahead is refused, one
    that lives 23 h is welcomed; with --max-token-ttl-s 60 a 10-minute token is refused, also as a
    refresh; 0 turns the cap off."""
    d = start_server(shard="A", jwt_key_file=keys.path)
    forever = await Client.connect(d, room, "json")
    await forever.send({"type": "hello", "token": keys.forge(keys.claims("ann", ttl=10**6 * 365 * 86400))})
    await lc.expect_refused(forever, "unauthorized", 4001)
    await join_token(d, room, keys.issue("bob", ttl=23 * 3600), "msgpack")

    short = start_server(shard="B", jwt_key_file=keys.path, max_token_ttl_s=60)
    tenmin = await Client.connect(short, room, "msgpack")
    await tenmin.send({"type": "hello", "token": keys.issue("cat", ttl=600)})
    m = await lc.expect_refused(tenmin, "unauthorized", 4001)
    c = await join_token(short, room, keys.issue("dan", ttl=50), "json")
    await c.send({"type": "refresh", "token": keys.issue("dan", ttl=600)})
    m = await c.recv_reply()
    assert m["type"] == "error" and m["code"] == "unauthorized", m
    await c.ping_pong()

    off = start_server(shard="C", jwt_key_file=keys.path, max_token_ttl_s=0)
    await join_token(off, room, keys.forge(keys.claims("eve", ttl=10**6 * 365 * 86400)), "json")


def test_jwt_skew_above_ten_refused(keys, tmp_path, redis_proc):
    """--jwt-skew is at most 10: the server refuses to start with 11."""
    s = lc.Server(tmp_path / "s", redis_proc.port, shard="A", jwt_key_file=keys.path, jwt_skew=11)
    s.start(wait=None)
    try:
        lc.wait_until(lambda: not s.alive(), lc.scaled(5), what="the server to exit on --jwt-skew 11")
    finally:
        if s.alive():
            s.kill()
    assert s.returncode() != 0, s.current_log()


# ------------------------------------------------------------------ refresh and expiry


async def _expiring(s, keys, room, fmt, user, ttl):
    """A connection whose token expires ttl s from now (whole seconds: exp = the tool's now + ttl)."""
    tok = keys.issue(user, "viewer", room=room, ttl=ttl)
    exp = lc.jwt_claims(tok)[1]["exp"]
    c = await join_token(s, room, tok, fmt)
    return c, exp


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(40)
async def test_refresh_extends_and_expiry_closes(start_server, keys, room, fmt):
    """With --jwt-skew 1 and tokens expiring in 3 s, three connections side by side:
    - `ext` refreshes before exp with a longer token of the same user: stays open well past the
      old exp + skew (no error at all);
    - `bad` sends refreshes that must fail (another user, another key, another room, already
      expired, missing token): each gets `unauthorized`, the connection stays open, and the old
      expiry stands: token_expired + 4003 after exp + skew;
    - `none` never refreshes: open until exp, then token_expired + 4003 within ~1.5 s."""
    skew = 1
    s = start_server(shard="A", jwt_key_file=keys.path, jwt_skew=skew)
    other = lc.Keys(keys.path + ".other")
    ext, exp_e = await _expiring(s, keys, room, fmt, "ext", 3)
    bad, exp_b = await _expiring(s, keys, room, fmt, "bad", 3)
    none, exp_n = await _expiring(s, keys, room, fmt, "none", 3)

    await ext.send({"type": "refresh", "token": keys.issue("ext", "viewer", room=room, ttl=60)})
    await ext.ping_pong()          # no answer to a successful refresh: the next reply is the pong

    for tok in (keys.issue("someone", "viewer", room=room, ttl=60),
                other.issue("bad", "viewer", room=room, ttl=60),
                keys.issue("bad", "viewer", room=room + "x", ttl=60),
                keys.issue("bad", "viewer", room=room, ttl=-30),
                keys.forge(keys.claims("bad", room=room), header={"alg": "none"}, signature=""),
                None):
        await bad.send({"type": "refresh", "token": tok} if tok else {"type": "refresh"})
        m = await bad.recv_reply()
        assert m["type"] == "error" and m.get("code") in (("unauthorized",) if tok else ("unauthorized", "bad_request")), \
            f"bad refresh answered with {m!r:.300}"
    await bad.ping_pong()          # still open

    # `none` is fine until its exp
    while time.time() < exp_n - 0.3:
        await none.ping_pong()
        await asyncio.sleep(0.3)

    t_closed = {}

    async def closed(c, name):
        msgs = await lc.expect_refused(c, "token_expired", 4003, timeout=exp_n + skew - time.time() + lc.scaled(4))
        t_closed[name] = time.time()
        return msgs

    await asyncio.gather(closed(none, "none"), closed(bad, "bad"))
    for name, exp in (("none", exp_n), ("bad", exp_b)):
        assert t_closed[name] >= exp + skew - 0.05, f"{name} closed before exp + skew ({t_closed[name] - exp:.2f} s after exp)"
        assert t_closed[name] <= exp + skew + lc.scaled(2.5), f"{name} closed {t_closed[name] - exp:.2f} s after exp"

    # `ext` is still there well after the old exp + skew
    while time.time() < exp_e + skew + 1.5:
        await asyncio.sleep(0.25)
    await ext.ping_pong()
    errs = [m for m in ext.received if m["type"] == "error"]
    assert not errs, f"the refreshed connection got {errs}"
    await ext.comment("still here")
    m = await ext.wait_comment("still here")
    assert m["user"] == "ext"


@async_test(20)
async def test_refresh_before_hello(start_server, keys, room):
    """refresh before hello: not_ready (the connection stays open)."""
    s = start_server(shard="A", jwt_key_file=keys.path)
    c = await Client.connect(s, room, "json")
    await c.send({"type": "refresh", "token": keys.issue("ann")})
    await c.expect_error("not_ready")
    await c.ping_pong()
    m = await hello_token(c, keys.issue("ann"))
    assert m["type"] == "welcome", m
