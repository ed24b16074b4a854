"""A real Redis Cluster for the black-box tests: redis-server processes in cluster mode on free
loopback ports (each with its cluster bus on port + 10000), made one cluster by
`redis-cli --cluster create`, N primaries with R replicas each.

    c = RedisCluster(tmpdir, primaries=3).start()
    c.seeds            # "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3" for --redis-cluster
    c.client()         # a redis-py RedisCluster (decode_responses=True)
    c.primary_for(key) # the RedisProc of the primary serving key's slot now
    c.kill(); ...

It looks like one process to the fixtures (alive, kill, pid, name, log_text), so a test's
report carries every node's log."""

import os
import random
import socket
import subprocess

import redis as redis_mod
from redis.cluster import RedisCluster as _RedisCluster

import lc


def _free_pair():
    """A port p with p and p + 10000 (its cluster bus) both free on loopback."""
    for _ in range(200):
        p = random.randint(20000, 29999)
        socks = []
        try:
            for q in (p, p + 10000):
                s = socket.socket()
                s.bind((lc.HOST, q))
                socks.append(s)
            return p
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free port pair for a cluster node")


class RedisCluster:
    name = "redis-cluster"

    def __init__(self, tmpdir, primaries=3, replicas=1, node_timeout_ms=1000, extra_args=()):
        self.tmpdir = str(tmpdir)
        self.primaries, self.replicas = primaries, replicas
        self.node_timeout_ms = node_timeout_ms
        self.extra_args = list(extra_args)
        self.nodes = []
        self.expected_exit = True

    # -- the fixtures' process interface

    @property
    def pid(self):
        return self.nodes[0].pid if self.nodes else None

    @property
    def port(self):
        """A node's port (a seed): enough for redis-py's RedisCluster and for ShardSub."""
        return self.nodes[0].port

    @property
    def seeds(self):
        return ",".join(f"{lc.HOST}:{n.port}" for n in self.nodes[:self.primaries])

    def alive(self):
        return bool(self.nodes) and all(n.alive() for n in self.nodes)

    def returncode(self):
        return next((n.returncode() for n in self.nodes if not n.alive()), None)

    def log_text(self):
        return "\n".join(f"=== node {n.port} ===\n" + n.log_text()[-6000:] for n in self.nodes)

    def kill(self):
        for n in self.nodes:
            if n.alive():
                n.kill()

    # -- life

    def start(self, timeout=None):
        total = self.primaries * (1 + self.replicas)
        for i in range(total):
            port = _free_pair()
            d = os.path.join(self.tmpdir, f"node-{i}")
            n = lc.RedisProc(d, port=port, extra_args=[
                "--cluster-enabled", "yes", "--cluster-config-file", os.path.join(d, "nodes.conf"),
                "--cluster-node-timeout", str(self.node_timeout_ms),
                # a replica may take over at once: the tests kill primaries on purpose
                "--cluster-replica-validity-factor", "0",
                "--cluster-allow-reads-when-down", "no"] + self.extra_args)
            self.nodes.append(n)
        try:
            for n in self.nodes:
                n.start()
            addrs = [f"{lc.HOST}:{n.port}" for n in self.nodes]
            r = subprocess.run(["redis-cli", "--cluster", "create", *addrs, "--cluster-replicas",
                                str(self.replicas), "--cluster-yes"],
                               capture_output=True, text=True, timeout=lc.scaled(60))
            assert r.returncode == 0, f"redis-cli --cluster create failed:\n{r.stdout}\n{r.stderr}"
            self.wait_healthy(timeout or lc.scaled(30))
        except BaseException:
            self.kill()
            raise
        self.expected_exit = False
        return self

    def _node_client(self, n):
        return redis_mod.Redis(host=lc.HOST, port=n.port, socket_timeout=2, decode_responses=True)

    def healthy(self):
        """Every live node sees every slot served, and every primary has its replicas online."""
        masters = 0
        for n in self.nodes:
            if not n.alive():
                continue
            c = self._node_client(n)
            try:
                info = c.execute_command("CLUSTER", "INFO")
                if isinstance(info, str):
                    info = dict(ln.split(":", 1) for ln in info.split("\r\n") if ":" in ln)
                if info.get("cluster_state") != "ok" or int(info.get("cluster_slots_ok", 0)) != 16384:
                    return False
                repl = c.info("replication")
                if repl.get("role") == "master" and int(repl.get("connected_slaves", 0)) > 0:
                    masters += 1
                    online = [v for k, v in repl.items() if k.startswith("slave") and isinstance(v, dict)
                              and v.get("state") == "online"]
                    if len(online) < int(repl["connected_slaves"]):
                        return False
            except redis_mod.RedisError:
                return False
            finally:
                c.close()
        return masters >= self.primaries if self.replicas else True

    def wait_healthy(self, timeout=None):
        lc.wait_until(self.healthy, timeout or lc.scaled(30), interval=0.1, what="the cluster to be healthy")

    def client(self):
        return _RedisCluster(host=lc.HOST, port=self.port, decode_responses=True,
                             socket_timeout=lc.T)

    def node_by_port(self, port):
        return next(n for n in self.nodes if n.port == int(port))

    def primary_for(self, key):
        """The RedisProc serving key's slot now (asked of a live node)."""
        for n in self.nodes:
            if not n.alive():
                continue
            c = self._node_client(n)
            try:
                slot = c.execute_command("CLUSTER", "KEYSLOT", key)
                for lo, hi, master, *_ in c.execute_command("CLUSTER", "SLOTS"):
                    if lo <= slot <= hi:
                        return self.node_by_port(master[1])
            except redis_mod.RedisError:
                continue
            finally:
                c.close()
        raise AssertionError(f"no node knows who serves {key}")

    def replica_of(self, primary):
        c = self._node_client(primary)
        try:
            repl = c.info("replication")
        finally:
            c.close()
        ports = [v["port"] for k, v in repl.items() if k.startswith("slave") and isinstance(v, dict)]
        assert ports, f"primary {primary.port} has no replica"
        return self.node_by_port(ports[0])
