"""livecart-load --resume: viewers and publishers that survive a shard restart (PROTOCOL.md,
"Shutdown and reconnecting", "Resume (since)"). The tool runs in the background while a test
stops and starts a shard under it; its report must show every comment delivered exactly once and
in order across the reconnects, every viewer back, and a published count that agrees with Redis.
Without --resume the tool must behave as before: a restart fails its run."""

import json
import os
import signal
import subprocess
import tempfile
import time

import lc

LOAD = os.environ.get("LIVECART_LOAD") or os.path.join(lc.REPO, "build", "loadtest", "livecart-load")


class Load:
    """livecart-load in the background; stderr and the JSON report in a temporary folder."""

    def __init__(self, *args):
        d = tempfile.mkdtemp(prefix="lcload-")
        self.report_path = os.path.join(d, "report.json")
        self.err_path = os.path.join(d, "stderr.txt")
        with open(self.err_path, "wb") as err:
            self.p = subprocess.Popen([LOAD, *map(str, args), "--json", self.report_path],
                                      stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                                      start_new_session=True)

    def stderr(self):
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_publishing(self):
        """Until every viewer joined and the publishers began (the tool says so)."""
        def ready():
            assert self.p.poll() is None, f"livecart-load exited early:\n{self.stderr()}"
            return "publishing" in self.stderr()
        lc.wait_until(ready, lc.scaled(30), what="livecart-load publishing")

    def finish(self, timeout=90):
        """Waits for the tool -> (exit code, report, stderr)."""
        code = self.p.wait(timeout=lc.scaled(timeout))
        rep = json.load(open(self.report_path)) if os.path.exists(self.report_path) else {}
        return code, rep, self.stderr()

    def kill(self):
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGKILL)
            self.p.wait(timeout=10)


def url(server):
    return f"ws://127.0.0.1:{server.port}/live"


def tool_comments_in_redis(rds, rooms):
    """The tool's publisher's comments in the rooms' streams (what Redis says was published)."""
    return sum(1 for r in rooms for _id, f in rds.xrange(lc.rkey(r, "chat")) if f.get("u") == "load-pub")


def finish_ok(load, during=None):
    """Runs during() (the disruption) while the tool runs, then expects a clean exactly-once run."""
    try:
        if during:
            during()
        code, rep, err = load.finish()
    finally:
        load.kill()
    assert code == 0, err
    assert_exactly_once(rep, err)
    return rep, err


def assert_exactly_once(rep, err):
    res, rs = rep["result"], rep["result"]["resume"]
    assert rep["ok"] is True and all(v["ok"] for v in rep["invariants"].values()), err
    assert (rs["lost"], rs["duplicated"], rs["out_of_order"], rs["stream_duplicates"]) == (0, 0, 0, 0), rs
    assert rs["away_at_end"] == 0 and rs["publishers_away_at_end"] == 0, rs
    assert res["welcomed"] == res["viewers"] and res["failed"] == 0
    assert res["missing"] == 0 and res["duplicates"] == 0
    assert rs["comments_published"] + rs["comments_unconfirmed"] == res["comments_sent"]
    assert rep["client"]["decode_errors"] == 0


def test_watch_resume_survives_a_rolling_restart_of_one_shard(start_server, rds, room):
    a = start_server(shard="A", drain_ms=1000)
    b = start_server(shard="B", drain_ms=1000)
    rooms = [f"{room}-0", f"{room}-1"]
    load = Load("watch", "--resume", "--url", url(a), "--url", url(b), "--room", room, "--rooms", 2,
                "--conns", 200, "--rate", 20, "--like-rate", 4, "--duration", 8)

    def restart():
        load.wait_publishing()
        time.sleep(1.5)  # some traffic on both shards first
        a.expected_exit = True  # stopped on purpose, not waited for by stop()
        a.send_signal(signal.SIGTERM)
        assert a.proc.wait(timeout=lc.scaled(10)) == 0
        a.start()  # the same port again: the rolling restart's second half

    rep, err = finish_ok(load, restart)
    res, rs = rep["result"], rep["result"]["resume"]
    # the viewers on A (every other one) and room 0's publisher were told to come back
    assert rs["hints"] >= 90 and rs["publisher_hints"] == 1, rs
    assert rs["rejoins"] >= rs["hints"] and rs["rejoined_viewers"] >= 90 and rs["publisher_reconnects"] >= 1, rs
    assert rs["unexpected_closes"] == 0 and rs["recovered_false"] == 0, rs
    # one outage, over within the drain window plus a little
    assert rs["outages"] and rs["rejoin_seconds_max"] < lc.scaled(5), rs
    assert 0 < rs["peak_rejoins_per_s"] <= rs["rejoins"], rs
    # the tool's "published" is Redis's: every comment it counts is in the streams, and only those
    assert tool_comments_in_redis(rds, rooms) == rs["comments_published"] > 0
    assert res["comments_delivered_live"] > 0 and rep["params"]["resume"] is True


def test_watch_resume_comes_back_after_sigkill_on_a_single_url(start_server, rds, room):
    """No hint: 1006 closes, then connect refused until the shard is back (backoff)."""
    a = start_server(shard="K")
    load = Load("watch", "--resume", "--url", url(a), "--room", room, "--conns", 60, "--rate", 20,
                "--like-rate", 0, "--duration", 6)

    def kill_and_start():
        load.wait_publishing()
        time.sleep(1.0)
        a.kill()
        time.sleep(0.8)  # down for a while: reconnects are refused
        a.start()

    rep, err = finish_ok(load, kill_and_start)
    rs = rep["result"]["resume"]
    assert rs["hints"] == 0 and rs["closes"] == 60 and rs["rejoined_viewers"] == 60, rs
    assert rs["connect_failed"] > 0 and rs["attempts"] > 61, rs
    assert rep["client"]["closes"].get("1006") == 60
    assert tool_comments_in_redis(rds, [room]) == rs["comments_published"]


def test_watch_resume_backs_off_on_503_and_honours_retry_after(start_server, room):
    s = start_server(shard="R", max_accept_rate=40)
    load = Load("watch", "--resume", "--url", url(s), "--room", room, "--conns", 150, "--rate", 10,
                "--duration", 2)
    rep, err = finish_ok(load)
    rs = rep["result"]["resume"]
    assert rs["refused_503"] > 0 and rs["retry_after_waits"] == rs["refused_503"], rs
    assert rs["rejoins"] == 0 and rs["outages"] == []  # first joins that waited are not rejoins


def test_without_resume_a_restart_still_fails_the_run(start_server, room):
    """Unchanged behaviour: no reconnects, the closed viewers fail no_unexpected_close."""
    a = start_server(shard="P", drain_ms=500)
    b = start_server(shard="Q", drain_ms=500)
    load = Load("watch", "--url", url(a), "--url", url(b), "--room", room, "--conns", 40, "--rate", 10,
                "--duration", 4)
    try:
        load.wait_publishing()
        a.expected_exit = True
        a.send_signal(signal.SIGTERM)
        assert a.proc.wait(timeout=lc.scaled(10)) == 0
        code, rep, err = load.finish()
    finally:
        load.kill()
    assert code != 0, err
    assert rep["invariants"]["no_unexpected_close"]["ok"] is False
    assert "resume" not in rep["result"] and "resume" not in rep["params"]
    assert rep["client"]["closes"].get("1001", 0) >= 20


def test_watch_resume_fails_when_the_viewers_cannot_come_back(start_server, room):
    """The only shard goes away for good: the run fails on every_viewer_back (after its bounded
    wait), it does not hang or pass."""
    a = start_server(shard="G")
    load = Load("watch", "--resume", "--url", url(a), "--room", room, "--conns", 20, "--rate", 10,
                "--duration", 2)
    try:
        load.wait_publishing()
        a.kill()
        code, rep, err = load.finish(timeout=60)
    finally:
        load.kill()
    assert code != 0, err
    inv, rs = rep["invariants"], rep["result"]["resume"]
    assert inv["every_viewer_back"]["ok"] is False and rs["away_at_end"] == 20, rs
    assert rs["connect_failed"] > 20 and rs["outages"] and rs["outages"][-1].get("open") is True, rs
