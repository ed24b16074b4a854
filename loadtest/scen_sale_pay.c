/*
 * The sale scenario's checkout (--pay-s S, PROTOCOL.md "Checkout"): every
 * `reserved` answer is one reservation. --pay-ratio P of them, dealt evenly
 * in the order they arrive (reservation k is paid when floor((k+1)P) >
 * floor(kP)), are paid at once by the shop: POST
 * /api/rooms/ROOM/orders/ORDER/paid with the API key, or without one the
 * open-mode demo shop's POST /demo/rooms/ROOM/orders/ORDER/pay, spread over
 * the --url shards, at most HTTP_CONNS requests in flight per shard. The
 * others are left to expire.
 *
 * A payment answered 503, 504 or not at all is sent again (the call is
 * idempotent: a repeat answers 200 again) every RETRY_MS, PAY_TRIES times at
 * most. The run ends when every reservation has been ended for its buyer by
 * exactly one `paid` or `expired` and every payment is answered, or
 * EXPIRY_GRACE_MS after the last deadline, whichever comes first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scen_sale.h"

#define HTTP_CONNS 32       /* payments in flight per shard: a shop backend's pool */
#define HTTP_TIMEOUT_MS 10000
#define PAY_TRIES 50
#define RETRY_MS 200
/* An expiry is due within about a tick plus a second of pay_by
 * (PROTOCOL.md): waiting 20 s more than the last deadline is generous even
 * on a loaded box, and keeps a broken server from holding the run. */
#define EXPIRY_GRACE_MS 20000
/* Our clock and Redis's are the same machine's: an `expired` that arrives
 * before its pay_by was expired early, not late, whatever the jitter. */
#define EARLY_SLACK_MS 5

enum { HS_200, HS_409, HS_404, HS_503, HS_504, HS_OTHER, HS__N };
static const char *const hs_names[HS__N] = {"200", "409", "404", "503", "504", "none_or_other"};

/* One HTTP request's context: the sale and which reservation or room. */
typedef struct pay_req {
    sale_t *s;
    int k;
} pay_req_t;

static uint64_t wall_ms(void) { return lt_now_us() / 1000u; }

int lt_pay_start(sale_t *s) {
    lt_run_t *run = s->run;
    sale_pay_t *p = calloc(1, sizeof(*p));
    if (!p) return -1;
    s->pay = p;
    lt_hist_init(&p->pay_lat);
    lt_hist_init(&p->notify_lat);
    lt_hist_init(&p->expiry_late);
    for (int i = 0; i < run->ntargets; i++) {
        p->http[i] = lt_http_create(run->loop, run->targets[i].host, run->targets[i].port, HTTP_CONNS,
                                    HTTP_TIMEOUT_MS);
        if (!p->http[i]) {
            fprintf(stderr, "sale: cannot make an HTTP client for %s:%d\n", run->targets[i].host,
                    run->targets[i].port);
            return -1;
        }
    }
    uv_timer_init(run->loop, &p->retry);
    uv_timer_init(run->loop, &p->deadline);
    p->retry.data = p->deadline.data = s;
    return 0;
}

/* Reservations without their ending, and payments not answered yet, are
 * counted in the pay state as they change, so this is O(1). */
int lt_pay_resolved(const sale_t *s) {
    const sale_pay_t *p = s->pay;
    return p->gave_up || (p->unended == 0 && p->pays_open == 0);
}

static void maybe_done(sale_t *s) {
    if (s->buying_over && !s->settling && lt_pay_resolved(s)) lt_sale_settle(s);
}

static void on_pay_answer(void *user, int status, const char *body, size_t n, uint64_t lat_us);

/* Sends (again) the payment of reservation k. */
static void pay_send(sale_t *s, int k) {
    sale_pay_t *p = s->pay;
    lt_run_t *run = s->run;
    lt_resv_t *r = &p->set.v[k];
    char path[256];
    snprintf(path, sizeof(path), run->api_key ? "/api/rooms/%s/orders/%s/paid" : "/demo/rooms/%s/orders/%s/pay",
             s->rooms[r->room].name, r->order);
    pay_req_t *q = malloc(sizeof(*q));
    lt_http_t *h = p->http[(unsigned)k % (unsigned)run->ntargets];
    if (!q || lt_http_request(h, "POST", path, run->api_key, NULL, on_pay_answer, q) != 0) {
        free(q);
        r->pay = PAY_FAILED;
        p->failed++;
        p->pays_open--;
        return;
    }
    q->s = s;
    q->k = k;
    r->pay = PAY_QUEUED;
    r->pay_tries++;
    p->attempts++;
    if (!r->pay_sent_us) r->pay_sent_us = lt_now_us();
    if (!p->first_pay_us) p->first_pay_us = r->pay_sent_us;
}

static void on_retry(uv_timer_t *t) {
    sale_t *s = t->data;
    sale_pay_t *p = s->pay;
    uint64_t now = lt_now_ms(s->run);
    for (size_t k = 0; k < p->set.n && p->retrying > 0; k++) {
        lt_resv_t *r = &p->set.v[k];
        if (!r->retry_at_ms || r->retry_at_ms > now) continue;
        r->retry_at_ms = 0;
        p->retrying--;
        p->retries++;
        pay_send(s, (int)k);
    }
    if (p->retrying == 0) uv_timer_stop(t);
}

/* A 200 must say the order is paid; anything else is not a payment. */
static int body_says_paid(const char *body, size_t n) {
    json_t *j = json_loadb(body, n, 0, NULL);
    const char *st = json_string_value(json_object_get(j, "status"));
    int ok = st && strcmp(st, "paid") == 0;
    json_decref(j);
    return ok;
}

static void on_pay_answer(void *user, int status, const char *body, size_t n, uint64_t lat_us) {
    pay_req_t *q = user;
    sale_t *s = q->s;
    int k = q->k;
    free(q);
    if (status < 0) return; /* the run is over */
    sale_pay_t *p = s->pay;
    lt_resv_t *r = &p->set.v[k];
    lt_hist_record(&p->pay_lat, lat_us);
    r->pay_status = (int16_t)status;
    int hs = status == 200 ? HS_200 : status == 409 ? HS_409 : status == 404 ? HS_404
           : status == 503 ? HS_503 : status == 504 ? HS_504 : HS_OTHER;
    p->http_status[hs]++;
    if ((status == 0 || status == 503 || status == 504) && r->pay_tries < PAY_TRIES) {
        r->retry_at_ms = lt_now_ms(s->run) + RETRY_MS; /* nothing happened, or it may have: again */
        if (p->retrying++ == 0) uv_timer_start(&p->retry, on_retry, RETRY_MS / 2, RETRY_MS / 2);
        return;
    }
    if (status == 200 && body_says_paid(body, n)) {
        r->pay = PAY_OK;
        r->pay_ok_us = p->last_paid_us = lt_now_us();
        p->paid_ok++;
    } else if (status == 409) {
        r->pay = PAY_LATE;
        p->late++;
    } else if (status == 404) {
        r->pay = PAY_GONE;
        p->not_found++;
    } else {
        r->pay = PAY_FAILED;
        p->failed++;
        if (p->failed <= 5)
            fprintf(stderr, "payment of %s failed: HTTP %d %.*s\n", r->order, status, (int)(n > 200 ? 200 : n),
                    body);
    }
    p->pays_open--;
    maybe_done(s);
}

void lt_pay_reserved(sale_t *s, buyer_t *b, const lc_msg_t *m) {
    sale_pay_t *p = s->pay;
    if (!m->order.n || !lc_msg_has(m, pay_by)) {
        p->bad_reserved++;
        return;
    }
    int fresh;
    int k = lt_resv_add(&p->set, b->room, m->order.p, m->order.n, &fresh);
    if (k < 0) {
        p->bad_reserved++;
        return;
    }
    if (!fresh) return; /* a replay of one we know */
    lt_resv_t *r = &p->set.v[k];
    r->buyer = (int)(b - s->b);
    r->room = b->room;
    r->qty = lc_msg_has(m, qty) ? (long)m->qty : s->run->qty;
    r->pay_by = m->pay_by;
    r->reserved_us = lt_now_us();
    if (r->pay_by > p->last_pay_by) p->last_pay_by = r->pay_by;
    p->unended++;
    double ratio = s->run->pay_ratio;
    if ((long)((double)(k + 1) * ratio + 1e-9) > (long)((double)k * ratio + 1e-9)) {
        r->want_pay = 1;
        p->chosen++;
        p->pays_open++;
        pay_send(s, k);
    }
}

void lt_pay_event(sale_t *s, buyer_t *b, const lc_msg_t *m) {
    sale_pay_t *p = s->pay;
    int k = lt_resv_find(&p->set, b->room, m->order.p ? m->order.p : "", m->order.n);
    if (k < 0 || p->set.v[k].buyer != (int)(b - s->b)) {
        p->stray_msgs++;
        return;
    }
    lt_resv_t *r = &p->set.v[k];
    int first = r->paid_msgs + r->expired_msgs == 0;
    if (!first) p->extra_msgs++;
    p->last_end_ms = lt_now_ms(s->run);
    if (m->type == LC_MSG_PAID) {
        p->paid_msgs++;
        if (r->paid_msgs++ == 0) s->rooms[r->room].paid_units += r->qty;
        if (r->pay_sent_us) lt_hist_record(&p->notify_lat, lt_now_us() - r->pay_sent_us);
    } else {
        p->expired_msgs++;
        r->expired_msgs++;
        int64_t late = (int64_t)wall_ms() - r->pay_by;
        if (late < -EARLY_SLACK_MS) p->early_expiries++;
        lt_hist_record(&p->expiry_late, late > 0 ? (uint64_t)late * 1000u : 0);
        if (!p->first_expiry_ms) p->first_expiry_ms = p->last_end_ms;
    }
    if (first) {
        p->unended--;
        maybe_done(s);
    }
}

static void on_deadline(uv_timer_t *t) {
    sale_t *s = t->data;
    sale_pay_t *p = s->pay;
    fprintf(stderr, "checkout: gave up waiting %d s past the last deadline: %ld reservations not ended, "
                    "%ld payments not answered\n",
            EXPIRY_GRACE_MS / 1000, p->unended, p->pays_open);
    p->gave_up = 1;
    lt_sale_settle(s);
}

void lt_pay_wait(sale_t *s) {
    sale_pay_t *p = s->pay;
    if (p->waiting) return;
    p->waiting = 1;
    int64_t ms = p->last_pay_by + EXPIRY_GRACE_MS - (int64_t)wall_ms();
    if (ms < 1000) ms = 1000;
    fprintf(stderr, "checkout: %zu reservations, %llu to pay: waiting for every payment and expiry "
                    "(at most %.0f s)\n",
            p->set.n, (unsigned long long)p->chosen, (double)ms / 1000.0);
    uv_timer_start(&p->deadline, on_deadline, (uint64_t)ms, 0);
}

/* GET /api/rooms/ROOM: the room's sale and its stock now. */
static void on_room_answer(void *user, int status, const char *body, size_t n, uint64_t lat_us) {
    pay_req_t *q = user;
    sale_t *s = q->s;
    sroom_t *r = &s->rooms[q->k];
    free(q);
    if (status < 0) return;
    r->api_status = status;
    r->api_left = -1;
    json_t *j = status == 200 ? json_loadb(body, n, 0, NULL) : NULL;
    json_t *sales = json_object_get(j, "sales"), *it;
    size_t i;
    json_array_foreach(sales, i, it) {
        const char *sku = json_string_value(json_object_get(it, "sku"));
        if (sku && strcmp(sku, s->sku) == 0) r->api_left = (long)json_integer_value(json_object_get(it, "stock"));
    }
    json_decref(j);
    if (--s->pay->gets_left == 0) lt_finish(s->run);
}

void lt_pay_verify(sale_t *s) {
    lt_run_t *run = s->run;
    sale_pay_t *p = s->pay;
    if (!run->api_key) {
        lt_finish(run);
        return;
    }
    p->gets_left = s->nrooms;
    for (int i = 0; i < s->nrooms; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/rooms/%s", s->rooms[i].name);
        pay_req_t *q = malloc(sizeof(*q));
        if (q) {
            q->s = s;
            q->k = i;
        }
        if (!q || lt_http_request(p->http[i % run->ntargets], "GET", path, run->api_key, NULL, on_room_answer, q)) {
            free(q);
            p->gets_left--;
        }
    }
    if (p->gets_left == 0) lt_finish(run);
}

void lt_pay_stop(sale_t *s) {
    sale_pay_t *p = s->pay;
    uv_timer_stop(&p->retry);
    uv_timer_stop(&p->deadline);
    uv_close((uv_handle_t *)&p->retry, NULL);
    uv_close((uv_handle_t *)&p->deadline, NULL);
    for (int i = 0; i < s->run->ntargets; i++) {
        lt_http_destroy(p->http[i]);
        p->http[i] = NULL;
    }
}

void lt_pay_free(sale_t *s) {
    lt_resv_free(&s->pay->set);
    free(s->pay);
    s->pay = NULL;
}

/* Reservations whose ending the buyer heard disagrees with the payment:
 * told `paid` without a 200, a 200 without `paid`, or told both. */
static long mismatches(const sale_pay_t *p) {
    long bad = 0;
    for (size_t k = 0; k < p->set.n; k++) {
        const lt_resv_t *r = &p->set.v[k];
        int told_paid = r->paid_msgs > 0, paid = r->pay == PAY_OK;
        bad += told_paid != paid || (told_paid && r->expired_msgs) || (!paid && !r->expired_msgs);
    }
    return bad;
}

void lt_pay_result(sale_t *s, json_t *res) {
    sale_pay_t *p = s->pay;
    lt_run_t *run = s->run;
    json_t *hs = json_object();
    for (int i = 0; i < HS__N; i++) json_object_set_new(hs, hs_names[i], json_integer((json_int_t)p->http_status[i]));
    double expiry_s = p->first_expiry_ms && p->last_end_ms > p->first_expiry_ms
                          ? (double)(p->last_end_ms - p->first_expiry_ms) / 1000.0 : 0;
    json_t *c = json_pack("{sisfsssIsIsIsIsIsIsIsIso}", "pay_s", run->pay_s, "pay_ratio", run->pay_ratio, "shop",
                          run->api_key ? "api" : "demo", "reservations", (json_int_t)p->set.n, "to_pay",
                          (json_int_t)p->chosen, "paid_200", (json_int_t)p->paid_ok, "late_409",
                          (json_int_t)p->late, "not_found_404", (json_int_t)p->not_found, "failed",
                          (json_int_t)p->failed, "requests", (json_int_t)p->attempts, "retries",
                          (json_int_t)p->retries, "http", hs);
    json_object_set_new(c, "paid_notices", json_integer((json_int_t)p->paid_msgs));
    json_object_set_new(c, "expired_notices", json_integer((json_int_t)p->expired_msgs));
    json_object_set_new(c, "extra_notices", json_integer((json_int_t)p->extra_msgs));
    json_object_set_new(c, "stray_notices", json_integer((json_int_t)p->stray_msgs));
    json_object_set_new(c, "not_ended", json_integer(p->unended));
    json_object_set_new(c, "early_expiries", json_integer((json_int_t)p->early_expiries));
    json_object_set_new(c, "gave_up", json_boolean(p->gave_up));
    json_object_set_new(c, "expiry_spread_s", json_real(expiry_s));
    double pay_secs = p->last_paid_us > p->first_pay_us ? (double)(p->last_paid_us - p->first_pay_us) / 1e6 : 0;
    json_object_set_new(c, "payments_per_s", json_real(pay_secs > 0 ? (double)p->paid_ok / pay_secs : 0));
    long paid_units = 0;
    for (int i = 0; i < s->nrooms; i++) paid_units += s->rooms[i].paid_units;
    json_object_set_new(c, "paid_units", json_integer(paid_units));
    if (run->api_key && s->nrooms == 1) {
        json_object_set_new(c, "api_status", json_integer(s->rooms[0].api_status));
        json_object_set_new(c, "api_stock", json_integer(s->rooms[0].api_left));
    }
    /* from queueing to the answer: at most HTTP_CONNS payments are in flight per shard */
    lt_hist_json(c, "pay_latency_us", &p->pay_lat);
    lt_hist_json(c, "paid_notice_us", &p->notify_lat);
    lt_hist_json(c, "expiry_after_deadline_us", &p->expiry_late);
    json_object_set_new(res, "checkout", c);
    fprintf(stderr,
            "checkout (pay_s %d, %s shop): %zu reservations, %llu to pay: %llu paid (200), %llu late (409), "
            "%llu 404, %llu failed, %llu retries; buyers told %llu paid, %llu expired\n"
            "  %.0f payments/s; payment (queued to answered) p50 %.2f ms, p99 %.2f ms; paid notice p50 %.2f ms, p99 %.2f ms; expiry after pay_by "
            "p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
            run->pay_s, run->api_key ? "API" : "demo", p->set.n, (unsigned long long)p->chosen,
            (unsigned long long)p->paid_ok, (unsigned long long)p->late, (unsigned long long)p->not_found,
            (unsigned long long)p->failed, (unsigned long long)p->retries, (unsigned long long)p->paid_msgs,
            (unsigned long long)p->expired_msgs, pay_secs > 0 ? (double)p->paid_ok / pay_secs : 0.0,
            lt_hist_percentile(&p->pay_lat, 50) / 1000.0,
            lt_hist_percentile(&p->pay_lat, 99) / 1000.0, lt_hist_percentile(&p->notify_lat, 50) / 1000.0,
            lt_hist_percentile(&p->notify_lat, 99) / 1000.0, lt_hist_percentile(&p->expiry_late, 50) / 1000.0,
            lt_hist_percentile(&p->expiry_late, 99) / 1000.0, p->expiry_late.max / 1000.0);
}

/* The API's stock of every room against stock - paid units; the first room
 * that disagrees goes into note. Returns how many rooms disagree. */
static int api_disagree(const sale_t *s, char *note, size_t cap) {
    int bad = 0;
    note[0] = '\0';
    for (int i = 0; i < s->nrooms; i++) {
        const sroom_t *r = &s->rooms[i];
        long want = s->run->stock - r->paid_units;
        if (r->api_status == 200 && r->api_left == want) continue;
        if (bad++ == 0)
            snprintf(note, cap, "%s: HTTP %d, stock %ld, expected %ld", r->name, r->api_status, r->api_left, want);
    }
    return bad;
}

int lt_pay_checks(sale_t *s, json_t *inv) {
    sale_pay_t *p = s->pay;
    lt_run_t *run = s->run;
    int failed = 0;
    failed += lt_check(run, inv, "reservations_only",
                       s->st[ST_OK] == 0 && p->bad_reserved == 0 && p->bad_sale_msgs == 0,
                       "%llu ok answers in a pay_s sale, %llu reserved without order/pay_by, %llu sale "
                       "messages without pay_s %d",
                       (unsigned long long)s->st[ST_OK], (unsigned long long)p->bad_reserved,
                       (unsigned long long)p->bad_sale_msgs, run->pay_s);
    failed += lt_check(run, inv, "every_reservation_ends_once",
                       p->unended == 0 && p->extra_msgs == 0 && p->stray_msgs == 0,
                       "%zu reservations: %ld not ended, %llu ended twice, %llu notices for no reservation",
                       p->set.n, p->unended, (unsigned long long)p->extra_msgs, (unsigned long long)p->stray_msgs);
    long bad = mismatches(p);
    failed += lt_check(run, inv, "paid_xor_expired", bad == 0,
                       "%ld reservations whose paid/expired notice disagrees with the payment's answer", bad);
    failed += lt_check(run, inv, "every_payment_200", p->paid_ok == p->chosen,
                       "%llu of %llu payments answered 200 (%llu 409, %llu 404, %llu failed)",
                       (unsigned long long)p->paid_ok, (unsigned long long)p->chosen, (unsigned long long)p->late,
                       (unsigned long long)p->not_found, (unsigned long long)p->failed);
    failed += lt_check(run, inv, "no_expiry_before_deadline", p->early_expiries == 0,
                       "%llu expired notices before their pay_by", (unsigned long long)p->early_expiries);
    if (run->api_key) {
        char note[200];
        int n = api_disagree(s, note, sizeof(note));
        failed += lt_check(run, inv, "api_stock_is_stock_minus_paid", n == 0, "%d of %d rooms disagree%s%s", n,
                           s->nrooms, n ? ", first " : "", note);
    }
    return failed;
}
