"""livecart-load's checkout (`sale --pay-s`) and coupon (`coupon`) scenarios against two real shards
and Redis: each runs small and stops by itself, its report agrees with Redis and with the API, and a
run whose invariants are broken from outside (someone else pays, the drop is refused) fails."""

import http.client
import json
import os
import subprocess
import tempfile
import time

import pytest

import lc

LOAD = os.environ.get("LIVECART_LOAD") or os.path.join(lc.REPO, "build", "loadtest", "livecart-load")
KEY = "test-loadtool-key-0123456789"
# The tool's buyers send a buy and its retry, its claimers up to K + 1 claims and a `coupons`:
# within the default buckets, but a shared CI box is slow enough to make bursts meet; roomy here.
ROOMY = {"buy_rate": 1000, "buy_burst": 1000}


def tool_env(key=None):
    env = {k: v for k, v in os.environ.items() if k != "LIVECART_API_KEY"}
    if key:
        env["LIVECART_API_KEY"] = key
    return env


def load_cmd(*args):
    path = os.path.join(tempfile.mkdtemp(prefix="lcload-"), "report.json")
    return [LOAD, *map(str, args), "--json", path], path


def run_load(*args, key=None, timeout=120):
    """Runs the tool; returns (exit code, report dict, stderr)."""
    cmd, path = load_cmd(*args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=lc.scaled(timeout), env=tool_env(key))
    report = json.load(open(path)) if os.path.exists(path) else {}
    return p.returncode, report, p.stderr


def shards_arg(servers):
    return ",".join(f"ws://127.0.0.1:{s.port}/live" for s in servers)


def api(port, method, path, body=None):
    conn = http.client.HTTPConnection(lc.HOST, port, timeout=lc.T)
    try:
        h = {"Authorization": f"Bearer {KEY}"}
        data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        if data is not None:
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def failed_checks(rep):
    return sorted(k for k, v in rep.get("invariants", {}).items() if not v["ok"])


@pytest.fixture
def shards(start_server, tmp_path):
    """Two shards on the module's Redis with the shop's API key (from a file, as deployed)."""
    p = tmp_path / "api.key"
    p.write_text(KEY + "\n")
    return [start_server(api_key_file=str(p), **ROOMY) for _ in range(2)], str(p)


@pytest.fixture
def open_shards(start_server):
    """Two open-mode shards without an API key: the demo shop pays."""
    return [start_server(**ROOMY) for _ in range(2)]


def test_checkout_pays_half_and_the_rest_expires_once(shards, rds, room):
    servers, keyfile = shards
    code, rep, err = run_load("sale", "--shards", shards_arg(servers), "--room", room, "--conns", 200,
                              "--stock", 100, "--pay-s", 30, "--pay-ratio", 0.5, "--api-key-file", keyfile,
                              timeout=150)
    assert code == 0, err
    assert rep["ok"] is True and not failed_checks(rep), failed_checks(rep)
    res, co = rep["result"], rep["result"]["checkout"]
    assert res["status"]["reserved"] == 100 and res["status"]["sold_out"] == 100 and res["status"]["ok"] == 0
    assert co["shop"] == "api" and co["reservations"] == 100 and co["to_pay"] == 50
    assert co["paid_200"] == 50 and co["paid_notices"] == 50 and co["expired_notices"] == 50
    assert co["api_status"] == 200 and co["api_stock"] == 50  # the 50 expired units are back, once
    for k in ("extra_notices", "stray_notices", "not_ended", "early_expiries", "late_409", "failed"):
        assert co[k] == 0, (k, co)
    assert co["pay_latency_us"]["count"] >= 50 and co["expiry_after_deadline_us"]["count"] == 50
    # the stream agrees: one reservation record per order, then exactly one paid or expire each
    recs = lc.orders(rds, room)
    made = {i for i, f in recs if f.get("kind") == "order"}
    ended = [f["order"] for _, f in recs if f.get("kind") in ("paid", "expire")]
    assert len(made) == 100 and sorted(ended) == sorted(made)
    assert sum(f.get("kind") == "paid" for _, f in recs) == 50
    # and so does the order's state
    st, o = api(servers[1].port, "GET", f"/api/rooms/{room}/orders/{sorted(made)[0]}")
    assert st == 200 and o["state"] in ("paid", "expired")
    assert rep["client"]["errors"] == {} and rep["client"]["decode_errors"] == 0


def test_checkout_through_the_demo_shop_without_a_key(open_shards, rds, room):
    # every reservation paid: nothing to wait for, the run ends with the last `paid`
    code, rep, err = run_load("sale", "--shards", shards_arg(open_shards), "--room", room, "--conns", 60,
                              "--stock", 40, "--pay-s", 30, "--pay-ratio", 1)
    assert code == 0, err
    co = rep["result"]["checkout"]
    assert co["shop"] == "demo" and co["reservations"] == 40 and co["paid_200"] == 40
    assert co["paid_notices"] == 40 and co["expired_notices"] == 0
    assert rep["invariants"]["final_stock_is_stock_minus_paid"]["ok"] is True
    assert len(lc.orders(rds, room, kind="paid")) == 40


def test_checkout_run_fails_when_someone_else_pays_what_it_left_to_expire(shards, rds, room):
    """The tool pays nothing (--pay-ratio 0); the test pays every reservation behind its back: the
    buyers are told `paid` for orders the tool's shop never paid, and the tool must say so."""
    servers, keyfile = shards
    cmd, path = load_cmd("sale", "--shards", shards_arg(servers), "--room", room, "--conns", 40, "--stock", 10,
                         "--pay-s", 30, "--pay-ratio", 0, "--api-key-file", keyfile)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=tool_env())
    try:
        def reserved():
            got = lc.orders(rds, room, kind="order")
            return got if len(got) == 10 else None

        made = lc.wait_until(reserved, lc.scaled(30), what="the tool's 10 reservations")
        for oid, _ in made:
            st, body = api(servers[0].port, "POST", f"/api/rooms/{room}/orders/{oid}/paid")
            assert st == 200 and body["status"] == "paid", body
        _, err = p.communicate(timeout=lc.scaled(60))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode != 0, "the tool accepted reservations paid by nobody it knows"
    rep = json.load(open(path))
    assert "paid_xor_expired" in failed_checks(rep), err
    assert rep["result"]["checkout"]["paid_notices"] == 10 and rep["result"]["checkout"]["to_pay"] == 0


def test_coupon_race_over_two_shards_hands_out_the_quota_exactly(shards, rds, room):
    servers, _ = shards
    code, rep, err = run_load("coupon", "--shards", shards_arg(servers), "--room", room, "--conns", 300,
                              "--quota", 100)
    assert code == 0, err
    assert rep["ok"] is True and not failed_checks(rep), failed_checks(rep)
    res = rep["result"]
    assert res["ok_claims"] == 100 and res["status"]["ok"] == 100
    assert res["status"]["gone"] + res["status"]["limit"] == 300  # each claimer's last claim
    assert res["gone_notices"] >= 300 - res["lost_claimers"]     # every claimer saw the quota run out
    assert res["claim_latency_us"]["count"] == res["answers"] and res["claims_per_s"] > 0
    assert rds.hget(lc.rkey(room, f"coupon:{res['coupon']}"), "left") == "0"
    assert rep["client"]["errors"] == {} and rep["client"]["decode_errors"] == 0


def test_coupon_claimers_that_reconnect_mid_race_get_their_first_decision(shards, room):
    servers, _ = shards
    # the quota outlasts the crowd: every claimer takes its K and is told `limit` for one more
    code, rep, err = run_load("coupon", "--shards", shards_arg(servers), "--room", room, "--conns", 120,
                              "--quota", 500, "--per-user", 3, "--retry")
    assert code == 0, err
    assert rep["ok"] is True and not failed_checks(rep), failed_checks(rep)
    res = rep["result"]
    assert res["ok_claims"] == 360 and res["status"]["limit"] == 120 and res["status"]["gone"] == 0
    assert res["reconnects"] == 12
    assert rep["invariants"]["dropped_claimers_came_back"]["ok"] is True


def test_coupon_run_fails_when_the_drop_is_refused(shards, room):
    """A room that holds 20 claimable coupons refuses a 21st (PROTOCOL.md): the tool's drop gets
    `bad_request` and the run must fail rather than report a race that never happened."""
    servers, _ = shards
    for i in range(20):
        st, body = api(servers[0].port, "POST", f"/api/rooms/{room}/messages",
                       {"type": "coupon_drop", "coupon": f"pre{i}", "title": "pre", "off": 10, "quota": 5,
                        "secs": 600})
        assert 200 <= st < 300, (st, body)
    t0 = time.monotonic()
    code, rep, err = run_load("coupon", "--shards", shards_arg(servers), "--room", room, "--conns", 20,
                              "--quota", 10)
    assert code != 0, err
    assert "coupon_dropped" in failed_checks(rep)
    assert time.monotonic() - t0 < lc.scaled(30)  # it stops at the refusal, not at the hard stop
