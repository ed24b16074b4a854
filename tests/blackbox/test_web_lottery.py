"""Lucky bags, leaderboards and "people are buying" in the web pages, in real (headless)
Chromium driven by Selenium (PROTOCOL.md "Lucky bag (福袋): a draw anyone can verify" and
"Leaderboards and \"people are buying\"").

The streamer console opens a lucky bag with a keyword; a viewer page on the other shard sees the
card (prize, countdown, the keyword to comment), comments the keyword and is told it entered;
at the draw both pages show the winners (the same, in the same order, the rule's); the viewer's
likes put it on the likes board of both pages, buys fill the buyers board and the ticker. The
verify page, opened from the viewer's link and given the shop's GET answer, recomputes the draw
in the browser and says so (and says no to a tampered answer). A bag without a keyword is entered
with the Enter button, and a reloaded page still knows it entered.

Same machinery as test_web_browser.py (Debian's chromium, chromium-driver, python3-selenium;
skipped, saying so, without them). LIVECART_WRITE_SCREENSHOTS=1 also refreshes
docs/engagement-viewer.png.
"""

import asyncio
import json
import os
import shutil

import pytest

import lc
from lc import Client
from test_web_browser import (  # noqa: F401  (driver is a fixture)
    CHROMIUM, DESKTOP, DOCS, DRIVER, PHONE, WEB, close_pages, driver, open_pages, page_url, webdriver)
from test_web_checkout import fill, sel

pytestmark = pytest.mark.skipif(
    webdriver is None or not os.path.exists(CHROMIUM) or not os.path.exists(DRIVER),
    reason="needs python3-selenium, chromium and chromium-driver (Debian packages)")

API_KEY = "lottery-web-test-key"
CARD = '[data-testid="lottery"][data-lottery="bag1"]'
ROW = '[data-testid="lottery-row"][data-lottery="bag1"]'


def board(page, name):
    """[(user, score)] of a leaderboard as the page shows it, best first."""
    return [tuple(x) for x in page.js(
        "return Array.from(document.querySelectorAll(`[data-testid='board'][data-board='${arguments[0]}'] "
        "[data-testid='board-entry']`)).map(li => [li.dataset.user, Number(li.dataset.score)])", name)]


def winners_shown(page, within):
    return page.js("return Array.from(document.querySelectorAll(arguments[0] + ' [data-testid=\"lottery-winner\"]'))"
                   ".map(li => li.dataset.user)", within)


def checks(page):
    """{check name: ok} of the verify page's result, and its verdict."""
    got = page.js("return Array.from(document.querySelectorAll('[data-testid=\"verify-check\"]'))"
                  ".map(li => [li.dataset.check, li.dataset.ok, li.textContent])")
    return {name: ok for name, ok, _ in got}, page.attr('[data-testid="verify-result"]', "data-ok"), got


def set_value(page, testid, value):
    page.js("const e = document.querySelector(`[data-testid='${arguments[0]}']`); e.value = arguments[1];",
            testid, value)


def run_verify(page, answer):
    """Pastes a GET answer (dict) into the verify page and presses Verify; -> (checks, verdict, raw)."""
    set_value(page, "verify-json", json.dumps(answer))
    page.js("document.querySelector('[data-testid=\"verify-result\"]').dataset.ok = 'pending'")
    page.el("verify-run").click()
    page.wait(lambda p: p.attr('[data-testid="verify-result"]', "data-ok") not in ("pending", ""), "verified")
    return checks(page)


def test_lucky_bag_keyword_boards_ticker_and_verify(driver, start_server, tmp_path):  # noqa: F811
    room = "lucky-evening"  # (its name is in the screenshot)
    s1 = start_server(shard="A", web_root=WEB, env={"LIVECART_API_KEY": API_KEY})
    s2 = start_server(shard="B", web_root=WEB)
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    try:
        bots = {}
        for i, u in enumerate(("mia", "leo", "ava", "kim")):
            bots[u] = run(Client.joined(s1 if i % 2 else s2, room, u))
        shop = run(Client.joined(s1, room, "shop", role="streamer"))
        v, st = open_pages(driver, [("viewer", page_url(s2, "", room, "zoe"), PHONE),
                                    ("streamer", page_url(s1, "streamer.html", room, "sam"), DESKTOP)])
        try:
            for p in (v, st):
                p.wait(lambda p: p.state() == "open", "connected")
            assert v.js("return document.querySelectorAll('[data-testid=\"lottery\"]').length") == 0

            # the console opens a lucky bag: 3 winners, drawn in 12 s, keyword "Lucky"
            st.focus()
            fill(st, {"lottery-id": "bag1", "lottery-prize": "Signed <b>mug</b>", "lottery-winners": 3,
                      "lottery-secs": 12, "lottery-keyword": "Lucky"})
            st.el("lottery-open").click()
            st.wait(lambda p: p.attr(ROW, "data-state") == "open", "the lottery row")
            assert st.el("lottery-error").text == ""
            commit = st.js("return window.livecart.lotteries.get('bag1').commit")
            assert len(commit) == 64
            # a second one while it is open: refused, and the console says so
            fill(st, {"lottery-id": "bag2", "lottery-prize": "Another"})
            st.el("lottery-open").click()
            st.wait(lambda p: p.el("lottery-error").text != "", "refused: one lucky bag at a time")

            # the viewer (other shard) sees the card: prize (as text), countdown, the keyword to comment
            v.wait(lambda p: p.attr(CARD, "data-state") == "open", "the lucky-bag card")
            assert v.prop(sel(CARD, '[data-testid="lottery-prize"]'), "textContent") == "Signed <b>mug</b>"
            assert v.js("return document.querySelectorAll('#lottery b:not(.keyword), #lottery i').length") == 0
            assert v.prop(sel(CARD, '[data-testid="lottery-keyword"]'), "textContent") == "“Lucky”"
            assert not v.prop(sel(CARD, '[data-testid="lottery-hint"]'), "hidden")
            assert v.prop(sel(CARD, '[data-testid="lottery-enter"]'), "hidden"), "an Enter button for a keyword bag"
            assert "3 winners" in v.prop(sel(CARD, '[data-testid="lottery-meta"]'), "textContent")
            secs = int(v.attr(sel(CARD, '[data-testid="lottery-countdown"]'), "data-seconds"))
            assert 3 <= secs <= 13, secs
            assert v.prop(sel(CARD, '[data-testid="lottery-entered"]'), "hidden")

            # entries: three bots comment the keyword (any case), one does not; the viewer types it
            for u, text in (("mia", "LUCKY!"), ("leo", "lucky me"), ("ava", "nope"), ("kim", "so lUcKy")):
                run(bots[u].comment(text))
            v.type_comment("I want it, lucky please")
            v.wait(lambda p: p.attr(CARD, "data-state") == "entered", "entered")
            assert not v.prop(sel(CARD, '[data-testid="lottery-entered"]'), "hidden")
            assert v.js("return window.livecart.entered.has('bag1')")
            # the console counts the keyword authors it saw (mia, leo, kim, zoe)
            st.wait(lambda p: p.attr(sel(ROW, '[data-testid="lottery-entries"]'), "data-value") == "4", "4 entries")

            # likes: the viewer's taps put it on top of the likes board, on both pages
            for _ in range(6):
                v.el("like-button").click()
            run(bots["mia"].like(2))
            for p in (v, st):
                p.wait(lambda p: board(p, "likes") == [("zoe", 6), ("mia", 2)], "likes board: zoe 6, mia 2")
            assert v.attr('[data-testid="board"][data-board="likes"] [data-user="zoe"]', "class").split().count("mine") == 1

            # buys: the buyers board and the ticker
            run(lc.open_sale(shop, "mug", 50, price=1800, limit=5, title="Speckled mug"))
            v.wait(lambda p: p.attr('[data-testid="sale"][data-sku="mug"] [data-testid="stock"]', "data-left") == "50",
                   "the sale card")
            run(lc.buy(bots["leo"], "mug", "leo-1", qty=3))
            v.el("buy").click()
            v.wait(lambda p: p.attr('[data-testid="order-status"]', "data-status") == "ok", "bought")
            for p in (v, st):
                p.wait(lambda p: board(p, "buyers") == [("leo", 3), ("zoe", 1)], "buyers board: leo 3, zoe 1")
            v.wait(lambda p: not p.prop('[data-testid="buying"]', "hidden")
                   and "zoe" in p.prop('[data-testid="buying"]', "textContent"), "the ticker")
            assert "bought in the last 10 s" in v.prop('[data-testid="buying"]', "textContent")
            assert int(v.attr('[data-testid="buying"]', "data-count")) >= 1

            # the draw: both pages show the same winners, the rule's
            v.wait(lambda p: p.attr(CARD, "data-state") in ("drawn", "won"), "the result", timeout=lc.T * 6)
            st.wait(lambda p: p.attr(ROW, "data-state") == "drawn", "the result on the console")
            shown = winners_shown(v, CARD)
            assert len(shown) == 3 and set(shown) <= {"mia", "leo", "kim", "zoe"}, shown
            assert winners_shown(st, ROW) == shown
            assert st.attr(sel(ROW, '[data-testid="lottery-entries"]'), "data-value") == "4"
            assert "from 4 entries" in v.prop(sel(CARD, ".result-head"), "textContent")
            status, got, _ = lc.api_call(s1.port, "GET", f"/api/rooms/{room}/lotteries/bag1", key=API_KEY)
            assert status == 200, (status, got)
            assert got["state"] == "drawn" and got["winners"] == shown and got["commit"] == commit, got
            assert got["entrants"] == ["kim", "leo", "mia", "zoe"], got
            assert lc.draw_winners(lc.seed_bytes(got["seed"]), got["entrants"], 3) == shown
            won = "zoe" in shown
            assert (v.attr(CARD, "data-state") == "won") == won
            assert v.prop(sel(CARD, '[data-testid="lottery-won"]'), "hidden") is (not won)

            # the screenshot: the card with its result, the boards, and the ticker (fresh buys)
            run(lc.buy(bots["kim"], "mug", "kim-1", qty=2))
            run(lc.buy(bots["mia"], "mug", "mia-1"))
            v.wait(lambda p: all(u in p.prop('[data-testid="buying"]', "textContent") for u in ("kim", "mia")),
                   "the ticker names the newest buyers")
            for u, text in (("mia", "congrats!!"), ("leo", "was it fair? there's a verify link")):
                run(bots[u].comment(text))
            # (two shards: the two may be posted in either order)
            v.wait(lambda p: {"congrats!!", "was it fair? there's a verify link"} <= set(p.texts()[-2:]), "the comments")
            path = tmp_path / "engagement-viewer.png"
            v.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);"
                 "document.querySelector('.stage').scrollTop = 0; document.getElementById('toast').hidden = true")
            v.focus().save_screenshot(str(path))
            assert path.stat().st_size > 10000
            if os.environ.get("LIVECART_WRITE_SCREENSHOTS") == "1":
                shutil.copyfile(path, os.path.join(DOCS, "engagement-viewer.png"))
            for p in (v, st):
                assert p.severe_logs() == [], f"{p.name}: console errors"

            # verify: the viewer's link fills in what the room told it; the entrants are pasted
            href = v.prop(sel(CARD, '[data-testid="lottery-verify"]'), "href")
            assert "/verify.html#" in href and f"commit={commit}" in href, href
            v.focus().get(href)
            v.wait(lambda p: checks(p)[0].get("commit") == "true", "the commit checked from the link alone")
            assert v.prop('[data-testid="verify-seed"]', "value") == got["seed"]
            assert v.prop('[data-testid="verify-k"]', "value") == "3"
            assert v.prop('[data-testid="verify-winners"]', "value").split("\n") == shown
            assert checks(v)[1] == "partial", checks(v)
            c, verdict, raw = run_verify(v, got)
            assert verdict == "true", raw
            assert c["commit"] == "true" and c["winners"] == "true", raw
            computed = v.js("return Array.from(document.querySelectorAll('[data-testid=\"verify-winner\"]'))"
                            ".map(li => li.dataset.user)")
            assert computed == shown
            # a tampered answer: a winner left out of the entrants cannot have been drawn
            bad = dict(got, entrants=[u for u in got["entrants"] if u != shown[0]], entries=3)
            c, verdict, raw = run_verify(v, bad)
            assert verdict == "false" and c["winners"] == "false", raw
            # another seed than the room was told at the draw
            c, verdict, raw = run_verify(v, dict(got, seed="00" * 32))
            assert verdict == "false" and c.get("same-seed") == "false", raw

            # the page alone, with nothing but the pasted answer: the same verdict
            v.focus().get(f"http://{lc.HOST}:{s2.port}/verify.html")
            c, verdict, raw = run_verify(v, got)
            assert verdict == "true" and c["commit"] == "true" and c["winners"] == "true", raw
            assert v.js("return Array.from(document.querySelectorAll('[data-testid=\"verify-winner\"]'))"
                        ".map(li => li.dataset.user)") == shown
            # unsorted entrants are sorted as the draw does; the result is the same
            c, verdict, raw = run_verify(v, dict(got, entrants=list(reversed(got["entrants"]))))
            assert verdict == "true", raw
            assert v.severe_logs() == []
        finally:
            close_pages(driver, [v, st])
    finally:
        run(lc.close_all_clients())
        loop.close()


def test_lucky_bag_without_keyword_enter_button(driver, start_server, room):  # noqa: F811
    s = start_server(shard="A", web_root=WEB)
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    try:
        sam = run(Client.joined(s, room, "sam", role="streamer"))
        opened = run(lc.open_lottery(sam, "tap1", prize="Sencha tea", winners=1, secs=60))
        card = '[data-testid="lottery"][data-lottery="tap1"]'
        (v,) = open_pages(driver, [("viewer", page_url(s, "", room, "ann"), PHONE)])
        try:
            v.wait(lambda p: p.state() == "open", "connected")
            # joined after the open: the welcome brings the bag
            v.wait(lambda p: p.attr(card, "data-state") == "open", "the card from the welcome")
            assert v.prop(sel(card, '[data-testid="lottery-hint"]'), "hidden"), "a keyword hint without a keyword"
            assert not v.prop(sel(card, '[data-testid="lottery-enter"]'), "hidden")
            assert v.prop(sel(card, '[data-testid="lottery-commit"]'), "title").endswith(opened["commit"])
            v.el("lottery-enter").click()
            v.wait(lambda p: p.attr(card, "data-state") == "entered", "entered")
            assert v.prop(sel(card, '[data-testid="lottery-enter"]'), "hidden"), "Enter still offered"
            assert v.js("return window.livecart.entered.has('tap1')")
            # a reload: the page remembers it entered (the server tells `entered` only once)
            v.focus().refresh()
            v.wait(lambda p: p.state() == "open", "connected again")
            v.wait(lambda p: p.attr(card, "data-state") == "entered", "still entered after a reload")
            assert v.severe_logs() == []
        finally:
            close_pages(driver, [v])
    finally:
        run(lc.close_all_clients())
        loop.close()
