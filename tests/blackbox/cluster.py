"""A real Redis Cluster for the black-box tests: redis-server processes in cluster mode on free
loopback ports (each with its cluster bus on port + 10000), made one cluster by
`redis-cli --cluster create`, N primaries with R replicas each.

The ports are reserved (_reserve_pair): several clusters start at once when the cluster suites
run beside other files (tests/meson.build), and a port that was merely free a moment ago can be
gone by the time its redis-server binds it.

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


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = map(int, f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _candidates():
    """Node ports whose bus (+ 10000) is also outside the ephemeral range, where lc.free_port()
    (a bind to port 0) and the local end of every outgoing connection come from: nothing else in
    the tests takes a port here, and no connection to a killed node's bus (its peers retry) can
    land on that very port as its own local port (a loopback self-connect would then hold the
    port its restart needs).  (deploy/redis_cluster.py picks its nodes in 20000-29999, which
    overlaps the buses here; a reserved port refuses its probe, and test_deploy runs alone.)"""
    lo, hi = _ephemeral_range()
    ports = [p for p in range(12000, 20000) if not (lo <= p <= hi or lo <= p + 10000 <= hi)]
    return ports or list(range(20000, 30000))   # an odd ephemeral range: the reservation alone


_CANDIDATES = _candidates()

# The replicas' first full sync starts at once instead of after Redis's 5-s wait for more replicas
# to share one transfer (repl-diskless-sync-delay; one replica a primary here): a cluster is
# healthy in ~2 s instead of ~6.  Only while it starts (RedisCluster.start).
_FIRST_SYNC_NOW = ["--repl-diskless-sync-delay", "0"]
_SYNC_DELAY_DEFAULT = 5


def _reserve_pair():
    """A port p with p and p + 10000 (its cluster bus) both free on loopback, and the two sockets
    that hold them: bound (a plain bind, which fails on any socket there, TIME_WAIT included),
    then SO_REUSEADDR and never listening, so that the node's redis-server (SO_REUSEADDR, as Redis
    always binds) can bind and listen on them while any other probe -- another cluster's,
    free_port()'s, a connect()'s choice of a local port -- sees them taken.  Held until the
    cluster is gone (kill), over a node's kill and restart too."""
    for _ in range(500):
        p = random.choice(_CANDIDATES)
        socks = []
        try:
            for q in (p, p + 10000):
                s = socket.socket()
                socks.append(s)
                s.bind((lc.HOST, q))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            return p, socks
        except OSError:
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
        self._held = []          # the sockets reserving the nodes' ports (_reserve_pair)
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
        for s in self._held:
            s.close()
        self._held = []

    # -- life

    def start(self, timeout=None):
        total = self.primaries * (1 + self.replicas)
        for i in range(total):
            port, held = _reserve_pair()
            self._held += held
            d = os.path.join(self.tmpdir, f"node-{i}")
            n = lc.RedisProc(d, port=port, extra_args=[
                "--cluster-enabled", "yes", "--cluster-config-file", os.path.join(d, "nodes.conf"),
                "--cluster-node-timeout", str(self.node_timeout_ms),
                # a replica may take over at once: the tests kill primaries on purpose
                "--cluster-replica-validity-factor", "0",
                "--cluster-allow-reads-when-down", "no"] + self.extra_args)
            n.extra_args[:0] = _FIRST_SYNC_NOW
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
            # healthy: from here on Redis's own delay, so a test's failover (a killed primary
            # back as a replica of the one that took over) goes as it would in production
            for n in self.nodes:
                del n.extra_args[:len(_FIRST_SYNC_NOW)]
                if _FIRST_SYNC_NOW[0] in self.extra_args:
                    continue   # the caller's own delay
                c = self._node_client(n)
                try:
                    c.config_set("repl-diskless-sync-delay", _SYNC_DELAY_DEFAULT)
                finally:
                    c.close()
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
        try:
            lc.wait_until(self.healthy, timeout or lc.scaled(30), interval=0.1, what="the cluster to be healthy")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self._states()}") from None

    def _states(self):
        """One line a node: what it thinks of the cluster and its replication (a failed wait's
        report: a slow sync, a failover, a node that never joined)."""
        lines = []
        for n in self.nodes:
            if not n.alive():
                lines.append(f"  {n.port}: not running")
                continue
            c = self._node_client(n)
            try:
                info = c.execute_command("CLUSTER", "INFO")
                if isinstance(info, str):
                    info = dict(ln.split(":", 1) for ln in info.split("\r\n") if ":" in ln)
                repl = c.info("replication")
                lines.append(f"  {n.port}: state {info.get('cluster_state')} slots_ok "
                             f"{info.get('cluster_slots_ok')} known {info.get('cluster_known_nodes')} "
                             f"epoch {info.get('cluster_current_epoch')} role {repl.get('role')} "
                             f"replicas {repl.get('connected_slaves', '-')} link "
                             f"{repl.get('master_link_status', '-')}")
            except redis_mod.RedisError as e:
                lines.append(f"  {n.port}: {e!r}")
            finally:
                c.close()
        return "nodes:\n" + "\n".join(lines)

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
