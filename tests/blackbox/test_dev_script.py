"""`scripts/dev run`: how it stops (README: "it starts redis-server itself when nothing answers on
6379 and stops it with the server (Ctrl-C)").

Each test runs the real script (install_packages is a no-op when every package is installed; the
build step is a no-op ninja on ./build) on free ports (LIVECART_REDIS_PORT, `--port`) with its
Redis files in the test's tmp dir (LIVECART_RUN_DIR), under a pseudo-terminal that is the
script's controlling terminal, as in a developer's shell.  "Ctrl-C" is the byte ^C written to
that terminal: the kernel then sends SIGINT to the whole foreground process group (bash and the
server; the daemonized redis-server is in a session of its own and gets nothing), exactly what a
terminal does.  Every test checks that nothing the script started is left behind: no process in
its session, not the redis-server it started, nothing listening on either port.
"""

import fcntl
import os
import re
import select
import signal
import socket
import subprocess
import termios
import threading

import pytest

import lc

SCRIPT = os.path.join(lc.REPO, "scripts", "dev")


def _script_packages():
    """The PACKAGES list of scripts/dev (to know whether `run` would call apt-get)."""
    with open(SCRIPT) as f:
        m = re.search(r"^PACKAGES=\((.*?)\)", f.read(), re.S | re.M)
    assert m, "no PACKAGES=(...) in scripts/dev"
    return m.group(1).split()


def _missing_packages():
    missing = []
    for p in _script_packages():
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
        if "install ok installed" not in r.stdout:
            missing.append(p)
    return missing


@pytest.fixture(scope="module", autouse=True)
def _runnable():
    """The script must not apt-get install or configure a build from inside a test."""
    try:
        missing = _missing_packages()
    except FileNotFoundError:
        pytest.skip("no dpkg-query: scripts/dev is for Debian")
    if missing:
        pytest.skip(f"scripts/dev run would apt-get install {missing}")
    if not os.path.exists(os.path.join(lc.REPO, "build", "build.ninja")):
        pytest.skip("./build is not configured (scripts/dev run would run meson setup)")


# --------------------------------------------------------------------------------------------
# processes


def pid_alive(pid):
    """True while pid exists and is not a zombie (the daemonized redis-server is not our child;
    its new parent may take a moment to reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def session_members(sid):
    """{pid: command line} of the live (non-zombie) processes of session sid."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except (OSError, IndexError):
            continue
        # after the comm: state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] != "Z":
            out[int(d)] = cmd
    return out


def listening(port):
    try:
        with socket.create_connection((lc.HOST, port), timeout=2):
            return True
    except OSError:
        return False


class DevRun:
    """`scripts/dev run ARGS` in a session of its own whose controlling terminal is a pty; the
    terminal's output (script, server and redis-cli messages) is collected in .output()."""

    def __init__(self, tmp_path, args, redis_port):
        self.run_dir = str(tmp_path / "run")
        self.redis_port = redis_port
        env = dict(os.environ, LIVECART_REDIS_PORT=str(redis_port), LIVECART_RUN_DIR=self.run_dir)
        master, slave = os.openpty()

        def become_session_leader_with_this_terminal():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)   # stdin is the pty's slave side

        try:
            self.proc = subprocess.Popen([SCRIPT, "run", *map(str, args)], cwd=str(tmp_path), env=env,
                                         stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                                         preexec_fn=become_session_leader_with_this_terminal)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self.pid = self.proc.pid
        self.master = master
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # keep reading: a full pty buffer would block the script and the server
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self.master], [], [], 0.1)
            if not r:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:        # EIO: every slave side is closed
                return
            if not data:
                return
            with self._lock:
                self._buf += data

    def output(self):
        with self._lock:
            return self._buf.decode("utf-8", "replace")

    def ctrl_c(self):
        os.write(self.master, b"\x03")

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"scripts/dev run did not exit within {timeout:.0f}s; output:\n"
                                 + self.output()[-4000:]) from None

    def close(self):
        """Kill whatever is left (by pid): the script's session, then the redis it started."""
        redis_pid = self.started_redis_pid
        if redis_pid is None:      # the test failed before reading it: ask the pid file
            try:
                redis_pid = self.read_redis_pid()
            except (OSError, ValueError):
                pass
        for pid in session_members(self.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        if redis_pid and pid_alive(redis_pid) and _is_redis(redis_pid):
            os.kill(redis_pid, signal.SIGKILL)
        self._stop.set()
        self._reader.join(5)
        os.close(self.master)

    # -- what the script started

    started_redis_pid = None

    def wait_healthy(self, port, timeout):
        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"scripts/dev run exited with {self.proc.returncode} before the "
                                     f"server was healthy; output:\n{self.output()[-4000:]}")
            try:
                return lc.healthz(port, timeout=2)[0] == 200
            except OSError:
                return False
        try:
            lc.wait_until(healthy, timeout, interval=0.1, what=f"/healthz 200 on {port}")
        except AssertionError as e:
            raise AssertionError(f"{e}\noutput:\n{self.output()[-4000:]}") from None

    def read_redis_pid(self):
        """The pid in the run dir's redis.pid (written by the redis-server the script started)."""
        with open(os.path.join(self.run_dir, "redis.pid")) as f:
            self.started_redis_pid = int(f.read().strip())
        return self.started_redis_pid


def _is_redis(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"redis-server" in f.read()
    except OSError:
        return False


def ports():
    a = lc.free_port()
    b = lc.free_port()
    while b == a:
        b = lc.free_port()
    return a, b


START = lc.scaled(90)   # packages check + no-op ninja + redis + server; ASan CI box is slow
STOP = lc.scaled(30)    # the drain (no connections: immediate) + redis shutdown


def assert_nothing_left(run, server_port, redis_port, redis_pid):
    """After the script exited: no process of its session, not the redis-server it started,
    nothing on either port (server_port None: the server never listened)."""
    out = run.output()
    left = session_members(run.pid)
    assert not left, f"processes of the script's session still running: {left}\noutput:\n{out[-4000:]}"
    # the script waits for its redis to go before it exits; a little slack for the reaping
    try:
        lc.wait_until(lambda: not pid_alive(redis_pid), lc.scaled(3), what=f"redis-server {redis_pid} to go")
    except AssertionError as e:
        raise AssertionError(f"{e}: the script left it running\noutput:\n{out[-4000:]}") from None
    if server_port is not None:
        assert not listening(server_port), f"something still listens on the server port {server_port}"
    assert not listening(redis_port), f"something still listens on the redis port {redis_port}"


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["ctrl_c_on_the_terminal", "sigint_to_the_process_group"])
def test_dev_run_stopped_with_ctrl_c_exits_0_and_leaves_no_redis_behind(tmp_path, how):
    port, redis_port = ports()
    run = DevRun(tmp_path, ["--port", port], redis_port)
    try:
        run.wait_healthy(port, START)
        redis_pid = run.read_redis_pid()
        assert pid_alive(redis_pid) and _is_redis(redis_pid), f"pid file names {redis_pid}, not a redis-server"
        assert redis_pid not in session_members(run.pid), "redis-server should be daemonized (own session)"
        assert f"redis-server pid {redis_pid} on 127.0.0.1:{redis_port}" in run.output(), run.output()
        # started by the script with the AOF on (durability by default in dev)
        assert lc.wait_until(lambda: os.path.isdir(os.path.join(run.run_dir, "appendonlydir")),
                             lc.scaled(5), what="the AOF directory in the run dir")

        if how == "ctrl_c_on_the_terminal":
            run.ctrl_c()
        else:
            os.killpg(run.pid, signal.SIGINT)
        rc = run.wait_exit(STOP)
        out = run.output()
        assert "unbound variable" not in out, out
        assert "SIGINT: draining" in out, f"the server did not drain on Ctrl-C:\n{out[-4000:]}"
        assert rc == 0, f"exit status {rc} after Ctrl-C (the server drained and exited 0):\n{out[-4000:]}"
        assert_nothing_left(run, port, redis_port, redis_pid)
        assert not os.path.exists(os.path.join(run.run_dir, "redis.pid")), "redis did not shut down cleanly"
    finally:
        run.close()


def test_dev_run_reuses_a_running_redis_and_leaves_it_running_after_ctrl_c(tmp_path):
    theirs = lc.RedisProc(tmp_path / "their-redis")
    theirs.start()
    run = None
    try:
        port = lc.free_port()
        run = DevRun(tmp_path, ["--port", port], theirs.port)
        run.wait_healthy(port, START)
        out = run.output()
        assert "starting redis-server" not in out, out
        assert f"reusing the Redis already on 127.0.0.1:{theirs.port}" in out, out
        assert not os.path.exists(os.path.join(run.run_dir, "redis.pid")), "it started a Redis of its own"

        run.ctrl_c()
        rc = run.wait_exit(STOP)
        out = run.output()
        assert "unbound variable" not in out and "stopping the redis-server" not in out, out
        assert rc == 0, f"exit status {rc}:\n{out[-4000:]}"
        assert not session_members(run.pid)
        assert not listening(port)
        # still there, still answering: it was not ours to stop
        assert theirs.alive(), "the script stopped a Redis it did not start"
        c = theirs.client()
        try:
            assert c.ping()
        finally:
            c.close()
    finally:
        if run is not None:
            run.close()
        theirs.kill()


def test_dev_run_sigterm_to_the_script_drains_the_server_and_stops_its_redis_exit_0(tmp_path):
    # SIGTERM to the script alone (a supervisor, `kill <pid>`): the script passes it on to the
    # server, which drains (as on a SIGTERM of its own) and exits 0; the script then stops its
    # Redis and exits with the server's status, 0.  0 and not 143: the stop was asked for and
    # went cleanly, the wrapper is as transparent as the server it runs (which exits 0 on
    # SIGTERM), and a supervisor needs no "143 is fine" special case.
    port, redis_port = ports()
    run = DevRun(tmp_path, ["--port", port], redis_port)
    try:
        run.wait_healthy(port, START)
        redis_pid = run.read_redis_pid()
        os.kill(run.pid, signal.SIGTERM)
        rc = run.wait_exit(STOP)
        out = run.output()
        assert "SIGTERM: draining" in out, f"the server did not get the SIGTERM:\n{out[-4000:]}"
        assert "unbound variable" not in out, out
        assert rc == 0, f"exit status {rc} after SIGTERM:\n{out[-4000:]}"
        assert_nothing_left(run, port, redis_port, redis_pid)
    finally:
        run.close()


def test_dev_run_stops_its_redis_when_the_server_exits_on_its_own_and_passes_its_status(tmp_path):
    # A server that refuses its arguments exits 2 at once: the script exits 2 too, and does not
    # leave the Redis it started for that run behind.
    _, redis_port = ports()
    run = DevRun(tmp_path, ["--no-such-flag"], redis_port)
    try:
        rc = run.wait_exit(START)
        out = run.output()
        m = re.search(r"redis-server pid (\d+) on", out)
        assert m, f"no banner naming the redis pid:\n{out[-4000:]}"
        assert rc == 2, f"exit status {rc}, the server's was 2:\n{out[-4000:]}"
        assert "unbound variable" not in out, out
        run.started_redis_pid = int(m.group(1))
        assert_nothing_left(run, None, redis_port, run.started_redis_pid)
    finally:
        run.close()
