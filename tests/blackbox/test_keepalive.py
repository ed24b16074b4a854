"""WebSocket-level keepalive: the server pings a connection silent for --ping-secs and closes it
if nothing (not even a pong) arrives within 10 s more.

The scenario takes ~14 s, so it runs once (module fixture) with four peers side by side, and each
test below checks one behaviour on what was observed."""

import asyncio
import threading
import time

import pytest

import lc
from lc import Client

PING_SECS = 1
GRACE = 10   # PROTOCOL.md: closed if nothing (not even a pong) arrives within 10 s more


def _read_until_closed(ws, deadline, answer_pings, out):
    ws.set_timeout(0.3)
    msgs = []
    while time.monotonic() < deadline:
        try:
            m = ws.recv_msg(answer_pings=answer_pings)
        except OSError:   # socket.timeout
            continue
        if m is None:
            out["closed_at"] = time.monotonic()
            break
        msgs.append(m)
    out["msgs"] = msgs
    out["pings"] = ws.pings
    out["closed"] = ws.closed
    out["close_code"] = ws.close_code


@pytest.fixture(scope="module")
def keepalive_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("keepalive")
    r = lc.RedisProc(tmp / "redis").start()
    s = lc.Server(tmp / "server", r.port, shard="K", ping_secs=PING_SECS)
    obs = {"procs": [r, s]}
    try:
        s.start()
        room = lc.uniq("room_")

        async def scenario():
            good = await Client.joined(s, room, "good", "json")   # websockets answers pings itself
            t0 = time.monotonic()
            mute = lc.RawWS(s.port, room, "json")                  # says hello, then reads nothing
            mute.send({"type": "hello", "user": "mute"})
            nohello = lc.RawWS(s.port, room, "msgpack")            # never says anything
            polite = lc.RawWS(s.port, room, "json")                # answers every ping by hand
            polite.send({"type": "hello", "user": "polite"})
            end = t0 + PING_SECS + GRACE + lc.scaled(5)
            obs_nohello, obs_polite = {}, {}
            th = [threading.Thread(target=_read_until_closed, args=(nohello, end, False, obs_nohello)),
                  threading.Thread(target=_read_until_closed, args=(polite, end, True, obs_polite))]
            for t in th:
                t.start()
            try:
                await good.wait_viewers(3, timeout=lc.scaled(5))
                try:
                    await good.wait_viewers(2, timeout=end - time.monotonic())
                    obs["mute_dropped_after"] = time.monotonic() - t0
                except AssertionError:
                    obs["mute_dropped_after"] = None
                # leave the others some more time to misbehave, then look at everyone
                while any(t.is_alive() for t in th) and time.monotonic() < t0 + PING_SECS + GRACE + 2.5:
                    await asyncio.sleep(0.1)
            finally:
                await asyncio.to_thread(lambda: [t.join() for t in th])
            obs["viewers_at_end"] = good.viewers
            obs["good_open"] = good.is_open
            try:
                await good.ping_pong()
                obs["good_pong"] = True
            except Exception as e:  # noqa: BLE001
                obs["good_pong"] = repr(e)
            # the mute peer: read what it was sent
            mute.set_timeout(lc.scaled(5))
            mm = []
            while True:
                m = mute.recv_msg(answer_pings=False)
                if m is None:
                    break
                mm.append(m)
            obs["mute"] = {"msgs": mm, "pings": mute.pings, "closed": mute.closed}
            obs["nohello"] = dict(obs_nohello, elapsed=(obs_nohello.get("closed_at") or 0) - t0)
            obs["polite"] = obs_polite
            polite.set_timeout(lc.scaled(5))
            try:
                polite.send({"type": "ping"})
                while True:
                    m = polite.recv_msg(answer_pings=True)
                    if m is None or m["type"] == "pong":
                        obs["polite_pong"] = m is not None
                        break
            except OSError as e:
                obs["polite_pong"] = repr(e)
            for w in (mute, nohello, polite):
                w.close()
            await lc.close_all_clients()

        asyncio.run(asyncio.wait_for(scenario(), lc.scaled(60)))
        obs["server_alive"] = s.alive()
    except BaseException as e:  # keep the logs visible
        obs["error"] = f"{e!r}\n--- server log ---\n{s.current_log()[-4000:]}"
    yield obs
    s.stop()
    r.kill()


@pytest.fixture(autouse=True)
def _logs(request, keepalive_run):
    request.node._lc_procs = keepalive_run["procs"]
    assert "error" not in keepalive_run, keepalive_run["error"]


def test_peer_that_never_answers_pings_is_dropped_after_ping_secs_plus_10s(keepalive_run):
    t = keepalive_run["mute_dropped_after"]
    assert t is not None, "a peer that never answered was not dropped (viewer count stayed)"
    assert PING_SECS + GRACE - 2 <= t <= PING_SECS + GRACE + lc.scaled(4), \
        f"silent peer dropped after {t:.1f}s; PROTOCOL.md: --ping-secs ({PING_SECS}) + 10 s"
    assert keepalive_run["mute"]["closed"]


def test_server_pings_a_silent_peer_before_dropping_it(keepalive_run):
    mute = keepalive_run["mute"]
    assert mute["pings"] >= 1, "the server never sent a WebSocket ping"
    assert mute["msgs"] and mute["msgs"][0]["type"] == "welcome", mute["msgs"][:3]


def test_connection_without_hello_that_never_answers_is_dropped_too(keepalive_run):
    nh = keepalive_run["nohello"]
    assert nh["closed"], "a silent connection that never said hello was not closed"
    assert nh["pings"] >= 1
    assert PING_SECS + GRACE - 2 <= nh["elapsed"] <= PING_SECS + GRACE + lc.scaled(4), nh["elapsed"]
    assert nh["msgs"] == [], "a connection without hello received room traffic"


def test_library_client_answering_pings_stays_connected(keepalive_run):
    assert keepalive_run["good_open"]
    assert keepalive_run["good_pong"] is True, keepalive_run["good_pong"]
    assert keepalive_run["viewers_at_end"] == 2, "good + polite should be the room's viewers at the end"


def test_hand_made_client_answering_pings_stays_connected_and_is_pinged_regularly(keepalive_run):
    p = keepalive_run["polite"]
    assert not p["closed"], f"server closed a connection that answered every ping (code {p['close_code']})"
    assert keepalive_run["polite_pong"] is True, keepalive_run["polite_pong"]
    # silent apart from pongs for ~13 s with --ping-secs 1: several pings
    assert p["pings"] >= 3, f"only {p['pings']} pings"


def test_server_survives_the_keepalive_scenario(keepalive_run):
    assert keepalive_run["server_alive"]
