/*
 * The coupon scenario's end (scen_coupon.c): counts, rates and latencies
 * into the report, and the invariants of a drop raced by N claimers.
 */
#include <stdio.h>

#include "scen_coupon.h"

/* ok claims the race must end with: every coupon, or every user at K. */
static long wanted(const coupon_t *cp) {
    long cap = (long)cp->n * cp->run->per_user;
    return cp->run->quota < cap ? cp->run->quota : cap;
}

void lt_coupon_result(coupon_t *cp, json_t *report) {
    lt_run_t *run = cp->run;
    json_t *st = json_object();
    for (int i = 0; i < CS__N; i++) json_object_set_new(st, lt_coupon_st_names[i], json_integer((json_int_t)cp->st[i]));
    uint64_t end = cp->all_done_ms ? cp->all_done_ms : lt_now_ms(run);
    double secs = cp->drop_ms && cp->last_answer_ms > cp->drop_ms ? (double)(cp->last_answer_ms - cp->drop_ms) / 1000.0 : 0;
    double rate = secs > 0 ? (double)run->msgs / secs : 0;
    json_t *res = json_pack("{sssisisIsIsisIsIsIsIsIsIsfsfsIso}", "coupon", cp->id, "claimers", cp->n, "welcomed",
                            cp->welcomed, "quota", (json_int_t)run->quota, "per_user", (json_int_t)run->per_user,
                            "window_s", run->window, "claims_sent", (json_int_t)cp->claims_sent, "answers",
                            (json_int_t)run->msgs, "resent", (json_int_t)cp->resent, "reconnects",
                            (json_int_t)cp->reconnects, "ok_claims", (json_int_t)cp->st[CS_OK], "expected_ok",
                            (json_int_t)wanted(cp), "claim_seconds", secs, "claims_per_s", rate,
                            "all_decided_ms", (json_int_t)(cp->drop_ms && end > cp->drop_ms ? end - cp->drop_ms : 0),
                            "status", st);
    json_object_set_new(res, "gone_notices", json_integer((json_int_t)cp->gone_msgs));
    json_object_set_new(res, "rejoins", json_integer((json_int_t)cp->rejoins));
    json_object_set_new(res, "rejoins_coupon_listed", json_integer((json_int_t)cp->rejoins_listed));
    json_object_set_new(res, "stray_answers", json_integer((json_int_t)cp->stray));
    json_object_set_new(res, "holdings_answers", json_integer(cp->mine_got));
    json_object_set_new(res, "lost_claimers", json_integer(cp->lost));
    lt_hist_json(res, "claim_latency_us", &run->lat);
    lt_hist_json(res, "ok_claim_latency_us", &cp->ok_h);
    lt_hist_json(res, "coupon_seen_us", &cp->seen_h);
    lt_hist_json(res, "welcome_us", &cp->welcome_h);
    json_object_set_new(report, "result", res);
    fprintf(stderr,
            "coupon %s: %d claimers, quota %ld, per user %ld: %llu claims sent, %llu answers in %.2f s = %.0f "
            "claims/s; every claim decided %.2f s after the drop\n"
            "  ok %llu (expected %ld), gone %llu, limit %llu, closed %llu, unknown %llu, unavailable %llu, "
            "rate_limited %llu, other %llu; %llu reconnects\n"
            "  claim latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (ok alone: p50 %.2f ms, "
            "p99 %.2f ms); coupon seen p50 %.2f ms, p99 %.2f ms\n",
            cp->id, cp->n, run->quota, run->per_user, (unsigned long long)cp->claims_sent,
            (unsigned long long)run->msgs, secs, rate,
            cp->drop_ms && end > cp->drop_ms ? (double)(end - cp->drop_ms) / 1000.0 : 0.0,
            (unsigned long long)cp->st[CS_OK], wanted(cp), (unsigned long long)cp->st[CS_GONE],
            (unsigned long long)cp->st[CS_LIMIT], (unsigned long long)cp->st[CS_CLOSED],
            (unsigned long long)cp->st[CS_UNKNOWN], (unsigned long long)cp->st[CS_UNAVAIL],
            (unsigned long long)cp->st[CS_RATE],
            (unsigned long long)(cp->st[CS_REQ_REUSED] + cp->st[CS_INVALID] + cp->st[CS_OTHER]),
            (unsigned long long)cp->reconnects, lt_hist_percentile(&run->lat, 50) / 1000.0,
            lt_hist_percentile(&run->lat, 99) / 1000.0, lt_hist_percentile(&run->lat, 99.9) / 1000.0,
            run->lat.max / 1000.0, lt_hist_percentile(&cp->ok_h, 50) / 1000.0,
            lt_hist_percentile(&cp->ok_h, 99) / 1000.0, lt_hist_percentile(&cp->seen_h, 50) / 1000.0,
            lt_hist_percentile(&cp->seen_h, 99) / 1000.0);
}

/* What the claimers say, summed for the checks. */
typedef struct coupon_sums {
    long over, early_limit, saw, undecided, mine_bad, mine_missing;
    long gone_twice, gone_missing, left_bad, left_missing;
} coupon_sums_t;

static coupon_sums_t sum_claimers(const coupon_t *cp) {
    const lt_run_t *run = cp->run;
    coupon_sums_t t = {0};
    int exhausted = (long)cp->st[CS_OK] >= run->quota;
    long left = run->quota - (long)cp->st[CS_OK];
    for (int i = 0; i < cp->n; i++) {
        const claimer_t *c = &cp->c[i];
        t.over += c->held > run->per_user;
        t.early_limit += c->early_limit;
        t.saw += c->saw_coupon;
        t.undecided += c->inflight || (c->welcomed && !c->done);
        t.mine_bad += c->got_mine && c->mine != c->held;
        t.mine_missing += c->asked_mine && !c->got_mine;
        t.gone_twice += c->gone_max > 1;
        /* in the room while the coupon was claimable (one connection all along, joined before
         * the drop; or a welcome that listed it), still there: it must have heard it go */
        t.gone_missing += exhausted && (c->conns == 1 || c->listed) && c->online && c->gone_here == 0;
        if (c->online) {
            t.left_bad += c->have_left && c->last_left != left;
            t.left_missing += !c->have_left;
        }
    }
    return t;
}

int lt_coupon_checks(coupon_t *cp, json_t *report) {
    lt_run_t *run = cp->run;
    json_t *inv = json_object();
    coupon_sums_t t = sum_claimers(cp);
    long ok = (long)cp->st[CS_OK], want = wanted(cp);
    int failed = 0;
    failed += lt_check(run, inv, "coupon_dropped", cp->drop_sent && !cp->drop_error && t.saw == cp->welcomed,
                       "streamer dropped %s, %ld of %d claimers saw it", cp->id, t.saw, cp->welcomed);
    failed += lt_check(run, inv, "every_claimer_joined", cp->welcomed == cp->n, "%d of %d welcomed", cp->welcomed,
                       cp->n);
    failed += lt_check(run, inv, "every_claim_decided", t.undecided == 0 && cp->lost == 0,
                       "%ld claimers with a claim not decided, %d lost their connection", t.undecided, cp->lost);
    failed += lt_check(run, inv, "never_over_quota", ok <= run->quota, "%ld ok claims of quota %ld", ok, run->quota);
    failed += lt_check(run, inv, "ok_equals_min_quota", ok == want, "%ld ok claims, expected min(%ld, %d x %ld) = %ld",
                       ok, run->quota, cp->n, run->per_user, want);
    failed += lt_check(run, inv, "no_user_over_per_user", t.over == 0 && t.early_limit == 0,
                       "%ld users over %ld, %ld `limit` answers below it", t.over, run->per_user, t.early_limit);
    failed += lt_check(run, inv, "holdings_agree", t.mine_bad == 0 && t.mine_missing == 0,
                       "%ld claimers whose my_coupons disagrees with their ok claims, %ld without an answer",
                       t.mine_bad, t.mine_missing);
    failed += lt_check(run, inv, "ok_lefts_distinct", cp->left_dups == 0 && cp->left_bad == 0,
                       "%ld ok answers repeat another's left, %ld outside 0..%ld (%ld replayed ok answers not "
                       "counted)",
                       cp->left_dups, cp->left_bad, run->quota - 1, cp->replayed_ok);
    failed += lt_check(run, inv, "coupon_gone_at_most_once", t.gone_twice == 0 && t.gone_missing == 0,
                       "%ld connections got coupon_gone twice; quota %s: %ld connections without one",
                       t.gone_twice, ok >= run->quota ? "exhausted" : "left", t.gone_missing);
    failed += lt_check(run, inv, "final_left_is_quota_minus_ok", t.left_bad == 0,
                       "%ld claimers whose last coupon_left is not %ld (%ld saw none)", t.left_bad,
                       run->quota - ok, t.left_missing);
    failed += lt_check(run, inv, "no_unexpected_status",
                       cp->st[CS_CLOSED] + cp->st[CS_REQ_REUSED] + cp->st[CS_INVALID] + cp->st[CS_OTHER] == 0,
                       "%llu closed, %llu req_reused, %llu invalid, %llu other", (unsigned long long)cp->st[CS_CLOSED],
                       (unsigned long long)cp->st[CS_REQ_REUSED], (unsigned long long)cp->st[CS_INVALID],
                       (unsigned long long)cp->st[CS_OTHER]);
    if (run->retry)
        failed += lt_check(run, inv, "dropped_claimers_came_back", cp->rejoins == cp->planned_drops,
                           "%llu of %llu claimers that let their connection go joined again",
                           (unsigned long long)cp->rejoins, (unsigned long long)cp->planned_drops);
    json_object_set_new(report, "invariants", inv);
    return failed;
}
