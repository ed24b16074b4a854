/*
 * The sale scenario's state (scen_sale.c), shared with its report and
 * invariant checks (scen_sale_report.c).
 */
#ifndef LT_SCEN_SALE_H
#define LT_SCEN_SALE_H

#include "httpc.h"
#include "lt.h"
#include "resv.h"

enum { ST_OK, ST_SOLD_OUT, ST_LIMIT, ST_CLOSED, ST_INVALID, ST_RATE, ST_UNAVAIL, ST_UNKNOWN, ST_RESERVED,
       ST_OTHER, ST__N };
extern const char *const lt_sale_st_names[ST__N];

typedef struct sale sale_t;

typedef struct buyer {
    sale_t *s;
    lt_conn_t *c;
    int room; /* index into sale_t.rooms */
    char user[40];
    uint8_t welcomed, gone, buying;
    int outstanding;
    uint64_t seq, open_us;
    uint64_t *sent_us; /* send time by seq % slots */
    int first_status, replies;
    char first_order[42];
    long units;
    long last_left;
    int have_left, sold_outs, mismatches;
} buyer_t;

/* One room of the run: its streamer, its own sale of --stock units, and
 * what its buyers were answered. */
typedef struct sroom {
    sale_t *s;
    char name[64];
    char label[72]; /* "" with one room, " in NAME" with more: for messages */
    lt_conn_t *streamer;
    int ready, opened, error; /* error: its streamer was refused or lost before the open */
    int members, welcomed;
    uint64_t st[ST__N];
    /* --pay-s: units paid as the buyers were told, and the room's stock by the API at the end */
    long paid_units, api_left;
    int api_status; /* the GET's HTTP status, 0: none asked or no answer */
    /* the end's verdict (scen_sale_report.c) */
    long units, want, bad_last, bad_sold, bad_stock, stray_sold;
    int sold_out;
    unsigned failed; /* bit k: check k failed in this room */
} sroom_t;

/* --pay-s: the checkout's state (scen_sale_pay.c). Counters are of
 * reservations unless they say otherwise. */
typedef struct sale_pay {
    lt_resv_set_t set;
    lt_http_t *http[LT_MAX_TARGETS];
    uint64_t chosen, paid_ok, late, not_found, failed; /* payments: asked for, and how they ended */
    uint64_t attempts, retries;                        /* payment requests sent, and sent again */
    uint64_t http_status[6];                           /* answers: 200, 409, 404, 503, 504, none/other */
    uint64_t paid_msgs, expired_msgs, extra_msgs, stray_msgs, early_expiries;
    uint64_t bad_sale_msgs, bad_reserved; /* a sale without pay_s, a reserved answer without order/pay_by */
    lt_hist_t pay_lat;     /* one payment request: sent to answered */
    lt_hist_t notify_lat;  /* the payment sent to the buyer's `paid` */
    lt_hist_t expiry_late; /* pay_by to the buyer's `expired` */
    int64_t last_pay_by;
    long unended, pays_open; /* reservations not ended yet, payments not answered yet */
    uint64_t first_expiry_ms, last_end_ms; /* loop times: the first expired, the last paid/expired */
    uint64_t first_pay_us, last_paid_us;   /* wall clock: the first payment queued, the last 200 */
    int retrying, waiting, gave_up, gets_left;
    uv_timer_t retry, deadline;
} sale_pay_t;

struct sale {
    lt_run_t *run;
    sale_pay_t *pay; /* NULL without --pay-s */
    buyer_t *b;
    int n, slots;
    sroom_t *rooms;
    int nrooms, streamers_ready, open_sent, rooms_opened, open_error;
    char sku[48];
    unsigned next;
    int connecting, welcomed, gone, done_buyers;
    uint64_t st[ST__N];
    uint64_t buy_start_ms, buy_stop_ms, last_reply_ms, buys_sent;
    int stop_sending, settling, buying_over;
    uv_timer_t opener, phase;
    lt_hist_t welcome_h;
};

/* scen_sale.c: every buy is answered (or the throughput run is over):
 * finish once the checkout, if any, has resolved. Called again by
 * scen_sale_pay.c whenever a reservation ends. */
void lt_sale_settle(sale_t *s);

/* scen_sale_pay.c: the checkout. start: the HTTP clients (0 or -1);
 * reserved: a buyer's first `reserved` answer for an order; event: a `paid`
 * or `expired` message; resolved: every reservation ended and every payment
 * asked for was answered (or the wait gave up); wait: starts the bounded
 * wait for that; verify: asks the API for each room's stock (with a key),
 * then calls lt_finish; stop: closes the clients and timers. */
int lt_pay_start(sale_t *s);
void lt_pay_reserved(sale_t *s, buyer_t *b, const lc_msg_t *m);
void lt_pay_event(sale_t *s, buyer_t *b, const lc_msg_t *m);
int lt_pay_resolved(const sale_t *s);
void lt_pay_wait(sale_t *s);
void lt_pay_verify(sale_t *s);
void lt_pay_stop(sale_t *s);
void lt_pay_free(sale_t *s);
/* scen_sale_pay.c: the checkout's part of the report, and its checks. */
void lt_pay_result(sale_t *s, json_t *res);
int lt_pay_checks(sale_t *s, json_t *inv);

/* scen_sale_report.c: puts result (totals, and per room when there are
 * several) into report and prints the summary. */
void lt_sale_result(sale_t *s, json_t *report);
/* scen_sale_report.c: checks the invariants, per room where they are about
 * a room's sale; returns how many failed. */
int lt_sale_checks(sale_t *s, json_t *report);

#endif
