"""The viewer and streamer pages in real (headless) Chromium, driven by Selenium.

Two viewer pages and a streamer page in one room, on two shards: comments typed in one page
appear in the others in the same order, hostile text stays text, likes add up, the streamer
opens a sale, viewers see it and buy, every page's stock falls; shards are restarted (SIGTERM
with its reconnect hint, and SIGKILL) and the pages show "reconnecting" and recover without
losing what was said meanwhile.

Needs Debian's chromium, chromium-driver and python3-selenium (skipped, saying so, without
them). LIVECART_WRITE_SCREENSHOTS=1 also refreshes docs/screenshot-*.png.
"""

import asyncio
import http.client
import json
import os
import shutil
import time

import pytest

import lc
from lc import Client

CHROMIUM = os.environ.get("LIVECART_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = os.environ.get("LIVECART_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
WEB = os.path.join(lc.REPO, "web")
DOCS = os.path.join(lc.REPO, "docs")
API_KEY = "browser-test-key"

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.common.exceptions import NoSuchWindowException
except ImportError:  # pragma: no cover - depends on the machine
    webdriver = None

pytestmark = pytest.mark.skipif(
    webdriver is None or not os.path.exists(CHROMIUM) or not os.path.exists(DRIVER),
    reason="needs python3-selenium, chromium and chromium-driver (Debian packages)")

W = lc.T * 2  # page-level waits: a browser on a loaded 2-core box


@pytest.fixture(scope="module")
def driver():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-extensions", "--no-first-run", "--mute-audio", "--hide-scrollbars",
              # three windows of one browser: none of them may be throttled as "in background"
              "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
              "--disable-backgrounding-occluded-windows", "--window-size=420,860"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(DRIVER), options=opts)
    d.set_script_timeout(lc.T)
    yield d
    d.quit()


class Page:
    """One window of the browser."""

    def __init__(self, d, handle, name):
        self.d, self.handle, self.name = d, handle, name

    def focus(self):
        try:
            current = self.d.current_window_handle
        except NoSuchWindowException:  # the window we were on was closed
            current = None
        if current != self.handle:
            self.d.switch_to.window(self.handle)
        return self.d

    def js(self, script, *args):
        return self.focus().execute_script(script, *args)

    def el(self, testid, within=None):
        root = within or self.focus()
        return root.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def attr(self, css, name):
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;",
                       css, name)

    def prop(self, css, name):
        return self.js("const e = document.querySelector(arguments[0]); return e ? e[arguments[1]] : null;", css, name)

    def wait(self, pred, what, timeout=W):
        return lc.wait_until(lambda: pred(self), timeout, interval=0.05, what=f"{self.name}: {what}")

    def state(self):
        return self.attr('[data-testid="status"]', "data-state")

    def comments(self):
        """[(id, user, text)] of the comment items shown, top to bottom."""
        return self.js("""return Array.from(document.querySelectorAll('[data-testid="comments"] > [data-testid="comment"]'))
            .map(li => [li.dataset.id, li.querySelector('.user').textContent, li.querySelector('.text').textContent]);""")

    def texts(self):
        return [c[2] for c in self.comments()]

    def count(self, testid):
        v = self.attr(f'[data-testid="{testid}"]', "data-value")
        return None if v is None else float(v)

    def type_comment(self, text, enter=True):
        box = self.el("comment-input")
        box.send_keys(text)
        if enter:
            box.send_keys(Keys.ENTER)
        else:
            self.el("comment-send").click()

    def severe_logs(self):
        self.focus()
        out = []
        for e in self.d.get_log("browser"):
            msg = e.get("message", "")
            # failed WebSocket connects while a shard is down are expected
            if e.get("level") == "SEVERE" and "WebSocket connection to" not in msg:
                out.append(msg)
        return out


def open_pages(d, specs):
    """specs: [(name, url, (w, h))] -> [Page]; the first reuses the current window."""
    pages = []
    for i, (name, url, size) in enumerate(specs):
        if i:
            d.switch_to.new_window("window")
        d.set_window_size(*size)
        d.get(url)
        pages.append(Page(d, d.current_window_handle, name))
    return pages


def close_pages(d, pages):
    for p in pages[1:]:
        d.switch_to.window(p.handle)
        d.close()
    d.switch_to.window(pages[0].handle)
    d.get("about:blank")


def record_states(page):
    """From now on, every data-state the status element shows is kept in window.__states."""
    page.js("""window.__states = [];
        const s = document.querySelector('[data-testid="status"]');
        new MutationObserver(() => window.__states.push([s.dataset.state, s.textContent]))
            .observe(s, {attributes: true, childList: true, characterData: true, subtree: true});""")


def page_url(server, page, room, user, **extra):
    q = "&".join([f"room={room}", f"user={user}"] + [f"{k}={v}" for k, v in extra.items()])
    return f"http://{lc.HOST}:{server.port}/{page}?{q}"


PHONE = (390, 844)
DESKTOP = (1200, 900)


def test_comments_likes_and_hostile_text_across_two_shards(driver, start_server, room):
    s1 = start_server(shard="A", web_root=WEB)
    s2 = start_server(shard="B", web_root=WEB)
    a, b, st = open_pages(driver, [("viewer A", page_url(s1, "", room, "ann"), PHONE),
                                   ("viewer B", page_url(s2, "", room, "bob"), PHONE),
                                   ("streamer", page_url(s1, "streamer.html", room, "sam"), DESKTOP)])
    try:
        for p in (a, b, st):
            p.wait(lambda p: p.state() == "open", "connected")
        assert a.el("status").text == "live"
        a.wait(lambda p: p.count("viewers") == 3, "3 viewers")
        st.wait(lambda p: p.count("viewers") == 3, "3 viewers")

        hostile = '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> & "quotes"'
        a.type_comment("hello from A")
        b.type_comment("hi from B", enter=False)
        a.type_comment(hostile)
        b.type_comment("second from B")
        st.type_comment("welcome, everyone")
        a.type_comment("last from A")
        sent = {"hello from A", "hi from B", hostile, "second from B", "welcome, everyone", "last from A"}
        for p in (a, b, st):
            p.wait(lambda p: set(p.texts()) == sent, "all six comments")
        # one order everywhere, the room's (ids increasing), each sender's own order kept
        ids = [c[0] for c in a.comments()]
        lc.assert_strictly_increasing(ids, "comment ids on page A")
        assert b.texts() == a.texts() == st.texts()
        assert [c[0] for c in b.comments()] == ids
        assert [t for t in a.texts() if t.endswith("from A") or t == hostile] == \
            ["hello from A", hostile, "last from A"]
        assert [c[1] for c in b.comments() if c[2] == hostile] == ["ann"]
        assert a.prop('[data-testid="comment-input"]', "value") == "", "Enter did not clear the box"
        # hostile text is text: no element came out of it, nothing ran
        for p in (a, b, st):
            assert p.js("return document.querySelectorAll('[data-testid=\"comments\"] img, "
                        "[data-testid=\"comments\"] script').length") == 0
            assert p.js("return window.__xss === undefined")

        # likes: quick taps on both viewers add up everywhere
        for _ in range(7):
            a.el("like-button").click()
        assert a.count("likes") >= 7, "the counter did not move at once"
        for _ in range(5):
            b.el("like-button").click()
        for p in (a, b, st):
            p.wait(lambda p: p.count("likes") == 12, "12 likes")
        for p in (a, b, st):
            assert p.severe_logs() == [], f"{p.name}: console errors"
        # Chromium negotiated permessage-deflate on every page and read compressed frames (the
        # comments above, long enough to be compressed), and what it sent compressed was inflated
        for s, pages in ((s1, 2), (s2, 1)):
            assert lc.metric(s.port, "livecart_deflate_connections_total") >= pages
            assert lc.metric(s.port, "livecart_deflate_frames_total") > 0
        assert lc.metric(s1.port, "livecart_inflated_total") > 0
    finally:
        close_pages(driver, [a, b, st])


def test_sale_buy_and_stock_on_every_page(driver, start_server, room):
    s1 = start_server(shard="A", web_root=WEB)
    s2 = start_server(shard="B", web_root=WEB)
    a, b, st = open_pages(driver, [("viewer A", page_url(s1, "", room, "ann"), PHONE),
                                   ("viewer B", page_url(s2, "", room, "bob"), PHONE),
                                   ("streamer", page_url(s2, "streamer.html", room, "sam"), DESKTOP)])
    try:
        for p in (a, b, st):
            p.wait(lambda p: p.state() == "open", "connected")
        st.focus()
        st.el("sale-sku").send_keys("mug")
        st.el("sale-title").send_keys("Blue <b>mug</b>")
        st.el("sale-price").send_keys("12.99")
        st.el("sale-stock").send_keys("3")
        limit = st.el("sale-limit")
        limit.clear()
        limit.send_keys("1")
        st.el("sale-open").click()

        left = '[data-testid="sale"][data-sku="mug"] [data-testid="stock"]'
        for p in (a, b):
            p.wait(lambda p: p.attr(left, "data-left") == "3", "the sale card")
            card = p.el("sale")
            assert card.find_element(By.CSS_SELECTOR, ".sale-title").text == "Blue <b>mug</b>"
            assert "12.99" in card.find_element(By.CSS_SELECTOR, ".sale-price").text
        st.wait(lambda p: p.attr('[data-testid="stock"][data-sku="mug"]', "data-left") == "3", "the open sale")
        assert st.count("stock-left") == 3

        a.el("buy").click()
        a.wait(lambda p: p.attr('[data-testid="order-status"]', "data-status") == "ok", "order ok")
        assert "Bought" in a.el("order-status").text
        for p in (a, b):
            p.wait(lambda p: p.attr(left, "data-left") == "2", "stock 2")
        st.wait(lambda p: p.attr('[data-testid="stock"][data-sku="mug"]', "data-left") == "2", "stock 2")
        st.wait(lambda p: p.count("stock-left") == 2, "stock left 2")
        st.wait(lambda p: p.count("orders-rate") > 0, "sold per second moving")

        a.el("buy").click()  # limit 1 per person
        a.wait(lambda p: p.attr('[data-testid="order-status"]', "data-status") == "limit", "limit")
        assert "at most 1" in a.el("order-status").text
        b.el("buy").click()
        b.wait(lambda p: p.attr('[data-testid="order-status"]', "data-status") == "ok", "order ok")
        for p in (a, b):
            p.wait(lambda p: p.attr(left, "data-left") == "1", "stock 1")

        st.el("sale-close").click()
        for p in (a, b):
            p.wait(lambda p: p.js("return document.querySelectorAll('[data-testid=\"sale\"]').length") == 0,
                   "the card gone")
        st.wait(lambda p: p.js("return document.querySelectorAll('[data-testid=\"open-sale\"]').length") == 0,
                "the row gone")
        for p in (a, b, st):
            assert p.severe_logs() == [], f"{p.name}: console errors"
    finally:
        close_pages(driver, [a, b, st])


def test_shard_restarts_show_reconnecting_and_recover(driver, start_server, room):
    s1 = start_server(shard="A", web_root=WEB, drain_ms=300)
    s2 = start_server(shard="B", web_root=WEB)
    a, b = open_pages(driver, [("viewer A", page_url(s1, "", room, "ann"), PHONE),
                               ("viewer B", page_url(s2, "", room, "bob"), PHONE)])
    try:
        for p in (a, b):
            p.wait(lambda p: p.state() == "open", "connected")
        a.type_comment("before the restart")
        b.wait(lambda p: "before the restart" in p.texts(), "first comment")
        record_states(a)

        # SIGTERM: the shard drains (reconnect hint, 1001) and is gone for a while
        s1.stop()
        a.wait(lambda p: p.state() == "reconnecting", "reconnecting")
        assert "reconnecting" in a.el("status").text
        assert a.js("return document.body.dataset.connection") == "reconnecting"
        b.type_comment("said while A was away")
        b.wait(lambda p: "said while A was away" in p.texts(), "own comment")
        s1.start()
        a.wait(lambda p: p.state() == "open", "back", timeout=W * 2)
        a.wait(lambda p: p.texts() == ["before the restart", "said while A was away"], "the missed comment")
        seen = [s for s, _ in a.js("return window.__states")]
        assert "reconnecting" in seen and seen[-1] == "open", seen
        a.type_comment("back again")
        b.wait(lambda p: p.texts()[-1:] == ["back again"], "A's comment after the restart")

        # SIGKILL: no hint, the connection just breaks
        record_states(b)
        s2.kill()
        b.wait(lambda p: p.state() == "reconnecting", "reconnecting after SIGKILL")
        a.type_comment("said while B was away")
        s2.start()
        b.wait(lambda p: p.state() == "open", "back", timeout=W * 2)
        b.wait(lambda p: p.texts() == ["before the restart", "said while A was away", "back again",
                                       "said while B was away"], "every comment once, in order")
        assert a.texts() == b.texts()
        b.el("like-button").click()
        a.wait(lambda p: p.count("likes") == 1, "a like after the restarts")
    finally:
        close_pages(driver, [a, b])


def test_comment_list_is_capped_and_follows_the_newest(driver, start_server, room):
    s = start_server(shard="A", web_root=WEB)
    (p,) = open_pages(driver, [("viewer", page_url(s, "", room, "ann"), PHONE)])
    loop = asyncio.new_event_loop()
    try:
        p.wait(lambda p: p.state() == "open", "connected")

        async def flood():
            c = await Client.joined(s, room, "bot")
            for i in range(400):
                await c.comment(f"flood {i}")
            await c.wait_comment("flood 399")
            await c.close()

        loop.run_until_complete(flood())
        p.wait(lambda p: p.texts()[-1:] == ["flood 399"], "the last comment")
        texts = p.texts()
        n = p.js("return document.querySelector('[data-testid=\"comments\"]').childElementCount")
        assert n == 300, f"{n} nodes in the list"
        assert texts == [f"flood {i}" for i in range(100, 400)], "not the newest 300, in order, newest last"
        at_end = p.js("const l = document.querySelector('[data-testid=\"comments\"]');"
                      "return l.scrollHeight - l.scrollTop - l.clientHeight < 48")
        assert at_end, "the list does not follow the newest comment"
    finally:
        loop.run_until_complete(lc.close_all_clients())
        loop.close()
        close_pages(driver, [p])


def test_join_form_when_room_or_user_is_missing(driver, start_server):
    s = start_server(shard="A", web_root=WEB)
    (p,) = open_pages(driver, [("viewer", f"http://{lc.HOST}:{s.port}/", PHONE)])
    try:
        assert p.js("return document.getElementById('app').hidden")
        p.el("join-room").send_keys("lobby")
        user = p.el("join-user")
        user.clear()
        user.send_keys("zoe")
        p.el("join-submit").click()
        p.wait(lambda p: p.state() == "open", "joined through the form")
        url = p.js("return location.search")
        assert "room=lobby" in url and "user=zoe" in url and "token" not in url
        p.focus().get(f"http://{lc.HOST}:{s.port}/streamer.html?room=bad%20room&user=x")
        assert p.js("return !document.getElementById('join').hidden")
    finally:
        close_pages(driver, [p])


# ------------------------------------------------------------------ screenshots


def _post(port, room, body):
    conn = http.client.HTTPConnection(lc.HOST, port, timeout=lc.T)
    try:
        conn.request("POST", f"/api/rooms/{room}/messages", body=json.dumps(body),
                     headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        assert r.status == 202, r.status
    finally:
        conn.close()


async def _seed(server, room):
    sam = await Client.joined(server, room, "sam", role="streamer")
    chat = [("mia", "just joined, what are we looking at today?"), ("leo", "that blue is gorgeous"),
            ("sam", "Stoneware mugs, hand-glazed. Dishwasher safe!"), ("ava", "is the mug dishwasher safe?"),
            ("leo", "<b>bold</b> claims, show us the bottom"), ("kim", "bought two last time, love them"),
            ("ava", "how big is it?"), ("sam", "350 ml, 9 cm tall")]
    users = {}
    for u, text in chat:
        if u == "sam":
            await sam.comment(text)
        else:
            if u not in users:
                users[u] = await Client.joined(server, room, u)
            await users[u].comment(text)
            await users[u].like(23)
        await sam.wait_comment(text)
        if text.startswith("Stoneware"):
            _post(server.port, room, {"type": "announce", "text": "Free shipping on every order tonight"})
            _post(server.port, room, {"type": "product", "sku": "mug-blue", "title": "Speckled mug, blue",
                                      "price": 1800})
    await lc.open_sale(sam, "mug-blue", 120, price=1800, limit=2, title="Speckled stoneware mug, blue")
    await lc.open_group(sam, "tea-set", 3, 60, ttl_s=900, price=4500, title="Sencha tea, 3 tins")
    for i, c in enumerate(users.values()):
        await lc.buy(c, "mug-blue", f"seed-{i}", qty=2)
    await lc.group_join(users["mia"], "tea-set", "seed-g")
    return sam


def test_screenshots(driver, start_server, tmp_path):
    s = start_server(shard="A", web_root=WEB, env={"LIVECART_API_KEY": API_KEY})
    room = "spring-mugs"
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_seed(s, room))
        v, st = open_pages(driver, [("viewer", page_url(s, "", room, "zoe"), PHONE),
                                    ("streamer", page_url(s, "streamer.html", room, "sam"), (1200, 1000))])
        try:
            for p in (v, st):
                p.wait(lambda p: p.state() == "open", "connected")
            for _ in range(4):
                v.el("like-button").click()
            v.el("buy").click()
            v.wait(lambda p: p.attr('[data-testid="sale"][data-sku="mug-blue"] [data-testid="order-status"]',
                                    "data-status") == "ok", "order ok")
            # group-buy: join the team mia started; the card shows the team's progress
            tea = '[data-testid="sale"][data-sku="tea-set"]'
            v.el("group-join").click()
            v.wait(lambda p: p.attr(f'{tea} [data-testid="order-status"]', "data-status") == "joined", "joined")
            assert "2 / 3" in v.prop(f'{tea} [data-testid="team-progress"]', "textContent")
            assert v.prop(f'{tea} [data-testid="group-join"]', "disabled"), "could join twice"
            v.type_comment("ordered one, can't wait!")
            st.wait(lambda p: "ordered one, can't wait!" in p.texts(), "the comment")
            time.sleep(0.4)  # let the like hearts float a little
            for p in (v, st):  # the lists still follow the newest comment after the cards grew
                assert p.js("const l = document.querySelector('[data-testid=\"comments\"]');"
                            "return l.scrollHeight - l.scrollTop - l.clientHeight < 48"), p.name
            out = {}
            for p, name in ((v, "screenshot-viewer.png"), (st, "screenshot-streamer.png")):
                path = tmp_path / name
                p.focus().save_screenshot(str(path))
                assert path.stat().st_size > 10000, name
                out[name] = path
            if os.environ.get("LIVECART_WRITE_SCREENSHOTS") == "1":
                for name, path in out.items():
                    shutil.copyfile(path, os.path.join(DOCS, name))
        finally:
            close_pages(driver, [v, st])
    finally:
        loop.run_until_complete(lc.close_all_clients())
        loop.close()
