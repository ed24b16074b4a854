/* The room ring: entries are freed once every reader passed them, a slow
 * reader is lapped instead of blocking the room, and memory stays within the
 * slot and byte bounds. A randomised run checks it against a naive model. */
#include <stdlib.h>
#include <string.h>

#include "lc_test.h"
#include "ring.h"

static lc_frame_t *mk(size_t n) {
    char buf[4096];
    memset(buf, 'x', n);
    return lc_frame_new(buf, n, buf, n);
}

static void test_ring_without_readers_holds_nothing(void) {
    lc_ring_t *r = lc_ring_create(16, 1 << 20);
    for (int i = 0; i < 100; i++) lc_ring_push(r, mk(10));
    CHECK_EQ_INT(lc_ring_head(r), 100);
    CHECK_EQ_INT(lc_ring_tail(r), 100);
    CHECK_EQ_INT(lc_ring_bytes(r), 0);
    CHECK_EQ_INT(lc_ring_dropped(r), 0);
    lc_ring_destroy(r);
}

static void test_ring_frees_entries_once_every_reader_passed(void) {
    lc_ring_t *r = lc_ring_create(16, 1 << 20);
    uint64_t a = lc_ring_head(r), b = a;
    lc_ring_reader_add(r, a);
    lc_ring_reader_add(r, b);
    for (int i = 0; i < 5; i++) lc_ring_push(r, mk(10));
    CHECK_EQ_INT(lc_ring_tail(r), 0);
    CHECK(lc_ring_at(r, 0) != NULL);
    lc_ring_reader_move(r, a, 5);
    a = 5;
    CHECK_EQ_INT(lc_ring_tail(r), 0); /* b still needs them */
    lc_ring_reader_move(r, b, 3);
    b = 3;
    CHECK_EQ_INT(lc_ring_tail(r), 3);
    CHECK(lc_ring_at(r, 2) == NULL && lc_ring_at(r, 3) != NULL);
    lc_ring_reader_remove(r, b);
    CHECK_EQ_INT(lc_ring_tail(r), 5);
    CHECK_EQ_INT(lc_ring_bytes(r), 0);
    lc_ring_reader_remove(r, a);
    lc_ring_destroy(r);
}

static void test_ring_slow_reader_is_lapped_and_room_never_blocks(void) {
    lc_ring_t *r = lc_ring_create(16, 1 << 20);
    uint64_t slow = lc_ring_head(r), fast = slow;
    lc_ring_reader_add(r, slow);
    lc_ring_reader_add(r, fast);
    for (int i = 0; i < 100; i++) {
        uint64_t s = lc_ring_push(r, mk(10));
        CHECK(s == (uint64_t)i);
        /* the fast reader keeps up, but stays 4 behind at the end */
        if (i < 96) {
            lc_ring_reader_move(r, fast, s + 1);
            fast = s + 1;
        }
    }
    /* the ring kept at most 16 entries; the slow reader fell off */
    CHECK(lc_ring_head(r) - lc_ring_tail(r) <= 16);
    CHECK(slow < lc_ring_tail(r));
    CHECK_EQ_INT(lc_ring_dropped(r), 100 - 16);
    /* a lapped reader keeps its claim on the oldest entries: a full ring */
    CHECK_EQ_INT(lc_ring_tail(r), 100 - 16);
    /* it catches up from the oldest entry still held */
    uint64_t t = lc_ring_tail(r);
    lc_ring_reader_move(r, slow, t);
    slow = t;
    CHECK(lc_ring_at(r, slow) != NULL);
    lc_ring_reader_move(r, slow, lc_ring_head(r));
    lc_ring_reader_move(r, fast, lc_ring_head(r));
    CHECK_EQ_INT(lc_ring_bytes(r), 0);
    CHECK_EQ_INT(lc_ring_readers(r), 2);
    lc_ring_reader_remove(r, lc_ring_head(r));
    lc_ring_reader_remove(r, lc_ring_head(r));
    CHECK_EQ_INT(lc_ring_readers(r), 0);
    lc_ring_destroy(r);
}

static void test_ring_stays_within_its_byte_bound(void) {
    lc_ring_t *r = lc_ring_create(1024, 10000);
    uint64_t pos = 0;
    lc_ring_reader_add(r, pos); /* reads one entry for every three pushed */
    int lapped = 0;
    for (int i = 0; i < 300; i++) {
        lc_ring_push(r, mk(1000)); /* ~2 KiB per entry, both formats */
        CHECK(lc_ring_bytes(r) <= 10000);
        if (i % 3 == 0) {
            if (pos < lc_ring_tail(r)) lapped++;
            uint64_t to = (pos < lc_ring_tail(r) ? lc_ring_tail(r) : pos) + 1;
            if (to > lc_ring_head(r)) to = lc_ring_head(r);
            lc_ring_reader_move(r, pos, to);
            pos = to;
        }
    }
    CHECK(lapped > 0);
    CHECK(lc_ring_head(r) - lc_ring_tail(r) == 4); /* 4 x 2 KiB fit in 10000 */
    lc_ring_reader_remove(r, pos);
    lc_ring_destroy(r);
}

static void test_ring_grows_while_readers_keep_positions(void) {
    lc_ring_t *r = lc_ring_create(4096, 1 << 24);
    lc_ring_reader_add(r, 0);
    for (int i = 0; i < 1000; i++) lc_ring_push(r, mk(8));
    CHECK_EQ_INT(lc_ring_tail(r), 0);
    CHECK_EQ_INT(lc_ring_dropped(r), 0);
    for (uint64_t s = 0; s < 1000; s++) CHECK(lc_ring_at(r, s) != NULL);
    lc_ring_reader_move(r, 0, 1000);
    CHECK_EQ_INT(lc_ring_tail(r), 1000);
    lc_ring_reader_remove(r, 1000);
    lc_ring_destroy(r);
}

/* Readers move at random speeds, join and leave; after every step the ring
 * must hold exactly the entries from the oldest reader's claim on. */
static void test_ring_matches_a_naive_model_under_random_use(void) {
    enum { NR = 20 };
    lc_ring_t *r = lc_ring_create(64, 1 << 30);
    uint64_t pos[NR];
    int active[NR] = {0};
    unsigned st = 7;
    for (int step = 0; step < 200000; step++) {
        st = st * 1103515245u + 12345u;
        int who = (int)((st >> 8) % NR);
        int op = (int)((st >> 16) % 10);
        uint64_t tail_before = lc_ring_tail(r);
        int full_before = lc_ring_head(r) - lc_ring_tail(r) >= 64;
        if (op < 3) {
            lc_ring_push(r, mk(4));
        } else if (!active[who]) {
            pos[who] = lc_ring_head(r);
            lc_ring_reader_add(r, pos[who]);
            active[who] = 1;
        } else if (op == 9) {
            lc_ring_reader_remove(r, pos[who]);
            active[who] = 0;
        } else {
            uint64_t to = pos[who] < lc_ring_tail(r) ? lc_ring_tail(r) : pos[who];
            uint64_t room = lc_ring_head(r) - to;
            if (room) to += 1 + (st >> 20) % room;
            lc_ring_reader_move(r, pos[who], to);
            pos[who] = to;
        }
        uint64_t want = lc_ring_head(r);
        unsigned n = 0;
        int ok = 1;
        for (int i = 0; i < NR; i++) {
            if (!active[i]) continue;
            n++;
            /* a lapped reader holds the oldest entry still there */
            uint64_t at = pos[i] < lc_ring_tail(r) ? lc_ring_tail(r) : pos[i];
            if (at < want) want = at;
            /* and only a push into a full ring may lap anyone */
            if (pos[i] >= tail_before && pos[i] < lc_ring_tail(r) && !(op < 3 && full_before)) ok = 0;
        }
        if (!ok || lc_ring_tail(r) != want || lc_ring_readers(r) != n) {
            CHECK(ok);
            CHECK(lc_ring_tail(r) == want);
            CHECK(lc_ring_readers(r) == n);
            break;
        }
        CHECK(lc_ring_head(r) - lc_ring_tail(r) <= 64);
    }
    for (int i = 0; i < NR; i++)
        if (active[i]) lc_ring_reader_remove(r, pos[i]);
    CHECK_EQ_INT(lc_ring_bytes(r), 0);
    lc_ring_destroy(r);
}

static void test_frame_headers_follow_rfc6455_lengths(void) {
    uint8_t buf[16];
    CHECK_EQ_INT(lc_ws_header(buf + 16, 0, 125), 2);
    CHECK(buf[14] == 0x81 && buf[15] == 125);
    CHECK_EQ_INT(lc_ws_header(buf + 16, 1, 126), 4);
    CHECK(buf[12] == 0x82 && buf[13] == 126 && buf[14] == 0 && buf[15] == 126);
    CHECK_EQ_INT(lc_ws_header(buf + 16, 0, 70000), 10);
    CHECK(buf[6] == 0x81 && buf[7] == 127 && buf[13] == 0x01 && buf[14] == 0x11 && buf[15] == 0x70);
}

int main(void) {
    RUN(test_ring_without_readers_holds_nothing);
    RUN(test_ring_frees_entries_once_every_reader_passed);
    RUN(test_ring_slow_reader_is_lapped_and_room_never_blocks);
    RUN(test_ring_stays_within_its_byte_bound);
    RUN(test_ring_grows_while_readers_keep_positions);
    RUN(test_ring_matches_a_naive_model_under_random_use);
    RUN(test_frame_headers_follow_rfc6455_lengths);
    return lc_test_done();
}
