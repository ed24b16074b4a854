"""livecart-load against the real server and Redis: every scenario runs small and stops by
itself, its report agrees with Redis and with an independent client, and a server that drops
messages makes it fail."""

import asyncio
import json
import os
import subprocess
import tempfile
import threading

import websockets

import lc
from lc import Client, async_test

LOAD = os.environ.get("LIVECART_LOAD") or os.path.join(lc.REPO, "build", "loadtest", "livecart-load")


def run_load(*args, timeout=120):
    """Runs the tool; returns (exit code, report dict, stderr)."""
    path = os.path.join(tempfile.mkdtemp(prefix="lcload-"), "report.json")
    p = subprocess.run([LOAD, *map(str, args), "--json", path], capture_output=True, text=True,
                       timeout=lc.scaled(timeout))
    report = json.load(open(path)) if os.path.exists(path) else {}
    return p.returncode, report, p.stderr


def url(server):
    return f"ws://127.0.0.1:{server.port}/live"


@async_test(timeout=180)
async def test_watch_counts_agree_with_redis_and_an_independent_client(server, redis_proc, room):
    rooms = [f"{room}-0", f"{room}-1"]
    # an independent viewer in each room counts the tool's comments itself
    watchers = [await Client.joined(server, r, f"judge-{i}") for i, r in enumerate(rooms)]
    code, rep, err = await asyncio.to_thread(
        run_load, "watch", "--url", url(server), "--room", room, "--rooms", 2, "--conns", 200,
        "--rate", 20, "--like-rate", 4, "--duration", 3, "--server-pid", server.pid)
    assert code == 0, err
    res = rep["result"]
    assert rep["ok"] is True and all(v["ok"] for v in rep["invariants"].values())
    rds = redis_proc.client()
    in_streams = sum(rds.xlen(lc.rkey(r, "chat")) for r in rooms)
    assert res["comments_sent"] == in_streams > 0
    likes = sum(int(rds.get(lc.rkey(r, "likes")) or 0) for r in rooms)
    assert res["likes_sent"] == likes > 0
    per_room = [rds.xlen(lc.rkey(r, "chat")) for r in rooms]
    for w, n in zip(watchers, per_room):
        await w.wait_comments(n, timeout=lc.scaled(10))
    seen = sum(len([m for m in w.comments if m["user"] == "load-pub"]) for w in watchers)
    assert seen == res["comments_sent"]
    # every viewer got every live comment: 200 viewers, each comment to the 100 of its room
    assert res["comments_delivered_live"] == 100 * res["comments_sent"]
    assert res["deliver_latency_us"]["count"] == res["comments_delivered_live"]
    assert rep["server"]["rss_kb"] > 0 and rep["timeline"]
    assert rep["client"]["errors"] == {} and rep["client"]["decode_errors"] == 0


def test_sale_race_report_matches_the_order_stream(server, redis_proc, room):
    code, rep, err = run_load("sale", "--url", url(server), "--room", room, "--conns", 150, "--stock", 20)
    assert code == 0, err
    res = rep["result"]
    assert res["status"]["ok"] == 20 and res["status"]["sold_out"] == 130
    assert redis_proc.client().xlen(lc.rkey(room, "orders")) == 20
    assert res["answers"] == 300  # every buy and its retry answered
    assert rep["client"]["errors"] == {}


def test_storm_and_idle_and_churn_finish_by_themselves(server, room):
    code, rep, err = run_load("storm", "--url", url(server), "--room", room + "-s", "--conns", 300)
    assert code == 0, err
    assert rep["result"]["welcomed"] == 300 and rep["result"]["storm_seconds"] > 0
    code, rep, err = run_load("idle", "--url", url(server), "--room", room + "-i", "--conns", 100,
                              "--duration", 1, "--server-pid", server.pid)
    assert code == 0, err
    assert rep["server"]["connections"] >= 100
    code, rep, err = run_load("churn", "--url", url(server), "--room", room + "-c", "--conns", 100,
                              "--rate", 10, "--churn", 20, "--duration", 2)
    assert code == 0, err
    assert rep["result"]["churned"] > 0 and rep["result"]["missing"] == 0


def test_a_server_that_drops_messages_makes_the_tool_fail():
    """A raw broadcast server that loses one message in ten: the tool must notice."""
    port = lc.free_port()
    ready = threading.Event()
    stop = {}

    def serve():
        loop = asyncio.new_event_loop()
        members = set()
        count = {"n": 0}

        async def handler(ws, path):
            members.add(ws)
            try:
                async for msg in ws:
                    count["n"] += 1
                    if count["n"] % 10 == 5:
                        continue  # lost
                    for m in list(members):
                        try:
                            await m.send(msg)
                        except websockets.ConnectionClosed:
                            pass
            finally:
                members.discard(ws)

        async def main():
            async with websockets.serve(handler, "127.0.0.1", port):
                ready.set()
                stop["f"] = loop.create_future()
                await stop["f"]

        loop.run_until_complete(main())

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    assert ready.wait(10)
    code, rep, err = run_load("watch", "--proto", "raw", "--url", f"ws://127.0.0.1:{port}/{{room}}",
                              "--pub-url", f"ws://127.0.0.1:{port}/{{room}}", "--room", "drop",
                              "--conns", 20, "--rate", 20, "--duration", 2)
    assert code != 0, "the tool accepted a server that lost messages"
    assert rep["invariants"]["every_comment_once_in_order"]["ok"] is False
    assert rep["result"]["missing"] > 0
