/* The load tool's report pieces: a latency summary carries every
 * percentile from the histogram, and an invariant check records its
 * verdict in the JSON and in the human log, failing the run when false. */
#include <string.h>

#include "lc_test.h"
#include "lt.h"

static void test_latency_summary_has_every_percentile(void) {
    lt_hist_t h;
    lt_hist_init(&h);
    for (int i = 1; i <= 1000; i++) lt_hist_record(&h, (uint64_t)i);
    json_t *o = json_object();
    lt_hist_json(o, "lat", &h);
    json_t *l = json_object_get(o, "lat");
    CHECK_EQ_INT(json_integer_value(json_object_get(l, "count")), 1000);
    CHECK_EQ_INT(json_integer_value(json_object_get(l, "p50")), lt_hist_percentile(&h, 50));
    CHECK_EQ_INT(json_integer_value(json_object_get(l, "p99")), lt_hist_percentile(&h, 99));
    CHECK_EQ_INT(json_integer_value(json_object_get(l, "max")), 1000);
    CHECK_EQ_INT(json_integer_value(json_object_get(l, "min")), 1);
    CHECK(json_object_get(l, "p90") && json_object_get(l, "p99_9"));
    CHECK(json_real_value(json_object_get(l, "mean_us")) > 500 && json_real_value(json_object_get(l, "mean_us")) < 501);
    json_decref(o);
}

static void test_checks_record_verdicts_and_count_failures(void) {
    static lt_run_t run;
    memset(&run, 0, sizeof(run));
    json_t *inv = json_object();
    CHECK_EQ_INT(lt_check(&run, inv, "holds", 1, "%d fine", 3), 0);
    CHECK_EQ_INT(lt_check(&run, inv, "broken", 0, "%d missing", 7), 1);
    CHECK(json_is_true(json_object_get(json_object_get(inv, "holds"), "ok")));
    CHECK(json_is_false(json_object_get(json_object_get(inv, "broken"), "ok")));
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(inv, "broken"), "detail")), "7 missing") == 0);
    CHECK(strstr(run.invariant_log, "FAIL broken") != NULL);
    CHECK(strstr(run.invariant_log, "ok   holds") != NULL);
    json_decref(inv);
}

int main(void) {
    RUN(test_latency_summary_has_every_percentile);
    RUN(test_checks_record_verdicts_and_count_failures);
    return lc_test_done();
}
