/* The store end to end against a real redis-server (store_env.h): every
 * typed command, the scripts' answers as protocol messages, what they
 * publish, pub/sub, and the failure statuses. Skipped (77) when
 * redis-server is not installed. */
#include <stdlib.h>
#include <string.h>

#include "scripts.h"
#include "store_env.h"

/* ---- helpers for the commands ---- */

static got_t comment(const char *room, const char *user, const char *text, const char *req, int exempt) {
    got_t g;
    lc_store_comment_req_t r = {.room = S(room), .user = S(user), .text = S(text), .req = S(req), .cap = 1000,
                                .req_ttl_s = 60, .exempt = exempt};
    SEND(g, lc_store_comment(st, &r, on_msg, &g));
    CHECK(g.status != LC_STORE_OK || g.m.type == LC_MSG_REPLY);
    return g;
}

static got_t join(const char *room, const char *shard, unsigned count, const char *since, unsigned cap) {
    got_t g;
    lc_str_t users[] = {S("ann"), S("mallory")};
    lc_store_join_req_t r = {.room = S(room), .shard = shard, .count = count, .since = S(since), .cap = cap,
                             .users = users, .nusers = 2};
    SEND(g, lc_store_join(st, &r, on_msg, &g));
    CHECK(g.status == LC_STORE_OK && g.m.type == LC_MSG_ROOM_STATE);
    return g;
}

static got_t moderate(const char *room, lc_mod_op_t op, const char *user, const char *id, int64_t secs) {
    got_t g;
    lc_store_moderate_req_t r = {.room = S(room), .op = op, .user = S(user), .id = S(id), .secs = secs};
    SEND(g, lc_store_moderate(st, &r, on_msg, &g));
    CHECK(g.status == LC_STORE_OK && g.m.type == LC_MSG_REPLY);
    return g;
}

static got_t buy(const char *room, const char *user, const char *req, int64_t qty) {
    got_t g;
    lc_store_buy_req_t r = {.room = S(room), .sku = S("S1"), .user = S(user), .req = S(req), .ip = S("10.0.0.1"),
                            .qty = qty, .shard = "A", .req_ttl_s = 60, .ip_users = 1000};
    SEND(g, lc_store_buy(st, &r, on_msg, &g));
    CHECK(g.status == LC_STORE_OK && g.m.type == LC_MSG_ORDER);
    return g;
}

static int64_t id_ms(lc_str_t id) { return strtoll(id.p, NULL, 10); }
static int str_is(lc_str_t a, lc_str_t b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

/* ---- the tests ---- */

static void test_join_on_an_empty_room_answers_zeros(void) {
    got_t g = join("empty", "A", 50, "", 100);
    CHECK_EQ_INT(g.m.likes, 0);
    CHECK_EQ_INT(g.m.viewers, 0);
    CHECK(lc_str_eq(g.m.last, "0-0"));
    CHECK(!lc_msg_has(&g.m, recovered) && !lc_msg_has(&g.m, secs));
    CHECK_EQ_INT(g.m.history.n, 0);
    CHECK_EQ_INT(g.m.sales.n, 0);
    CHECK_EQ_INT(g.m.entries.n, 0);
    lc_msg_clear(&g.m);
}

static void test_join_lists_comments_and_posts_as_messages_oldest_first(void) {
    got_t c1 = comment("hist", "ann", "first", "", 0), c2 = comment("hist", "bob", "second ☃", "", 0);
    got_t p1, p2;
    lc_store_post_req_t a = {.room = S("hist"), .type = LC_MSG_ANNOUNCE, .text = S("doors open"), .cap = 1000};
    lc_store_post_req_t p = {.room = S("hist"), .type = LC_MSG_PRODUCT, .sku = S("SKU-1"), .title = S("Mug"),
                             .price = 1250, .cap = 1000};
    SEND(p1, lc_store_post(st, &a, on_msg, &p1));
    SEND(p2, lc_store_post(st, &p, on_msg, &p2));
    ST(p1, "ok");
    ST(p2, "ok");
    got_t g = join("hist", "A", 10, "", 100);
    CHECK_EQ_INT(g.m.history.n, 4);
    if (g.m.history.n == 4) {
        const lc_msg_t *h = g.m.history.items;
        CHECK(h[0].type == LC_MSG_COMMENT && lc_str_eq(h[0].user, "ann") && lc_str_eq(h[0].text, "first"));
        CHECK(h[1].type == LC_MSG_COMMENT && lc_str_eq(h[1].user, "bob") && lc_str_eq(h[1].text, "second ☃"));
        CHECK(h[2].type == LC_MSG_ANNOUNCE && lc_str_eq(h[2].text, "doors open"));
        CHECK(h[3].type == LC_MSG_PRODUCT && lc_str_eq(h[3].sku, "SKU-1") && lc_str_eq(h[3].title, "Mug"));
        CHECK_EQ_INT(h[3].price, 1250);
        CHECK(str_is(h[0].id, c1.m.id) && str_is(h[1].id, c2.m.id) && str_is(h[2].id, p1.m.id));
        for (int i = 0; i < 4; i++) CHECK_EQ_INT(h[i].ts, id_ms(h[i].id));
        CHECK(str_is(g.m.last, p2.m.id));
    }
    lc_msg_clear(&g.m);
    g = join("hist", "A", 2, "", 100); /* the last two, still oldest first */
    CHECK(g.m.history.n == 2 && g.m.history.items[0].type == LC_MSG_ANNOUNCE);
    lc_msg_clear(&g.m);
    g = join("hist", "A", 0, "", 100);
    CHECK_EQ_INT(g.m.history.n, 0);
    lc_msg_clear(&g.m);
    lc_msg_clear(&c1.m), lc_msg_clear(&c2.m), lc_msg_clear(&p1.m), lc_msg_clear(&p2.m);
}

static void test_resume_says_whether_it_recovered_everything(void) {
    char since[64];
    got_t c1 = comment("resume", "ann", "one", "", 0), c2 = comment("resume", "ann", "two", "", 0);
    EXPECT(comment("resume", "ann", "three", "", 0), "ok");
    snprintf(since, sizeof(since), "%.*s", (int)c1.m.id.n, c1.m.id.p);
    got_t g = join("resume", "A", 50, since, 100);
    CHECK(lc_msg_has(&g.m, recovered) && g.m.recovered);
    CHECK(g.m.history.n == 2 && str_is(g.m.history.items[0].id, c2.m.id));
    lc_msg_clear(&g.m);
    g = join("resume", "A", 50, since, 1); /* more than cap after since */
    CHECK(lc_msg_has(&g.m, recovered) && !g.m.recovered);
    CHECK_EQ_INT(g.m.history.n, 1);
    lc_msg_clear(&g.m);
    /* a capped stream: since is older than what it still holds */
    for (int i = 0; i < 12; i++) {
        lc_store_comment_req_t r = {.room = S("capped"), .user = S("ann"), .text = S("x"), .cap = 3};
        got_t x;
        SEND(x, lc_store_comment(st, &r, on_msg, &x));
        if (i == 0) snprintf(since, sizeof(since), "%.*s", (int)x.m.id.n, x.m.id.p);
        lc_msg_clear(&x.m);
    }
    CHECK(redis_do("XLEN lc:{capped}:chat") < 12);
    g = join("capped", "A", 50, since, 100);
    CHECK(lc_msg_has(&g.m, recovered) && !g.m.recovered);
    lc_msg_clear(&g.m);
    lc_msg_clear(&c1.m), lc_msg_clear(&c2.m);
}

static void test_history_drops_entries_that_are_no_message(void) {
    EXPECT(comment("bad", "ann", "good", "", 0), "ok");
    redis_do("XADD lc:{bad}:chat * u %s t x", "");                 /* empty user */
    redis_do("XADD lc:{bad}:chat * k p s S1 n Mug p abc");          /* price not a number */
    redis_do("XADD lc:{bad}:chat * k z t x");                       /* a kind nobody knows */
    redis_do("XADD lc:{bad}:chat * u ann t %b", "\xff\xfe", (size_t)2); /* not UTF-8 */
    EXPECT(comment("bad", "bob", "also good", "", 0), "ok");
    got_t g = join("bad", "A", 50, "", 100);
    CHECK(g.status == LC_STORE_OK);
    CHECK_EQ_INT(g.m.history.n, 2);
    if (g.m.history.n == 2) CHECK(lc_str_eq(g.m.history.items[1].user, "bob"));
    lc_msg_clear(&g.m);
}

static void test_comment_ok_dup_banned_muted_and_slow_mode(void) {
    got_t a = comment("mod", "ann", "hi", "r1", 0), b = comment("mod", "ann", "hi again", "r1", 0);
    ST(a, "ok");
    ST(b, "dup");
    CHECK(lc_msg_has(&a.m, id) && str_is(a.m.id, b.m.id));
    lc_msg_clear(&a.m), lc_msg_clear(&b.m);
    subscribe("mod");
    bus_clear();
    EXPECT(moderate("mod", LC_MOD_BAN, "mallory", "", 0), "ok");
    const lc_msg_t *m = bus_wait(LC_MSG_BAN);
    CHECK(m && lc_str_eq(m->user, "mallory"));
    b = comment("mod", "mallory", "spam", "", 0);
    ST(b, "banned");
    CHECK(!lc_msg_has(&b.m, id));
    got_t j = join("mod", "A", 0, "", 0);
    CHECK(j.m.entries.n == 1 && j.m.entries.items[0].type == LC_MSG_MEMBER &&
          lc_str_eq(j.m.entries.items[0].user, "mallory"));
    lc_msg_clear(&j.m), lc_msg_clear(&b.m);
    EXPECT(moderate("mod", LC_MOD_UNBAN, "mallory", "", 0), "ok");
    EXPECT(comment("mod", "mallory", "sorry", "", 0), "ok");
    EXPECT(moderate("mod", LC_MOD_MUTE, "bob", "", 60), "ok");
    EXPECT(comment("mod", "bob", "hello?", "", 0), "muted");
    EXPECT(moderate("mod", LC_MOD_MUTE, "bob", "", 0), "ok");
    EXPECT(comment("mod", "bob", "hello!", "", 0), "ok");
    EXPECT(moderate("mod", LC_MOD_SLOW, "", "", 30), "ok");
    m = bus_wait(LC_MSG_SLOW_MODE);
    CHECK(m && m->secs == 30);
    j = join("mod", "A", 0, "", 0);
    CHECK(lc_msg_has(&j.m, secs) && j.m.secs == 30);
    lc_msg_clear(&j.m);
    EXPECT(comment("mod", "cid", "one", "", 0), "ok");
    EXPECT(comment("mod", "cid", "two", "", 0), "rate_limited");
    EXPECT(comment("mod", "cid", "mod voice", "", 1), "ok"); /* exempt */
    EXPECT(moderate("mod", LC_MOD_SLOW, "", "", 0), "ok");
    j = join("mod", "A", 0, "", 0);
    CHECK(!lc_msg_has(&j.m, secs));
    lc_msg_clear(&j.m);
    bus_clear();
    a = comment("mod", "ann", "to delete", "", 0);
    CHECK(bus_wait(LC_MSG_COMMENT) != NULL);
    char id[64];
    snprintf(id, sizeof(id), "%.*s", (int)a.m.id.n, a.m.id.p);
    EXPECT(moderate("mod", LC_MOD_DELETE, "", id, 0), "ok");
    m = bus_wait(LC_MSG_DELETED);
    CHECK(m && str_is(m->id, a.m.id));
    EXPECT(moderate("mod", LC_MOD_DELETE, "", id, 0), "not_found");
    lc_msg_clear(&a.m);
    bus_clear();
    lc_store_unsubscribe(st, S("mod"));
}

static void test_post_with_a_key_is_posted_once(void) {
    got_t a, b, c;
    lc_store_post_req_t r = {.room = S("posts"), .type = LC_MSG_ANNOUNCE, .text = S("sale at 8"), .key = S("k1"),
                             .key_ttl_s = 60, .cap = 1000};
    SEND(a, lc_store_post(st, &r, on_msg, &a));
    SEND(b, lc_store_post(st, &r, on_msg, &b));
    r.text = S("sale at 9");
    SEND(c, lc_store_post(st, &r, on_msg, &c));
    ST(a, "ok");
    ST(b, "replayed");
    ST(c, "key_reused");
    CHECK(str_is(a.m.id, b.m.id) && str_is(a.m.id, c.m.id));
    CHECK_EQ_INT(redis_do("XLEN lc:{posts}:chat"), 1);
    lc_msg_clear(&a.m), lc_msg_clear(&b.m), lc_msg_clear(&c.m);
    r.type = LC_MSG_COMMENT; /* not a post: nothing sent */
    CHECK(lc_store_post(st, &r, on_msg, &a) == -1);
}

static void test_likes_count_each_batch_once(void) {
    got_t g;
    lc_store_likes_req_t r = {.room = S("likes"), .shard = "A", .boot = "b1", .seq = 1, .count = 3};
    SEND(g, lc_store_likes(st, &r, on_int, &g));
    CHECK(g.status == LC_STORE_OK && g.i == 3);
    SEND(g, lc_store_likes(st, &r, on_int, &g)); /* the same batch again */
    CHECK(g.status == LC_STORE_OK && g.i == 3);
    r.seq = 2, r.count = 2;
    SEND(g, lc_store_likes(st, &r, on_int, &g));
    CHECK_EQ_INT(g.i, 5);
    r.boot = "b2", r.seq = 1, r.count = 1; /* the shard restarted */
    SEND(g, lc_store_likes(st, &r, on_int, &g));
    CHECK_EQ_INT(g.i, 6);
    got_t j = join("likes", "A", 0, "", 0);
    CHECK_EQ_INT(j.m.likes, 6);
    lc_msg_clear(&j.m);
}

static void test_viewers_sum_the_shards_shares(void) {
    got_t g;
    lc_store_viewers_req_t r = {.room = S("views"), .shard = "A", .count = 3, .ttl_ms = 10000};
    SEND(g, lc_store_viewers(st, &r, on_int, &g));
    CHECK(g.status == LC_STORE_OK && g.i == 3);
    r.shard = "B", r.count = 2;
    SEND(g, lc_store_viewers(st, &r, on_int, &g));
    CHECK_EQ_INT(g.i, 5);
    got_t j = join("views", "B", 0, "", 0); /* the others: A's share */
    CHECK_EQ_INT(j.m.viewers, 3);
    lc_msg_clear(&j.m);
    r.shard = "A", r.count = 0;
    SEND(g, lc_store_viewers(st, &r, on_int, &g));
    CHECK_EQ_INT(g.i, 2);
}

static got_t sale_open(const char *room, const char *sku, int group, int64_t stock) {
    got_t g;
    lc_store_sale_open_req_t r = {.room = S(room), .sku = S(sku), .title = S("Mug"), .group = group, .price = 900,
                                  .stock = stock, .limit = 2, .size = 2, .ttl_s = 60};
    SEND(g, lc_store_sale_open(st, &r, on_msg, &g));
    CHECK(g.m.type == LC_MSG_REPLY);
    return g;
}

static got_t sale_close(const char *room, const char *sku) {
    got_t g;
    SEND(g, lc_store_sale_close(st, S(room), S(sku), on_msg, &g));
    return g;
}

static void test_buy_ok_limit_sold_out_closed_and_a_retry_answers_the_same(void) {
    subscribe("shop");
    bus_clear();
    EXPECT(sale_open("shop", "S1", 0, 3), "ok");
    EXPECT(sale_open("shop", "S1", 0, 3), "exists");
    const lc_msg_t *m = bus_wait(LC_MSG_SALE);
    CHECK(m && lc_str_eq(m->sku, "S1") && m->stock == 3 && m->limit == 2);
    got_t a = buy("shop", "ann", "r1", 1);
    ST(a, "ok");
    CHECK(lc_str_eq(a.m.req, "r1") && lc_str_eq(a.m.sku, "S1") && lc_msg_has(&a.m, order));
    CHECK(a.m.qty == 1 && a.m.left == 2);
    got_t b = buy("shop", "ann", "r2", 2);
    ST(b, "limit");
    CHECK(!lc_msg_has(&b.m, order) && !lc_msg_has(&b.m, qty) && b.m.left == 2);
    lc_msg_clear(&b.m);
    EXPECT(buy("shop", "bob", "r3", 2), "ok");
    b = buy("shop", "ann", "r1", 1); /* the retry: same order, today's stock */
    ST(b, "ok");
    CHECK(str_is(a.m.order, b.m.order) && b.m.qty == 1 && b.m.left == 0);
    lc_msg_clear(&a.m), lc_msg_clear(&b.m);
    EXPECT(buy("shop", "cid", "r4", 1), "sold_out");
    got_t j = join("shop", "A", 0, "", 0);
    CHECK(j.m.sales.n == 1 && j.m.sales.items[0].type == LC_MSG_SALE);
    if (j.m.sales.n == 1) CHECK(j.m.sales.items[0].stock == 0 && j.m.sales.items[0].total == 3);
    lc_msg_clear(&j.m);
    got_t p;
    SEND(p, lc_store_sale_publish(st, S("shop"), S("S1"), on_msg, &p));
    ST(p, "ok");
    lc_msg_clear(&p.m);
    m = bus_wait(LC_MSG_STOCK);
    CHECK(m && m->left == 0);
    SEND(p, lc_store_sale_publish(st, S("shop"), S("nope"), on_msg, &p));
    ST(p, "none");
    lc_msg_clear(&p.m);
    EXPECT(sale_close("shop", "S1"), "ok");
    CHECK(bus_wait(LC_MSG_SALE_CLOSED) != NULL);
    EXPECT(sale_close("shop", "S1"), "closed");
    EXPECT(buy("shop", "dan", "r5", 1), "closed");
    lc_store_note_sale_room(st, S("shop"));
    EXPECT(sale_close("shop", "S1"), "closed"); /* after the SADD on the same connection */
    CHECK_EQ_INT(redis_do("SISMEMBER lc:sale-rooms shop"), 1);
    lc_store_unsubscribe(st, S("shop"));
    bus_clear();
}

static got_t group_join(const char *user, const char *req) {
    got_t g;
    lc_store_group_join_req_t r = {.room = S("grp"), .user = S(user), .req = S(req), .sku = S("G1"), .shard = "A",
                                   .req_ttl_s = 60};
    SEND(g, lc_store_group_join(st, &r, on_msg, &g));
    CHECK(g.status == LC_STORE_OK && g.m.type == LC_MSG_GROUP);
    return g;
}

static got_t cancel(const char *user, lc_str_t order) {
    got_t g;
    lc_store_cancel_req_t r = {.room = S("grp"), .user = S(user), .order = order, .window_ms = 60000, .shard = "A"};
    SEND(g, lc_store_cancel(st, &r, on_msg, &g));
    CHECK(g.status == LC_STORE_OK && g.m.type == LC_MSG_CANCELLED && str_is(g.m.order, order));
    return g;
}

static void test_group_join_fills_a_team_and_its_orders_cancel_once(void) {
    subscribe("grp");
    bus_clear();
    EXPECT(sale_open("grp", "G1", 1, 4), "ok");
    const lc_msg_t *m = bus_wait(LC_MSG_GROUP_SALE);
    CHECK(m && m->size == 2 && m->stock == 4 && m->ttl_s == 60);
    got_t a = group_join("ann", "g1");
    ST(a, "joined");
    CHECK(lc_msg_has(&a.m, team) && a.m.members == 1 && a.m.size == 2 && a.m.left == 4);
    got_t b = group_join("bob", "g2");
    ST(b, "joined");
    CHECK(str_is(a.m.team, b.m.team) && b.m.members == 2 && b.m.left == 2);
    lc_msg_clear(&b.m);
    m = bus_wait(LC_MSG_TEAM_DONE);
    CHECK(m && str_is(m->team, a.m.team) && lc_str_eq(m->sku, "G1") && m->entries.n == 2);
    char order[64] = "";
    if (m && m->entries.n == 2) {
        const lc_msg_t *e = m->entries.items;
        CHECK(e[0].type == LC_MSG_MEMBER && lc_str_eq(e[0].user, "ann") && lc_msg_has(&e[0], order));
        snprintf(order, sizeof(order), "%.*s", (int)e[0].order.n, e[0].order.p);
    }
    b = group_join("ann", "g1"); /* the retry answers the first decision */
    ST(b, "joined");
    CHECK(str_is(a.m.team, b.m.team) && b.m.members == 1 && b.m.left == 4);
    lc_msg_clear(&a.m), lc_msg_clear(&b.m);
    a = cancel("bob", S(order)); /* not bob's */
    ST(a, "not_found");
    CHECK(!lc_msg_has(&a.m, sku) && !lc_msg_has(&a.m, left));
    lc_msg_clear(&a.m);
    a = cancel("ann", S(order));
    ST(a, "ok");
    CHECK(lc_str_eq(a.m.sku, "G1") && a.m.qty == 1 && a.m.left == 3);
    lc_msg_clear(&a.m);
    EXPECT(cancel("ann", S(order)), "already");
    EXPECT(cancel("ann", S("1-1")), "not_found");
    /* a team past its deadline dissolves */
    a = group_join("cid", "g3");
    ST(a, "joined");
    redis_do("ZADD lc:{grp}:tdead 0 %b", a.m.team.p, a.m.team.n);
    lc_msg_clear(&a.m);
    bus_clear();
    got_t x;
    SEND(x, lc_store_sale_expire(st, S("grp"), on_msg, &x));
    ST(x, "ok");
    CHECK(lc_msg_has(&x.m, count) && x.m.count == 1);
    lc_msg_clear(&x.m);
    m = bus_wait(LC_MSG_TEAM_FAILED);
    CHECK(m && m->entries.n == 1 && lc_str_eq(m->entries.items[0].user, "cid"));
    got_t j = join("grp", "A", 0, "", 0);
    CHECK(j.m.sales.n == 1 && j.m.sales.items[0].type == LC_MSG_GROUP_SALE);
    lc_msg_clear(&j.m);
    lc_store_unsubscribe(st, S("grp"));
    bus_clear();
}

static void test_unsubscribe_stops_the_rooms_messages(void) {
    subscribe("subs");
    bus_clear();
    redis_do("SPUBLISH lc:{subs}:ch %b", "\x82\xa4type\xa5likes\xa5total\x07", (size_t)19);
    const lc_msg_t *m = bus_wait(LC_MSG_LIKES);
    CHECK(m && m->total == 7);
    lc_store_unsubscribe(st, S("subs"));
    got_t g; /* a round trip on the other connection: the unsubscribe has been read by then */
    SEND(g, lc_store_sale_expire(st, S("subs"), on_msg, &g));
    lc_msg_clear(&g.m);
    bus_clear();
    redis_do("SPUBLISH lc:{subs}:ch %b", "\x82\xa4type\xa5likes\xa5total\x08", (size_t)19);
    lc_msg_type_t t = LC_MSG_LIKES;
    CHECK(!wait_until(bus_has, &t, 300));
}

static void test_the_subscriber_reconnects_and_subscribes_again(void) {
    subscribe("resub");
    int want = nsubscribed + 1;
    redis_do("CLIENT KILL TYPE pubsub");
    CHECK(wait_until(at_least, &want, 5000)); /* on_subscribed again: the room catches up */
    bus_clear();
    redis_do("SPUBLISH lc:{resub}:ch %b", "\x82\xa4type\xa5likes\xa5total\x09", (size_t)19);
    const lc_msg_t *m = bus_wait(LC_MSG_LIKES);
    CHECK(m && m->total == 9);
    lc_store_unsubscribe(st, S("resub"));
    bus_clear();
}

static void test_a_lost_reply_is_unknown_and_the_store_comes_back(void) {
    lc_store_opts_t o = {.redis = {"127.0.0.1", srv.port}, .timeout_ms = 300};
    lc_store_t *s2 = lc_store_create(&loop, &o, &events, NULL);
    CHECK(s2 && wait_until(up, s2, 5000));
    redis_do("CLIENT PAUSE 1500 ALL");
    got_t g;
    lc_store_likes_req_t r = {.room = S("lost"), .shard = "A", .boot = "b", .seq = 1, .count = 1};
    SEND(g, lc_store_likes(s2, &r, on_int, &g));
    CHECK(g.status == LC_STORE_UNKNOWN);
    CHECK(!lc_store_up(s2)); /* the watchdog dropped the connection */
    CHECK(lc_store_likes(s2, &r, on_int, &g) == -1);
    CHECK(wait_until(up, s2, 5000)); /* reconnected once the pause ended */
    SEND(g, lc_store_likes(s2, &r, on_int, &g));
    CHECK(g.status == LC_STORE_OK && g.i == 1); /* the lost batch had run: counted once */
    lc_store_destroy(s2);
}

static void test_an_error_before_running_is_refused_any_other_unknown(void) {
    redis_do("CONFIG SET maxmemory 1");
    got_t g = comment("oom", "ann", "no room", "", 0);
    CHECK(g.status == LC_STORE_REFUSED);
    redis_do("CONFIG SET maxmemory 0");
    EXPECT(comment("oom", "ann", "room again", "", 0), "ok");
    redis_do("SET lc:{oom}:likes notanumber"); /* INCRBY fails inside the script */
    lc_store_likes_req_t r = {.room = S("oom"), .shard = "A", .boot = "b", .seq = 1, .count = 1};
    SEND(g, lc_store_likes(st, &r, on_int, &g));
    CHECK(g.status == LC_STORE_UNKNOWN);
}

static void test_a_flushed_script_is_sent_again_with_its_source(void) {
    redis_do("SCRIPT FLUSH");
    got_t g;
    lc_store_likes_req_t r = {.room = S("flush"), .shard = "A", .boot = "b", .seq = 1, .count = 4};
    SEND(g, lc_store_likes(st, &r, on_int, &g));
    CHECK(g.status == LC_STORE_OK && g.i == 4);
    EXPECT(comment("flush", "ann", "after the flush", "", 0), "ok");
}

/* EVALs the buy script's prelude with a snippet; the reply (caller frees). */
static redisReply *eval_prelude(const char *snippet) {
    const char *src = lc_script_src[LC_SCRIPT_BUY], *end = strstr(src, "-- end of prelude\n");
    CHECK(end != NULL);
    size_t n = end ? (size_t)(end - src) : 0;
    char *lua = malloc(n + strlen(snippet) + 1);
    memcpy(lua, src, n);
    strcpy(lua + n, snippet);
    redisReply *r = redisCommand(rd, "EVAL %s 0", lua);
    free(lua);
    return r;
}

static void test_pack_refuses_keys_the_schema_does_not_give_the_type(void) {
    redisReply *r = eval_prelude("return pack('order', {req = 'r', sku = 'S1', status = 'ok', bogus = 1})");
    CHECK(r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "order has no key bogus"));
    freeReplyObject(r);
    r = eval_prelude("return pack('order', {req = 'r', status = 'ok'})");
    CHECK(r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "order needs"));
    freeReplyObject(r);
    r = eval_prelude("return pack('comment', {id = '1-1', user = 'u', text = 't', ts = 1})");
    CHECK(r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "comment is not in the prelude"));
    freeReplyObject(r);
    r = eval_prelude("return pack('order', {req = 'r', sku = 'S1', status = 'ok', left = 3})");
    lc_msg_t m;
    CHECK(r && r->type == REDIS_REPLY_STRING &&
          lc_msg_decode(&m, LC_FMT_MSGPACK, LC_DIR_S2C, r->str, (size_t)r->len, NULL) == 0);
    CHECK(m.type == LC_MSG_ORDER && m.left == 3 && lc_str_eq(m.req, "r"));
    lc_msg_clear(&m);
    freeReplyObject(r);
}

static void test_destroy_fails_pending_calls_and_refuses_new_ones(void) {
    lc_store_opts_t o = {.redis = {"127.0.0.1", srv.port}, .timeout_ms = 3000};
    lc_store_t *s2 = lc_store_create(&loop, &o, &events, NULL);
    got_t g = {0};
    lc_store_likes_req_t r = {.room = S("bye"), .shard = "A", .boot = "b", .seq = 1, .count = 1};
    CHECK(lc_store_likes(s2, &r, on_int, &g) == -1); /* not connected yet */
    CHECK(s2 && wait_until(up, s2, 5000));
    CHECK(wait_until(idle, s2, 5000)); /* its own first questions (CONFIG GET) answered */
    CHECK(lc_store_likes(s2, &r, on_int, &g) == 0);
    CHECK_EQ_INT(lc_store_pending(s2), 1);
    lc_store_destroy(s2);
    CHECK(g.n == 1 && g.status == LC_STORE_UNKNOWN);
}

static void run_cases(void) {
    RUN(test_join_on_an_empty_room_answers_zeros);
    RUN(test_join_lists_comments_and_posts_as_messages_oldest_first);
    RUN(test_resume_says_whether_it_recovered_everything);
    RUN(test_history_drops_entries_that_are_no_message);
    RUN(test_comment_ok_dup_banned_muted_and_slow_mode);
    RUN(test_post_with_a_key_is_posted_once);
    RUN(test_likes_count_each_batch_once);
    RUN(test_viewers_sum_the_shards_shares);
    RUN(test_buy_ok_limit_sold_out_closed_and_a_retry_answers_the_same);
    RUN(test_group_join_fills_a_team_and_its_orders_cancel_once);
    RUN(test_unsubscribe_stops_the_rooms_messages);
    RUN(test_the_subscriber_reconnects_and_subscribes_again);
    RUN(test_pack_refuses_keys_the_schema_does_not_give_the_type);
    RUN(test_a_flushed_script_is_sent_again_with_its_source);
    RUN(test_an_error_before_running_is_refused_any_other_unknown);
    RUN(test_destroy_fails_pending_calls_and_refuses_new_ones);
    RUN(test_a_lost_reply_is_unknown_and_the_store_comes_back);
}

int main(void) {
    static const char *const opts[] = {"--stream-node-max-entries", "2", NULL}; /* MAXLEN ~ trims short streams */
    return lc_store_env_main(run_cases, opts);
}
