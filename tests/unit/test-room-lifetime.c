/* A room is freed only by the tick, never inside a callback: not while a
 * connection, a waiting joiner or a Redis call still holds it, not before
 * its counts are flushed and its linger has passed; then it unsubscribes
 * and goes, and the next joiner gets a fresh one. */
#include "room_env.h"

static const lc_feature_t *const no_features[] = {NULL};
static const char *const no_linger[] = {"--linger-ms", "0", NULL};

static void test_an_empty_room_lingers_then_unsubscribes_and_goes_at_a_tick(void) {
    const char *const linger[] = {"--linger-ms", "100", NULL};
    env_t *e = env_new(no_features, linger);
    stub_sock_t *s;
    lc_conn_t *c = env_conn(e, "r1", LC_FMT_JSON, &s);
    env_hello(c, "ann", NULL);
    lc_rooms_on_subscribed(e->srv.rooms, lc_cstr("r1"));
    env_answer_join(e, NULL, 0, 0, 0);
    lc_rooms_tick(e->srv.rooms);
    stub_answer_int(stub_last(e->store, STUB_VIEWERS), 1);
    lc_session_closed(c); /* net's reference goes with the socket */
    CHECK_EQ_INT(lc_rooms_count(e->srv.rooms), 1);
    lc_rooms_tick(e->srv.rooms); /* the share goes to 0 first */
    stub_answer_int(stub_last(e->store, STUB_VIEWERS), 0);
    lc_rooms_tick(e->srv.rooms);
    CHECK_EQ_INT(lc_rooms_count(e->srv.rooms), 1); /* lingering */
    CHECK_EQ_INT(e->store->unsubscribes, 0);
    env_sleep(e, 120);
    lc_rooms_tick(e->srv.rooms);
    CHECK_EQ_INT(e->store->unsubscribes, 1);
    CHECK_EQ_INT(lc_rooms_count(e->srv.rooms), 0);
    env_free(e);
}

static void test_a_room_is_kept_while_a_redis_call_holds_it(void) {
    env_t *e = env_new(no_features, no_linger);
    lc_conn_t *c = env_conn(e, "r2", LC_FMT_JSON, NULL);
    env_hello(c, "ann", NULL);
    lc_rooms_on_subscribed(e->srv.rooms, lc_cstr("r2"));
    env_answer_join(e, NULL, 0, 0, 0);
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_LIKE);
    lc_msg_set(&m, count, 1);
    env_say(c, &m);
    lc_rooms_tick(e->srv.rooms); /* a likes batch and a share in flight */
    lc_session_closed(c);
    for (int i = 0; i < 3; i++) lc_rooms_tick(e->srv.rooms);
    CHECK_EQ_INT(lc_rooms_count(e->srv.rooms), 1); /* the calls hold it */
    stub_answer_int(stub_last(e->store, STUB_LIKES), 1);
    stub_answer_int(stub_last(e->store, STUB_VIEWERS), 1);
    lc_rooms_tick(e->srv.rooms); /* share to 0 */
    CHECK_EQ_INT(lc_rooms_count(e->srv.rooms), 1);
    stub_answer_int(stub_last(e->store, STUB_VIEWERS), 0);
    lc_rooms_tick(e->srv.rooms);
    CHECK_EQ_INT(lc_rooms_count(e->srv.rooms), 0);
    env_free(e);
}

static void test_a_failed_join_of_the_last_joiner_does_not_free_the_room_in_the_callback(void) {
    env_t *e = env_new(no_features, no_linger);
    lc_conn_t *c = env_conn(e, "r3", LC_FMT_JSON, NULL);
    env_hello(c, "ann", NULL);
    lc_rooms_on_subscribed(e->srv.rooms, lc_cstr("r3"));
    stub_call_t *j = stub_last(e->store, STUB_JOIN);
    lc_session_closed(c);              /* gone while its join is at Redis */
    lc_rooms_tick(e->srv.rooms);       /* empty and flushed, but the join holds the room */
    CHECK_EQ_INT(lc_rooms_count(e->srv.rooms), 1);
    stub_answer_status(j, LC_STORE_UNKNOWN); /* the callback touches the room: it must still be there */
    CHECK_EQ_INT(lc_rooms_count(e->srv.rooms), 1);
    lc_rooms_tick(e->srv.rooms);
    CHECK_EQ_INT(lc_rooms_count(e->srv.rooms), 0);
    env_free(e);
}

static void test_the_next_joiner_after_a_room_went_gets_a_fresh_one(void) {
    env_t *e = env_new(no_features, no_linger);
    lc_conn_t *c = env_conn(e, "r4", LC_FMT_JSON, NULL);
    lc_session_closed(c); /* never said hello */
    lc_rooms_tick(e->srv.rooms);
    CHECK_EQ_INT(lc_rooms_count(e->srv.rooms), 0);
    stub_sock_t *s;
    c = env_conn(e, "r4", LC_FMT_JSON, &s);
    env_hello(c, "bob", NULL);
    lc_rooms_on_subscribed(e->srv.rooms, lc_cstr("r4"));
    env_answer_join(e, NULL, 0, 0, 0);
    CHECK(c->state == LC_CONN_JOINED);
    CHECK_EQ_INT(lc_rooms_count(e->srv.rooms), 1);
    env_free(e);
}

int main(void) {
    RUN(test_an_empty_room_lingers_then_unsubscribes_and_goes_at_a_tick);
    RUN(test_a_room_is_kept_while_a_redis_call_holds_it);
    RUN(test_a_failed_join_of_the_last_joiner_does_not_free_the_room_in_the_callback);
    RUN(test_the_next_joiner_after_a_room_went_gets_a_fresh_one);
    return lc_test_done();
}
