"""Resume with hello.since: exact history after an id, `recovered`, never a silent hole."""

import asyncio

import pytest

import lc
from lc import Client, async_test, rkey


async def post(server, room, n, fmt="json", prefix="c"):
    s = await Client.joined(server, room, "poster", fmt)
    for i in range(n):
        await s.comment(f"{prefix}{i}")
    await s.wait_comments(n, timeout=lc.scaled(10))
    await s.close()
    return s.comments


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test()
async def test_since_a_middle_id_gives_exactly_the_comments_after_it_recovered(server, room, fmt):
    all_ = await post(server, room, 30)
    ids = [m["id"] for m in all_]
    c = await Client.connect(server, room, fmt)
    w = await c.hello("back", since=ids[11])
    assert w["recovered"] is True
    assert w["history"] == all_[12:]
    assert w["last"] == ids[-1]


@async_test()
async def test_since_can_return_more_than_50_comments(server, room):
    all_ = await post(server, room, 120)
    c = await Client.connect(server, room, "msgpack")
    w = await c.hello("back", since=all_[4]["id"])
    assert w["recovered"] is True
    assert [h["id"] for h in w["history"]] == [m["id"] for m in all_[5:]]


@async_test()
async def test_since_the_newest_id_gives_empty_history_recovered(server, room):
    all_ = await post(server, room, 5)
    c = await Client.connect(server, room, "json")
    w = await c.hello("back", since=all_[-1]["id"])
    assert w["recovered"] is True
    assert w["history"] == []
    assert w["last"] == all_[-1]["id"]


@async_test()
async def test_since_zero_on_a_room_with_few_comments_gives_all_of_them(server, room):
    all_ = await post(server, room, 7)
    c = await Client.connect(server, room, "json")
    w = await c.hello("back", since="0-0")
    assert w["recovered"] is True
    assert w["history"] == all_


@async_test()
async def test_since_last_of_an_earlier_empty_welcome_misses_nothing(server, room):
    c = await Client.connect(server, room, "json")
    w0 = await c.hello("early")
    assert w0["last"] == "0-0"
    await c.close()
    all_ = await post(server, room, 3)
    d = await Client.connect(server, room, "msgpack")
    w = await d.hello("early", since=w0["last"])
    assert w["recovered"] is True
    assert w["history"] == all_


@async_test()
async def test_resume_after_disconnect_fills_the_hole_and_live_follows_without_overlap(server, room):
    poster = await Client.joined(server, room, "poster", "json")
    v = await Client.joined(server, room, "viewer", "msgpack")
    for i in range(5):
        await poster.comment(f"a{i}")
    await v.wait_comments(5)
    seen = v.comments[-1]["id"]
    await v.close()
    for i in range(8):
        await poster.comment(f"b{i}")
    await poster.wait_comments(13)
    v2 = await Client.connect(server, room, "msgpack")
    w = await v2.hello("viewer", since=seen)
    assert w["recovered"] is True
    assert [h["text"] for h in w["history"]] == [f"b{i}" for i in range(8)]
    await poster.comment("live")
    m = await v2.wait_comment("live")
    await asyncio.sleep(0.3)
    assert [x["text"] for x in v2.comments] == ["live"], "live traffic repeated history or skipped"
    assert lc.cid(m["id"]) > lc.cid(w["history"][-1]["id"])


@async_test()
async def test_since_older_than_a_trimmed_entry_is_not_recovered(server, room, rds):
    all_ = await post(server, room, 50)
    ids = [m["id"] for m in all_]
    # trim the stream as MAXLEN would have: only the newest 10 remain
    rds.xtrim(rkey(room, "chat"), maxlen=10, approximate=False)
    assert rds.xlen(rkey(room, "chat")) == 10
    c = await Client.connect(server, room, "json")
    w = await c.hello("back", since=ids[0])
    assert w["recovered"] is False
    hist = [h["id"] for h in w["history"]]
    assert hist == ids[-10:], "history should be what is left after the since id"
    # a since that is still in the stream is fully recovered
    d = await Client.connect(server, room, "json")
    w = await d.hello("back2", since=ids[42])
    assert w["recovered"] is True
    assert [h["id"] for h in w["history"]] == ids[43:]


HISTORY = 50   # the server refuses --history below 50 (the welcome's 50)


@async_test(timeout=60)
async def test_more_comments_than_history_after_since_is_not_recovered(start_server, room, rds):
    s = start_server(history=HISTORY)
    all_ = await post(s, room, 2 * HISTORY + 20)
    ids = [m["id"] for m in all_]
    c = await Client.connect(s, room, "msgpack")
    w = await c.hello("back", since=ids[0])
    assert w["recovered"] is False
    hist = [h["id"] for h in w["history"]]
    assert 0 < len(hist) <= HISTORY, f"{len(hist)} history entries with --history {HISTORY}"
    # no hole between history and live: history ends at the newest comment
    assert hist == ids[-len(hist):], "history after a lossy resume must end at the room's newest comment"
    assert w["last"] == ids[-1]
    # a plain welcome still carries the last 50
    d = await Client.joined(s, room, "plain", "json")
    assert [h["id"] for h in d.welcome["history"]] == ids[-50:]


@async_test(timeout=60)
async def test_stream_is_capped_near_history(start_server, room, rds):
    s = start_server(history=HISTORY)
    await post(s, room, 400)
    n = rds.xlen(rkey(room, "chat"))
    # MAXLEN ~ trims whole stream nodes (100 entries by default): "near" is within a node or two
    assert HISTORY <= n <= HISTORY + 200, f"stream has {n} entries with --history {HISTORY} after 400 comments"


@pytest.mark.parametrize("since", ["abc", "", "1-2-3", "-1-0", "1.5-0", "x-0", "18446744073709551616-0"])
@async_test()
async def test_malformed_since_gets_bad_request(server, room, since):
    c = await Client.connect(server, room, "json")
    await c.send({"type": "hello", "user": "ann", "since": since})
    m = await c.recv_reply()
    assert m["type"] == "error" and m["code"] == "bad_request", f"since={since!r} -> {m}"


@async_test()
async def test_since_the_largest_possible_id_is_bad_request_and_hello_still_works(server, room):
    """No entry can follow the largest id (Redis refuses that range): a typed refusal, not an
    `unavailable` the client would retry forever."""
    c = await Client.connect(server, room, "json")
    await c.send({"type": "hello", "user": "u", "since": "18446744073709551615-18446744073709551615"})
    m = await c.expect_error("bad_request")
    assert "since" in m["message"], m
    w = await c.hello("u")
    assert w["type"] == "welcome"
