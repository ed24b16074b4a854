/* The room engine's joins: a joiner gets the history and then exactly the
 * entries after it -- none missing, none twice -- whatever arrives on the
 * channel while its join is at Redis; joins batch; a resume gets what it
 * missed; a lost join answer fails the hello, not the connection. */
#include "room_env.h"

static const lc_feature_t *const no_features[] = {NULL};

static void test_live_entries_during_the_join_are_neither_lost_nor_doubled(void) {
    env_t *e = env_new(no_features, NULL);
    stub_sock_t *s;
    lc_conn_t *c = env_conn(e, "r1", LC_FMT_JSON, &s);
    env_hello(c, "bob", NULL);
    CHECK_EQ_INT(e->store->nsub, 1);                  /* subscribed first ... */
    CHECK_EQ_INT(stub_count(e->store, STUB_JOIN), 0); /* ... and the join waits for it */
    lc_rooms_on_subscribed(e->srv.rooms, lc_cstr("r1"));
    CHECK_EQ_INT(stub_count(e->store, STUB_JOIN), 1);
    /* while the join is at Redis, 3-0 (which its history will hold) and 4-0 (which it will not)
     * arrive on the channel */
    lc_msg_t m;
    env_comment_msg(&m, "3-0", "alice", "3-0");
    env_bus(e, "r1", &m);
    env_comment_msg(&m, "4-0", "alice", "4-0");
    env_bus(e, "r1", &m);
    const char *ids[] = {"1-0", "2-0", "3-0"};
    env_answer_join(e, ids, 3, 7, 0);
    env_flush(e);
    env_comment_msg(&m, "5-0", "alice", "5-0");
    env_bus(e, "r1", &m);
    env_flush(e);
    seen_t seen;
    char buf[512];
    env_seen(s, LC_FMT_JSON, &seen);
    CHECK(strcmp(env_texts(&seen, buf, sizeof(buf)), "w:1-0,w:2-0,w:3-0,4-0,5-0") == 0);
    if (strcmp(buf, "w:1-0,w:2-0,w:3-0,4-0,5-0")) fprintf(stderr, "  got %s\n", buf);
    CHECK(seen.m[0].type == LC_MSG_WELCOME && seen.m[0].likes == 7 && seen.m[0].viewers == 1);
    CHECK(c->state == LC_CONN_JOINED);
    env_clear(&seen);
    env_free(e);
}

static void test_joiners_that_wait_share_one_request_and_one_welcome(void) {
    env_t *e = env_new(no_features, NULL);
    stub_sock_t *s[3];
    lc_conn_t *c[3];
    for (int i = 0; i < 3; i++) c[i] = env_conn(e, "r2", LC_FMT_MSGPACK, &s[i]);
    lc_rooms_on_subscribed(e->srv.rooms, lc_cstr("r2")); /* not subscribed yet: nothing */
    env_hello(c[0], "u0", NULL);
    lc_rooms_on_subscribed(e->srv.rooms, lc_cstr("r2"));
    env_hello(c[1], "u1", NULL); /* the first join is in flight: these wait */
    env_hello(c[2], "u2", NULL);
    CHECK_EQ_INT(stub_count(e->store, STUB_JOIN), 1);
    const char *ids[] = {"1-0"};
    env_answer_join(e, ids, 1, 0, 2);
    CHECK_EQ_INT(stub_count(e->store, STUB_JOIN), 2); /* the next batch went at once */
    CHECK_EQ_INT(stub_last(e->store, STUB_JOIN)->nusers, 2);
    env_answer_join(e, ids, 1, 0, 2);
    env_flush(e);
    for (int i = 0; i < 3; i++) {
        seen_t seen;
        env_seen(s[i], LC_FMT_MSGPACK, &seen);
        CHECK(seen.n >= 1 && seen.m[0].type == LC_MSG_WELCOME);
        CHECK(c[i]->state == LC_CONN_JOINED);
        env_clear(&seen);
    }
    /* the second batch's welcome counts the other shards' 2 and the 3 here */
    seen_t seen;
    env_seen(s[2], LC_FMT_MSGPACK, &seen);
    CHECK_EQ_INT(seen.m[0].viewers, 5);
    env_clear(&seen);
    env_free(e);
}

static void test_a_resume_gets_what_it_missed_after_its_since(void) {
    env_t *e = env_new(no_features, NULL);
    stub_sock_t *s;
    lc_conn_t *c = env_conn(e, "r3", LC_FMT_JSON, &s);
    lc_msg_t h;
    lc_msg_init(&h, LC_MSG_HELLO);
    lc_msg_set(&h, user, lc_cstr("bob"));
    lc_msg_set(&h, since, lc_cstr("2-0"));
    env_say(c, &h);
    lc_rooms_on_subscribed(e->srv.rooms, lc_cstr("r3"));
    stub_call_t *j = stub_last(e->store, STUB_JOIN);
    CHECK(j && strcmp(j->a, "2-0") == 0);
    const char *ids[] = {"3-0", "4-0"};
    env_answer_join(e, ids, 2, 0, 0);
    env_flush(e);
    seen_t seen;
    char buf[256];
    env_seen(s, LC_FMT_JSON, &seen);
    CHECK(strcmp(env_texts(&seen, buf, sizeof(buf)), "w:3-0,w:4-0") == 0);
    CHECK(seen.m[0].type == LC_MSG_WELCOME && lc_msg_has(&seen.m[0], recovered) && seen.m[0].recovered);
    env_clear(&seen);
    env_free(e);
}

static void test_a_lost_join_answer_fails_the_hello_and_a_new_hello_works(void) {
    env_t *e = env_new(no_features, NULL);
    stub_sock_t *s;
    lc_conn_t *c = env_conn(e, "r4", LC_FMT_JSON, &s);
    env_hello(c, "bob", NULL);
    lc_rooms_on_subscribed(e->srv.rooms, lc_cstr("r4"));
    stub_answer_status(stub_last(e->store, STUB_JOIN), LC_STORE_UNKNOWN);
    CHECK(c->state == LC_CONN_NEW);
    env_hello(c, "bob", NULL);
    env_answer_join(e, NULL, 0, 0, 0);
    CHECK(c->state == LC_CONN_JOINED);
    env_flush(e);
    seen_t seen;
    env_seen(s, LC_FMT_JSON, &seen);
    CHECK(seen.n >= 2 && seen.m[0].type == LC_MSG_ERROR && lc_str_eq(seen.m[0].code, "unavailable"));
    CHECK(seen.m[1].type == LC_MSG_WELCOME);
    env_clear(&seen);
    env_free(e);
}

static void test_redis_down_refuses_the_hello_at_once(void) {
    env_t *e = env_new(no_features, NULL);
    stub_sock_t *s;
    lc_conn_t *c = env_conn(e, "r5", LC_FMT_JSON, &s);
    e->store->up = 0;
    env_hello(c, "bob", NULL);
    CHECK(c->state == LC_CONN_NEW);
    CHECK_EQ_INT(stub_count(e->store, STUB_JOIN), 0);
    env_flush(e);
    seen_t seen;
    env_seen(s, LC_FMT_JSON, &seen);
    CHECK(seen.n == 1 && lc_str_eq(seen.m[0].code, "unavailable"));
    env_clear(&seen);
    env_free(e);
}

int main(void) {
    RUN(test_live_entries_during_the_join_are_neither_lost_nor_doubled);
    RUN(test_joiners_that_wait_share_one_request_and_one_welcome);
    RUN(test_a_resume_gets_what_it_missed_after_its_since);
    RUN(test_a_lost_join_answer_fails_the_hello_and_a_new_hello_works);
    RUN(test_redis_down_refuses_the_hello_at_once);
    return lc_test_done();
}
