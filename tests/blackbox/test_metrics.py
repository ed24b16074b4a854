"""GET /metrics: Prometheus text, counters that move with what happened, and never a label that
names a room or a user (unbounded cardinality)."""

import re
import shutil
import subprocess

import pytest

import lc
from lc import Client, async_test

def scrape(server):
    status, body = lc.http_get(server.port, "/metrics")
    assert status == 200
    return body.decode(), lc.metrics(server.port)


def test_every_family_has_help_and_type_and_samples_are_well_formed(server):
    text, values = scrape(server)
    helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
    types = dict(re.findall(r"^# TYPE (\S+) (counter|gauge|histogram)$", text, re.M))
    assert helps == set(types), "a family without HELP or TYPE"
    for name in values:
        base = name.split("{")[0]
        if base not in types:
            base = re.sub(r"_(bucket|sum|count)$", "", base)
            assert types.get(base) == "histogram", f"sample {name} of no declared family"
        assert base in types, f"sample {name} of no declared family"
        if types[base] == "counter":
            assert base.endswith("_total"), f"counter {base} should end in _total"
    assert values["livecart_redis_up"] == 1
    assert values["livecart_draining"] == 0


@async_test()
async def test_counters_follow_connections_messages_and_errors(server, room):
    _, before = scrape(server)
    a = await Client.joined(server, room, "ann-metrics")
    await a.comment("hello metrics")
    await a.wait_comment("hello metrics")
    await a.send({"type": "nope"})
    await a.recv_reply()
    _, after = scrape(server)
    assert after["livecart_connections"] >= 1
    assert after["livecart_connections_total"] >= before["livecart_connections_total"] + 1
    assert after['livecart_messages_in_total{type="comment"}'] >= before.get(
        'livecart_messages_in_total{type="comment"}', 0) + 1
    assert after['livecart_errors_total{code="unknown_type"}'] >= before[
        'livecart_errors_total{code="unknown_type"}'] + 1
    assert after["livecart_frames_out_total"] > before["livecart_frames_out_total"]


@async_test()
async def test_no_label_ever_names_a_room_or_a_user(server, room):
    c = await Client.joined(server, room, "user-secret-name")
    await c.comment("text-secret")
    await c.wait_comment("text-secret")
    text, _ = scrape(server)
    for secret in (room, "user-secret-name", "text-secret"):
        assert secret not in text
    labels = set(re.findall(r"\{(\w+)=", text))
    assert labels <= {"type", "code", "status", "le", "kind", "mode", "outcome", "event"}, labels  # each a fixed set


@async_test()
async def test_promtool_accepts_the_exposition(server, room):
    if not shutil.which("promtool"):
        pytest.skip("promtool (Debian package prometheus) not installed")
    c = await Client.joined(server, room, "prom")
    await c.comment("x")
    await c.wait_comment("x")
    _, body = lc.http_get(server.port, "/metrics")
    r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


@async_test()
async def test_redis_latency_histogram_counts_every_command_and_is_cumulative(server, room):
    _, before = scrape(server)
    c = await Client.joined(server, room, "lat")
    for i in range(5):
        await c.comment(f"l{i}")
    await c.wait_comments(5)
    _, after = scrape(server)
    n0, n1 = before["livecart_redis_command_seconds_count"], after["livecart_redis_command_seconds_count"]
    assert n1 >= n0 + 6   # a join and five comments at least
    buckets = sorted((float(k.split('"')[1]) if "Inf" not in k else float("inf"), v)
                     for k, v in after.items() if k.startswith("livecart_redis_command_seconds_bucket"))
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and counts[-1] == n1
    assert after["livecart_redis_command_seconds_sum"] > 0
    assert "livecart_redis_pending" in after


@async_test()
async def test_orders_are_counted_by_status(server, room):
    _, before = scrape(server)
    s = await Client.joined(server, room, "boss", role="streamer")
    await s.send({"type": "sale_open", "sku": "M1", "title": "t", "price": 1, "stock": 1})
    await s.wait_for(lambda m: m["type"] == "sale")
    a = await Client.joined(server, room, "a")
    b = await Client.joined(server, room, "b")
    await a.send({"type": "buy", "sku": "M1", "qty": 1, "req": "r1"})
    assert (await a.recv_type("order"))["status"] == "ok"
    await b.send({"type": "buy", "sku": "M1", "qty": 1, "req": "r1"})
    assert (await b.recv_type("order"))["status"] == "sold_out"
    await b.send({"type": "buy", "sku": "NOPE", "qty": 1, "req": "r2"})
    assert (await b.recv_type("order"))["status"] == "closed"
    _, after = scrape(server)
    for st, n in (("ok", 1), ("sold_out", 1), ("closed", 1)):
        k = f'livecart_orders_total{{status="{st}"}}'
        assert after[k] == before[k] + n, k
