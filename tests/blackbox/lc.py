"""Helpers for the livecart black-box tests.

Everything here talks to the real `livecart-server` binary and a real `redis-server`, both started
as child processes on free ports.  Nothing in here knows how the server is implemented: it only
speaks the wire protocol described in PROTOCOL.md.

Environment:
  LIVECART_SERVER         path of the server binary (default: <repo>/build/server/livecart-server)
  LIVECART_TOKEN          path of livecart-token (default: <repo>/build/server/livecart-token)
  LIVECART_TIMEOUT_SCALE  multiply every wait by this factor (e.g. 2 for a slow ASan build)
  LIVECART_ALLOW_SANITIZER_REPORTS=1  do not fail a test whose server log has a sanitizer report
"""

import asyncio
import collections
import functools
import http.client
import json
import os
import random
import re
import signal
import socket
import base64
import struct
import subprocess
import time

import msgpack
import redis as redis_mod
import websockets
import websockets.exceptions

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVER_BIN = os.environ.get("LIVECART_SERVER") or os.path.join(REPO, "build", "server", "livecart-server")
TOKEN_BIN = os.environ.get("LIVECART_TOKEN") or os.path.join(REPO, "build", "server", "livecart-token")
SCALE = float(os.environ.get("LIVECART_TIMEOUT_SCALE", "1") or 1)

# Default wait for anything that depends on the server answering (generous: ASan builds are ~3x slower).
T = 5.0 * SCALE
HOST = "127.0.0.1"

SUBPROTO = {"json": "livecart.json", "msgpack": "livecart.msgpack"}
FORMATS = ("json", "msgpack")


def scaled(seconds):
    return seconds * SCALE


# --------------------------------------------------------------------------------------------
# ports, small utilities


def free_port():
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Poll pred() until it is truthy; return its value or raise AssertionError."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - polled conditions may raise while not ready
            last_exc = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


async def async_wait_until(pred, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001
            last_exc = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        await asyncio.sleep(interval)


def cid(comment_id):
    """Parse a comment id '<ms>-<seq>' into a tuple of ints (numeric comparison)."""
    assert isinstance(comment_id, str), f"comment id must be a string, got {comment_id!r}"
    m = re.fullmatch(r"(\d+)-(\d+)", comment_id)
    assert m, f"comment id {comment_id!r} is not <ms>-<seq>"
    return int(m.group(1)), int(m.group(2))


def assert_strictly_increasing(ids, what="ids"):
    keys = [cid(i) for i in ids]
    for a, b, ia, ib in zip(keys, keys[1:], ids, ids[1:]):
        assert a < b, f"{what} not strictly increasing: {ia} then {ib}"


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_comment_shape(m):
    """A server `comment` message: exact keys and types; ts taken from the id."""
    assert m.get("type") == "comment", m
    for k in ("id", "user", "text", "ts"):
        assert k in m, f"comment lacks {k!r}: {m}"
    assert isinstance(m["user"], str) and isinstance(m["text"], str), m
    assert is_int(m["ts"]), f"ts must be an integer: {m!r}"
    ms, _seq = cid(m["id"])
    assert m["ts"] == ms, f"ts {m['ts']} is not the ms part of id {m['id']}"


def healthz(port, timeout=None):
    """GET /healthz -> (status, body) or raise OSError."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout or T)
    try:
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def http_get(port, path, headers=None, timeout=None):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout or T)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


_SAMPLE_RE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\d+(\.\d+)?)$')


def metrics(port):
    """GET /metrics -> {'name{labels}': value} (fails on a line that is not a sample)."""
    status, body = http_get(port, "/metrics")
    assert status == 200, status
    values = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return values


# --------------------------------------------------------------------------------------------
# processes

_SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error:")


class Proc:
    """Base: a child process with its stdout+stderr in a log file."""

    name = "proc"

    def __init__(self, tmpdir):
        self.tmpdir = str(tmpdir)
        os.makedirs(self.tmpdir, exist_ok=True)
        self.proc = None
        self.log_path = None
        self.expected_exit = True  # True while we did not start it or stopped/killed it ourselves
        self._starts = 0

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def returncode(self):
        return None if self.proc is None else self.proc.poll()

    def _spawn(self, argv, env=None):
        self._starts += 1
        self.log_path = os.path.join(self.tmpdir, f"{self.name}.{self._starts}.log")
        logf = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        finally:
            logf.close()
        self.expected_exit = False

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, timeout=None, sig=signal.SIGTERM):
        """Send sig (SIGTERM), wait for exit, return the exit code (negative: killed by signal)."""
        if self.proc is None:
            return None
        self.expected_exit = True
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=timeout or scaled(10))
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
                raise AssertionError(f"{self.name} did not exit within {timeout or scaled(10)}s of {sig!r}; killed")
        return self.proc.returncode

    def kill(self):
        """SIGKILL, no cleanup possible. Returns the exit code (-9)."""
        if self.proc is None:
            return None
        self.expected_exit = True
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        return self.proc.returncode

    async def astop(self, **kw):
        """stop() without blocking the event loop (clients keep answering close frames)."""
        return await asyncio.to_thread(self.stop, **kw)

    async def akill(self):
        return await asyncio.to_thread(self.kill)

    async def astart(self, **kw):
        return await asyncio.to_thread(self.start, **kw)

    def log_text(self):
        texts = []
        for i in range(1, self._starts + 1):
            p = os.path.join(self.tmpdir, f"{self.name}.{i}.log")
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if len(data) > 60000:
                data = b"...(truncated)...\n" + data[-60000:]
            texts.append(f"--- {p} ---\n" + data.decode("utf-8", "replace"))
        return "\n".join(texts)

    def current_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""


class RedisProc(Proc):
    """redis-server on a fixed (free) port; can be stopped and started again on the same port."""

    name = "redis"

    def __init__(self, tmpdir, port=None, extra_args=()):
        super().__init__(tmpdir)
        self.port = port or free_port()
        self.extra_args = list(extra_args)   # e.g. ["--appendonly", "yes"] (later options win)

    def start(self, timeout=None):
        assert not self.alive()
        argv = ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", "",
                "--appendonly", "no", "--dir", self.tmpdir] + self.extra_args
        self._spawn(argv)
        try:
            wait_until(lambda: self._ping(), timeout or scaled(10), what=f"redis on {self.port}")
        except BaseException:
            self.kill()
            raise
        return self

    def _ping(self):
        if not self.alive():
            raise AssertionError(f"redis-server exited: {self.current_log()[-2000:]}")
        r = redis_mod.Redis(host=HOST, port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            return r.ping()
        finally:
            r.close()

    def client(self):
        return redis_mod.Redis(host=HOST, port=self.port, socket_timeout=T, decode_responses=True)

    def stop(self, timeout=None, sig=signal.SIGTERM, save=False):
        """Stop redis. save=True writes the data to disk first (SHUTDOWN SAVE) so that a later
        start() on the same port comes back with the same data."""
        if save and self.alive():
            self.expected_exit = True
            r = redis_mod.Redis(host=HOST, port=self.port, socket_timeout=10)
            try:
                r.shutdown(save=True)
            except redis_mod.exceptions.ConnectionError:
                pass
            finally:
                r.close()
            self.proc.wait(timeout=scaled(10))
            return self.proc.returncode
        return super().stop(timeout=timeout, sig=sig)

    def restart(self, save=True):
        self.stop(save=save)
        return self.start()


class Server(Proc):
    """One livecart-server process."""

    DEFAULTS = {
        "tick-ms": 100,
        "share-ttl-ms": 15000,
        "ping-secs": 20,
        "history": 1000,
        "ring-slots": 4096,
        "ring-bytes": 4194304,
        "max-gaps": 3,
        # Tests flood comments and likes from one connection to exercise fan-out; the
        # per-connection abuse buckets (defaults: a person's pace) are tested on their own in
        # test_limits.py with the defaults (a flag given as None is left out: built-in default).
        "comment-rate": 100000,
        "comment-burst": 100000,
        "like-rate": 100000,
        "like-burst": 100000,
    }

    def __init__(self, tmpdir, redis_port, shard=None, port=None, binary=None, env=None, **opts):
        super().__init__(tmpdir)
        self.port = port or free_port()
        self.redis_port = redis_port
        self.shard = shard or f"shard-{self.port}"
        self.name = f"server-{self.shard}"
        self.binary = binary or SERVER_BIN
        self.opts = dict(self.DEFAULTS)
        self.opts.update({k.replace("_", "-"): v for k, v in opts.items()})
        self.env = env

    def argv(self):
        a = [self.binary, "--port", str(self.port), "--bind", HOST,
             "--redis", f"{HOST}:{self.redis_port}", "--shard", self.shard]
        for k, v in self.opts.items():
            if v is None:            # left out: the server's built-in default
                continue
            if isinstance(v, (list, tuple)):   # a repeatable flag
                for x in v:
                    a += [f"--{k}", str(x)]
                continue
            a += [f"--{k}", str(v)]
        return a

    def start(self, wait="healthy", timeout=None):
        """Start the server. wait='healthy': until /healthz is 200; 'listening': until /healthz
        answers at all (e.g. 503 while Redis is down); None: don't wait."""
        assert not self.alive()
        if not os.path.exists(self.binary):
            raise AssertionError(f"server binary not found: {self.binary} (set LIVECART_SERVER)")
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self._spawn(self.argv(), env=env)
        if wait:
            try:
                self.wait_ready(healthy=(wait == "healthy"), timeout=timeout)
            except BaseException:
                self.kill()
                raise
        return self

    def wait_ready(self, healthy=True, timeout=None):
        timeout = timeout or scaled(10)

        def ready():
            if not self.alive():
                raise AssertionError(f"{self.name} exited with {self.returncode()} during start-up:\n"
                                     + self.current_log()[-4000:])
            try:
                status, _ = healthz(self.port, timeout=2)
            except OSError:
                return False
            return status == 200 if healthy else True

        try:
            wait_until(ready, timeout, interval=0.05, what=f"{self.name} ready (healthy={healthy})")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- log ---\n{self.current_log()[-4000:]}") from None

    def restart(self, wait="healthy"):
        self.stop()
        return self.start(wait=wait)

    def healthz(self):
        return healthz(self.port)

    def url(self, room, path="/live"):
        return f"ws://{HOST}:{self.port}{path}?room={room}"

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except (OSError, TypeError):
            return 0

    def sanitizer_report(self, offset=0):
        """Text around a sanitizer report in the log (the current run's log from `offset` if
        offset > 0, else every run's log), or None."""
        if os.environ.get("LIVECART_ALLOW_SANITIZER_REPORTS") == "1":
            return None
        if offset:
            try:
                with open(self.log_path, "rb") as f:
                    f.seek(offset)
                    text = f.read().decode("utf-8", "replace")
            except (OSError, TypeError):
                text = ""
        else:
            text = self.log_text()
        m = _SANITIZER_RE.search(text)
        if not m:
            return None
        return text[max(0, m.start() - 200): m.start() + 4000]


# --------------------------------------------------------------------------------------------
# WebSocket client


class RecvTimeout(AssertionError):
    """No message arrived in time."""


class Closed(Exception):
    """The connection was closed while we waited for a message."""

    def __init__(self, code, reason=""):
        super().__init__(f"connection closed with code {code} {reason!r}")
        self.code = code
        self.reason = reason


_open_clients = []


class Client:
    """A websocket client speaking one livecart format ('json' or 'msgpack').

    Every received message is decoded to a dict and appended to `received`.  Messages skipped by
    recv_type()/wait_for() are also kept in `skipped`.  The latest viewer count and like total
    (from welcome, viewers, likes) are tracked in `viewers` / `likes`; comments in `comments`.
    """

    def __init__(self, ws, fmt):
        self.ws = ws
        self.fmt = fmt
        self.received = []
        self.skipped = []
        self.comments = []
        self.viewers = None
        self.likes = None
        self.welcome = None
        self.close_code = None
        _open_clients.append(self)

    # -- connecting

    @classmethod
    async def connect(cls, server_or_port, room, fmt="json", subprotocols="auto", path="/live",
                      url=None, **kw):
        """fmt: 'json' | 'msgpack' | 'none' (no Sec-WebSocket-Protocol header, expects JSON)."""
        port = server_or_port if isinstance(server_or_port, int) else server_or_port.port
        if url is None:
            url = f"ws://{HOST}:{port}{path}?room={room}"
        if subprotocols == "auto":
            subprotocols = None if fmt == "none" else [SUBPROTO[fmt]]
        kw.setdefault("max_size", None)
        kw.setdefault("max_queue", None)   # keep reading in the background: never a slow reader
        kw.setdefault("ping_interval", None)
        kw.setdefault("compression", None)  # frame sizes on the wire are what we send
        kw.setdefault("close_timeout", 2)
        kw.setdefault("open_timeout", T)
        ws = await websockets.connect(url, subprotocols=subprotocols, **kw)
        real_fmt = "json" if fmt == "none" else fmt
        c = cls(ws, real_fmt)
        if fmt == "none":
            assert ws.subprotocol is None, f"server selected {ws.subprotocol!r} though none offered"
        elif subprotocols and subprotocols == [SUBPROTO[fmt]]:
            assert ws.subprotocol == SUBPROTO[fmt], \
                f"server selected subprotocol {ws.subprotocol!r}, expected {SUBPROTO[fmt]!r}"
        return c

    @classmethod
    async def joined(cls, server, room, user, fmt="json", role=None, **hello_extra):
        """connect + hello; returns the client (welcome in .welcome)."""
        c = await cls.connect(server, room, fmt)
        await c.hello(user, role=role, **hello_extra)
        return c

    # -- encoding

    def encode(self, msg):
        if self.fmt == "msgpack":
            return msgpack.packb(msg, use_bin_type=True)
        return json.dumps(msg, ensure_ascii=False)

    def decode(self, data):
        if self.fmt == "msgpack":
            assert isinstance(data, bytes), f"msgpack connection received a text frame: {data!r:.200}"
            m = msgpack.unpackb(data, raw=False)
        else:
            assert isinstance(data, str), f"json connection received a binary frame: {data!r:.200}"
            m = json.loads(data)
        assert isinstance(m, dict), f"server message is not a map: {m!r:.200}"
        assert isinstance(m.get("type"), str), f"server message without string type: {m!r:.200}"
        return m

    # -- sending

    async def send(self, msg):
        await self.ws.send(self.encode(msg))

    async def send_raw(self, data):
        """Send str (text frame) or bytes (binary frame) or an iterable of them (fragments)."""
        await self.ws.send(data)

    async def comment(self, text, **extra):
        await self.send({"type": "comment", "text": text, **extra})

    async def like(self, count=1):
        await self.send({"type": "like", "count": count})

    # -- receiving

    def _track(self, m):
        self.received.append(m)
        t = m["type"]
        if t == "welcome":
            self.welcome = m
            self.viewers = m.get("viewers")
            self.likes = m.get("likes")
        elif t == "viewers":
            self.viewers = m.get("count")
        elif t == "likes":
            self.likes = m.get("total")
        elif t == "comment":
            self.comments.append(m)

    async def recv(self, timeout=None):
        """Next message as a dict. Raises AssertionError on timeout, Closed on close."""
        timeout = T if timeout is None else timeout
        try:
            data = await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            raise RecvTimeout(f"no message within {timeout:.1f}s "
                                 f"(last received: {self.received[-3:]!r:.600})") from None
        except websockets.exceptions.ConnectionClosed as e:
            self.close_code = e.rcvd.code if e.rcvd else 1006
            raise Closed(self.close_code, e.rcvd.reason if e.rcvd else "") from None
        m = self.decode(data)
        self._track(m)
        return m

    async def recv_raw(self, timeout=None):
        timeout = T if timeout is None else timeout
        return await asyncio.wait_for(self.ws.recv(), timeout)

    async def wait_for(self, pred, timeout=None, what="a matching message"):
        """Read until pred(msg); other messages go to `skipped`."""
        timeout = T if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}; "
                                     f"skipped {len(self.skipped)}: {self.skipped[-5:]!r:.800}")
            try:
                m = await self.recv(left)
            except RecvTimeout:
                raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}; "
                                     f"skipped {len(self.skipped)}: {self.skipped[-5:]!r:.800}") from None
            if pred(m):
                return m
            self.skipped.append(m)

    async def recv_type(self, typ, timeout=None):
        return await self.wait_for(lambda m: m["type"] == typ, timeout, what=f"a {typ!r} message")

    async def recv_reply(self, timeout=None):
        """Next message that is not room traffic (comment/likes/viewers, and the boards and the buying
        ticker that likes and orders bring, and a streamer's periodic `stats`): a direct reply."""
        return await self.wait_for(lambda m: m["type"] not in ("comment", "likes", "viewers", "top", "buying",
                                                               "stats"),
                                   timeout, what="a reply")

    async def expect_error(self, code, timeout=None):
        m = await self.recv_reply(timeout)
        assert m["type"] == "error", f"expected error {code!r}, got {m!r:.300}"
        assert m.get("code") == code, f"expected error {code!r}, got {m!r:.300}"
        assert isinstance(m.get("message"), str), f"error without string message: {m!r:.300}"
        return m

    async def ping_pong(self, timeout=None):
        """Send ping; the next reply must be pong (proves the connection is alive and that no
        error reply was pending)."""
        await self.send({"type": "ping"})
        m = await self.recv_reply(timeout)
        assert m["type"] == "pong", f"expected pong, got {m!r:.300}"
        return m

    async def hello_reply(self, user, role=None, **extra):
        msg = {"type": "hello", "user": user}
        if role is not None:
            msg["role"] = role
        msg.update(extra)
        await self.send(msg)
        return await self.recv_reply()

    async def hello(self, user, role=None, **extra):
        """Send hello, return the welcome (fails on anything else)."""
        m = await self.hello_reply(user, role, **extra)
        assert m["type"] == "welcome", f"hello by {user!r} answered with {m!r:.300}"
        return m

    async def wait_viewers(self, n, timeout=None):
        if self.viewers == n:
            return
        await self.wait_for(lambda m: self.viewers == n, timeout, what=f"viewers == {n} (now {self.viewers})")

    async def wait_likes(self, n, timeout=None):
        if self.likes == n:
            return
        await self.wait_for(lambda m: self.likes == n, timeout, what=f"likes == {n} (now {self.likes})")

    async def wait_comment(self, text, timeout=None):
        for c in self.comments:
            if c["text"] == text:
                return c
        return await self.wait_for(lambda m: m["type"] == "comment" and m["text"] == text, timeout,
                                   what=f"comment {text!r}")

    async def wait_comments(self, n, timeout=None):
        """Wait until `comments` has at least n entries."""
        if len(self.comments) >= n:
            return self.comments
        await self.wait_for(lambda m: len(self.comments) >= n, timeout,
                            what=f"{n} comments (have {len(self.comments)})")
        return self.comments

    async def expect_close(self, timeout=None):
        """Read until the server closes; return (code, messages received before the close)."""
        timeout = T if timeout is None else timeout
        deadline = time.monotonic() + timeout
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"connection not closed within {timeout:.1f}s; got {got[-5:]!r:.600}")
            try:
                got.append(await self.recv(left))
            except Closed as e:
                return e.code, got
            except RecvTimeout:
                continue

    async def assert_silent(self, seconds, types=None):
        """No message (of the given types; any but the PERIODIC ones when None) arrives for `seconds`."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            try:
                m = await self.recv(left)
            except RecvTimeout:
                return
            if (types is None and m["type"] not in PERIODIC) or (types is not None and m["type"] in types):
                raise AssertionError(f"unexpected message {m!r:.300}")
            self.skipped.append(m)

    @property
    def is_open(self):
        return self.ws.open

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 3)
        except Exception:  # noqa: BLE001
            pass
        if self in _open_clients:
            _open_clients.remove(self)


async def close_all_clients():
    for c in list(_open_clients):
        await c.close()
    _open_clients.clear()


def async_test(timeout=90):
    """Decorator: run an `async def` test with asyncio.run, bounded by `timeout` seconds
    (scaled), and close every Client it opened."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            async def main():
                try:
                    return await asyncio.wait_for(fn(*args, **kwargs), scaled(timeout))
                finally:
                    await close_all_clients()
            return asyncio.run(main())
        return wrapper

    return deco


def upgrade_status(port, path, subprotocols=None):
    """Send a WebSocket upgrade request by hand; return (HTTP status, selected subprotocol or None,
    status line)."""
    status, hdrs, line, s = _upgrade(port, path, subprotocols=subprotocols or ())
    if status == 101:
        s.close()
    return status, hdrs.get("sec-websocket-protocol"), line


async def connect_status(port, path, subprotocols=None):
    """Try a WebSocket upgrade; return (HTTP status, selected subprotocol)."""
    status, proto, _ = await asyncio.to_thread(upgrade_status, port, path, subprotocols)
    return status, proto


# --------------------------------------------------------------------------------------------
# Raw WebSocket client on a plain socket (for clients that misbehave on purpose)


class RawWS:
    """Minimal hand-written WebSocket client on a blocking socket.

    Used for clients that must not answer pings, or that must stop reading (a tiny SO_RCVBUF),
    or that send bytes a conforming library would refuse to send.
    """

    def __init__(self, port, room, fmt="json", rcvbuf=None, timeout=None, path=None, handshake=True,
                 mss=None):
        """rcvbuf: SO_RCVBUF before connect.  mss: TCP_MAXSEG before connect; on loopback the
        peer's send buffer autotunes to ~4 MB with the default 64 KB MSS, so a client that wants
        to stall the server's writes quickly should also ask for a small MSS (e.g. 1000)."""
        self.fmt = fmt
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if mss:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        self.sock.settimeout(timeout or T)
        self.sock.connect((HOST, port))
        self.buf = b""
        self.closed = False
        self.close_code = None
        self.pings = 0
        self.messages = []
        self.end = None   # how the connection ended: close frame / eof without close frame / reset
        if handshake:
            self.handshake(room, path)

    def handshake(self, room, path=None):
        key = base64.b64encode(os.urandom(16)).decode()
        path = path or f"/live?room={room}"
        req = (f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Protocol: {SUBPROTO[self.fmt]}\r\n\r\n")
        self.sock.sendall(req.encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError(f"connection closed during handshake: {self.buf!r}")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        assert b" 101 " in status + b" ", f"handshake refused: {head!r}"
        return head

    @staticmethod
    def frame(opcode, payload, fin=True, mask=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            hdr = struct.pack("!BB", b0, mbit | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, mbit | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, mbit | 127, n)
        if not mask:
            return hdr + payload
        key = os.urandom(4)
        masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return hdr + key + masked

    def send_frame(self, opcode, payload, fin=True):
        self.sock.sendall(self.frame(opcode, payload, fin))

    def send(self, msg):
        if self.fmt == "msgpack":
            self.send_frame(0x2, msgpack.packb(msg, use_bin_type=True))
        else:
            self.send_frame(0x1, json.dumps(msg).encode())

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def recv_frame(self):
        """(fin, opcode, payload); raises EOFError at end of stream, socket.timeout on timeout."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        off = 2
        if n == 126:
            self._need(4)
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            self._need(10)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            off = 10
        masked = b1 & 0x80
        if masked:
            off += 4
        self._need(off + n)
        payload = self.buf[off:off + n]
        if masked:
            key = self.buf[off - 4:off]
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        self.buf = self.buf[off + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv_msg(self, answer_pings=False):
        """Next data message as a dict (control frames handled). Returns None once closed."""
        parts = []
        while True:
            try:
                fin, op, payload = self.recv_frame()
            except EOFError:
                self.closed = True
                self.end = "eof without close frame"
                return None
            except ConnectionResetError:
                self.closed = True
                self.end = "connection reset"
                return None
            if op == 0x9:
                self.pings += 1
                if answer_pings:
                    self.send_frame(0xA, payload)
                continue
            if op == 0xA:
                continue
            if op == 0x8:
                self.closed = True
                self.end = "close frame"
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return None
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                if self.fmt == "msgpack":
                    assert op in (0x2, 0x0), f"msgpack connection received opcode {op}"
                    m = msgpack.unpackb(data, raw=False)
                else:
                    assert op in (0x1, 0x0), f"json connection received opcode {op}"
                    m = json.loads(data.decode("utf-8"))
                self.messages.append(m)
                return m

    def set_timeout(self, t):
        self.sock.settimeout(t)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# hand-made msgpack (for bytes msgpack.packb would never produce, e.g. invalid UTF-8 in a str)


def mp_str(b):
    n = len(b)
    if n < 32:
        return bytes([0xA0 | n]) + b
    if n < 256:
        return b"\xd9" + bytes([n]) + b
    return b"\xda" + struct.pack("!H", n) + b


def mp_bin(b):
    n = len(b)
    if n < 256:
        return b"\xc4" + bytes([n]) + b
    return b"\xc5" + struct.pack("!H", n) + b


def mp_map(pairs):
    """pairs: list of (key_bytes_encoded, value_bytes_encoded)."""
    assert len(pairs) < 16
    return bytes([0x80 | len(pairs)]) + b"".join(k + v for k, v in pairs)


def mp(obj):
    return msgpack.packb(obj, use_bin_type=True)


def uniq(prefix="r"):
    """A fresh room name / user name."""
    return f"{prefix}{random.randrange(16**8):08x}"


def rkey(room, what):
    return f"lc:{{{room}}}:{what}"


# --------------------------------------------------------------------------------------------
# A TCP proxy between a server and Redis that can lose one reply on purpose.

import threading  # noqa: E402
import select  # noqa: E402


class ReplyDroppingProxy:
    """127.0.0.1:port -> 127.0.0.1:target_port.  After arm(pattern), the first client->Redis chunk
    containing `pattern` is forwarded to Redis, but Redis's reply is thrown away and the
    connection is cut (both sides) shortly after: "the command ran, the reply was lost"."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.pattern = None
        self.triggered = 0        # requests matched
        self.dropped = b""        # reply bytes thrown away
        self.cuts = 0             # connections cut
        self.connections = 0
        self._stop = False
        self._lock = threading.Lock()
        self._socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, pattern):
        with self._lock:
            self.pattern = pattern

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                r = socket.create_connection((HOST, self.target_port), timeout=5)
            except OSError:
                c.close()
                continue
            self.connections += 1
            self._socks += [c, r]
            threading.Thread(target=self._pump, args=(c, r), daemon=True).start()

    def _pump(self, c, r):
        cut_at = None      # monotonic time at which to cut, once the matched reply arrived
        marked = False
        try:
            while not self._stop:
                timeout = 0.05 if cut_at or marked else 0.5
                rl, _, _ = select.select([c, r], [], [], timeout)
                if cut_at and time.monotonic() >= cut_at:
                    self.cuts += 1
                    return
                for s in rl:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is c:
                        with self._lock:
                            if self.pattern and self.pattern in data:
                                self.pattern = None
                                self.triggered += 1
                                marked = True
                        r.sendall(data)
                    else:
                        if marked:
                            self.dropped += data
                            if cut_at is None:
                                cut_at = time.monotonic() + 0.2
                            continue
                        c.sendall(data)
        except OSError:
            return
        finally:
            for s in (c, r):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self):
        self._stop = True
        try:
            self.lsock.close()
        except OSError:
            pass
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass


# --------------------------------------------------------------------------------------------
# Flash sales and group-buys (PROTOCOL.md "Flash sale", "Group-buy", "Orders")

# Messages the room receives (as opposed to answers addressed to one connection).
ROOM_TRAFFIC = frozenset(("comment", "likes", "viewers", "deleted", "slow_mode", "sale", "group_sale", "stock", "sold_out",
                          "sale_closed", "teams", "top", "buying"))
# What a streamer receives every few seconds whatever happens (PROTOCOL.md "The funnel"): no answer.
PERIODIC = frozenset(("stats",))


async def _answer(c, pred, what, timeout=None):
    """Next message matching pred, or an `error` (which fails with a clear message)."""
    m = await c.wait_for(lambda m: m["type"] == "error" or pred(m), timeout, what=what)
    assert m["type"] != "error", f"expected {what}, got {m!r:.300}"
    return m


async def recv_answer(c, timeout=None):
    """Next message that is not room traffic (sale traffic included): a direct answer."""
    return await c.wait_for(lambda m: m["type"] not in ROOM_TRAFFIC | PERIODIC, timeout, what="an answer")


async def open_sale(c, sku, stock, price=1999, limit=None, title=None, timeout=None):
    """A streamer opens a flash sale; returns the `sale` broadcast it receives itself."""
    msg = {"type": "sale_open", "sku": sku, "title": title or f"item {sku}", "price": price, "stock": stock}
    if limit is not None:
        msg["limit"] = limit
    await c.send(msg)
    return await _answer(c, lambda m: m["type"] == "sale" and m.get("sku") == sku, f"sale {sku}", timeout)


async def open_group(c, sku, size, stock, ttl_s=60, price=999, title=None, timeout=None):
    """A streamer opens a group-buy; returns the `group_sale` broadcast it receives itself."""
    await c.send({"type": "group_open", "sku": sku, "title": title or f"group {sku}", "price": price,
                  "size": size, "stock": stock, "ttl_s": ttl_s})
    return await _answer(c, lambda m: m["type"] == "group_sale" and m.get("sku") == sku,
                         f"group_sale {sku}", timeout)


async def close_sale(c, sku, timeout=None):
    """A streamer closes a sale; returns the `sale_closed` broadcast it receives itself."""
    await c.send({"type": "sale_close", "sku": sku})
    return await _answer(c, lambda m: m["type"] == "sale_closed" and m.get("sku") == sku,
                         f"sale_closed {sku}", timeout)


async def send_buy(c, sku, req, qty=1, retry=False):
    """retry: a re-send of req, marked so (PROTOCOL.md "Sold out at the shard": decided by Redis)."""
    msg = {"type": "buy", "sku": sku, "req": req}
    if qty is not None:
        msg["qty"] = qty
    if retry:
        msg["retry"] = True
    await c.send(msg)


ANSWER_KEYS = {
    "order": {"type", "req", "sku", "status", "order", "qty", "left", "price", "pay_by", "coupon"},
    "cancelled": {"type", "order", "status", "sku", "qty", "left", "pay_by", "coupon"},
    "group": {"type", "req", "sku", "status", "team", "members", "size", "left"},
}


def check_answer(m):
    """An order / cancelled / group answer carries only the keys PROTOCOL.md lists, with the
    right types."""
    extra = set(m) - ANSWER_KEYS[m["type"]]
    assert not extra, f"{m['type']} answer with keys PROTOCOL.md does not list: {extra}: {m}"
    assert isinstance(m.get("status"), str), m
    for k in ("qty", "left", "members", "size", "price", "pay_by"):
        if k in m:
            assert is_int(m[k]) and m[k] >= 0, f"{k} must be a non-negative integer: {m}"
    for k in ("order", "team", "sku", "req", "coupon"):
        if k in m:
            assert isinstance(m[k], str), f"{k} must be a string: {m}"
    if m["type"] == "order" and m["status"] == "ok":
        assert re.fullmatch(r"\d+-\d+", m.get("order", "")) and is_int(m.get("qty")), m
    return m


async def order_reply(c, req, timeout=None):
    """The `order` answer for req (fails on an error frame)."""
    return check_answer(await _answer(c, lambda m: m["type"] == "order" and m.get("req") == req,
                                      f"order for req {req!r}", timeout))


async def buy(c, sku, req, qty=1, timeout=None, retry=False):
    """Send a buy and return its `order` answer."""
    await send_buy(c, sku, req, qty, retry)
    return await order_reply(c, req, timeout)


async def cancel(c, order, timeout=None):
    """Send a cancel and return its `cancelled` answer."""
    await c.send({"type": "cancel", "order": order})
    return check_answer(await _answer(c, lambda m: m["type"] == "cancelled" and m.get("order") == order,
                                      f"cancelled for {order!r}", timeout))


async def group_reply(c, req, timeout=None):
    """The `group` answer for req (fails on an error frame)."""
    return check_answer(await _answer(c, lambda m: m["type"] == "group" and m.get("req") == req,
                                      f"group for req {req!r}", timeout))


async def group_join(c, sku, req, team=None, timeout=None):
    """Send a group_join and return its `group` answer."""
    msg = {"type": "group_join", "sku": sku, "req": req}
    if team is not None:
        msg["team"] = team
    await c.send(msg)
    return await group_reply(c, req, timeout)


def of_sku(c, sku, types):
    """The messages of the given types about sku that c received, in order."""
    return [m for m in c.received if m["type"] in types and m.get("sku") == sku]


def stock_seq(c, sku):
    """The `left` values of every `stock` message about sku that c received."""
    return [m["left"] for m in of_sku(c, sku, ("stock",))]


async def wait_stock(c, sku, left, timeout=None):
    """Wait until the last `stock` message about sku says `left`."""
    seq = stock_seq(c, sku)
    if seq and seq[-1] == left:
        return
    await c.wait_for(lambda m: (lambda s: bool(s) and s[-1] == left)(stock_seq(c, sku)), timeout,
                     what=f"stock {sku} left={left} (seen {stock_seq(c, sku)[-5:]})")


def raw_client(port):
    """A redis-py client without decoding (the reqs and orderidx hashes hold msgpack)."""
    return redis_mod.Redis(host=HOST, port=port, socket_timeout=T)


def client_for_key(port, key, **kw):
    """A plain redis-py client on the node that holds key: the Redis on port itself, or, when
    that is a cluster node, the primary serving key's slot (asked of it: CLUSTER SLOTS)."""
    r = redis_mod.Redis(host=HOST, port=port, **kw)
    try:
        slot = r.execute_command("CLUSTER", "KEYSLOT", key)
        slots = r.execute_command("CLUSTER", "SLOTS")
    except redis_mod.exceptions.ResponseError:   # not a cluster
        return r
    for lo, hi, master, *_ in slots:
        if lo <= slot <= hi:
            host = master[0].decode() if isinstance(master[0], bytes) else master[0]
            r.close()
            return redis_mod.Redis(host=host or HOST, port=int(master[1]), **kw)
    return r


def orders(rds, room, kind=None):
    """Entries of the room's order stream as (id, fields), optionally only one kind."""
    return [(i, f) for i, f in rds.xrange(rkey(room, "orders")) if kind is None or f.get("kind") == kind]


def req_entries(port, room, user):
    """Fields of lc:{room}:reqs that belong to user.  The field name is not specified; this
    counts fields whose name holds the user name followed by something (the req)."""
    r = client_for_key(port, rkey(room, "reqs"), socket_timeout=T)
    try:
        keys = r.hkeys(rkey(room, "reqs"))
    finally:
        r.close()
    u = user.encode()
    return [k for k in keys if u in k]


async def expect_error_answer(c, code, timeout=None):
    """Like Client.expect_error, but also skips sale traffic (sale, stock, teams, ...)."""
    m = await recv_answer(c, timeout)
    assert m["type"] == "error", f"expected error {code!r}, got {m!r:.300}"
    assert m.get("code") == code, f"expected error {code!r}, got {m!r:.300}"
    assert isinstance(m.get("message"), str), f"error without string message: {m!r:.300}"
    return m


def answers_by(c, typ, key="req"):
    """{key value: [answers of type typ with it, in order]} from everything c received."""
    d = collections.defaultdict(list)
    for m in c.received:
        if m["type"] == typ:
            d[m.get(key)].append(m)
    return d


async def wait_answers(c, typ, values, key="req", timeout=None):
    """Wait until c has received an answer of type typ for each of values (answers may arrive in
    any order: a shard answers rate_limited at once, Redis decisions later).  Returns
    {value: first answer}.  An error frame fails."""
    values = list(values)

    def done():
        errs = [m for m in c.received if m["type"] == "error"]
        assert not errs, f"error while waiting for {typ} answers: {errs[:3]}"
        have = answers_by(c, typ, key)
        return all(have.get(v) for v in values)

    if not done():
        await c.wait_for(lambda m: done(), timeout, what=f"{typ} answers for {len(values)} {key}s "
                                                          f"(have {len(answers_by(c, typ, key))})")
    have = answers_by(c, typ, key)
    return {v: have[v][0] for v in values}


async def got(c, typ, timeout=None, **match):
    """The first message of type typ (with the given key values) that c received, now or later:
    unlike wait_for, this also finds one that an earlier wait skipped."""
    def ok(m):
        return m["type"] == typ and all(m.get(k) == v for k, v in match.items())
    for m in c.received:
        if ok(m):
            return m
    return await c.wait_for(ok, timeout, what=f"a {typ!r} message {match or ''}")


async def drain(clients, quiet=0.3):
    """Read whatever arrives at each client until it has been quiet for `quiet` seconds (messages
    only land in `received` when read).  Takes a client or a list; drains them concurrently."""
    if isinstance(clients, Client):
        clients = [clients]

    async def one(c):
        while True:
            try:
                m = await c.recv(quiet)
            except RecvTimeout:
                return
            c.skipped.append(m)

    await asyncio.gather(*(one(c) for c in clients))


class ShardSub:
    """A sharded pub/sub subscriber (SSUBSCRIBE): the rooms' channels are shard channels, and
    Debian's redis-py (4.3) has no ssubscribe, so this drives one redis-py Connection by hand.
    get_message(timeout) -> {"type": "smessage"|"ssubscribe"|..., "channel", "data"} or None."""

    def __init__(self, port, *channels, host=HOST):
        self.conn = redis_mod.Connection(host=host, port=port, socket_timeout=T)
        self.conn.connect()
        for ch in channels:
            self.subscribe(ch)

    def subscribe(self, ch):
        for _ in range(3):
            self.conn.send_command("SSUBSCRIBE", ch)
            try:
                m = self.get_message(timeout=T)
            except redis_mod.exceptions.ResponseError as e:   # a cluster node: MOVED slot host:port
                if not str(e).startswith("MOVED "):
                    raise
                host, port = str(e).split()[2].rsplit(":", 1)
                self.conn.disconnect()
                self.conn = redis_mod.Connection(host=host or HOST, port=int(port), socket_timeout=T)
                self.conn.connect()
                continue
            assert m and m["type"] == "ssubscribe", f"SSUBSCRIBE {ch}: {m}"
            return
        raise AssertionError(f"SSUBSCRIBE {ch}: redirected too often")

    def get_message(self, timeout=0.1):
        if not self.conn.can_read(timeout=timeout):
            return None
        r = self.conn.read_response()
        if isinstance(r, list) and len(r) >= 3:
            kind = r[0].decode() if isinstance(r[0], bytes) else r[0]
            return {"type": kind, "channel": r[1], "data": r[2]}
        return {"type": "other", "channel": None, "data": r}

    def close(self):
        self.conn.disconnect()


def shard_numsub(client, channel):
    """PUBSUB SHARDNUMSUB: how many subscribe to a shard channel on that node."""
    r = client.execute_command("PUBSUB", "SHARDNUMSUB", channel)
    return int(r[1]) if r and len(r) >= 2 else 0


class ChannelWatcher:
    """Subscribes to a room's channel lc:{room}:ch (a shard channel) in a thread and keeps every
    message published on it (msgpack-decoded) in `got`.  Use as a context manager or call
    close()."""

    def __init__(self, port, room):
        self.p = ShardSub(port, rkey(room, "ch"))   # confirmed: subscribed from here on
        self.got = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                m = self.p.get_message(timeout=0.1)
            except Exception:  # noqa: BLE001 - e.g. Redis stopped on purpose
                return
            if m and m["type"] == "smessage":
                self.got.append(msgpack.unpackb(m["data"], raw=False))

    def of_sku(self, sku, types):
        return [m for m in self.got if m.get("type") in types and m.get("sku") == sku]

    def close(self):
        self._stop.set()
        self._t.join(5)
        self.p.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def is_subsequence(small, big):
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def check_stock_views(shards_clients, published, sku):
    """Every shard shows its connections the same `stock` sequence; each shard's sequence is the
    sequence published on the room's channel (Redis's numbers), in order, possibly with some
    values skipped by the shard's own per-tick coalescing, and ends with the last published value.
    shards_clients: {shard name: [clients]}.  Returns {shard: sequence}."""
    views = {}
    for shard, clients in shards_clients.items():
        seqs = collections.Counter(tuple(stock_seq(c, sku)) for c in clients)
        assert len(seqs) == 1, f"connections of shard {shard} saw different stock sequences: {seqs.most_common(3)}"
        views[shard] = list(next(iter(seqs)))
    for shard, seq in views.items():
        assert seq, f"shard {shard} showed no stock message (published: {published})"
        assert is_subsequence(seq, published), \
            f"shard {shard} showed stock {seq}, not a subsequence of the published {published}"
        assert seq[-1] == published[-1], f"shard {shard} ended at {seq[-1]}, Redis published {published[-1]} last"
    return views


def by_shard(clients):
    """{shard name from the welcome: [clients]}."""
    d = collections.defaultdict(list)
    for c in clients:
        d[c.welcome["shard"]].append(c)
    return dict(d)


# --------------------------------------------------------------------------------------------
# Tokens, moderation, abuse limits, TLS (PROTOCOL.md "Identity: tokens and roles", "Moderation",
# "Abuse limits")


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_claims(token):
    """(header, payload) of a JWT, decoded without checking anything."""
    h, p, _ = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))


def token_tool(*args, timeout=None):
    """Run livecart-token with these arguments -> CompletedProcess (text)."""
    return subprocess.run([TOKEN_BIN, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout or T)


class Keys:
    """A JWT key file (for --jwt-key-file) and tokens signed with it.

    issue() asks livecart-token (the documented tool); forge() builds a token by hand (any
    header, claims or signature) for the failure cases."""

    def __init__(self, path, key=None):
        self.path = str(path)
        self.key = key if key is not None else "k-" + os.urandom(16).hex()
        with open(self.path, "w") as f:
            f.write(self.key + "\n")      # the trailing newline is not part of the key

    def issue(self, user, role="viewer", room=None, ttl=None):
        args = ["--key-file", self.path, "--user", user, "--role", role]
        if room is not None:
            args += ["--room", room]
        if ttl is not None:
            args += ["--ttl", ttl]
        r = token_tool(*args)
        assert r.returncode == 0, f"livecart-token {args} failed ({r.returncode}): {r.stderr}"
        tok = r.stdout.strip()
        assert tok.count(".") == 2, f"livecart-token printed {r.stdout!r}"
        return tok

    def forge(self, claims, header=None, key=None, signature=None):
        """HS256 over base64url(header).base64url(claims) with key (default: this key), or the
        given signature string."""
        header = {"alg": "HS256", "typ": "JWT"} if header is None else header
        h = b64url(json.dumps(header, separators=(",", ":")))
        p = b64url(json.dumps(claims, separators=(",", ":")))
        if signature is None:
            signature = self.sign(f"{h}.{p}", key)
        return f"{h}.{p}.{signature}"

    def sign(self, signing_input, key=None):
        """base64url(HMAC-SHA256(key, signing_input)) with this key by default."""
        k = (self.key if key is None else key).encode()
        return b64url(hmac.new(k, signing_input.encode(), hashlib.sha256).digest())

    def claims(self, user, role="viewer", room=None, ttl=3600, **extra):
        c = {"sub": user, "role": role, "exp": int(time.time()) + ttl}
        if room is not None:
            c["room"] = room
        c.update(extra)
        return c


async def hello_token(c, token, **extra):
    """Send a hello carrying token (and extra keys); return the direct reply."""
    msg = {"type": "hello"}
    if token is not None:
        msg["token"] = token
    msg.update(extra)
    await c.send(msg)
    return await c.recv_reply()


async def join_token(server, room, token, fmt="json", **extra):
    """connect + hello with a token; fails unless welcomed.  Returns the client."""
    c = await Client.connect(server, room, fmt)
    m = await hello_token(c, token, **extra)
    assert m["type"] == "welcome", f"hello with token answered with {m!r:.300}"
    return c


async def expect_refused(c, code, close_code, timeout=None):
    """The connection gets exactly one `error` with code, then is closed with close_code (and
    nothing else of interest: no welcome, no room traffic in between)."""
    got_close, msgs = await c.expect_close(timeout)
    errors = [m for m in msgs if m["type"] == "error"]
    assert [m.get("code") for m in errors] == [code], f"expected one error {code!r} before the close, got {msgs!r:.600}"
    assert isinstance(errors[0].get("message"), str), errors[0]
    assert got_close == close_code, f"expected close {close_code} after error {code!r}, got {got_close} (messages {msgs!r:.300})"
    return msgs


def _upgrade(port, path, headers=None, source=None, timeout=None, subprotocols=(SUBPROTO["json"],),
             version="13", key=None):
    """A hand-made WebSocket upgrade -> (status, {lowercased header: value}, status line, socket),
    the socket still open on a 101 and closed otherwise.  Done by hand so that any HTTP/1.x status
    line is read (client libraries refuse some and would hide the status).  version / key: the
    Sec-WebSocket-Version / -Key values (None: the header is left out; key default: a fresh one)."""
    key = base64.b64encode(os.urandom(16)).decode() if key is None else key
    req = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    if key is not False:
        req += f"Sec-WebSocket-Key: {key}\r\n"
    if version is not None:
        req += f"Sec-WebSocket-Version: {version}\r\n"
    if subprotocols:
        req += f"Sec-WebSocket-Protocol: {', '.join(subprotocols)}\r\n"
    for k, v in (headers or {}).items():
        req += f"{k}: {v}\r\n"
    req += "\r\n"
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout or T)
    if source:
        s.bind((source, 0))
    s.connect((HOST, port))
    s.sendall(req.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = s.recv(4096)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        buf += chunk
    head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        s.close()
        raise AssertionError(f"no HTTP status line in the answer to the upgrade of {path}: {buf[:200]!r}")
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    status = int(m.group(1))
    if status != 101:
        s.close()
    return status, hdrs, lines[0], s


def upgrade(port, path, headers=None, source=None, timeout=None):
    """A hand-made WebSocket upgrade (json subprotocol).  Returns (status, {lowercased header:
    value}, socket) with the socket still open on a 101 (the caller closes it) and closed
    otherwise.  source: the local address to connect from (any 127.x.y.z works on Linux)."""
    status, hdrs, _, s = _upgrade(port, path, headers, source, timeout)
    return status, hdrs, s


def self_signed_cert(tmpdir, cn="127.0.0.1"):
    """A self-signed certificate for 127.0.0.1 made with the openssl CLI -> (cert, key) paths."""
    cert = os.path.join(str(tmpdir), "cert.pem")
    key = os.path.join(str(tmpdir), "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", f"/CN={cn}",
                        "-addext", f"subjectAltName=IP:{cn}"],
                       capture_output=True, text=True, timeout=scaled(30))
    assert r.returncode == 0, f"openssl req failed: {r.stderr}"
    return cert, key


def https_get(port, path, ctx, timeout=None):
    """GET over TLS -> (status, body text)."""
    conn = http.client.HTTPSConnection(HOST, port, timeout=timeout or T, context=ctx)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def audit(rds, room):
    """Entries of the room's audit stream as a list of field dicts (with '_id')."""
    return [dict(f, _id=i) for i, f in rds.xrange(rkey(room, "audit"))]


import hashlib  # noqa: E402
import hmac  # noqa: E402


# --------------------------------------------------------------------------------------------
# Checkout and coupon drops (PROTOCOL.md "Checkout: reservations that must be paid in time",
# "Coupon drops (抢券)"): used by test_checkout.py and test_coupons.py

COUPON_TRAFFIC = frozenset(("coupon", "coupon_left", "coupon_gone"))
ALL_ROOM_TRAFFIC = ROOM_TRAFFIC | COUPON_TRAFFIC
# an `order` answer may carry these (PROTOCOL.md "Flash sale" and "Checkout")
ORDER_ANSWER_KEYS = frozenset(("type", "req", "sku", "status", "order", "qty", "left", "pay_by", "price", "coupon"))
CLAIM_ANSWER_KEYS = frozenset(("type", "req", "coupon", "status", "left"))
ORDER_EVENT_KEYS = frozenset(("type", "order", "sku", "qty"))     # `paid` and `expired`
NO_DECISION = ("unknown", "unavailable")


def check_order_answer(m):
    """An `order` answer of the checkout era: only the keys PROTOCOL.md lists, with their types;
    `ok` and `reserved` carry an order id, qty and the unit price, `reserved` its pay_by."""
    assert m.get("type") == "order", m
    extra = set(m) - ORDER_ANSWER_KEYS
    assert not extra, f"order answer with keys PROTOCOL.md does not list: {extra}: {m}"
    assert isinstance(m.get("status"), str) and isinstance(m.get("req"), str), m
    for k in ("qty", "left", "pay_by", "price"):
        if k in m:
            assert is_int(m[k]) and m[k] >= 0, f"{k} must be a non-negative integer: {m}"
    for k in ("order", "coupon", "sku"):
        if k in m:
            assert isinstance(m[k], str), f"{k} must be a string: {m}"
    if m["status"] in ("ok", "reserved"):
        assert re.fullmatch(r"\d+-\d+", m.get("order", "")), f"{m['status']} without an order id: {m}"
        assert is_int(m.get("qty")) and is_int(m.get("price")), f"{m['status']} without qty and price: {m}"
    else:
        assert "order" not in m, f"a {m['status']} answer names an order: {m}"
    if m["status"] == "reserved":
        assert is_int(m.get("pay_by")) and is_int(m.get("left")), f"reserved without pay_by/left: {m}"
    else:
        assert "pay_by" not in m, f"only a reservation has a pay_by: {m}"
    return m


async def order_answer(c, req, timeout=None):
    """The `order` answer for req, checked with check_order_answer (fails on an error frame)."""
    return check_order_answer(await _answer(c, lambda m: m["type"] == "order" and m.get("req") == req,
                                            f"order for req {req!r}", timeout))


async def send_buy_coupon(c, sku, req, qty=1, coupon=None, retry=False):
    msg = {"type": "buy", "sku": sku, "req": req}
    if qty is not None:
        msg["qty"] = qty
    if coupon is not None:
        msg["coupon"] = coupon
    if retry:
        msg["retry"] = True
    await c.send(msg)


async def buy_coupon(c, sku, req, qty=1, coupon=None, timeout=None, retry=False):
    """A buy (with a coupon when given); returns its checked `order` answer."""
    await send_buy_coupon(c, sku, req, qty, coupon, retry)
    return await order_answer(c, req, timeout)


async def open_sale_pay(c, sku, stock, price=1999, limit=None, pay_s=None, title=None, timeout=None):
    """A streamer opens a flash sale, with pay_s when given; returns the `sale` it receives."""
    msg = {"type": "sale_open", "sku": sku, "title": title or f"item {sku}", "price": price, "stock": stock}
    if limit is not None:
        msg["limit"] = limit
    if pay_s is not None:
        msg["pay_s"] = pay_s
    await c.send(msg)
    return await _answer(c, lambda m: m["type"] == "sale" and m.get("sku") == sku, f"sale {sku}", timeout)


def check_claim_answer(m):
    assert m.get("type") == "claim", m
    extra = set(m) - CLAIM_ANSWER_KEYS
    assert not extra, f"claim answer with keys PROTOCOL.md does not list: {extra}: {m}"
    assert isinstance(m.get("status"), str) and isinstance(m.get("req"), str), m
    assert isinstance(m.get("coupon"), str), m
    if "left" in m:
        assert is_int(m["left"]) and m["left"] >= 0, m
    return m


async def send_claim(c, coupon, req, retry=False):
    msg = {"type": "coupon_claim", "coupon": coupon, "req": req}
    if retry:
        msg["retry"] = True  # a re-send: decided by Redis (PROTOCOL.md "Sold out at the shard")
    await c.send(msg)


async def claim_answer(c, req, timeout=None):
    return check_claim_answer(await _answer(c, lambda m: m["type"] == "claim" and m.get("req") == req,
                                            f"claim for req {req!r}", timeout))


async def claim_coupon(c, coupon, req, timeout=None, retry=False):
    """Send a coupon_claim; returns its checked `claim` answer."""
    await send_claim(c, coupon, req, retry)
    return await claim_answer(c, req, timeout)


def coupon_drop_msg(coupon, title=None, quota=10, secs=60, **fields):
    """A coupon_drop message (pass off= or pct=, and per_user=, sku=, min_price= as wanted)."""
    msg = {"type": "coupon_drop", "coupon": coupon, "title": title or f"coupon {coupon}", "quota": quota,
           "secs": secs}
    msg.update({k: v for k, v in fields.items() if v is not None})
    if "off" not in msg and "pct" not in msg:
        msg["off"] = 100
    return msg


async def drop_coupon(c, coupon, title=None, quota=10, secs=60, timeout=None, **fields):
    """A streamer drops a coupon; returns the `coupon` broadcast it receives itself."""
    await c.send(coupon_drop_msg(coupon, title, quota, secs, **fields))
    return await _answer(c, lambda m: m["type"] == "coupon" and m.get("coupon") == coupon,
                         f"coupon {coupon}", timeout)


async def my_coupons(c, timeout=None):
    """Send `coupons`; returns the `my_coupons` answer."""
    await c.send({"type": "coupons"})
    return await _answer(c, lambda m: m["type"] == "my_coupons", "my_coupons", timeout)


def coupons_of(c, coupon, types):
    """The messages of the given types about coupon that c received, in order."""
    return [m for m in c.received if m["type"] in types and m.get("coupon") == coupon]


def coupon_left_seq(c, coupon):
    return [m["left"] for m in coupons_of(c, coupon, ("coupon_left",))]


def api_call(port, method, path, body=None, key=None, headers=None, timeout=None):
    """An HTTP request to a shard -> (status, parsed JSON or raw bytes, {lowercased header: value}).
    key: the Bearer API key (None: no Authorization header).  body: a dict (JSON) or bytes."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout or T)
    try:
        h = dict(headers or {})
        if key is not None:
            h["Authorization"] = f"Bearer {key}"
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        elif method == "POST":
            h.setdefault("Content-Length", "0")
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


def mark_paid(port, room, order, key):
    """POST /api/rooms/ROOM/orders/ORDER/paid -> (status, body)."""
    st, b, _ = api_call(port, "POST", f"/api/rooms/{room}/orders/{order}/paid", key=key)
    return st, b


def get_order(port, room, order, key):
    """GET /api/rooms/ROOM/orders/ORDER -> (status, body)."""
    st, b, _ = api_call(port, "GET", f"/api/rooms/{room}/orders/{order}", key=key)
    return st, b


def redis_ms(port, room):
    """Redis's clock (ms) on the node that holds the room."""
    r = client_for_key(port, rkey(room, "chat"), socket_timeout=T)
    try:
        s, us = r.time()
    finally:
        r.close()
    return s * 1000 + us // 1000


def metric(port, sample):
    """One sample of /metrics (0 when absent), e.g. 'livecart_coupons_total{event="claimed"}'."""
    return metrics(port).get(sample, 0)


# --------------------------------------------------------------------------------------------
# Lucky bags, leaderboards and "people are buying" (PROTOCOL.md "Lucky bag (福袋): a draw anyone
# can verify", "Leaderboards and \"people are buying\""): used by test_lottery.py and test_boards.py

LOTTERY_KEYS = frozenset(("type", "lottery", "prize", "winners", "ends", "keyword", "commit", "entries"))
RESULT_KEYS = frozenset(("type", "lottery", "winners", "entries", "seed"))
ENTER_STATUSES = frozenset(("ok", "already", "closed", "keyword", "muted", "banned", "rate_limited",
                            "unavailable", "unknown"))
BOARDS = ("likes", "buyers")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def room_redis(port, room):
    """A redis-py client (decode_responses=True) on the node that holds the room's keys."""
    return client_for_key(port, rkey(room, "chat"), socket_timeout=T, decode_responses=True)


def lottery_open_msg(lottery, prize=None, winners=1, secs=10, keyword=None):
    msg = {"type": "lottery_open", "lottery": lottery, "prize": prize or f"prize of {lottery}",
           "winners": winners, "secs": secs}
    if keyword is not None:
        msg["keyword"] = keyword
    return msg


def check_lottery_msg(m):
    """A `lottery` message (or an item of welcome.lotteries): the keys PROTOCOL.md lists, with
    their types; commit is 64 lowercase hex digits."""
    assert m.get("type", "lottery") == "lottery", m
    extra = set(m) - LOTTERY_KEYS
    assert not extra, f"lottery with keys PROTOCOL.md does not list: {extra}: {m}"
    for k in ("lottery", "prize", "commit"):
        assert isinstance(m.get(k), str), f"lottery.{k} must be a string: {m}"
    for k in ("winners", "ends"):
        assert is_int(m.get(k)), f"lottery.{k} must be an integer: {m}"
    assert _HEX64.fullmatch(m["commit"]), f"commit must be lowercase hex of a SHA-256: {m}"
    if "keyword" in m:
        assert isinstance(m["keyword"], str), m
    if "entries" in m:
        assert is_int(m["entries"]) and m["entries"] >= 0, m
    return m


async def open_lottery(c, lottery, prize=None, winners=1, secs=10, keyword=None, timeout=None):
    """A streamer opens a lottery; returns the (checked) `lottery` broadcast it receives itself."""
    await c.send(lottery_open_msg(lottery, prize, winners, secs, keyword))
    m = await _answer(c, lambda m: m["type"] == "lottery" and m.get("lottery") == lottery,
                      f"lottery {lottery}", timeout)
    return check_lottery_msg(m)


async def send_enter(c, lottery):
    await c.send({"type": "lottery_enter", "lottery": lottery})


def check_enter_answer(m):
    assert m.get("type") == "enter", m
    assert set(m) == {"type", "lottery", "status"}, f"enter answer must be exactly lottery and status: {m}"
    assert m["status"] in ENTER_STATUSES, f"enter.status not one PROTOCOL.md lists: {m}"
    return m


async def enter_answer(c, lottery, timeout=None):
    """The next `enter` answer about lottery (fails on an error frame)."""
    return check_enter_answer(await _answer(c, lambda m: m["type"] == "enter" and m.get("lottery") == lottery,
                                            f"enter answer for {lottery!r}", timeout))


async def enter_lottery(c, lottery, timeout=None):
    """Send lottery_enter; returns its checked `enter` answer."""
    await send_enter(c, lottery)
    return await enter_answer(c, lottery, timeout)


def bytewise(users):
    """Users sorted by their UTF-8 bytes (memcmp order, as a Redis sorted set with score 0)."""
    return sorted(users, key=lambda u: u.encode())


def draw_winners(seed, entrants, k):
    """PROTOCOL.md "The draw", computed here independently: entrants sorted bytewise; for i in
    0..k-1, h = the first 8 bytes of SHA-256(seed || decimal(i)) as a big-endian unsigned
    integer, j = i + h mod (n - i), swap i and j; the winners are the first k (k = min(K, n))."""
    assert isinstance(seed, bytes) and len(seed) == 32, seed
    users = bytewise(entrants)
    n = len(users)
    k = min(k, n)
    for i in range(k):
        h = int.from_bytes(hashlib.sha256(seed + str(i).encode()).digest()[:8], "big")
        j = i + h % (n - i)
        users[i], users[j] = users[j], users[i]
    return users[:k]


def seed_bytes(seed):
    """The 32 raw seed bytes of a revealed seed (64 hex digits on the wire)."""
    assert isinstance(seed, str) and re.fullmatch(r"[0-9a-fA-F]{64}", seed), \
        f"seed must be the 32 bytes in hex: {seed!r}"
    return bytes.fromhex(seed)


def check_result(m, lottery, commit, entrants, k):
    """A `lottery_result`: exactly lottery, winners, entries, seed; SHA-256(seed) = commit; the
    winners are the ones the rule picks from the seed and the bytewise-sorted entrants, k of them,
    distinct, all entrants."""
    assert m.get("type") == "lottery_result", m
    assert set(m) == RESULT_KEYS, f"lottery_result must carry exactly {sorted(RESULT_KEYS - {'type'})}: {m}"
    assert m["lottery"] == lottery, m
    seed = seed_bytes(m["seed"])
    assert hashlib.sha256(seed).hexdigest() == commit, \
        f"SHA-256 of the revealed seed {m['seed']} is not the commit {commit}"
    assert m["entries"] == len(entrants), f"entries {m['entries']} but {len(entrants)} entered: {sorted(entrants)}"
    w = m["winners"]
    assert isinstance(w, list) and all(isinstance(u, str) for u in w), m
    assert len(w) == min(k, len(entrants)), f"{len(w)} winners, expected min({k}, {len(entrants)}): {w}"
    assert len(set(w)) == len(w), f"a user won twice: {w}"
    assert set(w) <= set(entrants), f"winners that never entered: {set(w) - set(entrants)}"
    expect = draw_winners(seed, entrants, k)
    assert w == expect, f"the winners are not the draw's: got {w}, the rule gives {expect}"
    return m


def get_lottery(port, room, lottery, key):
    """GET /api/rooms/ROOM/lotteries/ID -> (status, body)."""
    st, b, _ = api_call(port, "GET", f"/api/rooms/{room}/lotteries/{lottery}", key=key)
    return st, b


def member(user, score):
    return {"type": "member", "user": user, "score": score}


def board_entries(scores):
    """The `entries` PROTOCOL.md asks for from {user: score}: best first, ties by user id
    bytewise, at most 10, zero scores left out."""
    items = [(u, s) for u, s in scores.items() if s > 0]
    items.sort(key=lambda us: (-us[1], us[0].encode()))
    return [member(u, s) for u, s in items[:10]]


def check_top(m):
    """A `top` message (or an item of welcome.tops): board and up to 10 member entries."""
    assert m.get("type", "top") == "top", m
    assert set(m) - {"type"} == {"board", "entries"}, f"top must carry exactly board and entries: {m}"
    assert m["board"] in BOARDS, m
    assert isinstance(m["entries"], list) and len(m["entries"]) <= 10, m
    for e in m["entries"]:
        assert isinstance(e, dict) and e.get("type", "member") == "member", m
        assert set(e) - {"type"} == {"user", "score"}, f"a top entry is user and score: {m}"
        assert isinstance(e["user"], str) and is_int(e["score"]), m
    return m


def top_without_zeros(entries):
    """Entries with score 0 dropped (PROTOCOL.md does not say whether a user whose units all came
    off stays listed with 0); a listed 0 must not stand above a positive score."""
    scores = [e["score"] for e in entries]
    pos = [s for s in scores if s > 0]
    assert scores[:len(pos)] == pos, f"a zero score listed above a positive one: {entries}"
    return [{"type": "member", "user": e["user"], "score": e["score"]} for e in entries if e["score"] > 0]


def tops_of(c, board):
    """The `top` messages about board that c received, in order (checked)."""
    return [check_top(m) for m in c.received if m["type"] == "top" and m.get("board") == board]


def last_board(c, board):
    """What c was shown last for board: its newest `top`, else its welcome's, else None."""
    t = tops_of(c, board)
    if t:
        return top_without_zeros(t[-1]["entries"])
    for m in (c.welcome or {}).get("tops", []):
        if m.get("board") == board:
            return top_without_zeros(check_top(m)["entries"])
    return None


async def wait_board(c, board, entries, timeout=None):
    """Wait until what c was shown last for board is entries (members, zero scores aside)."""
    if last_board(c, board) == entries:
        return
    await c.wait_for(lambda m: last_board(c, board) == entries, timeout,
                     what=f"board {board} == {entries} (shown: {last_board(c, board)})")


def zboard(port, room, board):
    """{user: score} of the sorted set lc:{R}:top:BOARD, which holds the scores negated (PROTOCOL.md
    "Redis layout": so that ZRANGE 0 9 is best first, ties by user id); zero scores left out."""
    r = room_redis(port, room)
    try:
        return {u: -int(s) for u, s in r.zrange(rkey(room, f"top:{board}"), 0, -1, withscores=True) if s}
    finally:
        r.close()


async def record_timed(c, seconds, into):
    """Read c for `seconds`, appending (monotonic arrival time, message) to `into` (and every
    message to c.received as usual)."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return into
        try:
            m = await c.recv(left)
        except RecvTimeout:
            return into
        into.append((time.monotonic(), m))


def min_gap(times):
    """The least time between two consecutive entries of times (inf for fewer than two)."""
    return min((b - a for a, b in zip(times, times[1:])), default=float("inf"))


def verify_draw_tool():
    """livecart-verify-draw: LIVECART_VERIFY_DRAW, else next to livecart-load (LIVECART_LOAD),
    livecart-token or the server, else in the build's loadtest/ or tools/."""
    env = os.environ.get("LIVECART_VERIFY_DRAW")
    if env:
        return env
    build = os.path.dirname(os.path.dirname(SERVER_BIN))
    dirs = [os.path.dirname(os.environ["LIVECART_LOAD"])] if os.environ.get("LIVECART_LOAD") else []
    for d in dirs + [os.path.dirname(TOKEN_BIN), os.path.dirname(SERVER_BIN), os.path.join(build, "loadtest"),
                     os.path.join(build, "tools")]:
        p = os.path.join(d, "livecart-verify-draw")
        if os.path.exists(p):
            return p
    return os.path.join(os.path.dirname(TOKEN_BIN), "livecart-verify-draw")
