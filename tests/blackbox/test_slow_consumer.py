"""Slow readers: a connection that stops reading never delays the room nor grows the server's
memory; it gets `gap` (then 1008 after --max-gaps gaps)."""

import asyncio
import os
import time

import lc
from lc import Client, async_test

RING_SLOTS = 64
TEXT = "x" * 440          # ~500-byte comment frames: a flood of 1500 is ~750 KB per connection
# The stalled client uses a 4 KB receive buffer and a 1000-byte MSS: the server's kernel then
# buffers only ~100 KB for it, so the flood overruns the ring many times over.


def asan_env():
    # keep AddressSanitizer's free-memory quarantine small so that RSS measures the server's own use
    opts = os.environ.get("ASAN_OPTIONS", "")
    return {"ASAN_OPTIONS": (opts + ":" if opts else "") + "quarantine_size_mb=16:thread_local_quarantine_size_kb=256"}


async def flood(sender, n, tag):
    """Send n comments, pacing on the sender's own echoes (16 in flight) so that fast readers in
    this process keep up; returns the texts sent."""
    base = len(sender.comments)
    texts = []
    for i in range(n):
        t = f"{tag}{i:05d} {TEXT}"
        texts.append(t)
        await sender.comment(t)
        if i % 16 == 15:
            await sender.wait_comments(base + i + 1, timeout=lc.scaled(10))
    await sender.wait_comments(base + n, timeout=lc.scaled(10))
    return texts


def read_slow(ws, until_id, deadline):
    """Read the slow client's backlog until the comment `until_id` (or close / deadline)."""
    ws.set_timeout(0.5)
    out = []
    while time.monotonic() < deadline:
        try:
            m = ws.recv_msg(answer_pings=True)
        except OSError:
            continue
        if m is None:
            break
        out.append(m)
        if m["type"] == "comment" and m["id"] == until_id:
            break
    return out


def check_no_silent_hole(msgs, full_ids):
    """Every comment the slow client got is the successor of the previous one, unless a gap
    message came in between, and each gap names the last comment received before it."""
    pos = {i: k for k, i in enumerate(full_ids)}
    last_seen = None        # id of the last comment received
    gap_since = False
    gaps = []
    got = []
    for m in msgs:
        if m["type"] == "gap":
            expect = last_seen or "0-0"
            assert m["last"] == expect, f"gap.last {m['last']} but the last comment received was {expect}"
            gaps.append(m)
            gap_since = True
        elif m["type"] == "comment":
            lc.check_comment_shape(m)
            assert m["id"] in pos, f"unknown comment {m['id']}"
            if last_seen is not None:
                assert lc.cid(m["id"]) > lc.cid(last_seen), f"out of order: {last_seen} then {m['id']}"
                if not gap_since:
                    assert pos[m["id"]] == pos[last_seen] + 1, \
                        f"silent hole: {last_seen} then {m['id']} without a gap message"
            elif not gap_since:
                assert pos[m["id"]] == 0, f"first comment {m['id']} is not the first of the room, and no gap"
            last_seen = m["id"]
            got.append(m["id"])
            gap_since = False
    return gaps, got


@async_test(timeout=150)
async def test_stalled_reader_gets_gap_while_fast_readers_get_everything_and_memory_stays_bounded(start_server, room):
    s = start_server(ring_slots=RING_SLOTS, max_gaps=100, history=2000, env=asan_env())
    F = await Client.joined(s, room, "flood", "json")
    fast = [await Client.joined(s, room, "fast1", "msgpack"), await Client.joined(s, room, "fast2", "json")]
    slow = lc.RawWS(s.port, room, "json", rcvbuf=4096, mss=1000)
    slow.send({"type": "hello", "user": "slow"})
    for c in [F] + fast:
        await c.wait_viewers(4, timeout=lc.scaled(5))
    await F.like(3)
    await F.wait_likes(3)
    await asyncio.sleep(0.3)
    rss0 = s.rss_kb()

    n = 1500
    t0 = time.monotonic()
    texts = await flood(F, n, "a")
    for c in fast:
        await c.wait_comments(n, timeout=lc.scaled(15))
    flood_secs = time.monotonic() - t0
    rss1 = s.rss_kb()

    full = [m["id"] for m in F.comments]
    assert [m["text"] for m in F.comments] == texts
    lc.assert_strictly_increasing(full)
    for c in fast:
        assert [m["id"] for m in c.comments] == full, f"a fast {c.fmt} reader missed or reordered comments"
        assert not [m for m in c.received if m["type"] == "gap"], "a fast reader got a gap"
        assert c.is_open

    print(f"flood of {n} in {flood_secs:.1f}s; RSS {rss0 // 1024} MB -> {rss1 // 1024} MB")
    assert rss1 < 200 * 1024, f"server RSS {rss1 // 1024} MB"
    assert rss1 - rss0 < 64 * 1024, f"server RSS grew by {(rss1 - rss0) // 1024} MB during the flood"

    # now the slow client reads its backlog
    msgs = await asyncio.to_thread(read_slow, slow, full[-1], time.monotonic() + lc.scaled(20))
    assert not slow.closed, f"slow client closed ({slow.close_code}) though --max-gaps is 100"
    assert msgs and msgs[0]["type"] == "welcome", msgs[:2]
    gaps, got = check_no_silent_hole(msgs, full)
    assert gaps, f"{len([m for m in msgs if m['type'] == 'comment'])} comments, no gap message though the ring ({RING_SLOTS} slots) was overrun {n // RING_SLOTS} times"
    tail = [(m["type"], m.get("id") or m.get("last") or m.get("count") or m.get("total")) for m in msgs[-6:]]
    if not got or got[-1] != full[-1]:   # diagnose: does new traffic get through at all?
        await F.comment("probe")
        probe = await F.wait_comment("probe")
        more = await asyncio.to_thread(read_slow, slow, probe["id"], time.monotonic() + lc.scaled(5))
        tail.append(f"then a new comment: {'received' if more and more[-1].get('id') == probe['id'] else 'NOT received'}"
                    f" ({len(more)} messages)")
    assert got and got[-1] == full[-1], \
        (f"the slow client did not catch up with the newest comment {full[-1]} within 20 s: "
         f"{len(got)} comments, {len(gaps)} gaps, last messages {tail}")
    assert len(got) < n, "the slow client received every comment: it was not slow (test did not stall it)"
    after_gap = msgs[msgs.index(gaps[-1]) + 1:]
    assert any(m["type"] == "likes" and m["total"] == 3 for m in after_gap), \
        "after a gap the connection should get the current likes total"
    assert any(m["type"] == "viewers" and m["count"] == 4 for m in after_gap), \
        "after a gap the connection should get the current viewer count"

    # the gap tells it where to resume: a reconnect with since = gap.last fills the hole exactly
    first_gap = gaps[0]["last"]
    r = await Client.connect(s, room, "msgpack")
    w = await r.hello("slow-again", since=first_gap)
    assert w.get("recovered") is True, w.get("recovered")
    start = 0 if first_gap == "0-0" else full.index(first_gap) + 1
    assert [h["id"] for h in w["history"]] == full[start:]

    print(f"slow client got {len(got)} comments and {len(gaps)} gap(s)")
    assert s.alive()
    slow.close()


def read_some(ws, count, seconds):
    """Read up to `count` messages (or for `seconds`): frees some socket buffer so that the server
    can write to the connection again, without catching up."""
    ws.set_timeout(0.3)
    out = []
    end = time.monotonic() + seconds
    while len(out) < count and time.monotonic() < end:
        try:
            m = ws.recv_msg(answer_pings=True)
        except OSError:
            continue
        if m is None:
            break
        out.append(m)
    return out


def read_all(ws, seconds):
    ws.set_timeout(0.5)
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            m = ws.recv_msg(answer_pings=True)
        except OSError:
            continue
        if m is None:
            break
        out.append(m)
    return out


@async_test(timeout=180)
async def test_reader_that_keeps_falling_behind_is_closed_with_1008_after_max_gaps(start_server, room):
    max_gaps = 2
    s = start_server(ring_slots=RING_SLOTS, max_gaps=max_gaps, env=asan_env())
    F = await Client.joined(s, room, "flood", "json")
    fast = await Client.joined(s, room, "fast", "msgpack")
    slow = lc.RawWS(s.port, room, "msgpack", rcvbuf=4096, mss=1000)
    slow.send({"type": "hello", "user": "slow"})
    await F.wait_viewers(3, timeout=lc.scaled(5))
    msgs = []
    # Each round: the slow client stalls through a flood far bigger than the ring plus the
    # kernel's buffers, then reads a little, so that the server can write to it again and
    # finds it overrun: one gap per round.  After --max-gaps gaps: 1008 instead.
    for rounds in range(1, max_gaps + 4):
        await flood(F, 1000, f"r{rounds}-")
        msgs += await asyncio.to_thread(read_some, slow, 100, 1.0)
        if slow.closed:
            break
    msgs += await asyncio.to_thread(read_all, slow, lc.scaled(10))
    gaps = [m for m in msgs if m["type"] == "gap"]
    assert slow.closed, f"still connected after {rounds} overruns; got {len(gaps)} gaps"
    assert slow.close_code == 1008, f"closed with {slow.close_code} ({slow.end})"
    assert 1 <= len(gaps) <= max_gaps, f"{len(gaps)} gap messages before the close, --max-gaps {max_gaps}"
    print(f"closed with 1008 after {rounds} rounds and {len(gaps)} gap messages")
    check_no_silent_hole(msgs, [m["id"] for m in F.comments])
    # the others were not disturbed
    await fast.wait_comments(len(F.comments), timeout=lc.scaled(10))
    assert [m["id"] for m in fast.comments] == [m["id"] for m in F.comments]
    await fast.wait_viewers(2, timeout=lc.scaled(5))
    slow.close()
