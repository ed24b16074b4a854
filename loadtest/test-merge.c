/* Merging reports (merge.c), as --procs and `livecart-load merge` do: the
 * merged latency histogram is the histogram of all the values (not an
 * average of percentiles), counters and rates add up, extremes stay
 * extremes, an invariant holds only where it held everywhere, and a report
 * without buckets is refused rather than merged approximately. */
#include <stdlib.h>
#include <string.h>

#include "lc_test.h"
#include "lt.h"
#include "merge.h"

/* A report like a watch run's, with latencies lo..hi (us, step 1). */
static json_t *report(int conns, uint64_t lo, uint64_t hi, double rate, double storm_s, int inv_ok, int with_server) {
    lt_hist_t *h = malloc(sizeof(*h));
    lt_hist_init(h);
    for (uint64_t v = lo; v <= hi; v++) lt_hist_record(h, v);
    json_t *res = json_pack("{sssisIsfsf}", "mode", "watch", "welcomed", conns, "delivered", (json_int_t)(conns * 10),
                            "delivered_per_s", rate, "storm_seconds", storm_s);
    lt_hist_json(res, "deliver_latency_us", h);
    free(h);
    json_t *r = json_object();
    json_object_set_new(r, "params", json_pack("{sssisf}", "scenario", "watch", "conns", conns, "rate", 100.0));
    json_object_set_new(r, "timeline", json_pack("[{sfsIsIsI}{sfsIsIsI}]", "t", 1.0, "msgs", (json_int_t)conns, "p99_us",
                                                 (json_int_t)hi, "open", (json_int_t)conns, "t", 2.0, "msgs",
                                                 (json_int_t)(2 * conns), "p99_us", (json_int_t)lo, "open",
                                                 (json_int_t)conns));
    json_object_set_new(r, "result", res);
    json_object_set_new(r, "client", json_pack("{sIs{sI}}", "frames_in", (json_int_t)(conns * 11), "closes", "1000",
                                               (json_int_t)conns));
    json_object_set_new(r, "tool", json_pack("{sfsf}", "cpu_s", 2.5, "cpu_pct", 90.0));
    if (with_server) json_object_set_new(r, "server", json_pack("{sfsf}", "cpu_s", 7.0, "cpu_pct", 70.0));
    json_object_set_new(r, "invariants", json_pack("{s{sbss}s{sbss}}", "every_viewer_joined", "ok", 1, "detail", "all",
                                                   "every_comment_once_in_order", "ok", inv_ok, "detail",
                                                   inv_ok ? "0 missing" : "3 missing"));
    json_object_set_new(r, "ok", json_boolean(inv_ok));
    /* as the parent or the merge command gets it: through text */
    char *s = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    json_t *back = json_loads(s, 0, NULL);
    free(s);
    return back;
}

static void test_histograms_merge_exactly(void) {
    json_t *reps[3] = {report(100, 1, 1000, 1000.5, 1.5, 1, 1), report(50, 500, 90000, 2000.0, 2.5, 1, 0),
                       report(10, 7, 7, 10.0, 0.5, 1, 0)};
    char err[256];
    json_t *m = lt_merge_reports(reps, 3, err, sizeof(err));
    CHECK(m != NULL);
    lt_hist_t *want = malloc(sizeof(*want)), *got = malloc(sizeof(*got));
    lt_hist_init(want);
    for (uint64_t v = 1; v <= 1000; v++) lt_hist_record(want, v);
    for (uint64_t v = 500; v <= 90000; v++) lt_hist_record(want, v);
    lt_hist_record(want, 7);
    json_t *h = json_object_get(json_object_get(m, "result"), "deliver_latency_us");
    CHECK_EQ_INT(lt_hist_from_json(got, h), 0);
    CHECK_EQ_INT(got->count, want->count);
    CHECK_EQ_INT(got->sum, want->sum);
    CHECK_EQ_INT(got->min, 1);
    CHECK_EQ_INT(got->max, 90000);
    CHECK(memcmp(got->b, want->b, sizeof(want->b)) == 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(h, "p50")), lt_hist_percentile(want, 50));
    CHECK_EQ_INT(json_integer_value(json_object_get(h, "p99")), lt_hist_percentile(want, 99));
    CHECK_EQ_INT(json_integer_value(json_object_get(h, "p99_9")), lt_hist_percentile(want, 99.9));
    CHECK_EQ_INT(json_integer_value(json_object_get(h, "count")), 1000 + 89501 + 1);
    free(want);
    free(got);
    json_decref(m);
    for (int i = 0; i < 3; i++) json_decref(reps[i]);
}

static void test_counters_add_up_and_extremes_stay_extremes(void) {
    json_t *reps[2] = {report(100, 1, 10, 1000.5, 1.5, 1, 1), report(50, 1, 10, 2000.0, 2.5, 1, 0)};
    char err[256];
    json_t *m = lt_merge_reports(reps, 2, err, sizeof(err));
    json_t *res = json_object_get(m, "result"), *cl = json_object_get(m, "client");
    CHECK_EQ_INT(json_integer_value(json_object_get(res, "welcomed")), 150);
    CHECK_EQ_INT(json_integer_value(json_object_get(res, "delivered")), 1500);
    CHECK(json_is_integer(json_object_get(res, "delivered")));
    CHECK(json_real_value(json_object_get(res, "delivered_per_s")) == 3000.5);
    CHECK(json_real_value(json_object_get(res, "storm_seconds")) == 2.5); /* the longest, not the sum */
    CHECK(strcmp(json_string_value(json_object_get(res, "mode")), "watch") == 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(cl, "frames_in")), 1650);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(cl, "closes"), "1000")), 150);
    CHECK(json_real_value(json_object_get(json_object_get(m, "tool"), "cpu_s")) == 5.0);
    json_t *params = json_object_get(m, "params");
    CHECK_EQ_INT(json_integer_value(json_object_get(params, "conns")), 150);
    CHECK_EQ_INT(json_integer_value(json_object_get(params, "merged")), 2);
    CHECK(json_real_value(json_object_get(params, "rate")) == 100.0); /* params are not summed */
    /* one server measured: kept as it was */
    CHECK(json_real_value(json_object_get(json_object_get(m, "server"), "cpu_s")) == 7.0);
    CHECK(json_object_get(m, "servers") == NULL);
    json_t *tl = json_object_get(m, "timeline");
    CHECK_EQ_INT(json_array_size(tl), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(tl, 1), "msgs")), 300);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(tl, 0), "p99_us")), 10); /* the largest */
    CHECK(json_is_true(json_object_get(m, "ok")));
    json_decref(m);
    json_decref(reps[0]);
    json_decref(reps[1]);
}

static void test_an_invariant_holds_only_where_it_held_everywhere(void) {
    json_t *reps[3] = {report(10, 1, 10, 1, 1, 1, 0), report(10, 1, 10, 1, 1, 0, 0), report(10, 1, 10, 1, 1, 1, 0)};
    char err[256];
    json_t *m = lt_merge_reports(reps, 3, err, sizeof(err));
    json_t *inv = json_object_get(m, "invariants");
    json_t *bad = json_object_get(inv, "every_comment_once_in_order");
    CHECK(json_is_false(json_object_get(bad, "ok")));
    CHECK(strstr(json_string_value(json_object_get(bad, "detail")), "held in 2 of 3 reports; report 2: 3 missing") != NULL);
    CHECK(json_is_true(json_object_get(json_object_get(inv, "every_viewer_joined"), "ok")));
    CHECK(json_is_false(json_object_get(m, "ok")));
    json_decref(m);
    for (int i = 0; i < 3; i++) json_decref(reps[i]);
}

static void test_a_report_without_buckets_is_refused(void) {
    json_t *reps[2] = {report(10, 1, 10, 1, 1, 1, 0), report(10, 1, 10, 1, 1, 1, 0)};
    json_object_del(json_object_get(json_object_get(reps[1], "result"), "deliver_latency_us"), "buckets");
    char err[256] = "";
    json_t *m = lt_merge_reports(reps, 2, err, sizeof(err));
    CHECK(m == NULL);
    CHECK(strstr(err, "deliver_latency_us") != NULL);
    json_decref(reps[0]);
    json_decref(reps[1]);
}

static void test_one_report_merges_into_itself(void) {
    json_t *r = report(42, 3, 3000, 123.0, 0, 1, 1);
    char err[256];
    json_t *m = lt_merge_reports(&r, 1, err, sizeof(err));
    json_t *a = json_object_get(json_object_get(r, "result"), "deliver_latency_us");
    json_t *b = json_object_get(json_object_get(m, "result"), "deliver_latency_us");
    CHECK(json_equal(a, b));
    CHECK(json_equal(json_object_get(r, "client"), json_object_get(m, "client")));
    json_decref(m);
    json_decref(r);
}

int main(void) {
    RUN(test_histograms_merge_exactly);
    RUN(test_counters_add_up_and_extremes_stay_extremes);
    RUN(test_an_invariant_holds_only_where_it_held_everywhere);
    RUN(test_a_report_without_buckets_is_refused);
    RUN(test_one_report_merges_into_itself);
    return lc_test_done();
}
