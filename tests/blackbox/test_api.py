"""The publish API: POST /api/rooms/ROOM/messages and GET /api/rooms/ROOM, Bearer key, errors."""

import http.client
import json
import re
import signal
import socket
import time

import pytest

import lc
from lc import Client, async_test

KEY = "test-api-key-0123456789"


def call(port, method, path, body=None, key=KEY, headers=None, raw=None):
    """-> (status, parsed JSON or raw bytes, headers)."""
    conn = http.client.HTTPConnection(lc.HOST, port, timeout=lc.T)
    try:
        h = dict(headers or {})
        if key is not None:
            h["Authorization"] = f"Bearer {key}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        b = r.read()
        try:
            b = json.loads(b)
        except ValueError:
            pass
        return r.status, b, {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


@pytest.fixture
def api(start_server):
    return start_server(env={"LIVECART_API_KEY": KEY})


@pytest.fixture
def api_file_server(start_server, tmp_path):
    p = tmp_path / "api.key"
    p.write_text("file-key-987\n")
    return start_server(api_key_file=str(p))


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_announce_and_product_reach_the_room_in_the_comment_order(api, room, fmt):
    v = await Client.joined(api, room, "v1", fmt)
    await v.comment("first")
    await v.wait_comment("first")
    st, b, _ = call(api.port, "POST", f"/api/rooms/{room}/messages", {"type": "announce", "text": "Sale at 8!"})
    assert st == 202 and isinstance(b["id"], str)
    await v.comment("third")
    st2, b2, _ = call(api.port, "POST", f"/api/rooms/{room}/messages",
                      {"type": "product", "sku": "MUG-1", "title": "Mug ☕", "price": 1299})
    assert st2 == 202
    await v.wait_for(lambda m: m["type"] == "product")
    got = [m for m in v.received if m["type"] in ("comment", "announce", "product")]
    assert [m["type"] for m in got] == ["comment", "announce", "comment", "product"]
    assert got[1] == {"type": "announce", "id": b["id"], "text": "Sale at 8!", "ts": lc.cid(b["id"])[0]}
    assert got[3] == {"type": "product", "id": b2["id"], "sku": "MUG-1", "title": "Mug ☕", "price": 1299,
                      "ts": lc.cid(b2["id"])[0]}
    lc.assert_strictly_increasing([m["id"] for m in got])


@async_test()
async def test_posted_messages_are_in_the_history_and_in_a_resume(api, room):
    call(api.port, "POST", f"/api/rooms/{room}/messages", {"type": "announce", "text": "a1"})
    c = await Client.connect(api, room)
    w = await c.hello("late")
    assert [h["type"] for h in w["history"]] == ["announce"]
    since = w["last"]
    st, b, _ = call(api.port, "POST", f"/api/rooms/{room}/messages",
                    {"type": "product", "sku": "S1", "title": "T", "price": 0})
    assert st == 202
    c2 = await Client.connect(api, room, "msgpack")
    w2 = await c2.hello("back", since=since)
    assert w2["recovered"] is True
    assert [(h["type"], h["id"]) for h in w2["history"]] == [("product", b["id"])]


@async_test()
async def test_a_post_through_one_shard_reaches_viewers_of_another(api, start_server, room):
    other = start_server()   # no key: its API is off, but it still relays the room
    v = await Client.joined(other, room, "v")
    st, b, _ = call(api.port, "POST", f"/api/rooms/{room}/messages", {"type": "announce", "text": "x"})
    assert st == 202
    m = await v.wait_for(lambda m: m["type"] == "announce")
    assert m["id"] == b["id"]
    assert call(other.port, "POST", f"/api/rooms/{room}/messages", {"type": "announce", "text": "x"})[0] == 404


@async_test()
async def test_room_state_lists_viewers_likes_last_and_open_sales(api, room):
    s = await Client.joined(api, room, "boss", role="streamer")
    v = await Client.joined(api, room, "v")
    await v.like(7)
    await v.wait_likes(7)
    await s.send({"type": "sale_open", "sku": "K1", "title": "Kettle", "price": 2500, "stock": 9, "limit": 2})
    await v.wait_for(lambda m: m["type"] == "sale")
    st, b, _ = call(api.port, "POST", f"/api/rooms/{room}/messages", {"type": "announce", "text": "hi"})
    st, state, h = call(api.port, "GET", f"/api/rooms/{room}")
    assert st == 200 and h["content-type"].startswith("application/json")
    await lc.async_wait_until(lambda: call(api.port, "GET", f"/api/rooms/{room}")[1]["viewers"] == 2,
                              lc.scaled(3), what="viewers 2")
    state = call(api.port, "GET", f"/api/rooms/{room}")[1]
    assert state["room"] == room and state["likes"] == 7 and state["last"] == b["id"]
    assert state["sales"] == [{"kind": "sale", "sku": "K1", "title": "Kettle", "price": 2500, "stock": 9,
                               "limit": 2, "total": 9}]


def test_an_unknown_room_is_empty_not_an_error(api):
    st, b, _ = call(api.port, "GET", f"/api/rooms/{lc.uniq('nobody_')}")
    assert st == 200 and b["viewers"] == 0 and b["likes"] == 0 and b["last"] == "0-0" and b["sales"] == []


@pytest.mark.parametrize("key", [None, "", "wrong", KEY + "x", KEY[:-1]])
def test_a_missing_or_wrong_key_is_401(api, room, key):
    for method, path, body in (("POST", f"/api/rooms/{room}/messages", {"type": "announce", "text": "no"}),
                               ("GET", f"/api/rooms/{room}", None)):
        st, b, h = call(api.port, method, path, body, key=key)
        assert st == 401, (method, key)
        assert h["www-authenticate"].startswith("Bearer")
    # nothing was written
    assert call(api.port, "GET", f"/api/rooms/{room}")[1]["last"] == "0-0"


def test_the_key_can_come_from_a_file(api_file_server, room):
    assert call(api_file_server.port, "GET", f"/api/rooms/{room}", key="file-key-987")[0] == 200
    assert call(api_file_server.port, "GET", f"/api/rooms/{room}", key=KEY)[0] == 401


def test_without_a_key_the_api_does_not_exist(server, room):
    assert call(server.port, "GET", f"/api/rooms/{room}")[0] == 404
    assert call(server.port, "POST", f"/api/rooms/{room}/messages", {"type": "announce", "text": "x"})[0] == 404


BAD_BODIES = [
    b"", b"not json", b"[1,2]", b'"announce"', b"{}",
    b'{"type":"comment","text":"x"}',
    b'{"type":"announce"}', b'{"type":"announce","text":""}', b'{"type":"announce","text":5}',
    b'{"type":"announce","text":"' + b"a" * 501 + b'"}',
    b'{"type":"announce","text":"bad \\ud800 surrogate"}',
    b'{"type":"announce","text":"nul \\u0000 inside"}',
    b'{"type":"announce","text":"x","text":"dup"}',
    b'{"type":"announce","text":"\xff\xfe"}',
    b'{"type":"product","sku":"bad sku","title":"t","price":1}',
    b'{"type":"product","sku":"A","title":"","price":1}',
    b'{"type":"product","sku":"A","title":"t","price":-1}',
    b'{"type":"product","sku":"A","title":"t","price":1.5}',
    b'{"type":"product","sku":"A","title":"t","price":"1"}',
    b'{"type":"product","sku":"A","title":"t"}',
]


def test_bad_bodies_are_400_and_write_nothing(api, room):
    for raw in BAD_BODIES:
        st, b, _ = call(api.port, "POST", f"/api/rooms/{room}/messages", raw=raw)
        assert st == 400, raw
        assert b["error"] == "bad_request" and b["message"], raw
    assert call(api.port, "GET", f"/api/rooms/{room}")[1]["last"] == "0-0"
    assert api.healthz()[0] == 200


def test_a_body_over_4_kib_is_413_and_closes(api, room):
    text = "a" * 4200
    st, b, h = call(api.port, "POST", f"/api/rooms/{room}/messages", {"type": "announce", "text": text})
    assert st == 413 and b["error"] == "too_large"
    assert h.get("connection", "").lower() != "keep-alive"
    # a huge declared length is refused at once
    with socket.create_connection((lc.HOST, api.port), timeout=lc.T) as s:
        s.sendall(f"POST /api/rooms/{room}/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                  f"Content-Length: 999999999\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"HTTP/1.1 413")
    assert call(api.port, "GET", f"/api/rooms/{room}")[1]["last"] == "0-0"


def test_unknown_paths_and_methods(api, room):
    assert call(api.port, "GET", "/api/nothing")[0] == 404
    assert call(api.port, "GET", f"/api/rooms/{room}/other")[0] == 404
    assert call(api.port, "GET", "/api/rooms/bad%20room")[0] == 404
    assert call(api.port, "GET", f"/api/rooms/{'r' * 65}")[0] == 404
    st, _, h = call(api.port, "GET", f"/api/rooms/{room}/messages")
    assert st == 405 and h["allow"] == "POST"
    st, _, h = call(api.port, "POST", f"/api/rooms/{room}", {"type": "announce", "text": "x"})
    assert st == 405 and h["allow"] == "GET"


def test_every_answer_closes_its_connection(api, room):
    """No HTTP keep-alive: lws 4.1.6 spins on a pipelined request with a body (see http.h)."""
    st, _, h = call(api.port, "GET", f"/api/rooms/{room}")
    assert st == 200 and h["connection"] == "close"
    conn = http.client.HTTPConnection(lc.HOST, api.port, timeout=lc.T)
    try:
        for i in range(3):   # http.client opens a new connection after each close
            conn.request("POST", f"/api/rooms/{room}/messages", body=json.dumps({"type": "announce", "text": f"k{i}"}),
                         headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
            r = conn.getresponse()
            assert r.status == 202 and r.getheader("connection") == "close"
            r.read()
    finally:
        conn.close()


def raw_exchange(port, data, timeout=None):
    with socket.create_connection((lc.HOST, port), timeout=timeout or lc.T) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def test_a_pipelined_request_with_a_body_does_not_hang_the_shard(api, room):
    body = json.dumps({"type": "announce", "text": "piped"}).encode()
    out = raw_exchange(api.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"POST /api/rooms/" + room.encode() + b"/messages HTTP/1.1\r\nHost: x\r\n"
                       b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: "
                       + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert out.startswith(b"HTTP/1.1 200")
    for _ in range(3):
        assert api.healthz()[0] == 200


def post_bytes(room, body, extra_headers=b"", length=True):
    """The bytes of one POST /api/rooms/ROOM/messages with body (bytes)."""
    head = (b"POST /api/rooms/" + room.encode() + b"/messages HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Type: application/json\r\n" + extra_headers)
    if length:
        head += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
    return head + b"\r\n" + body


def responses(out):
    """The status codes of every HTTP response in out."""
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", out)]


def posted(rds, room):
    return [f.get("t") for _i, f in rds.xrange(lc.rkey(room, "chat"))]


def test_a_post_followed_by_a_stray_crlf_is_answered(api, room, rds):
    """Hand-written clients often end a body with CRLF: the post is answered (it used to be
    posted and the connection closed without an answer, so a retry posted it twice)."""
    body = json.dumps({"type": "announce", "text": "crlf"}).encode()
    out = raw_exchange(api.port, post_bytes(room, body) + b"\r\n")
    assert responses(out) == [202], out[:300]
    assert json.loads(out.partition(b"\r\n\r\n")[2])["id"]
    assert posted(rds, room) == ["crlf"]


def test_pipelined_posts_get_one_answer_and_nothing_is_posted_without_its_answer(api, room, rds):
    """One request per connection (PROTOCOL.md): the first of three pipelined posts is posted and
    answered, the bytes after its body are discarded with the connection -- never posted."""
    data = b"".join(post_bytes(room, json.dumps({"type": "announce", "text": f"p{i}"}).encode()) for i in range(3))
    out = raw_exchange(api.port, data)
    assert responses(out) == [202], out[:400]
    assert posted(rds, room) == ["p0"]
    for _ in range(3):
        assert api.healthz()[0] == 200


def test_a_post_whose_client_half_closes_after_the_body_is_answered(api, room, rds):
    """curl-style: the body, then the client's FIN while Redis works: still answered."""
    body = json.dumps({"type": "announce", "text": "fin"}).encode()
    with socket.create_connection((lc.HOST, api.port), timeout=lc.T) as sk:
        sk.sendall(post_bytes(room, body))
        sk.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sk.recv(65536):
            out += chunk
    assert responses(out) == [202], out[:300]
    assert posted(rds, room) == ["fin"]


def chunked(body, sizes):
    """body (bytes) in chunks of the given sizes (the rest in a last one), chunked framing."""
    out, i = b"", 0
    for n in list(sizes) + [len(body)]:
        part = body[i:i + n]
        i += len(part)
        if part:
            out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


def test_a_chunked_post_is_accepted(api, room, rds):
    """Transfer-Encoding: chunked, as Node's http.request sends a body without a length."""
    body = json.dumps({"type": "announce", "text": "chunky"}).encode()
    out = raw_exchange(api.port, post_bytes(room, chunked(body, [3, 10, 1]), b"Transfer-Encoding: chunked\r\n",
                                            length=False))
    assert responses(out) == [202], out[:300]
    assert posted(rds, room) == ["chunky"]
    # with a key: a retry is exact, as with Content-Length
    h = b"Transfer-Encoding: chunked\r\nIdempotency-Key: ch-1\r\n"
    first = raw_exchange(api.port, post_bytes(room, chunked(body, [5]), h, length=False))
    again = raw_exchange(api.port, post_bytes(room, chunked(body, [7]), h, length=False))
    assert responses(first) == responses(again) == [202]
    assert json.loads(again.partition(b"\r\n\r\n")[2])["replayed"] is True
    assert posted(rds, room) == ["chunky", "chunky"]


def test_bad_chunking_is_400_and_posts_nothing(api, room, rds):
    body = json.dumps({"type": "announce", "text": "nope"}).encode()
    cases = [
        post_bytes(room, b"zz\r\n" + body + b"\r\n0\r\n\r\n", b"Transfer-Encoding: chunked\r\n", length=False),
        post_bytes(room, chunked(body, []), b"Transfer-Encoding: gzip\r\n", length=False),
        # both framings at once: request smuggling territory (RFC 9112 6.1)
        post_bytes(room, chunked(body, []), b"Transfer-Encoding: chunked\r\n"),
    ]
    for data in cases:
        out = raw_exchange(api.port, data)
        assert responses(out) == [400], out[:300]
    assert posted(rds, room) == []
    big = chunked(b'{"type":"announce","text":"' + b"x" * 5000 + b'"}', [1000] * 5)
    out = raw_exchange(api.port, post_bytes(room, big, b"Transfer-Encoding: chunked\r\n", length=False))
    assert responses(out) == [413], out[:300]
    assert posted(rds, room) == []


def test_a_get_with_a_body_is_closed_without_posting(api, room):
    body = json.dumps({"type": "announce", "text": "sneaky"}).encode()
    raw_exchange(api.port, b"GET /api/rooms/" + room.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                 + KEY.encode() + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert api.healthz()[0] == 200
    assert call(api.port, "GET", f"/api/rooms/{room}")[1]["last"] == "0-0"


def test_head_answers_carry_no_body(api):
    for path in ("/healthz", "/metrics"):
        out = raw_exchange(api.port, f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head, _, rest = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and rest == b"", (path, out[:200])


def test_redis_down_is_503(start_server, own_redis, room):
    s = start_server(redis_port=own_redis.port, env={"LIVECART_API_KEY": KEY})
    own_redis.stop()
    lc.wait_until(lambda: s.healthz()[0] == 503, lc.scaled(5), what="healthz 503")
    assert call(s.port, "POST", f"/api/rooms/{room}/messages", {"type": "announce", "text": "x"})[0] == 503
    assert call(s.port, "GET", f"/api/rooms/{room}")[0] == 503
    own_redis.start()
    lc.wait_until(lambda: s.healthz()[0] == 200, lc.scaled(10), what="healthz 200")
    assert call(s.port, "POST", f"/api/rooms/{room}/messages", {"type": "announce", "text": "x"})[0] == 202


def test_api_answers_are_counted_in_metrics(api, room):
    call(api.port, "GET", f"/api/rooms/{room}")
    call(api.port, "GET", f"/api/rooms/{room}", key="no")
    st, body = lc.http_get(api.port, "/metrics")
    text = body.decode()
    assert 'livecart_api_requests_total{status="2xx"} 1' in text
    assert 'livecart_api_requests_total{status="401"} 1' in text


def test_a_post_whose_redis_reply_is_lost_is_504_not_503(start_server, own_redis, room):
    """503 means "nothing was written, retry" (a load balancer may retry it); when the command was
    sent and its reply lost, the message may be written: 504, so that nobody retries blindly."""
    s = start_server(redis_port=own_redis.port, redis_timeout_ms=500, env={"LIVECART_API_KEY": KEY})
    own_redis.client().execute_command("CLIENT", "PAUSE", "3000", "ALL")
    st, b, _ = call(s.port, "POST", f"/api/rooms/{room}/messages", {"type": "announce", "text": "maybe"})
    assert st == 504 and b["error"] == "unknown"
    lc.wait_until(lambda: s.healthz()[0] == 200, lc.scaled(10), what="healthz back")


def test_sigterm_answers_an_api_request_still_waiting_for_redis(start_server, own_redis, room):
    s = start_server(redis_port=own_redis.port, env={"LIVECART_API_KEY": KEY}, drain_ms=3000)
    own_redis.client().execute_command("CLIENT", "PAUSE", "1000", "WRITE")
    import threading
    res = {}
    t = threading.Thread(target=lambda: res.update(r=call(s.port, "POST", f"/api/rooms/{room}/messages",
                                                              {"type": "announce", "text": "late"})))
    t.start()
    time.sleep(0.3)
    s.expected_exit = True
    s.send_signal(signal.SIGTERM)
    t.join(lc.scaled(10))
    assert res["r"][0] == 202
    assert s.proc.wait(lc.scaled(10)) == 0


def test_an_idempotency_key_makes_a_retry_return_the_first_id_and_post_nothing(api, room, rds):
    body = {"type": "announce", "text": "once only"}
    h = {"Idempotency-Key": "order-42:announce"}
    st1, b1, _ = call(api.port, "POST", f"/api/rooms/{room}/messages", body, headers=h)
    st2, b2, _ = call(api.port, "POST", f"/api/rooms/{room}/messages", body, headers=h)
    assert st1 == 202 and "replayed" not in b1
    assert st2 == 202 and b2 == {"id": b1["id"], "replayed": True}
    assert [i for i, _f in rds.xrange(lc.rkey(room, "chat"))] == [b1["id"]]
    # the same key with another body is refused; another key posts
    st3, b3, _ = call(api.port, "POST", f"/api/rooms/{room}/messages", {"type": "announce", "text": "other"},
                      headers=h)
    assert st3 == 422 and b3["error"] == "key_reused"
    st4, b4, _ = call(api.port, "POST", f"/api/rooms/{room}/messages", body, headers={"Idempotency-Key": "k2"})
    assert st4 == 202 and b4["id"] != b1["id"]
    assert rds.ttl(lc.rkey(room, "posts")) > 0


@pytest.mark.parametrize("key", ["", "x" * 65, "has space", "tab\tkey", "é"])
def test_a_malformed_idempotency_key_is_400(api, room, key):
    conn = http.client.HTTPConnection(lc.HOST, api.port, timeout=lc.T)
    try:
        conn.putrequest("POST", f"/api/rooms/{room}/messages")
        body = json.dumps({"type": "announce", "text": "x"}).encode()
        for k, v in (("Authorization", f"Bearer {KEY}"), ("Content-Length", str(len(body))),
                     ("Idempotency-Key", key.encode("utf-8"))):
            conn.putheader(k, v)
        conn.endheaders(body)
        r = conn.getresponse()
        assert r.status == 400, (key, r.read())
    finally:
        conn.close()
    assert call(api.port, "GET", f"/api/rooms/{room}")[1]["last"] == "0-0"


def test_a_504_retried_with_its_key_ends_with_exactly_one_post(start_server, own_redis, room):
    s = start_server(redis_port=own_redis.port, redis_timeout_ms=500, env={"LIVECART_API_KEY": KEY})
    r = own_redis.client()
    r.execute_command("CLIENT", "PAUSE", "1500", "ALL")
    h = {"Idempotency-Key": "retry-me"}
    body = {"type": "announce", "text": "after a lost answer"}
    assert call(s.port, "POST", f"/api/rooms/{room}/messages", body, headers=h)[0] == 504
    lc.wait_until(lambda: s.healthz()[0] == 200, lc.scaled(10), what="redis back")
    st, b, _ = call(s.port, "POST", f"/api/rooms/{room}/messages", body, headers=h)
    assert st == 202
    entries = r.xrange(lc.rkey(room, "chat"))
    assert [i for i, _f in entries] == [b["id"]]
