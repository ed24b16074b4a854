/*
 * The sale scenario's state (scen_sale.c), shared with its report and
 * invariant checks (scen_sale_report.c).
 */
#ifndef LT_SCEN_SALE_H
#define LT_SCEN_SALE_H

#include "lt.h"

enum { ST_OK, ST_SOLD_OUT, ST_LIMIT, ST_CLOSED, ST_INVALID, ST_RATE, ST_UNAVAIL, ST_UNKNOWN, ST_OTHER, ST__N };
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
    /* the end's verdict (scen_sale_report.c) */
    long units, want, bad_last, bad_sold, bad_stock, stray_sold;
    int sold_out;
    unsigned failed; /* bit k: check k failed in this room */
} sroom_t;

struct sale {
    lt_run_t *run;
    buyer_t *b;
    int n, slots;
    sroom_t *rooms;
    int nrooms, streamers_ready, open_sent, rooms_opened, open_error;
    char sku[48];
    unsigned next;
    int connecting, welcomed, gone, done_buyers;
    uint64_t st[ST__N];
    uint64_t buy_start_ms, buy_stop_ms, last_reply_ms, buys_sent;
    int stop_sending, settling;
    uv_timer_t opener, phase;
    lt_hist_t welcome_h;
};

/* scen_sale_report.c: puts result (totals, and per room when there are
 * several) into report and prints the summary. */
void lt_sale_result(sale_t *s, json_t *report);
/* scen_sale_report.c: checks the invariants, per room where they are about
 * a room's sale; returns how many failed. */
int lt_sale_checks(sale_t *s, json_t *report);

#endif
