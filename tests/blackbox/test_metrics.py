"""GET /metrics: Prometheus text, counters that move with what happened, and never a label that
names a room or a user (unbounded cardinality)."""

import re

import lc
from lc import Client, async_test

SAMPLE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\d+(\.\d+)?)$')


def scrape(server):
    status, body = lc.http_get(server.port, "/metrics")
    assert status == 200
    text = body.decode()
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return text, values


def test_every_family_has_help_and_type_and_samples_are_well_formed(server):
    text, values = scrape(server)
    helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
    types = dict(re.findall(r"^# TYPE (\S+) (counter|gauge|histogram)$", text, re.M))
    assert helps == set(types), "a family without HELP or TYPE"
    for name in values:
        base = name.split("{")[0]
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
    assert labels <= {"type", "code", "status"}, labels
