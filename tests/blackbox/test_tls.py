"""TLS in the server (--tls-cert / --tls-key): wss:// and https:// with a self-signed certificate
made at test time; plain ws:// and http:// to the TLS port fail."""

import asyncio
import http.client
import ssl

import pytest
import websockets

import lc
from lc import Client, async_test


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return lc.self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(start_server, cert):
    crt, key = cert
    s = start_server(shard="T", wait=None, tls_cert=crt, tls_key=key)
    ctx = ssl.create_default_context(cafile=crt)     # trusts exactly this certificate

    def healthy():
        assert s.alive(), f"the TLS server exited: {s.current_log()[-3000:]}"
        try:
            return lc.https_get(s.port, "/healthz", ctx, timeout=2)[0] == 200
        except OSError:
            return False
    lc.wait_until(healthy, lc.scaled(10), what="https /healthz 200")
    return s, ctx


def test_https_healthz(tls_server):
    s, ctx = tls_server
    status, body = lc.https_get(s.port, "/healthz", ctx)
    assert status == 200 and body.startswith("ok"), (status, body)
    # a client that does not trust the certificate refuses it (it really is TLS with this cert)
    strict = ssl.create_default_context()
    with pytest.raises(ssl.SSLError):
        lc.https_get(s.port, "/healthz", strict)


@pytest.mark.parametrize("fmt", lc.FORMATS)
@async_test(30)
async def test_wss_end_to_end(tls_server, room, fmt):
    """hello / welcome / comment fan-out / ping over wss://."""
    s, ctx = tls_server
    url = f"wss://{lc.HOST}:{s.port}/live?room={room}"
    a = await Client.connect(s, room, fmt, url=url, ssl=ctx)
    w = await a.hello("ann")
    assert w["room"] == room and w["shard"] == "T", w
    b = await Client.connect(s, room, fmt, url=url, ssl=ctx)
    await b.hello("bob")
    await a.comment("over tls")
    for c in (a, b):
        m = await c.wait_comment("over tls")
        lc.check_comment_shape(m)
        assert m["user"] == "ann"
    await b.ping_pong()


@async_test(30)
async def test_plain_ws_and_http_to_tls_port_fail(tls_server, room):
    """ws:// to the TLS port does not get a WebSocket, http:// does not get /healthz, and the server
    keeps serving wss afterwards."""
    s, ctx = tls_server
    with pytest.raises((websockets.exceptions.InvalidHandshake, websockets.exceptions.ConnectionClosed,
                        OSError, asyncio.TimeoutError, EOFError)):
        await Client.connect(s, room, "json", open_timeout=lc.scaled(3))

    def plain_http():
        try:
            status, _ = lc.healthz(s.port, timeout=lc.scaled(3))
        except (OSError, http.client.HTTPException):
            return None
        return status
    status = await asyncio.to_thread(plain_http)
    assert status is None or status >= 400, f"plain http:// to the TLS port got {status}"
    c = await Client.connect(s, room, "msgpack", url=f"wss://{lc.HOST}:{s.port}/live?room={room}", ssl=ctx)
    await c.hello("after")
    await c.ping_pong()
