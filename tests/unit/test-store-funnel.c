/* The funnel's figures (PROTOCOL.md "The funnel") as the scripts of the
 * events keep them and stats.lua reads them, against a real redis-server
 * (store_env.h): joins, comments, like batches, viewer shares, buys, their
 * replays, payments and cancels, the 10 s series and the reporting lease.
 * Skipped (77) when redis-server is not installed. */
#include <stdlib.h>
#include <string.h>

#include "store_env.h"

static got_t stats(const char *room, const char *shard, int series) {
    got_t g;
    lc_store_funnel_req_t r = {.room = S(room), .shard = shard, .lease_ms = 15000, .series = series};
    SEND(g, lc_store_funnel(st, &r, on_msg, &g));
    CHECK(g.status == LC_STORE_OK && g.m.type == LC_MSG_STATS);
    return g;
}

static void join_users(const char *room, const char *const *users, size_t n) {
    got_t g;
    lc_str_t u[8];
    for (size_t i = 0; i < n && i < 8; i++) u[i] = S(users[i]);
    lc_store_join_req_t r = {.room = S(room), .shard = "A", .count = 0, .since = S(""), .cap = 10, .users = u,
                             .nusers = n};
    SEND(g, lc_store_join(st, &r, on_msg, &g));
    CHECK(g.status == LC_STORE_OK);
    lc_msg_clear(&g.m);
}

static void comment(const char *room, const char *user) {
    got_t g;
    lc_store_comment_req_t r = {.room = S(room), .user = S(user), .text = S("hi"), .req = S(""), .cap = 100,
                                .req_ttl_s = 60};
    SEND(g, lc_store_comment(st, &r, on_msg, &g));
    ST(g, "ok");
    lc_msg_clear(&g.m);
}

static void viewers(const char *room, const char *shard, int64_t n) {
    got_t g;
    lc_store_viewers_req_t r = {.room = S(room), .shard = shard, .count = n, .ttl_ms = 10000};
    SEND(g, lc_store_viewers(st, &r, on_int, &g));
    CHECK(g.status == LC_STORE_OK);
}

static void open_sale(const char *room, int64_t pay_s) {
    got_t g;
    lc_store_sale_open_req_t r = {.room = S(room), .sku = S("S1"), .title = S("Mug"), .price = 900, .stock = 100,
                                  .limit = 10, .pay_s = pay_s};
    SEND(g, lc_store_sale_open(st, &r, on_msg, &g));
    ST(g, "ok");
    lc_msg_clear(&g.m);
}

/* A buy answered want; its order id into order (65 bytes) when not NULL. */
static void buy(const char *room, const char *user, const char *req, int64_t qty, const char *want, char *order) {
    got_t g;
    lc_store_buy_req_t r = {.room = S(room), .sku = S("S1"), .user = S(user), .req = S(req), .ip = S(""),
                            .qty = qty, .shard = "A", .req_ttl_s = 60, .ip_users = 1000};
    SEND(g, lc_store_buy(st, &r, on_msg, &g));
    ST(g, want);
    if (order) {
        CHECK(lc_msg_has(&g.m, order) && g.m.order.n < 65);
        memcpy(order, g.m.order.p, g.m.order.n);
        order[g.m.order.n] = '\0';
    }
    lc_msg_clear(&g.m);
}

/* The sums of the series' points, and how many points. */
typedef struct sums {
    int64_t points, orders, likes, comments, viewers_max;
} sums_t;

static sums_t sum_series(const lc_msg_t *m) {
    sums_t s = {0};
    for (size_t i = 0; i < m->series.n; i++) {
        const lc_msg_t *p = &m->series.items[i];
        s.points++, s.orders += p->orders, s.likes += p->likes, s.comments += p->comments;
        if (p->viewers > s.viewers_max) s.viewers_max = p->viewers;
        if (i) CHECK_EQ_INT(p->t - m->series.items[i - 1].t, 10000);
    }
    if (m->series.n) CHECK(m->ts >= m->series.items[m->series.n - 1].t && m->ts < m->series.items[m->series.n - 1].t + 10000);
    return s;
}

static void test_an_empty_room_answers_zeros_and_an_hour_of_points(void) {
    got_t g = stats("f-empty", NULL, 1);
    CHECK_EQ_INT(g.m.viewers_now + g.m.viewers_peak + g.m.viewers_unique + g.m.engaged, 0);
    CHECK_EQ_INT(g.m.buyers + g.m.orders + g.m.units + g.m.revenue, 0);
    sums_t s = sum_series(&g.m);
    CHECK_EQ_INT(s.points, 360);
    CHECK_EQ_INT(s.orders + s.likes + s.comments + s.viewers_max, 0);
    CHECK(!lc_msg_has(&g.m, shard)); /* no shard asked: no lease */
    lc_msg_clear(&g.m);
    g = stats("f-empty", "A", 0);
    CHECK(!lc_msg_has(&g.m, series));
    lc_msg_clear(&g.m);
}

static void test_joins_comments_likes_and_shares_make_the_top_of_the_funnel(void) {
    static const char *const users[] = {"ann", "bob", "cy"};
    join_users("f-top", users, 3);
    join_users("f-top", users, 2); /* ann and bob again: still 3 distinct */
    comment("f-top", "ann");
    comment("f-top", "ann");
    struct lc_store_liker likers[] = {{.user = "bob", .ulen = 3, .n = 4}};
    lc_store_likes_req_t lr = {.room = S("f-top"), .shard = "A", .boot = "b", .seq = 1, .count = 4,
                               .likers = likers, .nlikers = 1};
    got_t g;
    SEND(g, lc_store_likes(st, &lr, on_int, &g));
    SEND(g, lc_store_likes(st, &lr, on_int, &g)); /* the batch again: counted once */
    viewers("f-top", "A", 3);
    viewers("f-top", "B", 2);
    viewers("f-top", "B", 0);
    g = stats("f-top", NULL, 1);
    CHECK_EQ_INT(g.m.viewers_unique, 3);
    CHECK_EQ_INT(g.m.engaged, 2);
    CHECK_EQ_INT(g.m.viewers_now, 3);
    CHECK_EQ_INT(g.m.viewers_peak, 5);
    sums_t s = sum_series(&g.m);
    CHECK_EQ_INT(s.comments, 2);
    CHECK_EQ_INT(s.likes, 4);
    CHECK_EQ_INT(s.viewers_max, 5);
    CHECK_EQ_INT(g.m.series.items[359].viewers >= 3, 1);
    lc_msg_clear(&g.m);
}

static void test_ok_orders_count_once_and_a_cancel_takes_them_off(void) {
    char o1[65], o2[65];
    open_sale("f-buy", 0);
    buy("f-buy", "ann", "r1", 2, "ok", o1);
    buy("f-buy", "ann", "r1", 2, "ok", NULL); /* a retry: the first answer, nothing counted */
    buy("f-buy", "bob", "r1", 1, "ok", o2);
    got_t g = stats("f-buy", NULL, 1);
    CHECK_EQ_INT(g.m.orders, 2);
    CHECK_EQ_INT(g.m.units, 3);
    CHECK_EQ_INT(g.m.revenue, 2700);
    CHECK_EQ_INT(g.m.buyers, 2);
    CHECK_EQ_INT(sum_series(&g.m).orders, 2);
    lc_msg_clear(&g.m);
    lc_store_cancel_req_t cr = {.room = S("f-buy"), .user = S("bob"), .order = S(o2), .window_ms = 60000,
                                .shard = "A"};
    SEND(g, lc_store_cancel(st, &cr, on_msg, &g));
    ST(g, "ok");
    lc_msg_clear(&g.m);
    SEND(g, lc_store_cancel(st, &cr, on_msg, &g)); /* again: already, nothing taken twice */
    ST(g, "already");
    lc_msg_clear(&g.m);
    g = stats("f-buy", NULL, 1);
    CHECK_EQ_INT(g.m.orders, 1);
    CHECK_EQ_INT(g.m.units, 2);
    CHECK_EQ_INT(g.m.revenue, 1800);
    CHECK_EQ_INT(g.m.buyers, 1);
    CHECK_EQ_INT(sum_series(&g.m).orders, 2); /* the series counts what happened */
    lc_msg_clear(&g.m);
}

static void test_a_reservation_counts_when_paid_once(void) {
    char o[65];
    open_sale("f-pay", 60);
    buy("f-pay", "ann", "r1", 1, "reserved", o);
    got_t g = stats("f-pay", NULL, 0);
    CHECK_EQ_INT(g.m.orders + g.m.buyers, 0);
    lc_msg_clear(&g.m);
    SEND(g, lc_store_order_paid(st, S("f-pay"), S(o), "A", on_msg, &g));
    ST(g, "paid");
    lc_msg_clear(&g.m);
    SEND(g, lc_store_order_paid(st, S("f-pay"), S(o), "A", on_msg, &g)); /* the shop's retry */
    ST(g, "paid");
    lc_msg_clear(&g.m);
    g = stats("f-pay", NULL, 0);
    CHECK_EQ_INT(g.m.orders, 1);
    CHECK_EQ_INT(g.m.revenue, 900);
    CHECK_EQ_INT(g.m.buyers, 1);
    lc_msg_clear(&g.m);
}

static void test_one_shard_holds_the_reporting_lease(void) {
    got_t a = stats("f-lease", "A", 0), b = stats("f-lease", "B", 0);
    CHECK(lc_str_eq(a.m.shard, "A") && lc_str_eq(b.m.shard, "A"));
    lc_msg_clear(&a.m), lc_msg_clear(&b.m);
    CHECK(redis_do("PTTL lc:{f-lease}:reporter") > 10000);
    redis_do("DEL lc:{f-lease}:reporter"); /* A died: its lease ran out */
    b = stats("f-lease", "B", 0);
    a = stats("f-lease", "A", 0);
    CHECK(lc_str_eq(a.m.shard, "B") && lc_str_eq(b.m.shard, "B"));
    lc_msg_clear(&a.m), lc_msg_clear(&b.m);
}

static void run_cases(void) {
    RUN(test_an_empty_room_answers_zeros_and_an_hour_of_points);
    RUN(test_joins_comments_likes_and_shares_make_the_top_of_the_funnel);
    RUN(test_ok_orders_count_once_and_a_cancel_takes_them_off);
    RUN(test_a_reservation_counts_when_paid_once);
    RUN(test_one_shard_holds_the_reporting_lease);
}

int main(void) { return lc_store_env_main(run_cases, NULL); }
