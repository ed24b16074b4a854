#include "merge.h"

#include <stdlib.h>
#include <string.h>

#include "lt.h"

/* Values that are extremes, not amounts: the merge keeps the largest. */
static const char *const max_keys[] = {"storm_seconds", "rejoin_seconds_max", "peak_rejoins_per_s", "likes_seen",
                                       "duration_s"};

static int is_max_key(const char *k) {
    for (size_t i = 0; i < sizeof(max_keys) / sizeof(max_keys[0]); i++)
        if (strcmp(k, max_keys[i]) == 0) return 1;
    return 0;
}

int lt_hist_from_json(lt_hist_t *h, const json_t *o) {
    json_t *b = json_object_get(o, "buckets");
    lt_hist_init(h);
    if (!json_is_array(b)) return -1;
    size_t i;
    json_t *pair;
    json_array_foreach(b, i, pair) {
        json_int_t k = json_integer_value(json_array_get(pair, 0));
        json_int_t c = json_integer_value(json_array_get(pair, 1));
        if (k < 0 || k >= LT_HIST_RANGES * LT_HIST_SUB || c < 0) return -1;
        h->b[k / LT_HIST_SUB][k % LT_HIST_SUB] += (uint32_t)c;
    }
    h->count = (uint64_t)json_integer_value(json_object_get(o, "count"));
    h->sum = (uint64_t)json_integer_value(json_object_get(o, "sum"));
    h->max = (uint64_t)json_integer_value(json_object_get(o, "max"));
    if (h->count) h->min = (uint64_t)json_integer_value(json_object_get(o, "min"));
    return 0;
}

typedef struct mctx {
    char *err;
    size_t errcap;
    int failed; /* set with err */
} mctx_t;

static json_t *merge_values(mctx_t *m, const char *key, json_t *const *v, size_t n);

/* The i-th report's value of key (NULL when it has none). */
static json_t **gather(json_t *const *objs, size_t n, const char *key) {
    json_t **out = calloc(n ? n : 1, sizeof(*out));
    for (size_t i = 0; out && i < n; i++) out[i] = json_is_object(objs[i]) ? json_object_get(objs[i], key) : NULL;
    return out;
}

/* Every key of every object, merged key by key (first-seen order). */
static json_t *merge_objects(mctx_t *m, json_t *const *v, size_t n) {
    json_t *out = json_object();
    for (size_t i = 0; out && i < n; i++) {
        const char *k;
        json_t *val;
        if (!json_is_object(v[i])) continue;
        json_object_foreach(v[i], k, val) {
            if (json_object_get(out, k)) continue;
            json_t **vs = gather(v, n, k);
            json_t *r = vs ? merge_values(m, k, vs, n) : NULL;
            free(vs);
            if (!r) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, k, r);
        }
    }
    return out;
}

static json_t *merge_hists(mctx_t *m, const char *key, json_t *const *v, size_t n) {
    lt_hist_t *all = malloc(sizeof(*all)), *one = malloc(sizeof(*one));
    json_t *out = NULL;
    if (!all || !one) goto done;
    lt_hist_init(all);
    for (size_t i = 0; i < n; i++) {
        if (!v[i]) continue;
        if (lt_hist_from_json(one, v[i]) != 0) {
            snprintf(m->err, m->errcap, "%s: a latency summary without buckets (a report from an older tool)", key);
            m->failed = 1;
            goto done;
        }
        lt_hist_merge(all, one);
    }
    json_t *holder = json_object();
    lt_hist_json(holder, "h", all);
    out = json_incref(json_object_get(holder, "h"));
    json_decref(holder);
done:
    free(all);
    free(one);
    return out;
}

/* Numbers: summed, or the largest for max_keys; integers stay integers. */
static json_t *merge_numbers(const char *key, json_t *const *v, size_t n) {
    int real = 0, max = is_max_key(key);
    json_int_t si = 0;
    double sr = 0;
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (!json_is_number(v[i])) continue;
        real |= json_is_real(v[i]);
        json_int_t xi = json_integer_value(v[i]);
        double xr = json_number_value(v[i]);
        if (max) {
            if (!seen || xi > si) si = xi;
            if (!seen || xr > sr) sr = xr;
        } else {
            si += xi;
            sr += xr;
        }
        seen = 1;
    }
    return real ? json_real(sr) : json_integer(si);
}

static json_t *merge_values(mctx_t *m, const char *key, json_t *const *v, size_t n) {
    json_t *first = NULL;
    int objects = 0, hist = 0, numbers = 0, bools = 0, arrays = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i] || json_is_null(v[i])) continue;
        if (!first) first = v[i];
        objects += json_is_object(v[i]);
        hist += json_is_object(v[i]) && (json_object_get(v[i], "buckets") || json_object_get(v[i], "p99"));
        numbers += json_is_number(v[i]);
        bools += json_is_boolean(v[i]);
        arrays += json_is_array(v[i]);
    }
    if (!first) return json_null();
    if (hist) return merge_hists(m, key, v, n);
    if (objects) return merge_objects(m, v, n);
    if (numbers) return merge_numbers(key, v, n);
    if (bools) { /* true when true in every report that has it */
        int all = 1;
        for (size_t i = 0; i < n; i++)
            if (json_is_boolean(v[i]) && !json_is_true(v[i])) all = 0;
        return json_boolean(all);
    }
    if (arrays) {
        json_t *out = json_array();
        for (size_t i = 0; out && i < n; i++)
            if (json_is_array(v[i])) json_array_extend(out, v[i]);
        return out;
    }
    return json_deep_copy(first); /* strings */
}

/* An invariant holds when it held in every report that checked it. */
static json_t *merge_invariants(json_t *const *reps, size_t n) {
    json_t *out = json_object();
    for (size_t i = 0; i < n; i++) {
        const char *name;
        json_t *inv;
        json_object_foreach(json_object_get(reps[i], "invariants"), name, inv) {
            if (json_object_get(out, name)) continue;
            size_t checked = 0, held = 0;
            const char *first_fail = NULL, *first_detail = NULL;
            size_t fail_at = 0;
            for (size_t j = 0; j < n; j++) {
                json_t *x = json_object_get(json_object_get(reps[j], "invariants"), name);
                if (!x) continue;
                const char *d = json_string_value(json_object_get(x, "detail"));
                checked++;
                if (!first_detail) first_detail = d;
                if (json_is_true(json_object_get(x, "ok"))) held++;
                else if (!first_fail) first_fail = d, fail_at = j;
            }
            char detail[600];
            if (first_fail)
                snprintf(detail, sizeof(detail), "held in %zu of %zu reports; report %zu: %s", held, checked,
                         fail_at + 1, first_fail);
            else
                snprintf(detail, sizeof(detail), "held in all %zu reports; report 1: %s", checked,
                         first_detail ? first_detail : "");
            json_object_set_new(out, name, json_pack("{sbss}", "ok", held == checked, "detail", detail));
        }
    }
    return out;
}

/* Per second, by index: amounts summed, the percentiles' largest. */
static json_t *merge_timeline(json_t *const *reps, size_t n) {
    json_t *out = json_array();
    for (size_t t = 0;; t++) {
        json_t *pt = NULL;
        for (size_t i = 0; i < n; i++) {
            json_t *x = json_array_get(json_object_get(reps[i], "timeline"), t);
            if (!x) continue;
            if (!pt) {
                pt = json_deep_copy(x);
                continue;
            }
            const char *k;
            json_t *val;
            json_object_foreach(x, k, val) {
                json_t *cur = json_object_get(pt, k);
                if (!json_is_integer(val) || !json_is_integer(cur)) continue;
                json_int_t a = json_integer_value(cur), b = json_integer_value(val);
                int max = strstr(k, "p50") || strstr(k, "p99");
                json_object_set_new(pt, k, json_integer(max ? (a > b ? a : b) : a + b));
            }
        }
        if (!pt) break;
        json_array_append_new(out, pt);
    }
    return out;
}

json_t *lt_merge_reports(json_t *const *reps, size_t n, char *err, size_t errcap) {
    mctx_t m = {err, errcap, 0};
    if (n == 0) {
        snprintf(err, errcap, "no reports");
        return NULL;
    }
    json_t *out = json_object();
    json_t *params = json_deep_copy(json_object_get(reps[0], "params"));
    json_int_t conns = 0;
    for (size_t i = 0; i < n; i++) conns += json_integer_value(json_object_get(json_object_get(reps[i], "params"), "conns"));
    if (!params) params = json_object();
    json_object_set_new(params, "conns", json_integer(conns));
    json_object_set_new(params, "merged", json_integer((json_int_t)n));
    json_object_set_new(out, "params", params);
    json_object_set_new(out, "timeline", merge_timeline(reps, n));
    json_t *servers = json_array(), *hosts = json_array();
    for (size_t i = 0; i < n; i++) {
        if (json_object_get(reps[i], "server")) json_array_append(servers, json_object_get(reps[i], "server"));
        if (json_object_get(reps[i], "host")) json_array_append(hosts, json_object_get(reps[i], "host"));
    }
    /* host: the first report's machine; several machines' in hosts */
    if (json_array_size(hosts)) json_object_set(out, "host", json_array_get(hosts, 0));
    if (json_array_size(hosts) > 1) json_object_set(out, "hosts", hosts);
    json_decref(hosts);
    static const char *const generic[] = {"result", "client", "tool"};
    for (size_t g = 0; g < 3; g++) {
        json_t **vs = gather(reps, n, generic[g]);
        json_t *r = vs ? merge_values(&m, generic[g], vs, n) : NULL;
        free(vs);
        if (!r || m.failed) {
            json_decref(r);
            json_decref(servers);
            json_decref(out);
            if (!m.failed) snprintf(err, errcap, "out of memory");
            return NULL;
        }
        if (!json_is_null(r)) json_object_set_new(out, generic[g], r);
        else json_decref(r);
    }
    if (json_array_size(servers)) json_object_set(out, "server", json_array_get(servers, 0));
    if (json_array_size(servers) > 1) json_object_set(out, "servers", servers);
    json_decref(servers);
    json_t *inv = merge_invariants(reps, n);
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= json_is_true(json_object_get(reps[i], "ok"));
    const char *name;
    json_t *x;
    json_object_foreach(inv, name, x) ok &= json_is_true(json_object_get(x, "ok"));
    json_object_set_new(out, "invariants", inv);
    json_object_set_new(out, "ok", json_boolean(ok));
    return out;
}

static void print_hist(FILE *f, const char *label, const json_t *h) {
    if (!h) return;
    fprintf(f, "  %s: count %lld p50 %.2f ms p90 %.2f ms p99 %.2f ms p99.9 %.2f ms max %.2f ms\n", label,
            (long long)json_integer_value(json_object_get(h, "count")),
            (double)json_integer_value(json_object_get(h, "p50")) / 1000.0,
            (double)json_integer_value(json_object_get(h, "p90")) / 1000.0,
            (double)json_integer_value(json_object_get(h, "p99")) / 1000.0,
            (double)json_integer_value(json_object_get(h, "p99_9")) / 1000.0,
            (double)json_integer_value(json_object_get(h, "max")) / 1000.0);
}

void lt_merge_summary(FILE *f, const json_t *rep) {
    json_t *res = json_object_get(rep, "result"), *cl = json_object_get(rep, "client");
    json_t *params = json_object_get(rep, "params");
    fprintf(f, "merged %lld reports: %s, %lld connections\n",
            (long long)json_integer_value(json_object_get(params, "merged")),
            json_string_value(json_object_get(params, "scenario")) ? json_string_value(json_object_get(params, "scenario")) : "?",
            (long long)json_integer_value(json_object_get(params, "conns")));
    if (json_object_get(res, "delivered_per_s"))
        fprintf(f, "  delivered %lld messages, %.0f frames/s; %lld comments sent, %lld welcomed, %lld failed\n",
                (long long)json_integer_value(json_object_get(res, "delivered")),
                json_number_value(json_object_get(res, "delivered_per_s")),
                (long long)json_integer_value(json_object_get(res, "comments_sent")),
                (long long)json_integer_value(json_object_get(res, "welcomed")),
                (long long)json_integer_value(json_object_get(res, "failed")));
    const char *k;
    json_t *v;
    json_object_foreach(res, k, v) if (json_object_get(v, "buckets")) print_hist(f, k, v);
    fprintf(f, "  client: %lld opened (%lld lean), %lld failed, %lld frames in, %lld framing errors\n",
            (long long)json_integer_value(json_object_get(cl, "opened")),
            (long long)json_integer_value(json_object_get(cl, "lean_opened")),
            (long long)json_integer_value(json_object_get(cl, "failed")),
            (long long)json_integer_value(json_object_get(cl, "frames_in")),
            (long long)json_integer_value(json_object_get(cl, "framing_errors")));
    json_t *tool = json_object_get(rep, "tool"), *srv = json_object_get(rep, "server");
    if (tool)
        fprintf(f, "  load tool: %.2f s CPU (%.0f%% of one core, summed over processes)\n",
                json_number_value(json_object_get(tool, "cpu_s")), json_number_value(json_object_get(tool, "cpu_pct")));
    if (srv)
        fprintf(f, "  server: %.2f s CPU (%.0f%% of one core)\n", json_number_value(json_object_get(srv, "cpu_s")),
                json_number_value(json_object_get(srv, "cpu_pct")));
    fprintf(f, "invariants:\n");
    json_object_foreach(json_object_get(rep, "invariants"), k, v)
        fprintf(f, "  %s %-28s %s\n", json_is_true(json_object_get(v, "ok")) ? "ok  " : "FAIL", k,
                json_string_value(json_object_get(v, "detail")));
    fprintf(f, "%s\n", json_is_true(json_object_get(rep, "ok")) ? "all invariants hold" : "FAILED");
}

int lt_merge_main(int argc, char **argv) {
    const char *out = NULL;
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "--json") == 0) {
        out = argv[2];
        first = 3;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: livecart-load merge [--json OUT] A.json B.json ...\n");
        return 2;
    }
    size_t n = (size_t)(argc - first);
    json_t **reps = calloc(n, sizeof(*reps));
    if (!reps) return 1;
    int rc = 1;
    for (size_t i = 0; i < n; i++) {
        json_error_t je;
        if (!(reps[i] = json_load_file(argv[first + (int)i], 0, &je))) {
            fprintf(stderr, "%s: %s (line %d)\n", argv[first + (int)i], je.text, je.line);
            goto done;
        }
    }
    char err[256];
    json_t *m = lt_merge_reports(reps, n, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "cannot merge: %s\n", err);
        goto done;
    }
    lt_merge_summary(stderr, m);
    if (out && json_dump_file(m, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) fprintf(stderr, "cannot write %s\n", out);
    else rc = json_is_true(json_object_get(m, "ok")) ? 0 : 1;
    json_decref(m);
done:
    for (size_t i = 0; i < n; i++) json_decref(reps[i]);
    free(reps);
    return rc;
}
