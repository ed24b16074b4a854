/* The room table: insert, replace, find, delete across growth. */
#include <stdio.h>
#include <string.h>

#include "lc_test.h"
#include "map.h"

static void count_cb(void *arg, const char *k, size_t n, void *v) { (*(int *)arg)++; }

static void test_map_keeps_every_key_across_growth(void) {
    lc_map_t *m = lc_map_create();
    char k[32];
    for (long i = 0; i < 5000; i++) {
        int n = snprintf(k, sizeof(k), "room-%ld", i);
        CHECK(lc_map_put(m, k, (size_t)n, (void *)(i + 1)) == 0);
    }
    CHECK_EQ_INT(lc_map_size(m), 5000);
    for (long i = 0; i < 5000; i++) {
        int n = snprintf(k, sizeof(k), "room-%ld", i);
        CHECK(lc_map_get(m, k, (size_t)n) == (void *)(i + 1));
    }
    CHECK(lc_map_get(m, "room-5000", 9) == NULL);
    CHECK(lc_map_get(m, "room-1", 5) == NULL); /* a prefix is another key */
    int count = 0;
    lc_map_foreach(m, count_cb, &count);
    CHECK_EQ_INT(count, 5000);
    for (long i = 0; i < 5000; i += 2) {
        int n = snprintf(k, sizeof(k), "room-%ld", i);
        CHECK(lc_map_del(m, k, (size_t)n) == (void *)(i + 1));
    }
    CHECK_EQ_INT(lc_map_size(m), 2500);
    CHECK(lc_map_get(m, "room-2", 6) == NULL && lc_map_get(m, "room-3", 6) == (void *)4);
    CHECK(lc_map_put(m, "room-3", 6, (void *)99) == 0);
    CHECK(lc_map_get(m, "room-3", 6) == (void *)99 && lc_map_size(m) == 2500);
    lc_map_destroy(m);
}

int main(void) {
    RUN(test_map_keeps_every_key_across_growth);
    return lc_test_done();
}
