"""deploy/: livecart-up brings up redis + shards + haproxy; rooms hashed to shards, metrics, the API
through haproxy, rolling restarts and a SIGKILL'ed shard with resuming viewers losing nothing."""

import asyncio
import http.client
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest
import websockets

import lc
from lc import async_test

UP = os.path.join(lc.REPO, "deploy", "livecart-up")
# LIVECART_REDIS_MODE=cluster (conftest.py): every livecart-up here runs its own Redis Cluster
CLUSTER = os.environ.get("LIVECART_REDIS_MODE") == "cluster"
KEY = "deploy-test-key"

pytestmark = pytest.mark.skipif(not shutil.which("haproxy") and not os.path.exists("/usr/sbin/haproxy"),
                                reason="haproxy (Debian package haproxy) not installed")


class Up:
    """deploy/livecart-up as a child process; its stdout lines in .lines."""

    def __init__(self, tmp_path, shards=3, extra=(), args=()):
        self.dir = tmp_path / "run"
        self.port = lc.free_port()
        keyfile = tmp_path / "api.key"
        keyfile.write_text(KEY + "\n")
        if CLUSTER and "--redis-cluster" not in args:
            args = ("--redis-cluster", "3", *args)
        argv = [UP, "--shards", str(shards), "--port", str(self.port), "--dir", str(self.dir),
                "--server", lc.SERVER_BIN, *args, "--", "--api-key-file", str(keyfile), "--drain-ms", "600",
                *extra]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.shards = {}   # name -> port
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_line(lambda l: l.startswith("ready "), lc.scaled(60))
        for l in self.lines:
            m = re.fullmatch(r"shard (\S+) 127\.0\.0\.1:(\d+)", l)
            if m:
                self.shards[m.group(1)] = int(m.group(2))

    def _read(self):
        for line in self.proc.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def wait_line(self, pred, timeout):
        """Waits for a stdout line matching pred (lines already seen are not looked at again)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"livecart-up: no such line within {timeout}s; got {self.lines}")
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(5)
                raise AssertionError(f"livecart-up exited {self.proc.returncode}: {self.proc.stderr.read()}")
            self.lines.append(line)
            if pred(line):
                return line

    async def await_line(self, pred, timeout):
        return await asyncio.to_thread(self.wait_line, pred, timeout)

    def shard_pid(self, name):
        return int((self.dir / f"{name}.pid").read_text())

    def pids(self):
        return {p.stem: int(p.read_text()) for p in self.dir.glob("*.pid")}

    def stop(self, sig=signal.SIGINT):
        self.proc.send_signal(sig)
        rc = self.proc.wait(lc.scaled(40))
        return rc

    def kill(self):
        if self.proc.poll() is None:
            pids = self.pids()
            self.proc.kill()
            self.proc.wait()
            for pid in pids.values():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture
def up(tmp_path):
    clusters = []

    def factory(**kw):
        u = Up(tmp_path / f"c{len(clusters)}", **kw)
        clusters.append(u)
        return u

    for k in range(3):
        (tmp_path / f"c{k}").mkdir()
    yield factory
    problems = []
    for u in clusters:
        if u.proc.poll() is None:
            rc = u.stop()
            if rc != 0:
                problems.append(f"livecart-up exited {rc}")
        for log in u.dir.glob("s*.log"):
            rep = lc._SANITIZER_RE.search(log.read_text(errors="replace"))
            if rep:
                problems.append(f"{log.name}: sanitizer report:\n{log.read_text(errors='replace')[-4000:]}")
        u.kill()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def api(port, method, path, body=None, key=KEY, idem=None):
    conn = http.client.HTTPConnection(lc.HOST, port, timeout=lc.T)
    try:
        h = {"Authorization": f"Bearer {key}"} if key else {}
        if idem:
            h["Idempotency-Key"] = idem
        data = json.dumps(body).encode() if body is not None else None
        if data:
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, raw
    finally:
        conn.close()


async def welcome_shard(port, room, user="u"):
    c = await lc.Client.connect(port, room)
    w = await c.hello(user)
    return c, w["shard"]


# ------------------------------------------------------------------ start, stop, refuse


def test_up_prints_every_shard_then_ready_and_sigint_stops_everything(up):
    u = up(shards=2)
    assert len(u.shards) == 2 and u.lines[-1] == f"ready ws://127.0.0.1:{u.port}/live"
    assert all(l.startswith(("shard ", "redis cluster ")) for l in u.lines[:-1])
    pids = u.pids()
    redis = {f"redis{i}" for i in range(6)} if CLUSTER else {"redis"}
    assert redis | {"haproxy"} <= set(pids) and len(pids) == len(redis) + 3
    assert (u.dir / "haproxy0.cfg").exists() and (u.dir / "haproxy.log").exists()
    for port in u.shards.values():
        assert lc.healthz(port)[0] == 200
    assert lc.healthz(u.port)[0] == 200
    assert u.stop(signal.SIGINT) == 0
    for pid in pids.values():
        lc.wait_until(lambda: not os.path.exists(f"/proc/{pid}") or
                      open(f"/proc/{pid}/stat").read().split()[2] == "Z", lc.scaled(5), what=f"pid {pid} gone")
    assert not list(u.dir.glob("*.pid"))


def test_sigterm_also_exits_0(up):
    u = up(shards=1)
    assert u.stop(signal.SIGTERM) == 0


def run_up(*args):
    return subprocess.run([UP, *args], capture_output=True, text=True, timeout=60)


def test_refuses_a_taken_port_and_a_missing_binary(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind((lc.HOST, 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_up("--port", str(port), "--dir", str(tmp_path / "a"), "--server", lc.SERVER_BIN)
        assert r.returncode != 0 and f"port {port} is taken" in r.stderr
    r = run_up("--port", str(lc.free_port()), "--dir", str(tmp_path / "b"), "--server", str(tmp_path / "nope"))
    assert r.returncode != 0 and "not found" in r.stderr
    r = run_up("--port", str(lc.free_port()), "--dir", str(tmp_path / "c"), "--server", lc.SERVER_BIN,
               "--haproxy", str(tmp_path / "no-haproxy"))
    assert r.returncode != 0 and "haproxy" in r.stderr


# ------------------------------------------------------------------ routing, metrics, API


@async_test(timeout=120)
async def test_rooms_spread_over_shards_and_each_room_stays_on_one(up):
    u = up(shards=3)
    placement = {}
    clients = []
    for i in range(24):
        room = lc.uniq(f"spread{i}_")
        seen = set()
        for k in range(3):
            c, shard = await welcome_shard(u.port, room, f"u{k}")
            clients.append(c)
            seen.add(shard)
        assert len(seen) == 1, f"room {room} on {seen}"
        placement[room] = seen.pop()
    assert set(placement.values()) <= set(u.shards)
    assert len(set(placement.values())) >= 2, placement
    # the shards' connection gauges add up to what we hold open
    total = 0
    for name, port in u.shards.items():
        st, body = lc.http_get(port, "/metrics")
        m = re.search(rb"^livecart_connections (\d+)$", body, re.M)
        total += int(m.group(1))
        if shutil.which("promtool"):
            r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=30)
            assert r.returncode == 0, r.stdout + r.stderr
    assert total == len(clients)
    for c in clients:
        await c.close()


def test_metrics_and_odd_paths_are_not_reachable_through_haproxy(up):
    u = up(shards=1)
    for path in ("/metrics", "//metrics", "/./metrics", "/api/../metrics", "/%6detrics", "/metrics?x=1"):
        st, _ = lc.http_get(u.port, path)
        assert st == 404, path
    port = next(iter(u.shards.values()))
    assert lc.http_get(port, "/metrics")[0] == 200   # the shard itself serves it
    # what the web apps need does get through
    for path in ("/", "/?room=r&user=u", "/streamer.html?room=r", "/css/livecart.css", "/livecart.js",
                 "/favicon.svg"):
        st, _ = lc.http_get(u.port, path)
        assert st == 200, path


def test_sigint_while_starting_exits_0_and_leaves_nothing(tmp_path):
    d = tmp_path / "run"
    p = subprocess.Popen([UP, "--shards", "2", "--port", str(lc.free_port()), "--dir", str(d),
                          "--server", lc.SERVER_BIN], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lc.wait_until(lambda: (d / "redis.pid").exists() or (d / "s1-").exists(), lc.scaled(10), what="starting")
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=lc.scaled(40))
    assert p.returncode == 0, err
    assert not list(d.glob("*.pid"))


@async_test(timeout=120)
async def test_api_through_haproxy_reaches_the_room_on_whichever_shard(up):
    u = up(shards=3)
    rooms = [lc.uniq("api_") for _ in range(4)]
    viewers = {}
    for r in rooms:
        viewers[r], _ = await welcome_shard(u.port, r)
    ids = {}
    for r in rooms:
        st, b = await asyncio.to_thread(api, u.port, "POST", f"/api/rooms/{r}/messages",
                                        {"type": "announce", "text": f"to {r}"})
        assert st == 202, b
        ids[r] = b["id"]
    for r in rooms:
        m = await viewers[r].wait_for(lambda m: m["type"] == "announce")
        assert m["id"] == ids[r] and m["text"] == f"to {r}"
        st, state = await asyncio.to_thread(api, u.port, "GET", f"/api/rooms/{r}")
        assert st == 200 and state["last"] == ids[r]
        await lc.async_wait_until(lambda: api(u.port, "GET", f"/api/rooms/{r}")[1]["viewers"] == 1,
                                  lc.scaled(3), what="viewers 1")
    assert api(u.port, "GET", f"/api/rooms/{rooms[0]}", key="bad")[0] == 401
    assert api(u.port, "GET", f"/api/rooms/{rooms[0]}", key=None)[0] == 401
    assert api(u.port, "POST", f"/api/rooms/{rooms[0]}/messages", {"type": "announce"})[0] == 400
    assert api(u.port, "POST", f"/api/rooms/{rooms[0]}/messages", {"type": "x" * 5000})[0] == 413
    assert api(u.port, "GET", "/api/rooms/")[0] == 404


def test_systemd_unit_verifies(tmp_path):
    sa = shutil.which("systemd-analyze")
    if not sa:
        pytest.skip("systemd-analyze not installed")
    unit = (lc.REPO + "/deploy/systemd/livecart@.service")
    text = open(unit).read()
    assert "NoNewPrivileges=yes" in text and "ProtectSystem=strict" in text and "User=livecart" in text
    # verify needs the ExecStart binary to exist: point it at the one we built
    inst = tmp_path / "livecart@8081.service"
    inst.write_text(text.replace("/usr/local/bin/livecart-server", os.path.abspath(lc.SERVER_BIN)))
    r = subprocess.run([sa, "verify", str(inst)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "livecart" not in r.stderr, r.stderr   # no warnings about our unit


# ------------------------------------------------------------------ drain and resume


class Viewer:
    """A client that resumes: on `reconnect` or any close it reconnects through haproxy with
    hello.since = the last stream id it saw, and keeps every stream id it received, in order."""

    def __init__(self, port, room, user):
        self.port, self.room, self.user = port, room, user
        self.ids = []            # stream ids received after the first welcome, in arrival order
        self.start_after = None  # the first welcome's last
        self.last = None
        self.rejoins = 0
        self.unrecovered = 0
        self.shards = []
        self.stop = False
        self.joined = asyncio.Event()
        self.task = asyncio.create_task(self.run())

    def _take(self, m):
        if m.get("type") in ("comment", "announce", "product"):
            if self.last is None or lc.cid(m["id"]) > lc.cid(self.last):
                self.last = m["id"]
            self.ids.append(m["id"])

    async def run(self):
        backoff = 0.05
        while not self.stop:
            try:
                async with websockets.connect(f"ws://{lc.HOST}:{self.port}/live?room={self.room}",
                                              subprotocols=["livecart.json"], open_timeout=lc.T,
                                              ping_interval=None, close_timeout=1, max_queue=None) as ws:
                    hello = {"type": "hello", "user": self.user, "role": "viewer"}
                    if self.last is not None:
                        hello["since"] = self.last
                    await ws.send(json.dumps(hello))
                    async for raw in ws:
                        m = json.loads(raw)
                        if m["type"] == "welcome":
                            self.shards.append(m["shard"])
                            if self.last is None:
                                self.start_after = self.last = m["last"]
                            else:
                                self.rejoins += 1
                                if not m.get("recovered"):
                                    self.unrecovered += 1
                                for h in m["history"]:
                                    self._take(h)
                            backoff = 0.05
                            self.joined.set()
                        elif m["type"] == "reconnect":
                            self.joined.clear()
                            await asyncio.sleep(m["after_ms"] / 1000)
                            break
                        else:
                            self._take(m)
            except (OSError, websockets.exceptions.WebSocketException, asyncio.TimeoutError):
                pass
            self.joined.clear()
            if not self.stop:
                await asyncio.sleep(backoff * (0.5 + lc.random.random()))
                backoff = min(backoff * 2, 1.0)

    async def close(self):
        self.stop = True
        self.task.cancel()
        try:
            await self.task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass


async def publisher(port, rooms, rate, stop, posted, failures):
    """rate messages/s spread over rooms through haproxy's API, as a shop posts: each with an
    Idempotency-Key, sent again with it while the answer says "may have happened" (a 502 when the
    shard died with the post in flight -- haproxy cannot retry a POST it already sent -- or 504),
    at most 10 times; ids of 202s in posted[room] (a replay names the first post's id)."""
    i = 0
    while not stop.is_set():
        room = rooms[i % len(rooms)]
        key = lc.uniq("post")
        for _ in range(10):
            try:
                st, b = await asyncio.to_thread(api, port, "POST", f"/api/rooms/{room}/messages",
                                                {"type": "announce", "text": f"m{i}"}, KEY, key)
            except OSError as e:
                st, b = 0, repr(e)
            if st not in (0, 502, 503, 504):
                break
            await asyncio.sleep(0.1)
        if st == 202:
            posted[room].append(b["id"])
        else:
            failures.append((st, b))
        i += 1
        await asyncio.sleep(1 / rate)


async def run_with_viewers(u, rds, disrupt, rooms_n=3, per_room=4, share_wait=None):
    rooms = [lc.uniq("roll_") for _ in range(rooms_n)]
    viewers = [Viewer(u.port, r, f"v{k}") for r in rooms for k in range(per_room)]
    for v in viewers:
        await asyncio.wait_for(v.joined.wait(), lc.scaled(10))
    stop = asyncio.Event()
    posted = {r: [] for r in rooms}
    failures = []
    pub = asyncio.create_task(publisher(u.port, rooms, 50, stop, posted, failures))
    await asyncio.sleep(1)
    await disrupt()
    await asyncio.sleep(1)
    stop.set()
    await pub
    # every viewer back and caught up with its room's stream
    streams = {r: [e[0] for e in rds.xrange(lc.rkey(r, "chat"))] for r in rooms}

    def caught_up():
        return all(v.joined.is_set() and v.last == streams[v.room][-1] for v in viewers)
    await lc.async_wait_until(caught_up, lc.scaled(20), what="every viewer back and caught up")
    assert not failures, failures[:5]
    assert sum(len(p) for p in posted.values()) >= 50
    for v in viewers:
        expected = [i for i in streams[v.room] if lc.cid(i) > lc.cid(v.start_after)]
        assert v.ids == expected, (f"{v.room}/{v.user}: {len(v.ids)} received vs {len(expected)} in the stream; "
                                   f"missing {sorted(set(expected) - set(v.ids))[:5]}, "
                                   f"dups {len(v.ids) - len(set(v.ids))}")
        assert v.unrecovered == 0
    for r in rooms:
        assert streams[r] == posted[r], "the stream holds exactly the 202-answered posts"
    for r in rooms:
        await lc.async_wait_until(
            lambda: api(u.port, "GET", f"/api/rooms/{r}")[1]["viewers"] == per_room,
            share_wait or lc.scaled(10), what=f"viewer count {per_room} in {r}")
    for v in viewers:
        await v.close()
    return viewers


@async_test(timeout=240)
async def test_rolling_restart_under_load_loses_nothing_and_counts_stay_right(up, rds_for):
    u = up(shards=3)
    rds = rds_for(u)

    async def roll():
        u.proc.send_signal(signal.SIGHUP)
        await u.await_line(lambda l: l == "rolled", lc.scaled(90))

    viewers = await run_with_viewers(u, rds, roll)
    assert all(v.rejoins >= 1 for v in viewers)   # every shard was restarted: everyone moved
    assert sum(1 for l in u.lines if l.startswith("restarted shard")) == 3


@async_test(timeout=240)
async def test_sigterm_to_each_shard_by_hand_and_supervisor_restart(up, rds_for):
    u = up(shards=2)
    rds = rds_for(u)

    async def by_hand():
        for name, port in u.shards.items():
            os.kill(u.shard_pid(name), signal.SIGTERM)
            await u.await_line(lambda l: l == f"restarted shard {name} 127.0.0.1:{port}", lc.scaled(30))

    viewers = await run_with_viewers(u, rds, by_hand)
    assert all(v.rejoins >= 1 for v in viewers)


@async_test(timeout=240)
async def test_sigkill_of_a_shard_loses_nothing_and_its_viewers_leave_the_count(up, rds_for):
    # a killed shard's viewer shares expire within share-ttl-ms * 4/3 (here 2 s -> 2.7 s)
    u = up(shards=3, extra=("--share-ttl-ms", "2000"))
    rds = rds_for(u)

    async def kill_busiest():
        name = max(u.shards, key=lambda n: int(re.search(
            rb"^livecart_connections (\d+)$", lc.http_get(u.shards[n], "/metrics")[1], re.M).group(1)))
        os.kill(u.shard_pid(name), signal.SIGKILL)
        await u.await_line(lambda l: l.startswith(f"restarted shard {name} "), lc.scaled(30))

    viewers = await run_with_viewers(u, rds, kill_busiest, share_wait=lc.scaled(2.7 + 5))
    assert any(v.rejoins >= 1 for v in viewers)


@pytest.fixture
def rds_for():
    clients = []

    def factory(u):
        import redis
        from redis.cluster import RedisCluster
        # the cluster's Redis address is on the shards' command line
        args = open(f"/proc/{u.shard_pid(next(iter(u.shards)))}/cmdline").read().split("\0")
        if "--redis-cluster" in args:
            host, p = args[args.index("--redis-cluster") + 1].split(",")[0].rsplit(":", 1)
            c = RedisCluster(host=host, port=int(p), decode_responses=True)
        else:
            host, p = args[args.index("--redis") + 1].rsplit(":", 1)
            c = redis.Redis(host=host, port=int(p), decode_responses=True)
        clients.append(c)
        return c

    yield factory
    for c in clients:
        c.close()


@async_test(timeout=180)
async def test_redis_cluster_node_killed_is_restarted_and_its_rooms_go_on(up):
    """livecart-up --redis-cluster: the supervisor starts a killed node again (it rejoins the
    cluster), and a room on its slots goes on through haproxy."""
    u = up(shards=2, args=("--redis-cluster", "3"))
    seeds = next(l for l in u.lines if l.startswith("redis cluster ")).split()[2].split(",")
    assert len(seeds) == 3
    room = lc.uniq("nodekill_")
    c, _ = await welcome_shard(u.port, room, "ann")
    await c.comment("before")
    await c.wait_comment("before")
    # the node serving the room's slot
    import redis
    from redis.cluster import RedisCluster
    host, p = seeds[0].rsplit(":", 1)
    rc = RedisCluster(host=host, port=int(p), decode_responses=True)
    try:
        node = rc.get_node_from_key(lc.rkey(room, "chat"))
        port = node.port
    finally:
        rc.close()
    # (redis-server sets its process title to "redis-server 127.0.0.1:PORT [cluster]")
    name = next(n for n, pid in u.pids().items() if n.startswith("redis")
                and f"127.0.0.1:{port} " in open(f"/proc/{pid}/cmdline").read().replace("\0", " "))
    os.kill(u.pids()[name], signal.SIGKILL)
    await u.await_line(lambda l: l == f"restarted redis {name} 127.0.0.1:{port}", lc.scaled(30))
    # the room goes on: a comment is accepted once the replica has taken over
    deadline = time.monotonic() + lc.scaled(30)
    while not any(x["text"] == "after" for x in c.comments):
        await c.send({"type": "comment", "text": "after", "req": "after"})
        m = await c.wait_for(lambda m: (m["type"] == "comment" and m["text"] == "after") or m["type"] == "error",
                             lc.scaled(10))
        if m["type"] == "comment":
            break
        assert m.get("code") in ("unavailable", "unknown") and time.monotonic() < deadline, m
        await asyncio.sleep(0.3)
    # the restarted node is in the cluster again (a replica if a failover happened before it was
    # back, else the primary it was, with its AOF), and every slot is served
    back = redis.Redis(host=lc.HOST, port=port, decode_responses=True)
    try:
        def rejoined():
            info = back.execute_command("CLUSTER", "INFO")
            info = info if isinstance(info, dict) else dict(
                ln.split(":", 1) for ln in info.split("\r\n") if ":" in ln)
            return info.get("cluster_state") == "ok" and str(info.get("cluster_slots_ok")) == "16384"
        lc.wait_until(rejoined, lc.scaled(20), what="the restarted node back in a healthy cluster")
    finally:
        back.close()
    await c.close()
