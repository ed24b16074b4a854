/*
 * The report's building blocks: latency summaries and invariant checks,
 * shared by every scenario (unit-tested in tests/unit/test-report.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lt.h"

/* The histogram itself, sparse: [[bucket, count], ...] with bucket =
 * range * LT_HIST_SUB + sub-bucket, and the exact sum, so that reports of
 * several processes or machines merge exactly (merge.c). */
static json_t *hist_buckets(const lt_hist_t *h) {
    json_t *a = json_array();
    for (int r = 0; a && r < LT_HIST_RANGES; r++)
        for (int s = 0; s < LT_HIST_SUB; s++)
            if (h->b[r][s])
                json_array_append_new(a, json_pack("[iI]", r * LT_HIST_SUB + s, (json_int_t)h->b[r][s]));
    return a;
}

void lt_hist_json(json_t *obj, const char *key, const lt_hist_t *h) {
    json_t *o = json_pack("{sIsIsIsIsIsIsIsf}", "count", (json_int_t)h->count, "p50",
                          (json_int_t)lt_hist_percentile(h, 50), "p90", (json_int_t)lt_hist_percentile(h, 90),
                          "p99", (json_int_t)lt_hist_percentile(h, 99), "p99_9",
                          (json_int_t)lt_hist_percentile(h, 99.9), "max", (json_int_t)h->max, "min",
                          (json_int_t)(h->count ? h->min : 0), "mean_us",
                          h->count ? (double)h->sum / (double)h->count : 0.0);
    if (!o) return;
    json_object_set_new(o, "sum", json_integer((json_int_t)h->sum));
    json_object_set_new(o, "buckets", hist_buckets(h));
    json_object_set_new(obj, key, o);
}

int lt_check(lt_run_t *run, json_t *inv, const char *name, int ok, const char *fmt, ...) {
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_object_set_new(inv, name, json_pack("{sbss}", "ok", ok, "detail", detail));
    size_t n = strlen(run->invariant_log);
    snprintf(run->invariant_log + n, sizeof(run->invariant_log) - n, "  %s %-28s %s\n",
             ok ? "ok  " : "FAIL", name, detail);
    return ok ? 0 : 1;
}


void lt_count_error(lt_run_t *run, const lc_msg_t *m) {
    char code[65];
    snprintf(code, sizeof(code), "%.*s", (int)(m->code.n > 64 ? 64 : m->code.n), m->code.p ? m->code.p : "");
    if (!run->errors) run->errors = json_object();
    json_t *n = json_object_get(run->errors, code);
    json_object_set_new(run->errors, code, json_integer(n ? json_integer_value(n) + 1 : 1));
}
