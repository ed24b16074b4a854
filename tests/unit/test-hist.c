/* The load tool's latency histogram: exact for small values, within its
 * stated precision for large ones, percentiles by rank, merge adds up. */
#include <stdlib.h>

#include "hist.h"
#include "lc_test.h"

static int within(uint64_t got, uint64_t want, double rel) {
    double d = (double)got - (double)want;
    if (d < 0) d = -d;
    return d <= rel * (double)want + 1;
}

static void test_small_values_are_exact(void) {
    lt_hist_t *h = malloc(sizeof(*h));
    lt_hist_init(h);
    for (uint64_t v = 1; v <= 100; v++) lt_hist_record(h, v);
    CHECK_EQ_INT(h->count, 100);
    CHECK_EQ_INT(lt_hist_percentile(h, 50), 50);
    CHECK_EQ_INT(lt_hist_percentile(h, 1), 1);
    CHECK_EQ_INT(lt_hist_percentile(h, 100), 100);
    CHECK_EQ_INT(h->min, 1);
    CHECK_EQ_INT(h->max, 100);
    free(h);
}

static void test_large_values_stay_within_precision(void) {
    lt_hist_t *h = malloc(sizeof(*h));
    uint64_t vals[] = {1000, 12345, 999999, 5000000, 123456789, 3000000000ULL};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        lt_hist_init(h);
        lt_hist_record(h, vals[i]);
        CHECK(within(lt_hist_percentile(h, 50), vals[i], 2.0 / LT_HIST_SUB));
        CHECK(lt_hist_percentile(h, 50) <= vals[i]); /* never above max */
    }
    free(h);
}

static void test_percentiles_follow_rank(void) {
    lt_hist_t *h = malloc(sizeof(*h));
    lt_hist_init(h);
    /* 990 fast (100 us), 9 slow (10 ms), 1 very slow (1 s) */
    for (int i = 0; i < 990; i++) lt_hist_record(h, 100);
    for (int i = 0; i < 9; i++) lt_hist_record(h, 10000);
    lt_hist_record(h, 1000000);
    CHECK_EQ_INT(lt_hist_percentile(h, 50), 100);
    CHECK_EQ_INT(lt_hist_percentile(h, 99), 100);
    CHECK(within(lt_hist_percentile(h, 99.9), 10000, 0.02));
    CHECK_EQ_INT(lt_hist_percentile(h, 100), 1000000);
    free(h);
}

static void test_merge_adds_counts_and_keeps_extremes(void) {
    lt_hist_t *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    lt_hist_init(a);
    lt_hist_init(b);
    for (int i = 0; i < 100; i++) lt_hist_record(a, 10);
    for (int i = 0; i < 100; i++) lt_hist_record(b, 1000);
    lt_hist_merge(a, b);
    CHECK_EQ_INT(a->count, 200);
    CHECK_EQ_INT(a->min, 10);
    CHECK_EQ_INT(a->max, 1000);
    CHECK_EQ_INT(lt_hist_percentile(a, 50), 10);
    CHECK(within(lt_hist_percentile(a, 51), 1000, 0.02));
    lt_hist_t e;
    lt_hist_init(&e);
    CHECK_EQ_INT(lt_hist_percentile(&e, 99), 0);
    free(a);
    free(b);
}

int main(void) {
    RUN(test_small_values_are_exact);
    RUN(test_large_values_stay_within_precision);
    RUN(test_percentiles_follow_rank);
    RUN(test_merge_adds_counts_and_keeps_extremes);
    return lc_test_done();
}
