"""Readers that never read: while the room floods, the kernel holds at most about 2 x --sndbuf for
each (Linux doubles SO_SNDBUF for its bookkeeping); once a socket has taken no bytes for
--write-timeout-ms it is cut hard (RST, no close frame: a close frame could not be delivered
either), counted in livecart_write_timeouts_total, and its memory freed. The publisher and a
healthy reader in the same room get every comment (PROTOCOL.md, "Slow and stuck readers")."""

import asyncio
import time

import lc
from lc import Client, async_test

N_STUCK = 10
N_COMMENTS = 6000
SNDBUF = 65536            # the server's default --sndbuf
WRITE_TIMEOUT_MS = 4000   # shorter than the default 10 s, to keep the test short
FLOOD = {"comment_rate": 100000, "comment_burst": 100000, "write_timeout_ms": WRITE_TIMEOUT_MS}


def tx_queues(server_port, client_ports):
    """{client port: bytes the server's kernel still holds for it} from /proc/net/tcp."""
    out = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local, remote, queues = parts[1], parts[2], parts[4]
            lport, rport = int(local.split(":")[1], 16), int(remote.split(":")[1], 16)
            if lport == server_port and rport in client_ports:
                out[rport] = int(queues.split(":")[0], 16)
    return out


async def flood(sender, n, start, text):
    """Send n comments, pacing on the sender's own echoes (32 in flight)."""
    base = len(sender.comments)
    for i in range(n):
        await sender.comment(f"{start + i:05d} {text}")
        if i % 32 == 31:
            await sender.wait_comments(base + i + 1, timeout=lc.scaled(20))
    await sender.wait_comments(base + n, timeout=lc.scaled(20))


@async_test(timeout=180)
async def test_readers_that_never_read_are_cut_after_the_write_timeout_and_the_room_gets_everything(
        start_server, room):
    s = start_server(**FLOOD)
    healthy = await Client.joined(s, room, "healthy", "json")
    pub = await Client.joined(s, room, "pub", "msgpack")
    stuck = []
    for i in range(N_STUCK):
        w = lc.RawWS(s.port, room, lc.FORMATS[i % 2], rcvbuf=4096)
        w.send({"type": "hello", "user": f"stuck{i}"})
        stuck.append(w)
    await healthy.wait_viewers(N_STUCK + 2, timeout=lc.scaled(10))
    ports = {w.sock.getsockname()[1] for w in stuck}
    text = "x" * 474   # 480-byte comment texts

    await flood(pub, 1000, 0, text)
    # stuck now: each holds what its kernel buffer takes, bounded by the SO_SNDBUF cap
    held = tx_queues(s.port, ports)
    assert len(held) == N_STUCK, held
    assert all(q <= 2 * SNDBUF for q in held.values()), f"kernel queues over 2 x --sndbuf: {held}"
    assert sum(held.values()) > N_STUCK * 8192, f"the stuck readers were not stuck: {held}"

    await flood(pub, N_COMMENTS - 1000, 1000, text)
    stopped = time.monotonic()
    got = await healthy.wait_comments(N_COMMENTS, timeout=lc.scaled(30))
    assert [m["text"][:5] for m in got[:N_COMMENTS]] == [f"{i:05d}" for i in range(N_COMMENTS)]
    assert [m["text"][:5] for m in pub.comments[:N_COMMENTS]] == [f"{i:05d}" for i in range(N_COMMENTS)]

    # every stuck reader is cut within the write timeout (+ the 1 s sweep) after publishing stopped
    limit = WRITE_TIMEOUT_MS / 1000 + 1 + lc.scaled(3)
    await lc.async_wait_until(lambda: lc.metrics(s.port)["livecart_write_timeouts_total"] == N_STUCK,
                              limit - (time.monotonic() - stopped) + 1, what="10 write timeouts")
    await lc.async_wait_until(lambda: lc.metrics(s.port)["livecart_connections"] == 2, lc.scaled(3),
                              what="only the publisher and the healthy reader left")
    assert time.monotonic() - stopped <= limit
    assert tx_queues(s.port, ports) == {}, "the kernel still holds sockets of the cut readers"
    assert lc.metrics(s.port)["livecart_ping_timeouts_total"] == 0
    # cut hard: whatever a stuck reader reads now ends in a reset or an EOF, never a close frame
    for w in stuck:
        w.set_timeout(lc.scaled(5))
        while w.recv_msg() is not None:
            pass
        assert w.end in ("connection reset", "eof without close frame"), w.end
        w.close()
    # the room goes on for those who read
    await healthy.wait_viewers(2, timeout=lc.scaled(10))
    await pub.comment("after")
    await healthy.wait_comment("after")


@async_test(timeout=120)
async def test_a_reader_that_stalls_shorter_than_the_write_timeout_keeps_its_connection(start_server, room):
    """A phone that stops reading for a moment (under the timeout) and then reads is not cut: it
    gets every comment, or a `gap` where the ring lapped it."""
    s = start_server(**FLOOD)
    pub = await Client.joined(s, room, "pub", "msgpack")
    slow = lc.RawWS(s.port, room, "json", rcvbuf=4096)
    slow.send({"type": "hello", "user": "slow"})
    slow.set_timeout(lc.scaled(5))
    assert slow.recv_msg()["type"] == "welcome"
    await flood(pub, 600, 0, "y" * 470)
    await asyncio.sleep(WRITE_TIMEOUT_MS / 1000 / 2)     # stalled, but not for long
    slow.set_timeout(0.5)
    deadline = time.monotonic() + lc.scaled(20)
    seen = []
    while time.monotonic() < deadline:
        try:
            m = slow.recv_msg(answer_pings=True)
        except OSError:
            continue
        assert m is not None, f"the slow reader was closed ({slow.end})"
        seen.append(m)
        if m["type"] == "comment" and m["text"].startswith("00599"):
            break
    assert seen and seen[-1]["type"] == "comment" and seen[-1]["text"].startswith("00599"), seen[-3:]
    assert lc.metrics(s.port)["livecart_write_timeouts_total"] == 0
    slow.close()


@async_test(timeout=90)
async def test_a_stuck_reader_in_a_room_gone_quiet_is_cut_on_time(start_server, room):
    """Once the room is quiet nothing else wakes the shard: the cut must still come after
    --write-timeout-ms (+ the 1 s sweep), not whenever the network library next looks."""
    s = start_server(**FLOOD)
    pub = await Client.joined(s, room, "pub", "msgpack")
    w = lc.RawWS(s.port, room, "json", rcvbuf=4096)
    w.send({"type": "hello", "user": "stuck"})
    await pub.wait_viewers(2, timeout=lc.scaled(10))
    await flood(pub, 600, 0, "z" * 474)     # ~320 KB: more than the kernel and lws take for it
    await pub.close()                        # nobody else on the shard
    stalled = time.monotonic()
    # watched from the kernel's side only: a request to the shard would wake it up
    port = {w.sock.getsockname()[1]}
    await lc.async_wait_until(lambda: tx_queues(s.port, port) == {}, WRITE_TIMEOUT_MS / 1000 + 1 + lc.scaled(4),
                              interval=0.1, what="the stuck reader's socket gone")
    assert time.monotonic() - stalled <= WRITE_TIMEOUT_MS / 1000 + 1 + lc.scaled(4)
    assert lc.metrics(s.port)["livecart_write_timeouts_total"] == 1
    await lc.async_wait_until(lambda: lc.metrics(s.port)["livecart_connections"] == 0, lc.scaled(3),
                              what="the stuck reader gone")
    w.close()
