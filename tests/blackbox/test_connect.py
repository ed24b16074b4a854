"""Connecting: URL, room names, subprotocols, the session start (hello / welcome)."""

import json

import msgpack
import pytest
import websockets

import lc
from lc import Client, async_test, connect_status, upgrade_status


# ---------------------------------------------------------------- upgrade refusals


@pytest.mark.parametrize("query", [
    "?room=",                      # empty
    "?room=" + "a" * 65,           # 65 chars
    "?room=a%20b",                 # space
    "?room=a+b",                   # space, form-encoded
    "?room=a/b",                   # slash
    "?room=a%2Fb",                 # slash, encoded
    "?room=a.b",                   # dot is not in [A-Za-z0-9_-]
    "?room=%C3%A9",                # non-ASCII
    "",                            # no query at all
    "?rooms=abc",                  # no room parameter
    "?other=1",
], ids=["empty", "65chars", "space", "plus", "slash", "slash_enc", "dot",
        "non_ascii", "no_query", "wrong_param", "other_param"])
@async_test()
async def test_bad_room_is_refused_with_http_400(server, query):
    status, _ = await connect_status(server.port, "/live" + query)
    assert status == 400, f"/live{query} -> {status}"


@pytest.mark.parametrize("query", ["?room=%00", "?room=ab%00cd"], ids=["nul", "nul_inside"])
def test_room_with_nul_is_refused_before_any_websocket(server, query):
    # libwebsockets' own URI parser rejects a decoded NUL before the server sees the
    # request, closing without a status (PROTOCOL.md says so); never a 101.
    try:
        status, _, _ = upgrade_status(server.port, "/live" + query)
    except AssertionError as e:  # no status line: the connection was closed
        assert "no HTTP status line" in str(e)
        status = None
    assert status in (None, 400)
    assert server.healthz()[0] == 200


@async_test()
async def test_refusal_is_an_http_1_1_status_a_websocket_client_can_read(server):
    _, _, line = upgrade_status(server.port, "/live?room=a%20b")
    assert line.startswith("HTTP/1.1 400")
    with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
        await websockets.connect(f"ws://127.0.0.1:{server.port}/live?room=a.b")
    assert e.value.status_code == 400


@async_test()
async def test_room_of_64_allowed_chars_is_accepted(server):
    room = ("Az09_-" * 11)[:64]
    assert len(room) == 64
    c = await Client.connect(server, room, "json")
    w = await c.hello("ann")
    assert w["room"] == room


@pytest.mark.parametrize("path", ["/", "/foo?room=r1", "/live/x?room=r1", "/livex?room=r1", "/LIVE?room=r1"])
@async_test()
async def test_other_path_is_refused_with_http_404(server, path):
    status, _ = await connect_status(server.port, path)
    assert status == 404, f"{path} -> {status}"


@pytest.mark.parametrize("version", ["8", "12", "abc", None])
def test_a_websocket_version_other_than_13_is_426_naming_13(server, room, version):
    """RFC 6455 4.4: a version the server does not speak gets 426 with the one it does."""
    status, hdrs, _line, _s = lc._upgrade(server.port, f"/live?room={room}", version=version)
    assert status == 426, (version, status)
    assert hdrs.get("sec-websocket-version") == "13", hdrs


@pytest.mark.parametrize("key", ["abc", "dGhlIHNhbXBsZSBub25j!Q==", "AAAAAAAAAAAAAAAAAAAA", "dGhlIHNhbXBsZSBub25jZQAA",
                                 False])
def test_a_malformed_websocket_key_is_400(server, room, key):
    """RFC 6455 4.2.1: the key is the base64 of 16 bytes; anything else is a bad request."""
    status, _hdrs, _line, _s = lc._upgrade(server.port, f"/live?room={room}", key=key)
    assert status == 400, (key, status)
    status, _hdrs, _line, s = lc._upgrade(server.port, f"/live?room={room}", key="dGhlIHNhbXBsZSBub25jZQ==")
    assert status == 101
    s.close()


def test_healthz_is_200_ok_when_redis_is_reachable(server):
    status, body = server.healthz()
    assert status == 200
    lines = body.strip().split("\n")
    assert lines[0] == "ok"
    # without --jwt-key-file the server says loudly that it runs in open mode
    assert "open mode" in body


# ---------------------------------------------------------------- subprotocols


@async_test()
async def test_msgpack_subprotocol_gets_binary_frames(server, room):
    c = await Client.connect(server, room, "msgpack")
    assert c.ws.subprotocol == "livecart.msgpack"
    await c.send({"type": "ping"})
    raw = await c.recv_raw()
    assert isinstance(raw, bytes), f"expected a binary frame, got text {raw!r}"
    assert msgpack.unpackb(raw, raw=False) == {"type": "pong"}


@async_test()
async def test_json_subprotocol_gets_text_frames(server, room):
    c = await Client.connect(server, room, "json")
    assert c.ws.subprotocol == "livecart.json"
    await c.send({"type": "ping"})
    raw = await c.recv_raw()
    assert isinstance(raw, str), f"expected a text frame, got binary {raw!r}"
    assert json.loads(raw) == {"type": "pong"}


@async_test()
async def test_no_subprotocol_means_json_text_frames(server, room):
    c = await Client.connect(server, room, "none")
    assert c.ws.subprotocol is None
    await c.send({"type": "ping"})
    raw = await c.recv_raw()
    assert isinstance(raw, str), f"expected a text frame, got binary {raw!r}"
    assert json.loads(raw) == {"type": "pong"}
    w = await c.hello("ann")
    assert w["room"] == room


@pytest.mark.parametrize("offer", [["chat"], ["livecart.xml"], ["chat", "v2.livecart"]])
@async_test()
async def test_only_unsupported_subprotocols_are_refused_with_http_400(server, room, offer):
    status, _ = await connect_status(server.port, f"/live?room={room}", subprotocols=offer)
    assert status == 400, f"offer {offer} -> {status}"


@pytest.mark.parametrize("offer,expected", [
    (["chat", "livecart.json"], "livecart.json"),
    (["chat", "livecart.msgpack"], "livecart.msgpack"),
])
@async_test()
async def test_supported_subprotocol_is_picked_among_unsupported_ones(server, room, offer, expected):
    status, proto = await connect_status(server.port, f"/live?room={room}", subprotocols=offer)
    assert (status, proto) == (101, expected)


@async_test()
async def test_offering_both_subprotocols_frames_match_the_selected_one(server, room):
    c = await Client.connect(server, room, "json", subprotocols=["livecart.msgpack", "livecart.json"])
    proto = c.ws.subprotocol
    assert proto in ("livecart.msgpack", "livecart.json")
    c.fmt = "msgpack" if proto == "livecart.msgpack" else "json"
    await c.send({"type": "ping"})
    raw = await c.recv_raw()
    assert isinstance(raw, bytes if c.fmt == "msgpack" else str), f"{proto} selected but frame is {type(raw)}"


# ---------------------------------------------------------------- session start


@pytest.mark.parametrize("fmt", lc.FORMATS)
@pytest.mark.parametrize("msg", [
    {"type": "comment", "text": "hi"},
    {"type": "like", "count": 1},
], ids=["comment", "like"])
@async_test()
async def test_message_before_hello_gets_not_ready_and_connection_stays(server, room, fmt, msg):
    c = await Client.connect(server, room, fmt)
    await c.send(msg)
    await c.expect_error("not_ready")
    await c.ping_pong()
    w = await c.hello("ann")
    assert w["viewers"] == 1


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_ping_gets_pong_before_and_after_hello(server, room, fmt):
    c = await Client.connect(server, room, fmt)
    pong = await c.ping_pong()
    assert pong == {"type": "pong"}
    await c.hello("ann")
    pong = await c.ping_pong()
    assert pong == {"type": "pong"}


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_second_hello_gets_bad_request_and_connection_stays(server, room, fmt):
    c = await Client.connect(server, room, fmt)
    await c.hello("ann")
    m = await c.hello_reply("ann")
    assert m["type"] == "error" and m["code"] == "bad_request", m
    await c.ping_pong()
    # still one viewer: the second hello did not join twice
    d = await Client.joined(server, room, "bob", fmt)
    assert d.welcome["viewers"] == 2


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_welcome_fields_on_empty_room(server, room, fmt):
    c = await Client.connect(server, room, fmt)
    w = await c.hello("ann", role="viewer")
    assert w["type"] == "welcome"
    assert w["room"] == room
    assert w["shard"] == server.shard
    assert lc.is_int(w["viewers"]) and w["viewers"] == 1, w
    assert lc.is_int(w["likes"]) and w["likes"] == 0, w
    assert w["last"] == "0-0", w
    assert w["history"] == [], w


@async_test()
async def test_welcome_last_and_history_describe_existing_comments(server, room):
    a = await Client.joined(server, room, "ann", "json")
    await a.comment("one")
    await a.comment("two")
    await a.wait_comments(2)
    b = await Client.connect(server, room, "msgpack")
    w = await b.hello("bob")
    assert [h["text"] for h in w["history"]] == ["one", "two"]
    for h in w["history"]:
        lc.check_comment_shape(h)
        assert h["user"] == "ann"
    assert w["history"] == a.comments
    assert w["last"] == a.comments[-1]["id"]
    assert w["viewers"] == 2


@async_test()
async def test_welcome_viewers_includes_the_new_connection(server, room):
    clients = []
    for i in range(4):
        c = await Client.connect(server, room, lc.FORMATS[i % 2])
        w = await c.hello(f"u{i}")
        assert w["viewers"] == i + 1, f"join #{i + 1}: {w}"
        clients.append(c)


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_streamer_role_is_accepted_and_counted(server, room, fmt):
    s = await Client.connect(server, room, fmt)
    w = await s.hello("shop", role="streamer")
    assert w["viewers"] == 1
    v = await Client.joined(server, room, "ann", fmt)
    assert v.welcome["viewers"] == 2
    await s.comment("welcome all")
    c = await v.wait_comment("welcome all")
    assert c["user"] == "shop"


@pytest.mark.parametrize("fmt", lc.FORMATS)
@pytest.mark.parametrize("hello", [
    {"type": "hello"},                                  # user missing
    {"type": "hello", "user": ""},                      # empty
    {"type": "hello", "user": "u" * 65},                # 65 bytes
    {"type": "hello", "user": "é" * 33},                # 66 bytes, 33 chars
    {"type": "hello", "user": 5},                       # wrong type
    {"type": "hello", "user": None},
    {"type": "hello", "user": ["ann"]},
    {"type": "hello", "user": "a\u0000b"},              # NUL
    {"type": "hello", "user": "ann", "role": "admin"},  # unknown role
    {"type": "hello", "user": "ann", "role": 1},        # role of wrong type
    {"type": "hello", "user": "ann", "since": 5},       # since of wrong type
], ids=["no_user", "empty_user", "user_65", "user_66_bytes_33_chars", "user_int", "user_null",
        "user_list", "user_nul", "role_admin", "role_int", "since_int"])
@async_test()
async def test_invalid_hello_gets_bad_request_and_a_valid_hello_still_works(server, room, fmt, hello):
    c = await Client.connect(server, room, fmt)
    await c.send(hello)
    await c.expect_error("bad_request")
    await c.ping_pong()
    w = await c.hello("ann")
    assert w["viewers"] == 1, "the rejected hello must not have counted as a viewer"


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_user_of_64_bytes_is_accepted(server, room, fmt):
    c = await Client.connect(server, room, fmt)
    user = "é" * 32  # 64 bytes
    await c.hello(user)
    await c.comment("x")
    m = await c.wait_comment("x")
    assert m["user"] == user


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_extra_keys_are_ignored_including_token(server, room, fmt):
    c = await Client.connect(server, room, fmt)
    w = await c.hello("ann", role="viewer", token="t0k3n", extra={"a": 1}, zz=[1, 2])
    assert w["room"] == room
    await c.send({"type": "comment", "text": "hi", "color": "red", "n": 1.5})
    m = await c.wait_comment("hi")
    lc.check_comment_shape(m)
    assert "color" not in m and "n" not in m, f"client keys copied into the broadcast: {m}"
    await c.send({"type": "ping", "x": None})
    r = await c.recv_reply()
    assert r == {"type": "pong"}


def test_help_lists_the_flags_and_exits_0():
    import subprocess
    r = subprocess.run([lc.SERVER_BIN, "--help"], capture_output=True, text=True, timeout=lc.T)
    assert r.returncode == 0, r
    out = r.stdout + r.stderr
    for flag in ("--port", "--bind", "--redis", "--shard", "--tick-ms", "--share-ttl-ms", "--ping-secs",
                 "--history", "--ring-slots", "--ring-bytes", "--max-gaps"):
        assert flag in out, f"--help does not mention {flag}"
