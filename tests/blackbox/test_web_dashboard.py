"""The streamer console's funnel and live charts, in real (headless) Chromium driven by Selenium
(PROTOCOL.md "The funnel: the seller's numbers, live"; web/dashboard.js).

A scripted show in one room: viewers (Python clients, JSON and msgpack) join, some comment or
like, the streamer opens a sale and some viewers buy. The console's funnel shows what happened:
unique viewers, engaged, buyers, the conversion rate the page computes (buyers / unique viewers,
2 decimals), viewers now and peak, orders, units and revenue, the same as the shop's
GET /api/rooms/ROOM/stats; its two canvases draw (pixels of the series' colours, not only the
frame) and move: more viewers and more buys show within two `stats` periods (5 s each).
A second test feeds the page's renderer a made-up hour (window.__lcDashboard.render) and checks
what the charts say they drew (data-points, data-max, data-last, data-total), a room without
viewers (CVR 0.00%), and that the canvases are sized in device pixels (devicePixelRatio 2).

Same machinery as test_web_browser.py (Debian's chromium, chromium-driver, python3-selenium;
skipped, saying so, without them). LIVECART_WRITE_SCREENSHOTS=1 also refreshes
docs/dashboard-streamer.png.
"""

import asyncio
import os
import shutil
import time
from decimal import ROUND_HALF_UP, Decimal

import pytest

import lc
from lc import Client
from test_web_browser import (  # noqa: F401  (driver is a fixture)
    CHROMIUM, DOCS, DRIVER, WEB, close_pages, driver, open_pages, page_url, webdriver)

pytestmark = pytest.mark.skipif(
    webdriver is None or not os.path.exists(CHROMIUM) or not os.path.exists(DRIVER),
    reason="needs python3-selenium, chromium and chromium-driver (Debian packages)")

API_KEY = "dashboard-web-test-key"
CONSOLE = (1280, 900)
PERIOD = 5.0 * lc.SCALE    # the server's stats period
MOVE = 2.5 * PERIOD        # "within two periods", and some slack for a loaded box

INFO = (0x5a, 0xc8, 0xfa)    # --info: the viewers line
ACCENT = (0xff, 0x2d, 0x55)  # --accent: the orders bars

FIGURES = {"viewers_unique": "funnel-unique", "engaged": "funnel-engaged", "buyers": "funnel-buyers",
           "viewers_now": "funnel-viewers-now", "viewers_peak": "funnel-viewers-peak",
           "orders": "funnel-orders", "units": "funnel-units", "revenue": "funnel-revenue"}


def cvr_text(buyers, unique):
    """What the page shows: (buyers * 100 / unique).toFixed(2) + '%' (JavaScript rounds a tie up)."""
    x = buyers * 100 / unique if unique else 0.0
    return f"{Decimal(x).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"


def shown(page):
    """{stats key: the number the funnel shows (data-value)}, and the CVR's text."""
    got = page.js("""const out = {};
        for (const [k, id] of Object.entries(arguments[0])) {
          const e = document.querySelector(`[data-testid='${id}']`);
          out[k] = e ? Number(e.dataset.value) : null;
        }
        out.cvr = document.querySelector('[data-testid="funnel-cvr"]').textContent;
        return out;""", FIGURES)
    return got


def chart(page, testid):
    """A canvas' data attributes (numbers) and its sizes."""
    return page.js("""const c = document.querySelector(`[data-testid='${arguments[0]}']`);
        const out = {};
        for (const [k, v] of Object.entries(c.dataset)) out[k] = Number(v);
        out.width = c.width; out.height = c.height; out.cssWidth = c.clientWidth; out.cssHeight = c.clientHeight;
        return out;""", testid)


def pixels(page, testid, rgb):
    """(pixels near the colour rgb, pixels not transparent) in a canvas' drawing buffer."""
    return page.js("""const c = document.querySelector(`[data-testid='${arguments[0]}']`);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const [r, g, b] = arguments[1];
        let near = 0, any = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 3] === 0) continue;
          any++;
          if (d[i + 3] > 160 && Math.abs(d[i] - r) < 48 && Math.abs(d[i + 1] - g) < 48 && Math.abs(d[i + 2] - b) < 48) near++;
        }
        return [near, any];""", testid, list(rgb))


def money(page, cents):
    """A price as the page formats it (formatPrice: the browser's locale, 2 decimals)."""
    return page.js("return (arguments[0] / 100).toLocaleString(undefined, {minimumFractionDigits: 2, maximumFractionDigits: 2})",
                   cents)


def stats_api(port, room):
    st, got, _ = lc.api_call(port, "GET", f"/api/rooms/{room}/stats", key=API_KEY)
    assert st == 200, (st, got)
    return got


def test_funnel_and_charts_follow_a_show(driver, start_server, tmp_path):  # noqa: F811
    room = "spring-drop"  # (its name is in the screenshot)
    s = start_server(shard="A", web_root=WEB, env={"LIVECART_API_KEY": API_KEY})
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    try:
        (st,) = open_pages(driver, [("streamer", page_url(s, "streamer.html", room, "sam"), CONSOLE)])
        try:
            st.wait(lambda p: p.state() == "open", "connected")
            # the first stats comes within a second of joining (an empty room's: sam alone)
            st.wait(lambda p: p.attr('[data-testid="funnel"]', "data-state") == "live", "the first stats",
                    timeout=lc.T + 2)
            assert st.prop('[data-testid="funnel-waiting"]', "hidden")
            assert chart(st, "chart-orders")["total"] == 0

            # the show: six viewers (JSON and msgpack), four of them engage, three buy
            shop = run(Client.joined(s, room, "shop", fmt="msgpack", role="streamer"))
            names = ("mia", "leo", "ava", "kim", "noa", "eli")
            v = {u: run(Client.joined(s, room, u, fmt=lc.FORMATS[i % 2])) for i, u in enumerate(names)}
            run(v["mia"].comment("hi! is the mug dishwasher-safe?"))
            run(v["leo"].comment("first time here"))
            run(v["ava"].like(3))
            run(v["kim"].comment("love it"))
            run(v["kim"].like(1))
            price = 1250
            run(lc.open_sale(shop, "mug", 100, price=price, limit=5, title="Speckled mug"))
            run(lc.buy(v["mia"], "mug", "mia-1", qty=2))
            run(lc.buy(v["ava"], "mug", "ava-1"))
            run(lc.buy(v["noa"], "mug", "noa-1"))
            joined = {"sam", "shop", *names}    # distinct users who joined (the console's too)
            truth = {"viewers_unique": len(joined), "engaged": 4, "buyers": 3, "viewers_now": len(joined),
                     "orders": 3, "units": 4, "revenue": 4 * price}

            def settled(p, truth):
                got = shown(p)
                return all(got[k] == val for k, val in truth.items()) and got["viewers_peak"] >= truth["viewers_now"]

            try:
                st.wait(lambda p: settled(p, truth), "the funnel of the show", timeout=MOVE)
            except AssertionError:
                raise AssertionError(f"the page shows {shown(st)}, expected {truth}; "
                                     f"the API says {stats_api(s.port, room)}") from None
            got = shown(st)
            assert got["cvr"] == cvr_text(3, len(joined)) == "37.50%", got
            assert st.js("return document.querySelector('[data-testid=\"funnel-cvr\"]').dataset.value") == str(3 / 8)
            assert st.prop('[data-testid="funnel-revenue"]', "textContent") == money(st, 4 * price)
            # the same as the shop's API says (and its cvr, rounded to 4 decimals)
            api = stats_api(s.port, room)
            for k in FIGURES:
                assert api[k] == got[k], (k, api, got)
            assert abs(api["cvr"] - 3 / 8) < 1e-4, api
            # the bars: widths proportional to the steps (unique is the widest)
            widths = st.js("return ['unique', 'engaged', 'buyers'].map(k => "
                           "Number(document.querySelector(`[data-testid='funnel-bar-${k}']`).dataset.width))")
            assert widths == [100.0, 50.0, 37.5], widths

            def bar_px(p):
                return p.js("return ['unique', 'engaged', 'buyers'].map(k => "
                            "document.querySelector(`[data-testid='funnel-bar-${k}']`).getBoundingClientRect().width)")

            # (the bars slide to their widths in 0.4 s)
            st.wait(lambda p: (lambda px: px[0] > px[1] > px[2] > 0 and abs(px[1] / px[0] - 0.5) < 0.02
                               and abs(px[2] / px[0] - 0.375) < 0.02)(bar_px(p)), f"bars 100 : 50 : 37.5 ({bar_px(st)})")

            # the charts draw: what they say, and pixels of the series' colours
            st.wait(lambda p: chart(p, "chart-orders")["total"] == 3, "3 orders in the orders chart")
            st.wait(lambda p: chart(p, "chart-viewers")["last"] == len(joined), "the viewers line at 8")
            o, w = chart(st, "chart-orders"), chart(st, "chart-viewers")
            assert 1 <= o["points"] <= 2 and 3 / 2 <= o["max"] and o["max"] >= o["last"], o
            assert w["points"] >= 1 and w["max"] >= 8 and w["peak"] == 8, w
            for c in (o, w):
                assert c["width"] == round(c["cssWidth"] * c["dpr"]) and c["height"] == round(c["cssHeight"] * c["dpr"]), c
            near, anything = pixels(st, "chart-orders", ACCENT)
            assert near > 20 and anything > near, (near, anything)
            near, anything = pixels(st, "chart-viewers", INFO)
            assert near > 5 and anything > near, (near, anything)

            # ...and move: two more viewers, three more buys (one by an earlier buyer)
            draws = chart(st, "chart-orders")["draws"]
            t0 = time.monotonic()
            for u in ("zoe", "ian"):
                v[u] = run(Client.joined(s, room, u))
            run(v["zoe"].comment("just in time?"))
            run(lc.buy(v["zoe"], "mug", "zoe-1", qty=3))
            run(lc.buy(v["ian"], "mug", "ian-1"))
            run(lc.buy(v["mia"], "mug", "mia-2"))
            truth.update(viewers_unique=10, engaged=5, buyers=5, viewers_now=10, orders=6, units=9, revenue=9 * price)
            st.wait(lambda p: chart(p, "chart-orders")["total"] == 6, "the orders chart moves to 6", timeout=MOVE)
            st.wait(lambda p: settled(p, truth), "the funnel moves", timeout=MOVE)
            st.wait(lambda p: chart(p, "chart-viewers")["last"] == 10, "the viewers line moves to 10", timeout=MOVE)
            assert time.monotonic() - t0 < MOVE + 1
            assert chart(st, "chart-orders")["draws"] > draws
            assert shown(st)["cvr"] == cvr_text(5, 10) == "50.00%"
            # a stats message every 5 s: the page redraws with each (two more within ~11 s)
            n = int(st.attr('[data-testid="funnel"]', "data-messages"))
            st.wait(lambda p: int(p.attr('[data-testid="funnel"]', "data-messages")) >= n + 2, "two more stats",
                    timeout=2 * PERIOD + 2)

            # the screenshot: the console's top with the funnel and its charts
            path = tmp_path / "dashboard-streamer.png"
            st.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);"
                  "document.getElementById('toast').hidden = true")
            st.focus().save_screenshot(str(path))
            assert path.stat().st_size > 10000
            if os.environ.get("LIVECART_WRITE_SCREENSHOTS") == "1":
                shutil.copyfile(path, os.path.join(DOCS, "dashboard-streamer.png"))
            assert st.severe_logs() == []
        finally:
            close_pages(driver, [st])
    finally:
        run(lc.close_all_clients())
        loop.close()


def minute_buckets(points):
    """dashboard.js perMinute: the 60 clock minutes ending with the newest point's."""
    last = points[-1]["t"] // 60000
    out = [0] * 60
    for p in points:
        k = p["t"] // 60000 - (last - 59)
        if 0 <= k < 60:
            out[k] += p["orders"]
    return out


def nice_max(v):
    if v <= 1:
        return 1
    p = 10 ** (len(str(int(v))) - 1)
    for m in (1, 2, 5, 10):
        if m * p >= v:
            return m * p


def test_charts_draw_a_full_hour_and_device_pixels(driver, start_server, room):  # noqa: F811
    s = start_server(shard="A", web_root=WEB)
    # an older server sends no stats: the panel says it waits (the page as served)
    st_, body, _ = lc.api_call(s.port, "GET", "/streamer.html")
    assert st_ == 200 and b'data-testid="funnel" data-state="waiting"' in body and "waiting for stats…".encode() in body
    (st,) = open_pages(driver, [("streamer", page_url(s, "streamer.html", room, "sam"), CONSOLE)])
    try:
        st.wait(lambda p: p.state() == "open", "connected")
        st.js("window.livecart.close()")  # no real stats from here on: only the made-up ones
        st.wait(lambda p: p.state() == "closed", "closed")
        # an hour: the room lives from the 121st point on, viewers climb to 60, orders come and go
        end = (int(time.time() * 1000) // 10000) * 10000
        pts = []
        for i in range(360):
            live = i >= 120
            pts.append({"type": "point", "t": end - (359 - i) * 10000, "viewers": 1 + (i - 120) // 4 if live else 0,
                        "orders": (2 if i % 7 == 0 else 0) + (5 if i == 300 else 0) if live else 0,
                        "likes": 3 if live else 0, "comments": 1 if live else 0})
        stats = {"type": "stats", "viewers_now": 60, "viewers_peak": 75, "viewers_unique": 200, "engaged": 50,
                 "buyers": 7, "orders": 80, "units": 95, "revenue": 123456789, "ts": end + 3000, "series": pts}
        st.js("window.__lcDashboard.render(arguments[0])", stats)
        buckets = minute_buckets(pts)
        o, w = chart(st, "chart-orders"), chart(st, "chart-viewers")
        assert w["points"] == 240 and w["last"] == 60 and w["peak"] == 60 and w["max"] == 100, w
        assert o["total"] == sum(buckets) == sum(p["orders"] for p in pts if p["t"] // 60000 > end // 60000 - 60), o
        assert o["points"] == sum(1 for b in buckets if b) and o["last"] == buckets[-1], (o, buckets)
        assert o["max"] == nice_max(max(buckets)), (o, buckets)
        got = shown(st)
        assert got["cvr"] == "3.50%" and got["viewers_unique"] == 200 and got["revenue"] == 123456789, got
        assert st.prop('[data-testid="funnel-revenue"]', "textContent") == money(st, 123456789)
        assert pixels(st, "chart-orders", ACCENT)[0] > 200
        assert pixels(st, "chart-viewers", INFO)[0] > 200

        # a room nobody joined yet: CVR 0.00%, nothing drawn but the frame
        st.js("window.__lcDashboard.render(arguments[0])",
              dict(stats, viewers_unique=0, engaged=0, buyers=0, series=[dict(p, viewers=0, orders=0, likes=0, comments=0)
                                                                          for p in pts]))
        assert shown(st)["cvr"] == "0.00%"
        o, w = chart(st, "chart-orders"), chart(st, "chart-viewers")
        assert o["points"] == o["total"] == o["last"] == 0 and o["max"] == 1 and w["points"] == 0, (o, w)
        assert pixels(st, "chart-orders", ACCENT)[0] == 0 and pixels(st, "chart-viewers", INFO)[0] == 0
        assert pixels(st, "chart-orders", ACCENT)[1] > 0, "not even the frame"

        # device pixels: at devicePixelRatio 2 the buffers are twice the CSS size, redrawn by themselves
        st.js("window.__lcDashboard.render(arguments[0])", stats)
        draws = chart(st, "chart-viewers")["draws"]
        st.focus().execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": CONSOLE[0], "height": CONSOLE[1], "deviceScaleFactor": 2, "mobile": False})
        try:
            for c in ("chart-viewers", "chart-orders"):
                st.wait(lambda p: (lambda g: g["dpr"] == 2 and g["width"] == 2 * g["cssWidth"]
                                   and g["height"] == 2 * g["cssHeight"])(chart(p, c)), f"{c} in device pixels")
            assert chart(st, "chart-viewers")["draws"] > draws
            assert chart(st, "chart-viewers")["points"] == 240
            assert pixels(st, "chart-viewers", INFO)[0] > 400
        finally:
            st.focus().execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        # a narrower window: redrawn to the new size
        before = chart(st, "chart-orders")
        st.focus().set_window_size(700, 900)
        st.wait(lambda p: chart(p, "chart-orders")["cssWidth"] != before["cssWidth"]
                and chart(p, "chart-orders")["width"] == round(chart(p, "chart-orders")["cssWidth"] * chart(p, "chart-orders")["dpr"]),
                "redrawn at the new width")
        assert chart(st, "chart-orders")["total"] == sum(buckets)
        assert st.severe_logs() == []
    finally:
        close_pages(driver, [st])
