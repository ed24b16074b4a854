"""Coupon drops and checkout in the web pages, in real (headless) Chromium driven by Selenium.

The streamer console drops a coupon and opens a sale with a checkout (pay_s); a viewer page on
the other shard claims the coupon, sees it among its coupons, buys with it, sees the reserved
order with its pay-by countdown, presses the demo Pay button (open mode) and sees the order
paid; the console's claimed and used counts move. With tokens configured the demo payment
endpoint is 404: the Pay button goes away, the reservation can still be cancelled.

Same machinery as test_web_browser.py (Debian's chromium, chromium-driver, python3-selenium;
skipped, saying so, without them). LIVECART_WRITE_SCREENSHOTS=1 also refreshes
docs/checkout-viewer.png.
"""

import asyncio
import http.client
import os
import re
import shutil

import pytest

import lc
from test_web_browser import (  # noqa: F401  (driver is a fixture)
    CHROMIUM, DESKTOP, DOCS, DRIVER, PHONE, WEB, close_pages, driver, open_pages, page_url, webdriver)

pytestmark = pytest.mark.skipif(
    webdriver is None or not os.path.exists(CHROMIUM) or not os.path.exists(DRIVER),
    reason="needs python3-selenium, chromium and chromium-driver (Debian packages)")


def fill(page, values):
    """Types into inputs by data-testid (clearing them first)."""
    for testid, value in values.items():
        box = page.el(testid)
        box.clear()
        box.send_keys(str(value))


def sel(*parts):
    return " ".join(parts)


COUPON = '[data-testid="coupon"][data-coupon="spring3"]'
ROW = '[data-testid="coupon-row"][data-coupon="spring3"]'
LAMP = '[data-testid="sale"][data-sku="lamp"]'
ORDER = '[data-testid="order"]'


def test_coupon_claim_buy_reserved_pay(driver, start_server, tmp_path):  # noqa: F811
    room = "evening-lamps"  # (its name is in the screenshot)
    s1 = start_server(shard="A", web_root=WEB)
    s2 = start_server(shard="B", web_root=WEB)
    v, st = open_pages(driver, [("viewer", page_url(s2, "", room, "ann"), PHONE),
                                ("streamer", page_url(s1, "streamer.html", room, "sam"), DESKTOP)])
    try:
        for p in (v, st):
            p.wait(lambda p: p.state() == "open", "connected")

        # the console drops 5 coupons of 3.00 off (from 10.00), one per person, for 2 minutes
        st.focus()
        fill(st, {"coupon-id": "spring3", "coupon-title": "Evening <i>special</i>", "coupon-off": "3.00",
                  "coupon-quota": 5, "coupon-per-user": 1, "coupon-secs": 120, "coupon-min-price": "10.00"})
        st.el("coupon-drop").click()
        st.wait(lambda p: p.attr(sel(ROW, '[data-testid="coupon-claimed"]'), "data-value") == "0", "the coupon row")
        assert st.el("coupon-error").text == ""
        assert st.attr(ROW, "data-state") == "open"

        # the viewer (other shard) sees the card: discount, what is left, a countdown to `ends`
        v.wait(lambda p: p.attr(COUPON, "data-state") == "open", "the coupon card")
        assert v.prop(sel(COUPON, '[data-testid="coupon-title"]'), "textContent") == "Evening <i>special</i>"
        assert v.prop(sel(COUPON, '[data-testid="coupon-discount"]'), "textContent") == "3.00 off"
        assert v.attr(sel(COUPON, '[data-testid="coupon-left"]'), "data-left") == "5"
        assert v.attr(sel(COUPON, '[data-testid="coupon-left"]'), "data-quota") == "5"
        assert "10.00" in v.prop(sel(COUPON, ".coupon-terms"), "textContent")
        secs = int(v.attr(sel(COUPON, '[data-testid="coupon-countdown"]'), "data-seconds"))
        assert 100 <= secs <= 121, secs
        assert re.search(r"ends in [12]:\d\d", v.prop(sel(COUPON, '[data-testid="coupon-countdown"]'), "textContent"))
        assert v.js("return document.querySelectorAll('[data-testid=\"coupons\"] i, #coupons i').length") == 0

        # claim it: the button says so, the coupon is among the viewer's coupons
        v.el("coupon-claim").click()
        v.wait(lambda p: p.attr(sel(COUPON, '[data-testid="claim-status"]'), "data-status") == "ok", "claimed")
        v.wait(lambda p: p.attr(COUPON, "data-state") == "claimed", "card claimed")
        assert v.prop(sel(COUPON, '[data-testid="coupon-claim"]'), "disabled"), "could claim twice (per_user 1)"
        assert "Claimed" in v.prop(sel(COUPON, '[data-testid="coupon-claim"]'), "textContent")
        mine = '[data-testid="my-coupons"] [data-testid="my-coupon"][data-coupon="spring3"]'
        v.wait(lambda p: p.attr(mine, "data-claimed") == "1", "in my coupons")
        assert v.attr(mine, "data-used") == "0"
        assert not v.prop('[data-testid="my-coupons"]', "hidden")
        v.wait(lambda p: p.attr(sel(COUPON, '[data-testid="coupon-left"]'), "data-left") == "4", "4 left")
        st.wait(lambda p: p.attr(sel(ROW, '[data-testid="coupon-claimed"]'), "data-value") == "1", "1 claimed")
        assert st.attr(sel(ROW, '[data-testid="coupon-used"]'), "data-value") == "0"

        # a sale with a checkout: 60 s to pay
        st.focus()
        fill(st, {"sale-sku": "lamp", "sale-title": "Desk lamp", "sale-price": "12.99", "sale-stock": 3,
                  "sale-limit": 1, "sale-pay-s": 60})
        st.el("sale-open").click()
        st.wait(lambda p: p.attr('[data-testid="stock"][data-sku="lamp"]', "data-left") == "3", "the open sale")
        assert st.el("sale-error").text == ""
        v.wait(lambda p: p.attr(sel(LAMP, '[data-testid="stock"]'), "data-left") == "3", "the sale card")
        # the claimed coupon is offered (and picked) for this buy: 12.99 - 3.00
        v.wait(lambda p: p.prop(sel(LAMP, '[data-testid="coupon-select"]'), "value") == "spring3", "coupon picked")
        assert not v.prop(sel(LAMP, ".coupon-pick"), "hidden")
        price = v.prop(sel(LAMP, '[data-testid="sale-price"]'), "textContent")
        assert "9.99" in price and "12.99" in price, price
        assert "pay within 1:00" in v.prop(sel(LAMP, ".badge"), "textContent")

        v.el("buy").click()
        v.wait(lambda p: p.attr(sel(LAMP, '[data-testid="order-status"]'), "data-status") == "reserved", "reserved")
        v.wait(lambda p: p.attr(ORDER, "data-state") == "reserved", "the reserved order")
        secs = int(v.attr(sel(ORDER, '[data-testid="pay-countdown"]'), "data-seconds"))
        assert 50 <= secs <= 61, secs
        first = v.prop(sel(ORDER, '[data-testid="pay-countdown"]'), "textContent")
        assert re.fullmatch(r"[01]:\d\d", first), first
        assert "9.99" in v.prop(sel(ORDER, '[data-testid="order-price"]'), "textContent")
        assert "Desk lamp" in v.prop(sel(ORDER, ".order-title"), "textContent")
        v.wait(lambda p: p.attr(mine, "data-used") == "1", "the coupon used")
        v.wait(lambda p: p.prop(sel(LAMP, ".coupon-pick"), "hidden"), "no coupon left to pick")
        v.wait(lambda p: p.prop(sel(ORDER, '[data-testid="pay-countdown"]'), "textContent") != first,
               "the countdown ticks", timeout=lc.T)
        st.wait(lambda p: p.attr(sel(ROW, '[data-testid="coupon-used"]'), "data-value") == "1", "1 used")
        st.wait(lambda p: p.attr('[data-testid="stock"][data-sku="lamp"]', "data-left") == "2", "stock 2")

        st.type_comment("Coupons are live: 3.00 off anything from 10.00!")
        v.type_comment("got one, reserving the lamp")
        v.wait(lambda p: p.texts()[-1:] == ["got one, reserving the lamp"], "the comments")
        path = tmp_path / "checkout-viewer.png"
        v.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
        v.focus().save_screenshot(str(path))
        assert path.stat().st_size > 10000
        if os.environ.get("LIVECART_WRITE_SCREENSHOTS") == "1":
            shutil.copyfile(path, os.path.join(DOCS, "checkout-viewer.png"))

        # the demo Pay button (open mode): paid, on the page and in the sale card
        assert v.prop(sel(ORDER, '[data-testid="pay"]'), "hidden") is False
        v.el("pay").click()
        v.wait(lambda p: p.attr(ORDER, "data-state") == "paid", "paid")
        assert v.prop(sel(ORDER, '[data-testid="pay"]'), "hidden"), "Pay still shown for a paid order"
        assert v.prop(sel(ORDER, '[data-testid="pay-countdown"]'), "hidden")
        v.wait(lambda p: p.attr(sel(LAMP, '[data-testid="order-status"]'), "data-status") == "paid", "paid on the card")
        # the `paid` event reached the page too (the client's view of the order)
        v.wait(lambda p: p.js("return [...window.livecart.orders.values()].map(o => o.state).join()") == "paid",
               "client order state")
        assert st.attr(sel(ROW, '[data-testid="coupon-used"]'), "data-value") == "1"
        assert st.attr(sel(ROW, '[data-testid="coupon-claimed"]'), "data-value") == "1"
        for p in (v, st):
            assert p.severe_logs() == [], f"{p.name}: console errors"
    finally:
        close_pages(driver, [v, st])


def test_demo_pay_is_404_unless_open_mode(start_server, keys):
    """PROTOCOL.md "Demo shop": with tokens configured the path is 404 (the page hides Pay on it)."""
    s = start_server(shard="A", web_root=WEB, jwt_key_file=keys.path)
    conn = http.client.HTTPConnection(lc.HOST, s.port, timeout=lc.T)
    try:
        conn.request("POST", "/demo/rooms/r1/orders/1-0/pay")
        r = conn.getresponse()
        r.read()
    finally:
        conn.close()
    assert r.status == 404, f"POST /demo/... with tokens configured answered {r.status}, not 404"


def test_pay_button_hidden_when_the_server_takes_no_demo_payments(driver, start_server, room, keys):  # noqa: F811
    s = start_server(shard="A", web_root=WEB, jwt_key_file=keys.path)
    loop = asyncio.new_event_loop()
    try:
        async def seed():
            sam = await lc.join_token(s, room, keys.issue("sam", "streamer", room))
            await sam.send({"type": "sale_open", "sku": "hat", "title": "Sun hat", "price": 2500, "stock": 2,
                            "pay_s": 30})
            await sam.wait_for(lambda m: m["type"] == "sale" and m.get("sku") == "hat", lc.T, what="sale")
            return sam

        loop.run_until_complete(seed())
        token = keys.issue("zoe", "viewer", room)
        (v,) = open_pages(driver, [("viewer", page_url(s, "", room, "zoe", token=token), PHONE)])
        try:
            v.wait(lambda p: p.state() == "open", "connected")
            hat = '[data-testid="sale"][data-sku="hat"]'
            v.wait(lambda p: p.attr(sel(hat, '[data-testid="stock"]'), "data-left") == "2", "the sale card")
            assert v.prop(sel(hat, ".coupon-pick"), "hidden"), "a coupon picker without coupons"
            v.el("buy").click()
            v.wait(lambda p: p.attr(ORDER, "data-state") == "reserved", "reserved")
            v.el("pay").click()
            v.wait(lambda p: p.prop(sel(ORDER, '[data-testid="pay"]'), "hidden"), "Pay hidden after 404")
            assert "shop app" in v.prop(sel(ORDER, '[data-testid="pay-status"]'), "textContent")
            assert v.attr(ORDER, "data-state") == "reserved"
            # the reservation can still be given up
            v.el("order-cancel").click()
            v.wait(lambda p: p.attr(ORDER, "data-state") == "cancelled", "cancelled")
            v.wait(lambda p: p.attr(sel(hat, '[data-testid="stock"]'), "data-left") == "2", "stock back")
            # the 404 of the demo endpoint shows as a failed fetch in the console; nothing else may
            assert [m for m in v.severe_logs() if "/demo/" not in m] == []
        finally:
            close_pages(driver, [v])
    finally:
        loop.run_until_complete(lc.close_all_clients())
        loop.close()
