/*
 * The lottery scenario's end (scen_lottery.c): counts and latencies into
 * the report, and the invariants of one draw over N entrants: one result
 * per connection, the same everywhere; winners distinct entrants, min(K, n)
 * of them; n the distinct entrants; `entered` once on every connection of
 * an entrant, `won` once on every connection of a winner; SHA-256(seed) =
 * commit and the winners recomputed by draw.c; with an API key, the API's
 * answer agrees and verifies (draw_answer.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"
#include "scen_lottery.h"

static int cmp_str(const void *a, const void *b) { return lt_draw_cmp(*(const lc_str_t *)a, *(const lc_str_t *)b); }

/* The users the server told `entered`, sorted bytewise (owned by the
 * caller; the strings are the viewers'). NULL when there are none. */
static lc_str_t *entered_sorted(const lottery_t *lt, size_t *n) {
    lc_str_t *v = calloc((size_t)lt->n + 1, sizeof(*v));
    *n = 0;
    if (!v) return NULL;
    for (int i = 0; i < lt->n; i++)
        if (lt->v[i].p[0].entered || lt->v[i].p[1].entered) v[(*n)++] = lc_cstr(lt->v[i].user);
    qsort(v, *n, sizeof(*v), cmp_str);
    return v;
}

/* The viewer named user, or NULL. */
static lviewer_t *viewer_of(const lottery_t *lt, const char *user) {
    const char *dash = strrchr(user, '-');
    if (!dash) return NULL;
    char *end;
    long i = strtol(dash + 1, &end, 10);
    if (*end || i < 0 || i >= lt->n || strcmp(lt->v[i].user, user)) return NULL;
    return &lt->v[i];
}

static json_t *statuses(const uint64_t *st) {
    json_t *o = json_object();
    for (int i = 0; i < ES__N; i++) json_object_set_new(o, lt_lottery_st_names[i], json_integer((json_int_t)st[i]));
    return o;
}

/* [first, last] lottery_result after `ends` (ms) on each shard's connections. */
static json_t *shard_lags(const lottery_t *lt) {
    json_t *a = json_array();
    double ends_us = (double)lt->ends * 1000.0;
    for (int i = 0; i < lt->run->ntargets; i++)
        json_array_append_new(a, lt->shard_first_us[i]
                                     ? json_pack("[ff]", ((double)lt->shard_first_us[i] - ends_us) / 1000.0,
                                                 ((double)lt->shard_last_us[i] - ends_us) / 1000.0)
                                     : json_null());
    return a;
}

void lt_lottery_result(lottery_t *lt, json_t *report) {
    lt_run_t *run = lt->run;
    json_t *plans = json_object(), *winners = json_array();
    for (int i = 0; i < PLAN__N; i++)
        json_object_set_new(plans, lt_lottery_plan_names[i], json_integer(lt->planned[i]));
    for (size_t i = 0; i < lt->nwinners; i++) json_array_append_new(winners, json_string(lt->winners[i]));
    double spread_ms =
        lt->last_result_us > lt->first_result_us ? (double)(lt->last_result_us - lt->first_result_us) / 1000.0 : 0;
    json_t *res = json_pack(
        "{sssisisisisisisisososIsIsIsIsisIsIsIsIsIsIsI}", "lottery", lt->id, "viewers", lt->n, "connections", lt->peers,
        "welcomed", lt->welcomed, "lost", lt->lost, "entrants_planned", lt->entrants_planned, "entered_users",
        lt->entered_users, "winners_asked", run->winners, "plans", plans, "status", statuses(lt->st), "enters_sent",
        (json_int_t)lt->enters_sent, "comments_sent", (json_int_t)lt->comments_sent, "resent", (json_int_t)lt->resent,
        "entered_notices", (json_int_t)lt->entered_msgs, "results", lt->results_peers, "result_notices",
        (json_int_t)lt->result_msgs, "won_notices", (json_int_t)lt->won_msgs, "comments_received",
        (json_int_t)lt->comments_in, "gaps", (json_int_t)lt->gaps, "stray", (json_int_t)lt->stray, "early_results",
        (json_int_t)lt->early_results, "decode_errors", (json_int_t)lt->decode_errors);
    json_object_set_new(res, "commit", json_string(lt->commit));
    json_object_set_new(res, "seed", json_string(lt->seed));
    json_object_set_new(res, "entries", json_integer(lt->entries));
    json_object_set_new(res, "k", json_integer((json_int_t)lt->nwinners));
    json_object_set_new(res, "winners", winners);
    json_object_set_new(res, "ends", json_integer(lt->ends));
    json_object_set_new(res, "result_spread_ms", json_real(spread_ms));
    json_object_set_new(res, "entered_before_ok", json_integer((json_int_t)lt->entered_before_ok));
    json_object_set_new(res, "result_after_ends_ms_by_shard", shard_lags(lt));
    json_object_set_new(res, "late_joiner",
                        json_string(lt->late_state == 1   ? "joined"
                                    : lt->late_state == 2 ? "skipped"
                                                          : "not_needed"));
    json_object_set_new(res, "late_welcome_entries", json_integer(lt->late.welcome_entries));
    json_object_set_new(res, "api_status", json_integer(lt->api_status));
    lt_hist_json(res, "open_seen_us", &lt->open_h);
    lt_hist_json(res, "entered_us", &lt->entered_h);
    lt_hist_json(res, "enter_answer_us", &lt->answer_h);
    lt_hist_json(res, "draw_after_ends_us", &lt->draw_h);
    lt_hist_json(res, "welcome_us", &lt->welcome_h);
    json_object_set_new(report, "result", res);
    fprintf(stderr,
            "lottery %s: %d viewers (%d connections), %d entrants planned, %d told entered; %llu lottery_enter, "
            "%llu comments sent (%llu resent); ok %llu, already %llu, keyword %llu\n"
            "  result: %lld entries, %zu winners of K %d; on %d connections, %.1f ms from first to last; draw "
            "after ends p50 %.1f ms, max %.1f ms\n"
            "  open seen p50 %.2f ms, p99 %.2f ms; entered p50 %.2f ms, p99 %.2f ms, max %.2f ms; enter answered "
            "p50 %.2f ms, p99 %.2f ms\n",
            lt->id, lt->n, lt->peers, lt->entrants_planned, lt->entered_users, (unsigned long long)lt->enters_sent,
            (unsigned long long)lt->comments_sent, (unsigned long long)lt->resent, (unsigned long long)lt->st[ES_OK],
            (unsigned long long)lt->st[ES_ALREADY], (unsigned long long)lt->st[ES_KEYWORD], (long long)lt->entries,
            lt->nwinners, run->winners, lt->results_peers, spread_ms, lt_hist_percentile(&lt->draw_h, 50) / 1000.0,
            lt->draw_h.max / 1000.0, lt_hist_percentile(&lt->open_h, 50) / 1000.0,
            lt_hist_percentile(&lt->open_h, 99) / 1000.0, lt_hist_percentile(&lt->entered_h, 50) / 1000.0,
            lt_hist_percentile(&lt->entered_h, 99) / 1000.0, lt->entered_h.max / 1000.0,
            lt_hist_percentile(&lt->answer_h, 50) / 1000.0, lt_hist_percentile(&lt->answer_h, 99) / 1000.0);
}

/* What the viewers' connections say, summed for the checks. */
typedef struct lsums {
    long saw_open, entered_missing, entered_twice, watch_entered, results_missing, results_twice;
    long won_missing, won_twice, won_wrong, won_bad, no_ok, two_ok, unexpected, watcher_answers;
} lsums_t;

static void sum_peer(const lottery_t *lt, const lviewer_t *v, const lpeer_t *pe, lsums_t *t) {
    if (!pe->used) return;
    t->saw_open += pe->saw_open;
    int entrant = v && v->plan != PLAN_WATCH;
    if (!entrant)
        t->watch_entered += pe->entered > 0;
    else if (!pe->lost || pe->entered) {
        t->entered_missing += pe->entered == 0;
        t->entered_twice += pe->entered > 1;
    }
    if (!pe->lost || pe->results) {
        t->results_missing += pe->results == 0;
        t->results_twice += pe->results > 1;
    }
    int winner = v && v->winner;
    if (winner && !pe->lost) t->won_missing += pe->won == 0;
    t->won_twice += pe->won > 1;
    t->won_wrong += !winner && pe->won > 0;
    t->won_bad += pe->won_bad;
}

/* The enter answers of one viewer against its plan. */
static void sum_answers(const lottery_t *lt, const lviewer_t *v, lsums_t *t) {
    const uint16_t *st = v->st;
    t->unexpected += st[ES_CLOSED] + st[ES_MUTED] + st[ES_BANNED] + st[ES_OTHER];
    if (lt->run->keyword[0]) {
        t->unexpected += st[ES_OK] + st[ES_ALREADY];
        return;
    }
    t->unexpected += st[ES_KEYWORD];
    if (v->plan == PLAN_WATCH) {
        t->watcher_answers += st[ES_OK] + st[ES_ALREADY];
        return;
    }
    t->no_ok += st[ES_OK] == 0 && !v->unknown;
    t->two_ok += st[ES_OK] > 1;
}

static lsums_t sum_all(lottery_t *lt) {
    lsums_t t = {0};
    for (size_t i = 0; i < lt->nwinners; i++) {
        lviewer_t *v = viewer_of(lt, lt->winners[i]);
        if (v) v->winner = 1;
    }
    for (int i = 0; i < lt->n; i++) {
        lviewer_t *v = &lt->v[i];
        sum_peer(lt, v, &v->p[0], &t);
        sum_peer(lt, v, &v->p[1], &t);
        sum_answers(lt, v, &t);
    }
    sum_peer(lt, NULL, &lt->streamer, &t);
    sum_peer(lt, NULL, &lt->late, &t);
    return t;
}

/* The winners: distinct, each an entrant of this run. Returns the bad ones. */
static long bad_winners(const lottery_t *lt, long *dups) {
    long bad = 0;
    *dups = 0;
    for (size_t i = 0; i < lt->nwinners; i++) {
        const lviewer_t *v = viewer_of(lt, lt->winners[i]);
        bad += !v || v->plan == PLAN_WATCH || !(v->p[0].entered || v->p[1].entered);
        for (size_t j = 0; j < i; j++) *dups += !strcmp(lt->winners[i], lt->winners[j]);
    }
    return bad;
}

/* The draw recomputed by draw.c over the entered users: 1 when it gives the
 * result's winners, in order. */
static int draw_agrees(const lottery_t *lt, const uint8_t *seed, const lc_str_t *ents, size_t n, char *why,
                       size_t cap) {
    size_t *idx = calloc(lt->nwinners + 1, sizeof(*idx));
    long got = idx ? lt_draw(seed, ents, n, (size_t)lt->run->winners, idx) : LT_DRAW_ENOMEM;
    int ok = got == (long)lt->nwinners;
    snprintf(why, cap, "draw.c over %zu entered users gives %ld winners, the result has %zu", n, got, lt->nwinners);
    for (size_t i = 0; ok && i < lt->nwinners; i++) {
        if (lt_draw_cmp(ents[idx[i]], lc_cstr(lt->winners[i])) == 0) continue;
        snprintf(why, cap, "winner %zu is %s, draw.c gives %.*s", i, lt->winners[i], (int)ents[idx[i]].n,
                 ents[idx[i]].p);
        ok = 0;
    }
    if (ok) snprintf(why, cap, "the %zu winners, in order, recomputed from the seed and %zu entrants", lt->nwinners, n);
    free(idx);
    return ok;
}

/* 1 when the JSON array arr holds exactly the strings v[0..n). */
static int same_strings(const json_t *arr, const lc_str_t *v, size_t n) {
    if (!json_is_array(arr) || json_array_size(arr) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(arr, i);
        if (!json_is_string(s) || lt_draw_cmp(lc_str(json_string_value(s), json_string_length(s)), v[i])) return 0;
    }
    return 1;
}

/* The API's answer: verified on its own, and the same draw the room was told. */
static int check_api(lottery_t *lt, json_t *inv, const lc_str_t *ents, size_t n) {
    lt_run_t *run = lt->run;
    char log[4096] = "", fails[512] = "", *save = NULL;
    int bad = lt->api ? lt_draw_verify_answer(lt->api, log, sizeof(log)) : -1;
    for (char *line = strtok_r(log, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) /* the failed checks alone */
        if (!strncmp(line, "FAIL", 4)) snprintf(fails + strlen(fails), sizeof(fails) - strlen(fails), "%s; ", line);
    int failed = lt_check(run, inv, "api_answer_verifies", lt->api_status == 200 && bad == 0, "GET answered %d; %s",
                          lt->api_status,
                          bad < 0 ? "no JSON answer"
                          : bad   ? fails
                                  : "commit, sorted entrants, count and draw hold");
    lc_str_t *win = calloc(lt->nwinners + 1, sizeof(*win));
    for (size_t i = 0; win && i < lt->nwinners; i++) win[i] = lc_cstr(lt->winners[i]);
    const char *seed = json_string_value(json_object_get(lt->api, "seed"));
    const char *commit = json_string_value(json_object_get(lt->api, "commit"));
    json_int_t k = json_integer_value(json_object_get(lt->api, "k"));
    int same = lt->api && win && seed && !strcmp(seed, lt->seed) && commit && !strcmp(commit, lt->commit) &&
               k == run->winners && same_strings(json_object_get(lt->api, "winners"), win, lt->nwinners) &&
               same_strings(json_object_get(lt->api, "entrants"), ents, n);
    failed += lt_check(run, inv, "api_agrees_with_the_room", same,
                       "the answer's seed, commit, k, winners and entrants %s the result and the %zu users told "
                       "`entered`",
                       same ? "match" : "do not match", n);
    free(win);
    return failed;
}

/* The result against the entrants: counts, winners, commit, the draw. */
static int check_draw(lottery_t *lt, json_t *inv) {
    lt_run_t *run = lt->run;
    size_t n;
    lc_str_t *ents = entered_sorted(lt, &n);
    long dups, bad = bad_winners(lt, &dups);
    size_t want = (size_t)run->winners < n ? (size_t)run->winners : n;
    int failed = lt_check(run, inv, "entries_are_distinct_entrants",
                          lt->entries == lt->entrants_planned && n == (size_t)lt->entrants_planned,
                          "result says %lld entries; %zu users told `entered`; %d entrants planned",
                          (long long)lt->entries, n, lt->entrants_planned);
    failed += lt_check(run, inv, "k_is_min_K_n", lt->have_result && lt->nwinners == want,
                       "%zu winners, min(K %d, n %zu) = %zu", lt->nwinners, run->winners, n, want);
    failed += lt_check(run, inv, "winners_distinct_entrants", lt->have_result && bad == 0 && dups == 0,
                       "%ld winners not among the entrants, %ld repeated", bad, dups);
    uint8_t seed[LT_DRAW_SEED_LEN];
    int parsed = lt_draw_seed_parse(lt->seed, strlen(lt->seed), seed) == 0;
    int commit = parsed && lt_draw_commit_ok(seed, lt->commit, strlen(lt->commit)) == 1;
    failed +=
        lt_check(run, inv, "commit_holds", commit, "SHA-256(seed %.16s...) %s the commit %.16s... told at the open",
                 lt->seed, commit ? "is" : "is not", lt->commit);
    char why[256] = "no seed";
    int drawn = parsed && ents && draw_agrees(lt, seed, ents, n, why, sizeof(why));
    failed += lt_check(run, inv, "draw_recomputed", drawn, "%s", why);
    if (run->api_key) failed += check_api(lt, inv, ents, n);
    free(ents);
    return failed;
}

/* The connections: joined, told the open, `entered`, the result and `won`. */
static int check_conns(lottery_t *lt, json_t *inv, const lsums_t *t) {
    lt_run_t *run = lt->run;
    int viewer_peers = lt->n + lt->planned[PLAN_TWIN];
    int failed = lt_check(run, inv, "lottery_opened",
                          lt->open_sent && !lt->open_error && t->saw_open >= viewer_peers + 1 &&
                              strlen(lt->commit) == LT_DRAW_HEX_LEN && lt->k_told == run->winners,
                          "%ld of %d connections told the lottery (commit %s, winners %lld)", t->saw_open,
                          viewer_peers + 1, lt->commit[0] ? "given" : "none", (long long)lt->k_told);
    failed +=
        lt_check(run, inv, "every_viewer_joined", lt->welcomed == viewer_peers && lt->lost == 0,
                 "%d of %d viewer connections welcomed, %d connections lost", lt->welcomed, viewer_peers, lt->lost);
    failed +=
        lt_check(run, inv, "entered_once_per_connection", t->entered_missing + t->entered_twice + t->watch_entered == 0,
                 "entrant connections: %ld without `entered`, %ld with more than one; %ld others told it",
                 t->entered_missing, t->entered_twice, t->watch_entered);
    failed += lt_check(run, inv, "one_result_per_connection",
                       lt->have_result && t->results_missing + t->results_twice == 0 && lt->results_differ == 0,
                       "%d connections have it; %ld without, %ld more than once, %llu results differ",
                       lt->results_peers, t->results_missing, t->results_twice, (unsigned long long)lt->results_differ);
    failed += lt_check(run, inv, "each_winner_told_won", t->won_missing + t->won_twice + t->won_wrong + t->won_bad == 0,
                       "winner connections without `won` %ld, `won` twice %ld, to non-winners %ld, wrong prize %ld",
                       t->won_missing, t->won_twice, t->won_wrong, t->won_bad);
    return failed;
}

int lt_lottery_checks(lottery_t *lt, json_t *report) {
    lt_run_t *run = lt->run;
    json_t *inv = json_object();
    lsums_t t = sum_all(lt);
    uint64_t answers = 0;
    for (int i = 0; i < ES__N; i++) answers += lt->st[i];
    int failed = check_conns(lt, inv, &t);
    failed += lt_check(run, inv, "enter_answers_as_planned",
                       t.no_ok + t.two_ok + t.unexpected + t.watcher_answers == 0 && answers == lt->enters_sent,
                       "%s: %ld entrants without `ok`, %ld with two, %ld unexpected answers; %llu of %llu answered",
                       run->keyword[0] ? "keyword (every lottery_enter answers `keyword`)" : "lottery_enter", t.no_ok,
                       t.two_ok, t.unexpected, (unsigned long long)answers, (unsigned long long)lt->enters_sent);
    failed += check_draw(lt, inv);
    failed += lt_check(run, inv, "draw_on_time", lt->have_result && lt->early_results == 0 && lt->draw_h.max <= 2500000,
                       "%llu results before ends; after it p50 %.1f ms, max %.1f ms (bound 2500 ms)",
                       (unsigned long long)lt->early_results, lt_hist_percentile(&lt->draw_h, 50) / 1000.0,
                       lt->draw_h.max / 1000.0);
    failed += lt_check(run, inv, "late_welcome_lists_entries",
                       lt->late_state != 1 || lt->late.welcome_entries == lt->entrants_planned,
                       lt->late_state == 1 ? "the late joiner's welcome lists %lld entries (%d planned)"
                                           : "no late joiner (%lld; %d planned): the draw was too close",
                       (long long)lt->late.welcome_entries, lt->entrants_planned);
    failed += lt_check(run, inv, "no_errors_or_strays",
                       json_object_size(run->errors) == 0 && lt->decode_errors == 0 && lt->stray == 0 &&
                           lt->commit_differs == 0,
                       "%zu error codes, %llu undecodable frames, %llu stray answers, %llu `lottery` messages that "
                       "differ",
                       json_object_size(run->errors), (unsigned long long)lt->decode_errors,
                       (unsigned long long)lt->stray, (unsigned long long)lt->commit_differs);
    json_object_set_new(report, "invariants", inv);
    return failed;
}
