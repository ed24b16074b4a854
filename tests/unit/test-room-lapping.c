/* A reader that falls behind the room's ring: the room never waits for it;
 * when it can write again it gets `gap` (naming the last entry it did get)
 * and the counters, then goes on from the oldest entry still held; after
 * --max-gaps gaps it is closed 1008. A reader that keeps up is untouched.
 * And the write window (--write-delay-ms): a woken reader waits for more. */
#include "room_env.h"
#include "room_int.h" /* the ring, to check its bounds */

static const lc_feature_t *const no_features[] = {NULL};
static const char *const small_ring[] = {"--ring-slots", "8", "--max-gaps", "1", NULL};

/* A joined connection of room with an empty history. */
static lc_conn_t *joined(env_t *e, const char *room, const char *user, stub_sock_t **s) {
    return env_joined(e, room, user, NULL, LC_FMT_JSON, s);
}

static void publish(env_t *e, const char *room, int from, int to) {
    for (int i = from; i < to; i++) {
        char id[32];
        snprintf(id, sizeof(id), "%d-0", i);
        lc_msg_t m;
        env_comment_msg(&m, id, "alice", id);
        env_bus(e, room, &m);
        env_flush(e);
    }
}

static void test_a_lapped_reader_gets_a_gap_then_the_oldest_held_and_a_fast_one_everything(void) {
    env_t *e = env_new(no_features, small_ring);
    stub_sock_t *fs, *ss;
    joined(e, "r1", "fast", &fs);
    lc_conn_t *slow = joined(e, "r1", "slow", &ss);
    publish(e, "r1", 1, 3);        /* both get 1-0, 2-0 */
    ss->buffered = 1;               /* then slow's socket takes nothing more */
    publish(e, "r1", 3, 23);        /* 20 entries through a ring of 8 */
    seen_t seen;
    char buf[1024];
    env_seen(fs, LC_FMT_JSON, &seen);
    CHECK(strstr(env_texts(&seen, buf, sizeof(buf)), "1-0,2-0,3-0,4-0") != NULL);
    CHECK(strstr(buf, "21-0,22-0") != NULL && !strstr(buf, "gap"));
    env_clear(&seen);
    /* slow can write again: gap (last it got: 2-0), the counters, then what the ring holds */
    ss->buffered = 0;
    for (int i = 0; i < 5 && slow->want_write; i++) CHECK_EQ_INT(lc_conn_writable(slow), 0);
    env_seen(ss, LC_FMT_JSON, &seen);
    env_texts(&seen, buf, sizeof(buf));
    CHECK(strstr(buf, "2-0,gap:2-0,15-0") != NULL);
    if (!strstr(buf, "2-0,gap:2-0,15-0")) fprintf(stderr, "  slow got %s\n", buf);
    CHECK(strstr(buf, "22-0") != NULL);
    CHECK_EQ_INT(e->srv.m.gaps, 1);
    env_clear(&seen);
    env_free(e);
}

static void test_a_reader_lapped_more_than_max_gaps_is_closed_1008(void) {
    env_t *e = env_new(no_features, small_ring);
    stub_sock_t *ss;
    lc_conn_t *slow = joined(e, "r2", "slow", &ss);
    for (int round = 0; round < 2; round++) {
        ss->buffered = 1;
        publish(e, "r2", 100 * round + 1, 100 * round + 20);
        ss->buffered = 0;
        for (int i = 0; i < 10 && slow->t && !slow->close_sent; i++) {
            lc_conn_writable(slow);
            env_flush(e);
        }
    }
    CHECK_EQ_INT(e->srv.m.gaps, 2);
    CHECK_EQ_INT(e->srv.m.slow_closed, 1);
    CHECK_EQ_INT(stub_close_code(ss), 1008);
    env_free(e);
}

static void test_a_room_with_a_stuck_reader_keeps_its_memory_bounded(void) {
    env_t *e = env_new(no_features, small_ring);
    stub_sock_t *ss;
    joined(e, "r3", "stuck", &ss);
    ss->buffered = 1;
    publish(e, "r3", 1, 1000);
    /* the room held at most its 8 slots for the stuck reader, and never waited for it */
    lc_room_t *r = lc_room_get(e->srv.rooms, "r3", 2);
    CHECK(lc_ring_head(r->ring) - lc_ring_tail(r->ring) <= 8);
    CHECK(lc_ring_bytes(r->ring) <= 8 * 200);
    CHECK_EQ_INT(lc_ring_dropped(r->ring), 999 - 8);
    lc_room_unref(r);
    env_free(e);
}

static void test_with_a_write_delay_a_reader_gathers_what_comes_meanwhile_into_one_write(void) {
    static const char *const delayed[] = {"--write-delay-ms", "40", NULL};
    env_t *e = env_new(no_features, delayed);
    stub_sock_t *s;
    joined(e, "r4", "ann", &s);
    CHECK_EQ_INT(s->writes, 0); /* even the welcome waits */
    env_sleep(e, 50);
    env_flush(e);
    CHECK_EQ_INT(s->writes, 1);
    publish(e, "r4", 1, 2); /* 1-0, flushed: not written yet */
    CHECK_EQ_INT(s->writes, 1);
    publish(e, "r4", 2, 4); /* 2-0, 3-0 come within the window */
    CHECK_EQ_INT(s->writes, 1);
    env_sleep(e, 50);
    env_flush(e);
    CHECK_EQ_INT(s->writes, 2); /* all three in one write */
    seen_t seen;
    char buf[256];
    env_seen(s, LC_FMT_JSON, &seen);
    CHECK(strstr(env_texts(&seen, buf, sizeof(buf)), "1-0,2-0,3-0") != NULL);
    env_clear(&seen);
    env_free(e);
}

static void test_without_a_write_delay_each_flush_writes_at_once(void) {
    env_t *e = env_new(no_features, NULL);
    stub_sock_t *s;
    joined(e, "r5", "ann", &s);
    unsigned w0 = s->writes;
    CHECK(w0 >= 1);
    publish(e, "r5", 1, 4); /* a flush after each: three writes */
    CHECK_EQ_INT(s->writes, w0 + 3);
    env_free(e);
}

int main(void) {
    RUN(test_with_a_write_delay_a_reader_gathers_what_comes_meanwhile_into_one_write);
    RUN(test_without_a_write_delay_each_flush_writes_at_once);
    RUN(test_a_lapped_reader_gets_a_gap_then_the_oldest_held_and_a_fast_one_everything);
    RUN(test_a_reader_lapped_more_than_max_gaps_is_closed_1008);
    RUN(test_a_room_with_a_stuck_reader_keeps_its_memory_bounded);
    return lc_test_done();
}
