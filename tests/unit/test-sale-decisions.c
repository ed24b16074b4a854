/* The sale feature's decisions that live in C (the rest are Redis's, in
 * buy.lua): buys over the bucket and invalid ones are answered at the
 * shard and never reach Redis; a lost answer is `unknown`, one never sent
 * `unavailable`; a burst of buys costs one publish per sku per tick; team
 * results reach only their members; only the streamer opens sales; a sku
 * heard sold out or closed answers first buys at the shard (PROTOCOL.md
 * "Sold out at the shard"), a retry goes to Redis, a stale mark sends one
 * probe, and a catch-up after a subscription gap hears reopened sales. */
#include "room_env.h"
#include "sale.h"

static const lc_feature_t *const sale_only[] = {&lc_sale_feature, NULL};
static const char *const burst3[] = {"--buy-rate", "1", "--buy-burst", "3", NULL};

static lc_conn_t *joined(env_t *e, const char *room, const char *user, const char *role, stub_sock_t **s) {
    return env_joined(e, room, user, role, LC_FMT_JSON, s);
}

static void send_buy(lc_conn_t *c, const char *sku, const char *req, int64_t qty) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_BUY);
    lc_msg_set(&m, sku, lc_cstr(sku));
    lc_msg_set(&m, req, lc_cstr(req));
    if (qty) lc_msg_set(&m, qty, qty);
    env_say(c, &m);
}

/* The status of the `order` answer for req in what s got ("" if none). */
static void order_status(const stub_sock_t *s, const char *req, char *out, size_t cap) {
    seen_t seen;
    env_seen(s, LC_FMT_JSON, &seen);
    out[0] = '\0';
    for (size_t i = 0; i < seen.n; i++)
        if (seen.m[i].type == LC_MSG_ORDER && lc_str_eq(seen.m[i].req, req))
            snprintf(out, cap, "%.*s", (int)seen.m[i].status.n, seen.m[i].status.p);
    env_clear(&seen);
}

static void answer_order(stub_call_t *c, const char *status, const char *order) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_ORDER);
    lc_msg_set(&m, req, lc_cstr(c->b));
    lc_msg_set(&m, sku, lc_cstr(c->a));
    lc_msg_set(&m, status, lc_cstr(status));
    if (order) {
        lc_msg_set(&m, order, lc_cstr(order));
        lc_msg_set(&m, qty, (int64_t)1);
    }
    lc_msg_set(&m, left, (int64_t)9);
    stub_answer_msg(c, &m);
}

static void test_buys_over_the_bucket_and_invalid_buys_never_reach_redis(void) {
    env_t *e = env_new(sale_only, burst3);
    stub_sock_t *s;
    lc_conn_t *c = joined(e, "r1", "ann", NULL, &s);
    send_buy(c, "mug", "q0", 0);
    send_buy(c, "mug", "q1", 5000);   /* qty out of range */
    send_buy(c, "bad sku", "q2", 0);  /* not an sku */
    send_buy(c, "mug", "q3", 0);      /* over the burst of 3 */
    CHECK_EQ_INT(stub_count(e->store, STUB_BUY), 1);
    env_flush(e);
    char st[40];
    order_status(s, "q1", st, sizeof(st));
    CHECK(strcmp(st, "invalid") == 0);
    order_status(s, "q2", st, sizeof(st));
    CHECK(strcmp(st, "invalid") == 0);
    order_status(s, "q3", st, sizeof(st));
    CHECK(strcmp(st, "rate_limited") == 0);
    CHECK_EQ_INT(e->srv.m.orders[7], 1); /* rate_limited counted (metrics.c order_st: the 8th) */
    env_free(e);
}

static void test_a_lost_answer_is_unknown_and_a_buy_never_sent_is_unavailable(void) {
    const char *const roomy[] = {"--buy-rate", "1000", "--buy-burst", "1000", NULL};
    env_t *e = env_new(sale_only, roomy);
    stub_sock_t *s;
    lc_conn_t *c = joined(e, "r2", "ann", NULL, &s);
    send_buy(c, "mug", "lost", 0);
    stub_answer_status(stub_last(e->store, STUB_BUY), LC_STORE_UNKNOWN);
    send_buy(c, "mug", "refused", 0);
    stub_answer_status(stub_last(e->store, STUB_BUY), LC_STORE_REFUSED);
    e->store->refuse_sends = 1;
    send_buy(c, "mug", "unsent", 0);
    e->store->refuse_sends = 0;
    env_flush(e);
    char st[40];
    order_status(s, "lost", st, sizeof(st));
    CHECK(strcmp(st, "unknown") == 0);
    order_status(s, "refused", st, sizeof(st));
    CHECK(strcmp(st, "unavailable") == 0);
    order_status(s, "unsent", st, sizeof(st));
    CHECK(strcmp(st, "unavailable") == 0);
    env_free(e);
}

static void test_a_burst_of_buys_costs_one_publish_per_sku_per_tick(void) {
    const char *const roomy[] = {"--buy-rate", "1000", "--buy-burst", "1000", NULL};
    env_t *e = env_new(sale_only, roomy);
    lc_conn_t *c = joined(e, "r3", "ann", NULL, NULL);
    for (int i = 0; i < 100; i++) {
        char req[16];
        snprintf(req, sizeof(req), "b%d", i);
        send_buy(c, i % 2 ? "mug" : "cup", req, 0);
        answer_order(stub_last(e->store, STUB_BUY), "ok", "1-1");
    }
    CHECK_EQ_INT(stub_count(e->store, STUB_PUBLISH), 0);
    lc_rooms_tick(e->srv.rooms);
    CHECK_EQ_INT(stub_count(e->store, STUB_PUBLISH), 2); /* mug and cup, once each */
    lc_rooms_tick(e->srv.rooms);
    CHECK_EQ_INT(stub_count(e->store, STUB_PUBLISH), 2); /* in flight / clean: no more */
    /* a sold_out answer changes no stock: nothing to publish */
    send_buy(c, "mug", "late", 0);
    answer_order(stub_last(e->store, STUB_BUY), "sold_out", NULL);
    for (size_t i = 0; i < e->store->ncalls; i++)
        if (e->store->calls[i].kind == STUB_PUBLISH && !e->store->calls[i].answered) {
            lc_msg_t r;
            lc_msg_init(&r, LC_MSG_REPLY);
            lc_msg_set(&r, status, lc_cstr("ok"));
            stub_answer_msg(&e->store->calls[i], &r);
        }
    lc_rooms_tick(e->srv.rooms);
    CHECK_EQ_INT(stub_count(e->store, STUB_PUBLISH), 2);
    env_free(e);
}

static void test_a_team_result_reaches_only_its_members(void) {
    env_t *e = env_new(sale_only, NULL);
    stub_sock_t *sa, *sb, *sc;
    joined(e, "r4", "ann", NULL, &sa);
    joined(e, "r4", "bob", NULL, &sb);
    joined(e, "r4", "cat", NULL, &sc);
    lc_msg_t members[2], done;
    const char *who[2] = {"ann", "cat"}, *orders[2] = {"5-1", "5-2"};
    for (int i = 0; i < 2; i++) {
        lc_msg_init(&members[i], LC_MSG_MEMBER);
        lc_msg_set(&members[i], user, lc_cstr(who[i]));
        lc_msg_set(&members[i], order, lc_cstr(orders[i]));
    }
    lc_msg_init(&done, LC_MSG_TEAM_DONE);
    lc_msg_set(&done, team, lc_cstr("T1"));
    lc_msg_set(&done, sku, lc_cstr("tea"));
    lc_msg_list_t l = {members, 2};
    lc_msg_set(&done, entries, l);
    env_bus(e, "r4", &done);
    env_flush(e);
    stub_sock_t *socks[3] = {sa, sb, sc};
    const char *want[3] = {"5-1", NULL, "5-2"};
    for (int k = 0; k < 3; k++) {
        seen_t seen;
        env_seen(socks[k], LC_FMT_JSON, &seen);
        int got = 0;
        for (size_t i = 0; i < seen.n; i++)
            if (seen.m[i].type == LC_MSG_GROUP_DONE) {
                got++;
                CHECK(want[k] && lc_str_eq(seen.m[i].order, want[k]));
            }
        CHECK_EQ_INT(got, want[k] ? 1 : 0);
        env_clear(&seen);
    }
    env_free(e);
}

static void test_only_the_streamer_opens_a_sale(void) {
    env_t *e = env_new(sale_only, NULL);
    stub_sock_t *sv;
    lc_conn_t *v = joined(e, "r5", "ann", NULL, &sv);
    lc_conn_t *host = joined(e, "r5", "host", "streamer", NULL);
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_SALE_OPEN);
    lc_msg_set(&m, sku, lc_cstr("mug"));
    lc_msg_set(&m, title, lc_cstr("Mug"));
    lc_msg_set(&m, price, (int64_t)100);
    lc_msg_set(&m, stock, (int64_t)5);
    env_say(v, &m);
    CHECK_EQ_INT(stub_count(e->store, STUB_SALE_OPEN), 0);
    env_say(host, &m);
    CHECK_EQ_INT(stub_count(e->store, STUB_SALE_OPEN), 1);
    env_flush(e);
    seen_t seen;
    env_seen(sv, LC_FMT_JSON, &seen);
    CHECK(seen.n >= 2 && seen.m[seen.n - 1].type == LC_MSG_ERROR && lc_str_eq(seen.m[seen.n - 1].code, "forbidden"));
    env_clear(&seen);
    env_free(e);
}

/* What the room's channel says of sku: a sale of stock units, then (left >= 0) a stock. */
static void bus_sale(env_t *e, const char *room, const char *sku, int64_t stock, int64_t left) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_SALE);
    lc_msg_set(&m, sku, lc_cstr(sku));
    lc_msg_set(&m, title, lc_cstr("Mug"));
    lc_msg_set(&m, price, (int64_t)100);
    lc_msg_set(&m, stock, stock);
    lc_msg_set(&m, limit, (int64_t)5);
    env_bus(e, room, &m);
    if (left < 0) return;
    lc_msg_init(&m, LC_MSG_STOCK);
    lc_msg_set(&m, sku, lc_cstr(sku));
    lc_msg_set(&m, left, left);
    env_bus(e, room, &m);
}

static void send_retry(lc_conn_t *c, const char *sku, const char *req) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_BUY);
    lc_msg_set(&m, sku, lc_cstr(sku));
    lc_msg_set(&m, req, lc_cstr(req));
    lc_msg_set(&m, retry, 1);
    env_say(c, &m);
}

static void answer_sold_out(stub_call_t *c) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_ORDER);
    lc_msg_set(&m, req, lc_cstr(c->b));
    lc_msg_set(&m, sku, lc_cstr(c->a));
    lc_msg_set(&m, status, lc_cstr("sold_out"));
    lc_msg_set(&m, left, (int64_t)0);
    stub_answer_msg(c, &m);
}

static void test_a_sku_heard_sold_out_answers_first_buys_here_and_retries_go_to_redis(void) {
    env_t *e = env_new(sale_only, NULL);
    stub_sock_t *s;
    lc_conn_t *c = joined(e, "r6", "ann", NULL, &s);
    bus_sale(e, "r6", "mug", 5, 0);
    send_buy(c, "mug", "q1", 0);
    CHECK_EQ_INT(stub_count(e->store, STUB_BUY), 0);
    env_flush(e);
    char st[40];
    order_status(s, "q1", st, sizeof(st));
    CHECK(strcmp(st, "sold_out") == 0);
    CHECK_EQ_INT(e->srv.m.at_shard[LC_AT_SHARD_BUY], 1);
    send_retry(c, "mug", "q1"); /* a re-send: Redis decides */
    CHECK_EQ_INT(stub_count(e->store, STUB_BUY), 1);
    answer_sold_out(stub_last(e->store, STUB_BUY));
    bus_sale(e, "r6", "cup", 5, -1); /* another sku: not heard sold out */
    send_buy(c, "cup", "q2", 0);
    CHECK_EQ_INT(stub_count(e->store, STUB_BUY), 2);
    answer_order(stub_last(e->store, STUB_BUY), "ok", "1-0");
    lc_msg_t m; /* the stock rises again: first buys go to Redis */
    lc_msg_init(&m, LC_MSG_STOCK);
    lc_msg_set(&m, sku, lc_cstr("mug"));
    lc_msg_set(&m, left, (int64_t)1);
    env_bus(e, "r6", &m);
    send_buy(c, "mug", "q3", 0);
    CHECK_EQ_INT(stub_count(e->store, STUB_BUY), 3);
    answer_order(stub_last(e->store, STUB_BUY), "ok", "2-0");
    env_free(e);
}

static void test_after_the_trust_second_one_probe_asks_and_the_others_are_answered_here(void) {
    env_t *e = env_new(sale_only, NULL);
    lc_conn_t *c = joined(e, "r7", "ann", NULL, NULL);
    lc_conn_t *d = joined(e, "r7", "bob", NULL, NULL);
    bus_sale(e, "r7", "mug", 5, 0);
    env_sleep(e, 1100);
    send_buy(c, "mug", "p1", 0); /* the probe */
    send_buy(d, "mug", "p2", 0); /* answered here while the probe is out */
    CHECK_EQ_INT(stub_count(e->store, STUB_BUY), 1);
    CHECK_EQ_INT(e->srv.m.at_shard[LC_AT_SHARD_BUY], 1);
    answer_sold_out(stub_last(e->store, STUB_BUY)); /* still sold out: the mark is fresh again */
    send_buy(d, "mug", "p3", 0);
    CHECK_EQ_INT(stub_count(e->store, STUB_BUY), 1);
    env_sleep(e, 1100);
    send_buy(d, "mug", "p4", 0); /* stale again: a probe, whose answer is lost */
    CHECK_EQ_INT(stub_count(e->store, STUB_BUY), 2);
    stub_answer_status(stub_last(e->store, STUB_BUY), LC_STORE_UNKNOWN);
    send_buy(d, "mug", "p5", 0); /* the probe is over: the next buy asks */
    CHECK_EQ_INT(stub_count(e->store, STUB_BUY), 3);
    answer_sold_out(stub_last(e->store, STUB_BUY));
    env_free(e);
}

static void test_a_sale_reopened_in_a_subscription_gap_is_open_after_the_catch_up(void) {
    static const char *const ids[] = {"5-0"};
    env_t *e = env_new(sale_only, NULL);
    stub_sock_t *s;
    lc_conn_t *c = joined(e, "r8", "ann", NULL, &s);
    bus_sale(e, "r8", "mug", 5, -1);
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_SALE_CLOSED);
    lc_msg_set(&m, sku, lc_cstr("mug"));
    env_bus(e, "r8", &m);
    send_buy(c, "mug", "c1", 0);
    CHECK_EQ_INT(stub_count(e->store, STUB_BUY), 0); /* closed: answered here */
    lc_rooms_on_sub_lost(e->srv.rooms, lc_cstr("r8"));
    lc_rooms_on_subscribed(e->srv.rooms, lc_cstr("r8")); /* the catch-up asks join.lua */
    stub_call_t *j = stub_last(e->store, STUB_JOIN);
    lc_msg_t items[1], sale, st;
    env_comment_msg(&items[0], ids[0], "alice", "hi");
    lc_msg_init(&sale, LC_MSG_SALE); /* reopened in the gap */
    lc_msg_set(&sale, sku, lc_cstr("mug"));
    lc_msg_set(&sale, title, lc_cstr("Mug"));
    lc_msg_set(&sale, price, (int64_t)100);
    lc_msg_set(&sale, stock, (int64_t)3);
    lc_msg_set(&sale, limit, (int64_t)5);
    lc_msg_init(&st, LC_MSG_ROOM_STATE);
    lc_msg_set(&st, likes, (int64_t)0);
    lc_msg_set(&st, viewers, (int64_t)0);
    lc_msg_set(&st, last, lc_cstr(ids[0]));
    lc_msg_list_t h = {items, 1}, sales = {&sale, 1};
    lc_msg_set(&st, history, h);
    lc_msg_set(&st, recovered, 1);
    lc_msg_set(&st, sales, sales);
    stub_answer_msg(j, &st);
    send_buy(c, "mug", "c2", 0);
    CHECK_EQ_INT(stub_count(e->store, STUB_BUY), 1); /* open again: Redis decides */
    answer_order(stub_last(e->store, STUB_BUY), "ok", "6-0");
    env_free(e);
}

int main(void) {
    RUN(test_a_sku_heard_sold_out_answers_first_buys_here_and_retries_go_to_redis);
    RUN(test_after_the_trust_second_one_probe_asks_and_the_others_are_answered_here);
    RUN(test_a_sale_reopened_in_a_subscription_gap_is_open_after_the_catch_up);
    RUN(test_buys_over_the_bucket_and_invalid_buys_never_reach_redis);
    RUN(test_a_lost_answer_is_unknown_and_a_buy_never_sent_is_unavailable);
    RUN(test_a_burst_of_buys_costs_one_publish_per_sku_per_tick);
    RUN(test_a_team_result_reaches_only_its_members);
    RUN(test_only_the_streamer_opens_a_sale);
    return lc_test_done();
}
