/*
 * lt_draw_verify_answer (draw.h): a drawn lottery, as the shop API returns
 * it, checked against the draw rule. Shared by livecart-verify-draw and the
 * load tool's lottery scenario.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"

typedef struct vlog {
    char *p;
    size_t cap;
    int failed;
} vlog_t;

static void note(vlog_t *l, int ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void note(vlog_t *l, int ok, const char *name, const char *fmt, ...) {
    l->failed += !ok;
    if (!l->cap) return;
    size_t n = strlen(l->p);
    if (n + 1 >= l->cap) return;
    int w = snprintf(l->p + n, l->cap - n, "%s %s: ", ok ? "ok  " : "FAIL", name);
    if (w < 0 || (size_t)w >= l->cap - n) return;
    n += (size_t)w;
    va_list ap;
    va_start(ap, fmt);
    w = vsnprintf(l->p + n, l->cap - n, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= l->cap - n - 1) return;
    n += (size_t)w;
    l->p[n] = '\n';
    l->p[n + 1] = '\0';
}

/* The strings of a JSON array, borrowed from it (valid while arr lives).
 * Returns the number, or -1 when arr is not an array of strings; *out is
 * NULL for an empty array, else owned by the caller. */
static long strings_of(const json_t *arr, lc_str_t **out) {
    *out = NULL;
    if (!json_is_array(arr)) return -1;
    size_t n = json_array_size(arr);
    if (!n) return 0;
    lc_str_t *v = calloc(n, sizeof(*v));
    if (!v) return -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(arr, i);
        if (!json_is_string(s)) {
            free(v);
            return -1;
        }
        v[i] = lc_str(json_string_value(s), json_string_length(s));
    }
    *out = v;
    return (long)n;
}

/* The seed and the commit. Returns 0 when the seed parsed (into seed). */
static int check_commit(vlog_t *l, const json_t *a, uint8_t seed[LT_DRAW_SEED_LEN]) {
    const json_t *js = json_object_get(a, "seed"), *jc = json_object_get(a, "commit");
    if (!json_is_string(js) || lt_draw_seed_parse(json_string_value(js), json_string_length(js), seed) != 0) {
        note(l, 0, "seed", "not 64 hex digits");
        return -1;
    }
    if (!json_is_string(jc)) {
        note(l, 0, "commit", "no commit string");
        return 0;
    }
    char want[LT_DRAW_HEX_LEN + 1];
    int ok = lt_draw_commit_ok(seed, json_string_value(jc), json_string_length(jc));
    if (lt_draw_commit(seed, want) != 0 || ok < 0)
        note(l, 0, "commit", "SHA-256 failed");
    else
        note(l, ok, "commit", ok ? "SHA-256(seed) = %s" : "SHA-256(seed) = %s, the answer says %s", want,
             json_string_value(jc));
    return 0;
}

/* Recomputes the draw over the entrants and compares it with winners. */
static void check_winners(vlog_t *l, const uint8_t seed[LT_DRAW_SEED_LEN], const lc_str_t *ents, size_t n,
                          const lc_str_t *win, size_t nw, long long k) {
    size_t want = (size_t)k < n ? (size_t)k : n;
    note(l, nw == want, "winner_count", "%zu winners, min(k %lld, entrants %zu) = %zu", nw, k, n, want);
    size_t *idx = want ? calloc(want, sizeof(*idx)) : NULL;
    if (want && !idx) {
        note(l, 0, "draw", "out of memory");
        return;
    }
    long got = lt_draw(seed, ents, n, (size_t)k, idx);
    if (got < 0) {
        note(l, 0, "draw", "cannot recompute (error %ld)", got);
        free(idx);
        return;
    }
    size_t bad = (size_t)-1;
    for (size_t i = 0; i < want && i < nw && bad == (size_t)-1; i++)
        if (lt_draw_cmp(ents[idx[i]], win[i]) != 0) bad = i;
    if (bad != (size_t)-1)
        note(l, 0, "draw", "winner %zu is \"%.*s\", the draw gives \"%.*s\"", bad, (int)win[bad].n, win[bad].p,
             (int)ents[idx[bad]].n, ents[idx[bad]].p);
    else if (nw != want)
        note(l, 0, "draw", "the first %zu winners match the draw, the counts do not", want < nw ? want : nw);
    else
        note(l, 1, "draw", "the %zu winners recomputed from seed and entrants match, in order", want);
    free(idx);
}

/* The entrants, their count and the winners; then the draw over them. */
static void check_lists(vlog_t *l, const json_t *a, const uint8_t seed[LT_DRAW_SEED_LEN], int have_seed) {
    lc_str_t *ents = NULL, *win = NULL;
    long n = strings_of(json_object_get(a, "entrants"), &ents);
    long nw = strings_of(json_object_get(a, "winners"), &win);
    const json_t *jk = json_object_get(a, "k"), *je = json_object_get(a, "entries");
    if (n < 0) note(l, 0, "entrants", "no array of user ids");
    if (nw < 0) note(l, 0, "winners", "no array of user ids");
    if (!json_is_integer(jk) || json_integer_value(jk) < 1)
        note(l, 0, "k", "no positive integer k (the number of winners asked for)");
    if (n >= 0) {
        size_t at = lt_draw_unsorted_at(ents, (size_t)n);
        if (at == (size_t)n)
            note(l, 1, "entrants_sorted", "%ld entrants, sorted bytewise, distinct", n);
        else
            note(l, 0, "entrants_sorted", "entrant %zu \"%.*s\" is not after \"%.*s\"", at, (int)ents[at].n, ents[at].p,
                 (int)ents[at - 1].n, ents[at - 1].p);
        long long e = json_is_integer(je) ? (long long)json_integer_value(je) : -1;
        note(l, e == n, "entries", "entries %lld, %ld entrants listed", e, n);
    }
    if (n >= 0 && nw >= 0 && json_is_integer(jk) && json_integer_value(jk) >= 1 && have_seed &&
        lt_draw_unsorted_at(ents, (size_t)n) == (size_t)n)
        check_winners(l, seed, ents, (size_t)n, win, (size_t)nw, (long long)json_integer_value(jk));
    free(ents);
    free(win);
}

int lt_draw_verify_answer(const json_t *answer, char *log, size_t cap) {
    vlog_t l = {log, cap, 0};
    if (cap) log[0] = '\0';
    if (!json_is_object(answer)) {
        note(&l, 0, "answer", "not a JSON object");
        return l.failed;
    }
    const char *state = json_string_value(json_object_get(answer, "state"));
    note(&l, state && !strcmp(state, "drawn"), "state", "%s", state ? state : "(none)");
    uint8_t seed[LT_DRAW_SEED_LEN];
    int have_seed = check_commit(&l, answer, seed) == 0;
    check_lists(&l, answer, seed, have_seed);
    return l.failed;
}
