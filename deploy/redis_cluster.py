"""The local Redis Cluster of livecart-up --redis-cluster N: N primaries and N replicas of
redis-server in cluster mode on free loopback ports (each with its cluster bus on port + 10000),
AOF on (everysec), made one cluster by `redis-cli --cluster create`, supervised like the shards:
a node that exits is started again on the same port and directory, and rejoins (as a replica of
whoever took over its slots)."""

import os
import random
import socket
import subprocess
import time

HOST = "127.0.0.1"


def redis_cmd(port, *args, timeout=1.0):
    """One command over RESP on 127.0.0.1:port; the reply as bytes/int/list, or None."""
    req = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() for x in args))
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(req)
            f = s.makefile("rb")
            return _read(f)
    except (OSError, ValueError):
        return None


def _read(f):
    line = f.readline()
    if not line:
        raise ValueError("closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        return None
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    raise ValueError("not RESP")


def _port_pair_free(p):
    socks = []
    try:
        for q in (p, p + 10000):
            s = socket.socket()
            s.bind((HOST, q))
            socks.append(s)
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


class RedisCluster:
    def __init__(self, primaries, dirpath, redis_bin, child_cls, taken):
        self.primaries, self.dir, self.bin, self.child_cls = primaries, dirpath, redis_bin, child_cls
        self.taken = taken
        self.nodes = []          # Child, with .port
        self.restart_at = {}

    def _free_port(self):
        for _ in range(500):
            p = random.randint(20000, 29999)
            if p not in self.taken and p + 10000 not in self.taken and _port_pair_free(p):
                self.taken.update((p, p + 10000))
                return p
        raise RuntimeError("no free port pair for a Redis Cluster node")

    @property
    def seeds(self):
        return ",".join(f"{HOST}:{n.port}" for n in self.nodes[:self.primaries])

    def start(self, fail):
        for i in range(2 * self.primaries):
            port = self._free_port()
            d = os.path.join(self.dir, f"redis{i}")
            os.makedirs(d, exist_ok=True)
            n = self.child_cls(f"redis{i}", [
                self.bin, "--port", str(port), "--bind", HOST, "--dir", d, "--protected-mode", "yes",
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "yes",
                "--appendfsync", "everysec"], self.dir)
            n.port = port
            n.start()
            self.nodes.append(n)
        for n in self.nodes:
            if not self._wait(lambda n=n: redis_cmd(n.port, "PING") == b"PONG", 10):
                fail(f"redis-server {n.name} did not answer on {HOST}:{n.port}", n)
        r = subprocess.run(["redis-cli", "--cluster", "create", *(f"{HOST}:{n.port}" for n in self.nodes),
                            "--cluster-replicas", "1", "--cluster-yes"], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            fail(f"redis-cli --cluster create failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
        if not self._wait(self.serving, 30):
            fail("the Redis Cluster does not serve every slot")

    @staticmethod
    def _wait(pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            time.sleep(0.1)
        return False

    def serving(self):
        """Every live node says the cluster is ok with all 16384 slots served."""
        for n in self.nodes:
            if not n.alive():
                continue
            info = redis_cmd(n.port, "CLUSTER", "INFO")
            if not info:
                return False
            kv = dict(ln.split(":", 1) for ln in info.decode().split("\r\n") if ":" in ln)
            if kv.get("cluster_state") != "ok" or kv.get("cluster_slots_ok") != "16384":
                return False
        return True

    def supervise_once(self, say, warn):
        """A node that exited is started again after a short delay (its nodes.conf and AOF make
        it rejoin); `restarted redis NAME 127.0.0.1:PORT` once it answers."""
        now = time.monotonic()
        for n in self.nodes:
            if n.alive():
                if getattr(n, "announce", False) and redis_cmd(n.port, "PING") == b"PONG":
                    n.announce = False
                    say(f"restarted redis {n.name} {HOST}:{n.port}")
                continue
            at = self.restart_at.get(n.name)
            if at is None:
                rc = n.proc.returncode
                warn(f"redis {n.name} exited ({'signal %d' % -rc if rc < 0 else 'code %d' % rc}); restarting in 1.0 s")
                self.restart_at[n.name] = now + 1.0
            elif now >= at:
                del self.restart_at[n.name]
                n.start()
                n.announce = True
