"""livecart-load's lottery scenario and livecart-verify-draw against two real shards and Redis: a
lucky bag entered by lottery_enter or by its keyword, some entrants twice (on the same path, on both,
from a second connection on the other shard), runs small and stops by itself after the draw; its
report's invariants hold (one result per connection, winners distinct entrants, k = min(K, n), n the
distinct entrants, `entered` once per connection, `won` to each winner, the draw recomputed by the
tool's own C SHA-256 and checked through the API); livecart-verify-draw accepts the API's answer and
refuses one with two winners swapped, another winner, a wrong seed or an entrant left out; and a
run whose lottery is refused fails (PROTOCOL.md "Lucky bag (福袋): a draw anyone can verify")."""

import asyncio
import json
import os
import subprocess
import tempfile
import time

import pytest

import lc

LOAD = os.environ.get("LIVECART_LOAD") or os.path.join(lc.REPO, "build", "loadtest", "livecart-load")
KEY = "test-loadtool-lottery-key-0123456789"
SECS = 10  # the least a lottery may last: every run waits for its draw


def tool_env():
    return {k: v for k, v in os.environ.items() if k != "LIVECART_API_KEY"}


def run_load(*args, timeout=120):
    """Runs the tool; returns (exit code, report dict, stderr)."""
    path = os.path.join(tempfile.mkdtemp(prefix="lcload-"), "report.json")
    cmd = [LOAD, *map(str, args), "--json", path]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=lc.scaled(timeout), env=tool_env())
    report = json.load(open(path)) if os.path.exists(path) else {}
    return p.returncode, report, p.stderr


def shards_arg(servers):
    return ",".join(f"ws://127.0.0.1:{s.port}/live" for s in servers)


def failed_checks(rep):
    return sorted(k for k, v in rep.get("invariants", {}).items() if not v["ok"])


def verify(doc):
    """livecart-verify-draw on doc (a dict, or raw text) through stdin."""
    data = doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False)
    return subprocess.run([lc.verify_draw_tool()], input=data, capture_output=True, text=True, timeout=lc.scaled(10))


@pytest.fixture
def shards(start_server, tmp_path):
    """Two shards on the module's Redis with the shop's API key (from a file, as deployed)."""
    p = tmp_path / "api.key"
    p.write_text(KEY + "\n")
    return [start_server(api_key_file=str(p)) for _ in range(2)], str(p)


def check_report(rep, conns, winners, twice):
    """The report's numbers against the plan: every 20th viewer watches, the rest enter."""
    assert rep["ok"] is True and not failed_checks(rep), failed_checks(rep)
    res = rep["result"]
    n = conns - conns // 20
    plans = res["plans"]
    assert res["entrants_planned"] == n and plans["watch"] == conns // 20
    assert plans["same_path"] + plans["both_paths"] + plans["twin"] == int(n * twice + 1e-9)
    assert res["entries"] == n and res["entered_users"] == n
    assert res["k"] == min(winners, n) and len(res["winners"]) == res["k"]
    assert len(set(res["winners"])) == res["k"]
    assert res["connections"] == conns + plans["twin"] + 1 + (res["late_joiner"] == "joined")
    assert res["results"] == res["connections"] and res["result_notices"] == res["connections"]
    assert res["entered_notices"] == n + plans["twin"]  # every connection of an entrant, once
    assert res["lost"] == 0 and res["stray"] == 0 and res["decode_errors"] == 0
    assert rep["client"]["errors"] == {} and rep["client"]["decode_errors"] == 0
    assert rep["invariants"]["draw_recomputed"]["ok"] and rep["invariants"]["commit_holds"]["ok"]
    return res


def test_lottery_enter_over_two_shards_draws_once_and_verifiably(shards, room):
    servers, keyfile = shards
    code, rep, err = run_load("lottery", "--shards", shards_arg(servers), "--room", room, "--conns", 200,
                              "--winners", 10, "--secs", SECS, "--twice", 0.2, "--api-key-file", keyfile)
    assert code == 0, err
    res = check_report(rep, 200, 10, 0.2)
    plans, st = res["plans"], res["status"]
    # lottery_enter: one `ok` per entrant; every second one (same path, twin) `already`
    assert st["ok"] == 190 and st["already"] == plans["same_path"] + plans["twin"]
    assert st["keyword"] == 0 and st["closed"] == 0
    assert res["late_joiner"] == "joined" and res["late_welcome_entries"] == 190
    assert res["api_status"] == 200 and rep["invariants"]["api_agrees_with_the_room"]["ok"]
    assert rep["invariants"]["api_answer_verifies"]["ok"]

    # the answer verifies from the outside too, and every tampering is found
    st_code, body = lc.get_lottery(servers[1].port, room, res["lottery"], KEY)
    assert st_code == 200 and body["state"] == "drawn", body
    assert body["winners"] == res["winners"] and body["seed"] == res["seed"]
    ok = verify(body)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VERIFIED" in ok.stdout and "NOT VERIFIED" not in ok.stdout

    swapped = json.loads(json.dumps(body))
    swapped["winners"][0], swapped["winners"][1] = swapped["winners"][1], swapped["winners"][0]
    other = json.loads(json.dumps(body))
    other["winners"][-1] = next(u for u in body["entrants"] if u not in body["winners"])
    wrong_seed = dict(body, seed=("0" if body["seed"][0] != "0" else "1") + body["seed"][1:])
    fake_seed = dict(body, seed="ab" * 32, commit=body["commit"])
    left_out = dict(body, entrants=[u for u in body["entrants"] if u != body["winners"][0]])
    for what, doc in (("two winners swapped", swapped), ("another winner", other),
                      ("a wrong seed", wrong_seed), ("a made-up seed", fake_seed),
                      ("a winner left out of the entrants", left_out)):
        r = verify(doc)
        assert r.returncode == 1, f"livecart-verify-draw accepted {what}: {r.stdout}"
        assert "NOT VERIFIED" in r.stdout and "FAIL" in r.stdout, r.stdout
    assert verify("{not json").returncode == 1


def test_keyword_comments_over_two_shards_enter_once(shards, room):
    servers, keyfile = shards
    # ASCII letters are compared case-insensitively (every other viewer flips them), the rest as is
    code, rep, err = run_load("lottery", "--shards", shards_arg(servers), "--room", room, "--conns", 200,
                              "--winners", 10, "--secs", SECS, "--twice", 0.3, "--keyword", "福袋Go",
                              "--api-key-file", keyfile)
    assert code == 0, err
    res = check_report(rep, 200, 10, 0.3)
    st = res["status"]
    # a keyword lottery answers every lottery_enter (the "both paths" viewers) with `keyword`
    assert st["keyword"] == res["plans"]["both_paths"] and st["ok"] == 0 and st["already"] == 0
    assert res["comments_received"] > 0  # the comments are comments too: the room saw them
    body = lc.get_lottery(servers[0].port, room, res["lottery"], KEY)[1]
    assert body["keyword"] == "福袋Go" and len(body["entrants"]) == 190
    assert verify(body).returncode == 0


def test_fewer_entrants_than_winners_all_win(shards, room):
    servers, _ = shards
    code, rep, err = run_load("lottery", "--shards", shards_arg(servers), "--room", room, "--conns", 8,
                              "--winners", 50, "--secs", SECS, "--twice", 0.5)
    assert code == 0, err
    res = check_report(rep, 8, 50, 0.5)
    prefix = res["winners"][0].rsplit("-", 1)[0]  # the tool's users: lv-PID-i
    assert res["k"] == 8 and sorted(res["winners"]) == sorted(f"{prefix}-{i}" for i in range(8))
    assert "api_answer_verifies" not in rep["invariants"]  # no key: the tool checks what it saw


@lc.async_test(timeout=60)
async def test_run_fails_when_its_lottery_is_refused(shards, room):
    """A room holds one open lottery at a time (PROTOCOL.md): with another one open, the tool's
    lottery_open gets bad_request and the run must fail at once rather than wait for a draw."""
    servers, _ = shards
    c = await lc.Client.joined(servers[0], room, "pre-streamer", role="streamer")
    await lc.open_lottery(c, "PRE", winners=1, secs=60)
    await c.close()
    t0 = time.monotonic()
    code, rep, err = await asyncio.to_thread(run_load, "lottery", "--shards", shards_arg(servers), "--room",
                                             room, "--conns", 20, "--winners", 3, "--secs", SECS)
    assert code != 0, err
    assert "lottery_opened" in failed_checks(rep), err
    assert time.monotonic() - t0 < lc.scaled(SECS)  # it stopped at the refusal, not at a draw
