"""web/livecart.js under Node's test runner, against real shards.

This file starts what the JavaScript tests need (the module's redis-server and two shards on it,
the first with the publish API on) and runs `node --test web/test/`. Those tests start and stop
a few shards of their own (drain and restart, accept-rate refusals, tokens) with the same binary
on the same Redis; their logs land in this test's tmp dir and are checked for sanitizer reports
like every other server's.

Node 20 has a global WebSocket only behind --experimental-websocket (Node >= 22: always; Node 18,
Debian 12's: none, and the tests bring a small client of their own). The test is skipped only
when there is no node at all. LIVECART_NODE names another node binary.
"""

import glob
import os
import re
import shutil
import signal
import subprocess

import pytest

import lc

KEY = "web-client-test-key"
NODE = os.environ.get("LIVECART_NODE") or shutil.which("node") or \
    ("/usr/bin/node" if os.path.exists("/usr/bin/node") else None)
TEST_DIR = os.path.join(lc.REPO, "web", "test")


def _node_flags():
    """--experimental-websocket where node has it and needs it (Node 20). Without any WebSocket
    (Node 18) the tests use their own client, web/test/ws-shim.mjs."""
    probe = subprocess.run([NODE, "--experimental-websocket", "-e",
                            "process.exit(typeof WebSocket === 'function' ? 0 : 3)"],
                           capture_output=True, timeout=30)
    return ["--experimental-websocket"] if probe.returncode == 0 else []


def _kill_leftovers(tmpdir):
    """Shards the JS tests started and did not stop (a crashed test run): stop them."""
    for pidfile in glob.glob(os.path.join(tmpdir, "node-*.pid")):
        try:
            with open(pidfile) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"livecart-server" not in f.read():
                    continue
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass


@pytest.mark.skipif(NODE is None, reason="node is not installed: the livecart.js tests need Node >= 20")
def test_livecart_js_against_real_shards(start_server, redis_proc, tmp_path):
    flags = _node_flags()
    s1 = start_server(shard="js1", env={"LIVECART_API_KEY": KEY})
    s2 = start_server(shard="js2")
    js_tmp = tmp_path / "js"
    js_tmp.mkdir()
    env = dict(os.environ,
               LIVECART_URL=f"ws://{lc.HOST}:{s1.port}/live",
               LIVECART_URL2=f"ws://{lc.HOST}:{s2.port}/live",
               LIVECART_API_KEY=KEY,
               LIVECART_SERVER=lc.SERVER_BIN,
               LIVECART_TOKEN=lc.TOKEN_BIN,
               LIVECART_REDIS_PORT=str(redis_proc.port),
               LIVECART_TEST_TMP=str(js_tmp),
               LIVECART_TIMEOUT_SCALE=str(lc.SCALE),
               NODE_NO_WARNINGS="1")
    files = sorted(glob.glob(os.path.join(TEST_DIR, "*.test.mjs")))
    assert files, f"no tests in {TEST_DIR}"
    try:
        r = subprocess.run([NODE, *flags, "--test", "--test-reporter=spec", *files],
                           cwd=lc.REPO, env=env, capture_output=True, text=True,
                           timeout=lc.scaled(240))
    finally:
        _kill_leftovers(str(js_tmp))
    out = r.stdout + r.stderr
    print(out)
    problems = []
    for log in sorted(glob.glob(str(js_tmp / "node-*.log"))):
        with open(log, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        m = lc._SANITIZER_RE.search(text)
        if m and os.environ.get("LIVECART_ALLOW_SANITIZER_REPORTS") != "1":
            problems.append(f"{os.path.basename(log)} has a sanitizer report:\n"
                            f"{text[max(0, m.start() - 200): m.start() + 4000]}")
    assert r.returncode == 0, f"node --test failed (exit {r.returncode}):\n{out[-20000:]}"
    assert re.search(r"^\S* ?fail 0$", out, re.M) and not re.search(r"^\S* ?pass 0$", out, re.M), out[-5000:]
    assert not problems, "\n".join(problems)
