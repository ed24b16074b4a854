"""pytest fixtures for the livecart black-box tests (see README.md in this folder)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lc  # noqa: E402

# LIVECART_REDIS_MODE=cluster: the module's Redis is a 3-primary Redis Cluster (cluster.py) and
# servers get --redis-cluster; tests that need one plain redis-server (a proxy in front of it,
# AOF restarts) ask for own_redis or are marked single_redis_only.
REDIS_MODE = os.environ.get("LIVECART_REDIS_MODE", "single")


def pytest_configure(config):
    config.addinivalue_line("markers", "single_redis_only: needs one plain redis-server (skipped on a cluster)")


def pytest_collection_modifyitems(config, items):
    if REDIS_MODE != "cluster":
        return
    skip = pytest.mark.skip(reason="needs one plain redis-server, not a cluster")
    for it in items:
        if "single_redis_only" in it.keywords:
            it.add_marker(skip)


def _redis_opts(redis_proc):
    """The server flags that point at the module's Redis when it is a cluster."""
    seeds = getattr(redis_proc, "seeds", None)
    return {"redis_cluster": seeds} if seeds else {}


def _register(node, proc):
    procs = getattr(node, "_lc_procs", None)
    if procs is None:
        procs = node._lc_procs = []
    if proc not in procs:
        procs.append(proc)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the logs of every process a failed test used to its report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for p in getattr(item, "_lc_procs", []):
            state = "running" if p.alive() else f"exited {p.returncode()}"
            rep.sections.append((f"{p.name} log ({state}, pid {p.pid})", p.log_text()[-20000:]))


def _check_server(s, log_offset=0):
    """Problems of a server after a test: died on its own, or a sanitizer report in its log."""
    problems = []
    if s.proc is not None and not s.expected_exit and not s.alive():
        problems.append(f"{s.name} died during the test with exit code {s.returncode()}")
    rep = s.sanitizer_report(log_offset)
    if rep:
        problems.append(f"{s.name} log has a sanitizer report:\n{rep}")
    return problems


# ------------------------------------------------------------------ Redis


@pytest.fixture(scope="module")
def redis_proc(tmp_path_factory):
    """The module's redis-server (shared by the tests of one file; every test uses its own room),
    or with LIVECART_REDIS_MODE=cluster its Redis Cluster."""
    if REDIS_MODE == "cluster":
        import cluster
        r = cluster.RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    else:
        r = lc.RedisProc(tmp_path_factory.mktemp("redis"))
    r.start()
    yield r
    if r.alive():
        r.kill()


@pytest.fixture
def own_redis(request, tmp_path):
    """A redis-server for this test alone, free to be stopped / restarted (.stop(save=True),
    .start() on the same port, .kill())."""
    r = lc.RedisProc(tmp_path / "own-redis")
    _register(request.node, r)
    r.start()
    yield r
    if r.alive():
        r.kill()


@pytest.fixture
def redis_port(redis_proc):
    return redis_proc.port


@pytest.fixture
def rds(redis_proc):
    """A redis-py client (decode_responses=True) on the module's Redis."""
    c = redis_proc.client()
    yield c
    c.close()


# ------------------------------------------------------------------ servers


@pytest.fixture
def start_server(request, tmp_path, redis_proc):
    """Factory: start_server(shard=None, wait='healthy', redis_port=None, env=None, **opts) -> lc.Server.

    A server of this test alone; by default on the module's Redis.  opts are server flags with
    '-' written as '_' (tick_ms=50, share_ttl_ms=1500, ...).  At teardown every server still
    running is stopped with SIGTERM; a server that died without the test stopping it, or whose
    log holds a sanitizer report, fails the test."""
    servers = []
    _register(request.node, redis_proc)

    def factory(shard=None, wait="healthy", redis_port=None, env=None, **opts):
        n = len(servers)
        if not redis_port:
            opts = {**_redis_opts(redis_proc), **opts}
        s = lc.Server(tmp_path / f"server{n}", redis_port or redis_proc.port,
                      shard=shard or f"s{n}", env=env, **opts)
        _register(request.node, s)
        servers.append(s)
        s.start(wait=wait)
        return s

    yield factory

    problems = []
    for s in servers:
        problems += _check_server(s)
        if s.alive():
            try:
                s.stop()
            except AssertionError as e:
                problems.append(str(e))
            problems += [p for p in _check_server(s) if "sanitizer" in p]
    if problems:
        pytest.fail("\n".join(dict.fromkeys(problems)), pytrace=False)


@pytest.fixture(scope="module")
def _module_server(tmp_path_factory, redis_proc):
    s = lc.Server(tmp_path_factory.mktemp("server"), redis_proc.port, shard="M", **_redis_opts(redis_proc))
    if os.path.exists(s.binary):
        try:
            s.start()
        except BaseException:
            s.kill()   # started but never healthy: do not leave it behind
            raise
    yield s
    if s.alive():
        s.stop()


@pytest.fixture
def server(request, _module_server, redis_proc):
    """The module's server with default flags (tick 100 ms), shared by the tests of one file.
    Do not stop it: use start_server() for a server of your own.  If it dies during a test, that
    test fails and the next test gets a fresh one."""
    s = _module_server
    _register(request.node, s)
    if not s.alive():
        try:
            s.start()
        except BaseException:
            s.kill()
            raise
    _register(request.node, redis_proc)
    offset = s.log_size()
    yield s
    problems = _check_server(s, offset)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def room():
    """A room name no other test uses."""
    return lc.uniq("room_")


@pytest.fixture
def aof_redis(request, tmp_path):
    """Like own_redis, but with the append-only file on and fsync'ed at every write: a SIGKILL'ed
    and restarted redis-server comes back with every acknowledged write."""
    r = lc.RedisProc(tmp_path / "aof-redis", extra_args=["--appendonly", "yes", "--appendfsync", "always"])
    _register(request.node, r)
    r.start()
    yield r
    if r.alive():
        r.kill()


# ------------------------------------------------------------------ tokens


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """A JWT key file for --jwt-key-file (lc.Keys: .path, .issue(user, role, room, ttl) through
    livecart-token, .forge(claims, header, key, signature) by hand)."""
    return lc.Keys(tmp_path_factory.mktemp("jwt") / "jwt.key")


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory):
    """A second, unrelated key file (tokens signed with it are badly signed for `keys`)."""
    return lc.Keys(tmp_path_factory.mktemp("jwt-other") / "other.key")
