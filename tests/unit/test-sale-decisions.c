/* The sale feature's decisions that live in C (the rest are Redis's, in
 * buy.lua): buys over the bucket and invalid ones are answered at the
 * shard and never reach Redis; a lost answer is `unknown`, one never sent
 * `unavailable`; a burst of buys costs one publish per sku per tick; team
 * results reach only their members; only the streamer opens sales. */
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

int main(void) {
    RUN(test_buys_over_the_bucket_and_invalid_buys_never_reach_redis);
    RUN(test_a_lost_answer_is_unknown_and_a_buy_never_sent_is_unavailable);
    RUN(test_a_burst_of_buys_costs_one_publish_per_sku_per_tick);
    RUN(test_a_team_result_reaches_only_its_members);
    RUN(test_only_the_streamer_opens_a_sale);
    return lc_test_done();
}
