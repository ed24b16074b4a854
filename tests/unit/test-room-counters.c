/* The coalesced counters: likes go to Redis once per tick as one numbered
 * batch, a batch whose answer was lost goes again with the same number
 * (applied once), viewer shares follow the room's local count, and a room
 * hears each counter at most once per tick and only when it changed. */
#include "room_env.h"

static const lc_feature_t *const no_features[] = {NULL};

static lc_conn_t *joined(env_t *e, const char *room, const char *user, stub_sock_t **s) {
    return env_joined(e, room, user, NULL, LC_FMT_MSGPACK, s);
}

static void like(lc_conn_t *c, int64_t n) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_LIKE);
    lc_msg_set(&m, count, n);
    env_say(c, &m);
}

static void test_likes_of_a_tick_go_as_one_batch_and_a_lost_batch_goes_again_the_same(void) {
    env_t *e = env_new(no_features, NULL);
    stub_sock_t *s;
    lc_conn_t *c = joined(e, "r1", "ann", &s);
    for (int i = 0; i < 5; i++) like(c, 3);
    CHECK_EQ_INT(stub_count(e->store, STUB_LIKES), 0); /* nothing before the tick */
    lc_rooms_tick(e->srv.rooms);
    stub_call_t *b1 = stub_last(e->store, STUB_LIKES);
    CHECK(b1 && b1->n1 == 15 && b1->n2 == 1);
    like(c, 2);
    lc_rooms_tick(e->srv.rooms); /* one batch in flight at a time */
    CHECK_EQ_INT(stub_count(e->store, STUB_LIKES), 1);
    stub_answer_status(b1, LC_STORE_UNKNOWN);
    lc_rooms_tick(e->srv.rooms);
    stub_call_t *again = stub_last(e->store, STUB_LIKES);
    CHECK(again != b1 && again->n1 == 15 && again->n2 == 1); /* the same batch, the same number */
    stub_answer_int(again, 15);
    lc_rooms_tick(e->srv.rooms);
    stub_call_t *b2 = stub_last(e->store, STUB_LIKES);
    CHECK(b2 && b2->n1 == 2 && b2->n2 == 2);
    stub_answer_int(b2, 17);
    lc_rooms_tick(e->srv.rooms);
    CHECK_EQ_INT(stub_count(e->store, STUB_LIKES), 3); /* nothing new: no call */
    env_flush(e);
    seen_t seen;
    env_seen(s, LC_FMT_MSGPACK, &seen);
    int totals = 0, last = -1;
    for (size_t i = 0; i < seen.n; i++)
        if (seen.m[i].type == LC_MSG_LIKES) totals++, last = (int)seen.m[i].total;
    CHECK(totals >= 1 && totals <= 3 && last == 17); /* once per tick it changed, ending on the total */
    env_clear(&seen);
    env_free(e);
}

static void test_likes_while_redis_is_down_wait_and_go_when_it_is_back(void) {
    env_t *e = env_new(no_features, NULL);
    lc_conn_t *c = joined(e, "r2", "ann", NULL);
    e->store->up = 0;
    like(c, 4);
    lc_rooms_tick(e->srv.rooms);
    CHECK_EQ_INT(stub_count(e->store, STUB_LIKES), 0);
    e->store->up = 1;
    lc_rooms_tick(e->srv.rooms);
    CHECK(stub_last(e->store, STUB_LIKES) && stub_last(e->store, STUB_LIKES)->n1 == 4);
    env_free(e);
}

static void test_the_viewer_share_follows_the_local_count_and_is_refreshed(void) {
    const char *const fast[] = {"--tick-ms", "10", "--share-ttl-ms", "300", NULL};
    env_t *e = env_new(no_features, fast);
    lc_conn_t *a = joined(e, "r3", "a", NULL);
    joined(e, "r3", "b", NULL);
    lc_rooms_tick(e->srv.rooms);
    stub_call_t *v = stub_last(e->store, STUB_VIEWERS);
    CHECK(v && v->n1 == 2);
    stub_answer_int(v, 5);
    lc_rooms_tick(e->srv.rooms);
    CHECK_EQ_INT(stub_count(e->store, STUB_VIEWERS), 1); /* unchanged and fresh: no call */
    env_sleep(e, 120);                                  /* past ttl / 3 */
    lc_rooms_tick(e->srv.rooms);
    CHECK_EQ_INT(stub_count(e->store, STUB_VIEWERS), 2); /* refreshed */
    stub_answer_int(stub_last(e->store, STUB_VIEWERS), 5);
    lc_session_closed(lc_conn_ref(a)); /* a leaves */
    lc_conn_unref(a);
    lc_rooms_tick(e->srv.rooms);
    CHECK(stub_last(e->store, STUB_VIEWERS)->n1 == 1);
    env_free(e);
}

static void test_a_counter_reaches_the_room_once_per_tick_and_only_when_it_changed(void) {
    env_t *e = env_new(no_features, NULL);
    stub_sock_t *s;
    joined(e, "r4", "ann", &s);
    lc_msg_t m;
    for (int t = 1; t <= 5; t++) { /* five totals heard on the channel within one tick */
        lc_msg_init(&m, LC_MSG_LIKES);
        lc_msg_set(&m, total, (int64_t)(10 * t));
        env_bus(e, "r4", &m);
    }
    lc_rooms_tick(e->srv.rooms);
    lc_rooms_tick(e->srv.rooms);
    env_flush(e);
    seen_t seen;
    env_seen(s, LC_FMT_MSGPACK, &seen);
    int n = 0;
    for (size_t i = 0; i < seen.n; i++)
        if (seen.m[i].type == LC_MSG_LIKES) {
            n++;
            CHECK_EQ_INT(seen.m[i].total, 50);
        }
    CHECK_EQ_INT(n, 1);
    env_clear(&seen);
    env_free(e);
}

static void test_a_welcome_count_that_went_stale_is_corrected_at_the_next_tick(void) {
    env_t *e = env_new(no_features, NULL);
    stub_sock_t *sb;
    lc_conn_t *a = joined(e, "r5", "ann", NULL);
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_VIEWERS); /* Redis's total, from ann's share */
    lc_msg_set(&m, count, (int64_t)1);
    env_bus(e, "r5", &m);
    lc_rooms_tick(e->srv.rooms);
    stub_answer_int(stub_last(e->store, STUB_VIEWERS), 1);
    joined(e, "r5", "bob", &sb); /* welcomed with 2 */
    lc_session_closed(a);       /* ann leaves before any share changed: Redis's total stays 1 */
    lc_rooms_tick(e->srv.rooms);
    env_flush(e);
    seen_t seen;
    env_seen(sb, LC_FMT_MSGPACK, &seen);
    CHECK(seen.n >= 2 && seen.m[0].type == LC_MSG_WELCOME && seen.m[0].viewers == 2);
    CHECK(seen.m[seen.n - 1].type == LC_MSG_VIEWERS && seen.m[seen.n - 1].count == 1);
    env_clear(&seen);
    env_free(e);
}

int main(void) {
    RUN(test_likes_of_a_tick_go_as_one_batch_and_a_lost_batch_goes_again_the_same);
    RUN(test_likes_while_redis_is_down_wait_and_go_when_it_is_back);
    RUN(test_the_viewer_share_follows_the_local_count_and_is_refreshed);
    RUN(test_a_counter_reaches_the_room_once_per_tick_and_only_when_it_changed);
    RUN(test_a_welcome_count_that_went_stale_is_corrected_at_the_next_tick);
    return lc_test_done();
}
