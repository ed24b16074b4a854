/*
 * The sale scenario's end (scen_sale.c): totals over every room, the
 * per-room sold counts, and the invariants. A check about a sale is decided
 * in each room on its own (each room has its own sale of --stock units);
 * the report gives one line per check over all rooms, with the count and
 * the first of the rooms that failed it. With one room the lines and the
 * report are word for word a one-room run's, so older reports still compare.
 *
 * With --pay-s the units taken are the reservations, and the stock a buyer
 * sees last is no longer 0: the expired units came back. Every buyer's last
 * stock must then be stock - the units paid (final_stock_is_stock_minus_paid,
 * instead of last_stock_is_zero and stock_stays_in_room); the checkout's own
 * checks are in scen_sale_pay.c.
 */
#include <stdarg.h>
#include <stdio.h>

#include "scen_sale.h"

/* The per-room checks, as bits of sroom_t.failed; the names are the
 * invariants' names. */
enum { CK_OPENED, CK_OVERSOLD, CK_OK_COUNT, CK_LAST_ZERO, CK_ONE_SOLD_OUT, CK_OWN_STOCK, CK_FINAL_STOCK, CK__N };
static const char *const ck_names[CK__N] = {"sale_opened",        "never_oversold",    "ok_equals_stock",
                                            "last_stock_is_zero", "one_sold_out_each", "stock_stays_in_room",
                                            "final_stock_is_stock_minus_paid"};

static json_t *status_json(const uint64_t st[ST__N]) {
    json_t *o = json_object();
    for (int i = 0; i < ST__N; i++)
        json_object_set_new(o, lt_sale_st_names[i], json_integer((json_int_t)st[i]));
    return o;
}

/* Each room's units sold and what its buyers last heard, then which of its
 * checks failed. */
static void room_verdicts(sale_t *s) {
    lt_run_t *run = s->run;
    for (int i = 0; i < s->nrooms; i++) {
        sroom_t *r = &s->rooms[i];
        r->units = r->bad_last = r->bad_sold = r->bad_stock = r->stray_sold = 0;
    }
    for (int i = 0; i < s->n; i++) s->rooms[s->b[i].room].units += s->b[i].units;
    for (int i = 0; i < s->n; i++) {
        const buyer_t *b = &s->b[i];
        sroom_t *r = &s->rooms[b->room];
        if (b->gone || !b->welcomed) continue;
        if (s->pay) { /* the expired units are back: what is left is what was not paid */
            r->bad_stock += !b->have_left || b->last_left != run->stock - r->paid_units;
            if (r->units == run->stock) r->bad_sold += b->sold_outs != 1;
            else r->stray_sold += b->sold_outs != 0;
        } else if (r->units == run->stock) { /* left reached 0: the room must have heard it */
            r->bad_last += !b->have_left || b->last_left != 0;
            r->bad_sold += b->sold_outs != 1;
        } else if (s->nrooms > 1) {
            /* another room's sale of the same sku must not show here: every
             * connection's stock sequence ends on its own room's number */
            r->bad_stock += b->have_left && b->last_left != run->stock - r->units;
            r->stray_sold += b->sold_outs != 0;
        }
    }
    for (int i = 0; i < s->nrooms; i++) {
        sroom_t *r = &s->rooms[i];
        r->sold_out = r->units == run->stock;
        long cap = (long)r->welcomed * (run->limit / run->qty);
        r->want = run->stock / run->qty < cap ? run->stock / run->qty : cap;
        r->failed = (unsigned)(!r->opened || r->error) << CK_OPENED;
        r->failed |= (unsigned)(r->units > run->stock) << CK_OVERSOLD;
        long taken = (long)(r->st[ST_OK] + r->st[ST_RESERVED]);
        r->failed |= (unsigned)(run->inflight == 0 && taken != r->want) << CK_OK_COUNT;
        r->failed |= (unsigned)(r->bad_last > 0) << CK_LAST_ZERO;
        if (s->pay) {
            r->failed |= (unsigned)(r->bad_sold + r->stray_sold > 0) << CK_ONE_SOLD_OUT;
            r->failed |= (unsigned)(r->bad_stock > 0) << CK_FINAL_STOCK;
        } else {
            r->failed |= (unsigned)(r->bad_sold > 0) << CK_ONE_SOLD_OUT;
            r->failed |= (unsigned)(r->bad_stock + r->stray_sold > 0) << CK_OWN_STOCK;
        }
    }
}

/* result.rooms: each room's buyers, units sold, answers and failed checks. */
static json_t *rooms_json(const sale_t *s) {
    json_t *a = json_array();
    for (int i = 0; i < s->nrooms; i++) {
        const sroom_t *r = &s->rooms[i];
        json_t *failed = json_array();
        for (int k = 0; k < CK__N; k++)
            if (r->failed & 1u << k) json_array_append_new(failed, json_string(ck_names[k]));
        json_array_append_new(a, json_pack("{sssisisIsbsoso}", "room", r->name, "buyers", r->members,
                                           "welcomed", r->welcomed, "sold", (json_int_t)r->units, "sold_out",
                                           r->sold_out, "status", status_json(r->st), "failed", failed));
    }
    return a;
}

/* With several rooms: the spread of units sold over them. */
static void print_rooms(const sale_t *s) {
    long lo = s->rooms[0].units, hi = lo;
    int sold_out = 0;
    for (int i = 0; i < s->nrooms; i++) {
        const sroom_t *r = &s->rooms[i];
        if (r->units < lo) lo = r->units;
        if (r->units > hi) hi = r->units;
        sold_out += r->sold_out;
    }
    fprintf(stderr, "  %d rooms: %ld to %ld units sold per room of %ld each, %d sold out\n", s->nrooms, lo,
            hi, s->run->stock, sold_out);
}

void lt_sale_result(sale_t *s, json_t *report) {
    lt_run_t *run = s->run;
    room_verdicts(s);
    uint64_t end = s->last_reply_ms > s->buy_stop_ms && run->inflight == 0 ? s->last_reply_ms : s->buy_stop_ms;
    if (!end) end = lt_now_ms(run);
    double secs = s->buy_start_ms && end > s->buy_start_ms ? (double)(end - s->buy_start_ms) / 1000.0 : 0;
    double rate = secs > 0 ? (double)run->msgs / secs : 0;
    json_t *res = json_pack("{sssisisIsIsfsfso}", "sku", s->sku, "buyers", s->n, "welcomed", s->welcomed,
                            "buys_sent", (json_int_t)s->buys_sent, "answers", (json_int_t)run->msgs,
                            "buy_seconds", secs, "answers_per_s", rate, "status", status_json(s->st));
    lt_hist_json(res, "buy_latency_us", &run->lat);
    lt_hist_json(res, "welcome_us", &s->welcome_h);
    if (s->nrooms > 1) json_object_set_new(res, "rooms", rooms_json(s));
    if (s->pay) lt_pay_result(s, res);
    json_object_set_new(report, "result", res);
    fprintf(stderr,
            "sale %s: %d buyers, %llu buys sent, %llu answers in %.2f s = %.0f answers/s\n"
            "  ok %llu, reserved %llu, sold_out %llu, limit %llu, rate_limited %llu, unavailable %llu, "
            "unknown (asked again) %llu, other %llu\n"
            "  buy latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
            s->sku, s->n, (unsigned long long)s->buys_sent, (unsigned long long)run->msgs, secs, rate,
            (unsigned long long)s->st[ST_OK], (unsigned long long)s->st[ST_RESERVED],
            (unsigned long long)s->st[ST_SOLD_OUT],
            (unsigned long long)s->st[ST_LIMIT], (unsigned long long)s->st[ST_RATE],
            (unsigned long long)s->st[ST_UNAVAIL], (unsigned long long)s->st[ST_UNKNOWN],
            (unsigned long long)(s->st[ST_CLOSED] + s->st[ST_INVALID] + s->st[ST_OTHER]),
            lt_hist_percentile(&run->lat, 50) / 1000.0, lt_hist_percentile(&run->lat, 99) / 1000.0,
            lt_hist_percentile(&run->lat, 99.9) / 1000.0, run->lat.max / 1000.0);
    if (s->nrooms > 1) print_rooms(s);
}

/* How many rooms check ck applies to: all, or those sold out, or those
 * still selling. */
static int rooms_scope(const sale_t *s, int ck) {
    int scope = 0;
    for (int i = 0; i < s->nrooms; i++) {
        const sroom_t *r = &s->rooms[i];
        if (ck == CK_FINAL_STOCK || (ck == CK_ONE_SOLD_OUT && s->pay))
            scope++;
        else if (ck == CK_LAST_ZERO || ck == CK_ONE_SOLD_OUT)
            scope += r->sold_out;
        else
            scope += ck == CK_OWN_STOCK ? !r->sold_out : 1;
    }
    return scope;
}

/* Check ck over every room: it holds when it holds in each (and extra_ok).
 * The detail is fmt's, with several rooms followed by how many were checked,
 * how many failed and the first that did. Returns 1 if it failed. */
static int check_rooms(sale_t *s, json_t *inv, int ck, int extra_ok, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int check_rooms(sale_t *s, json_t *inv, int ck, int extra_ok, const char *fmt, ...) {
    char detail[400], note[160] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    int bad = 0, first = -1;
    for (int i = 0; i < s->nrooms; i++)
        if (s->rooms[i].failed & 1u << ck && bad++ == 0) first = i;
    if (s->nrooms > 1 && bad)
        snprintf(note, sizeof(note), " (%d rooms checked, %d failed, first %s)", rooms_scope(s, ck), bad,
                 s->rooms[first].name);
    else if (s->nrooms > 1)
        snprintf(note, sizeof(note), " (%d rooms checked, none failed)", rooms_scope(s, ck));
    return lt_check(s->run, inv, ck_names[ck], extra_ok && !bad, "%s%s", detail, note);
}

/* Sums over the rooms, for the checks' lines. */
typedef struct sale_sums {
    long units, want, bad_last, bad_sold, bad_stock, stray;
    uint64_t ok;
} sale_sums_t;

static sale_sums_t sum_rooms(const sale_t *s) {
    sale_sums_t t = {0};
    for (int i = 0; i < s->nrooms; i++) {
        const sroom_t *r = &s->rooms[i];
        t.units += r->units;
        t.want += r->want;
        t.ok += r->st[ST_OK] + r->st[ST_RESERVED];
        t.bad_last += r->bad_last;
        t.bad_sold += r->bad_sold;
        t.bad_stock += r->bad_stock;
        t.stray += r->stray_sold;
    }
    return t;
}

/* The checks in their one-room order, so reports and logs of one-room runs
 * read as they always have. */
int lt_sale_checks(sale_t *s, json_t *report) {
    lt_run_t *run = s->run;
    json_t *inv = json_object();
    sale_sums_t t = sum_rooms(s);
    int failed = 0;
    long over = 0, mism = 0;
    for (int i = 0; i < s->n; i++) {
        over += s->b[i].units > run->limit;
        mism += s->b[i].mismatches;
    }
    failed += check_rooms(s, inv, CK_OPENED, s->open_sent && !s->open_error, "streamer opened %s", s->sku);
    failed += lt_check(run, inv, "every_buyer_joined", s->welcomed == s->n, "%d of %d welcomed",
                       s->welcomed, s->n);
    failed += check_rooms(s, inv, CK_OVERSOLD, 1, "%ld units sold of %ld", t.units, run->stock * s->nrooms);
    failed += lt_check(run, inv, "no_user_over_limit", over == 0, "%ld buyers over the limit %ld", over,
                       run->limit);
    failed += lt_check(run, inv, "no_unavailable", s->st[ST_UNAVAIL] == 0 && s->st[ST_OTHER] == 0,
                       "%llu unavailable, %llu other statuses", (unsigned long long)s->st[ST_UNAVAIL],
                       (unsigned long long)s->st[ST_OTHER]);
    if (run->taps) { /* every tap has its answer; the stock sold to the last unit, once */
        uint64_t answered = 0;
        for (int i = 0; i < ST__N; i++) answered += s->st[i];
        uint64_t want = (uint64_t)run->taps * (uint64_t)(s->n - s->gone);
        failed += lt_check(run, inv, "every_tap_answered", answered == want && s->buys_sent == want,
                           "%llu taps sent, %llu answered, %llu expected", (unsigned long long)s->buys_sent,
                           (unsigned long long)answered, (unsigned long long)want);
        failed += lt_check(run, inv, "sold_exactly_stock", t.units == run->stock * s->nrooms,
                           "%ld units sold of %ld", t.units, run->stock * s->nrooms);
    }
    if (run->inflight == 0) {
        failed += check_rooms(s, inv, CK_OK_COUNT, 1, s->pay ? "%llu reserved answers, expected %ld"
                                                             : "%llu ok answers, expected %ld",
                              (unsigned long long)t.ok, t.want);
        failed += lt_check(run, inv, "retries_repeat_first_answer", mism == 0,
                           "%ld retries answered differently", mism);
    }
    if (s->pay) {
        long paid = 0;
        for (int i = 0; i < s->nrooms; i++) paid += s->rooms[i].paid_units;
        failed += check_rooms(s, inv, CK_FINAL_STOCK, 1,
                              "%ld buyers whose last stock is not stock - paid (%ld - %ld per room in sum)",
                              t.bad_stock, run->stock * s->nrooms, paid);
        failed += check_rooms(s, inv, CK_ONE_SOLD_OUT, 1,
                              "%ld buyers without exactly one sold_out (none where it never sold out)",
                              t.bad_sold + t.stray);
        failed += lt_pay_checks(s, inv);
    } else if (rooms_scope(s, CK_LAST_ZERO)) {
        failed += check_rooms(s, inv, CK_LAST_ZERO, 1, "%ld buyers whose last stock message is not 0",
                              t.bad_last);
        failed += check_rooms(s, inv, CK_ONE_SOLD_OUT, 1, "%ld buyers without exactly one sold_out",
                              t.bad_sold);
    }
    if (!s->pay && s->nrooms > 1 && rooms_scope(s, CK_OWN_STOCK))
        failed += check_rooms(s, inv, CK_OWN_STOCK, 1,
                              "%ld buyers whose last stock is not their room's, %ld sold_out "
                              "where stock is left",
                              t.bad_stock, t.stray);
    json_object_set_new(report, "invariants", inv);
    return failed;
}
