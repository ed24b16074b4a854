/*
 * The coupon scenario's state (scen_coupon.c), shared with its report and
 * invariant checks (scen_coupon_report.c).
 */
#ifndef LT_SCEN_COUPON_H
#define LT_SCEN_COUPON_H

#include "lt.h"

/* claim.status (PROTOCOL.md, "Coupon drops"), then anything else. */
enum { CS_OK, CS_GONE, CS_LIMIT, CS_CLOSED, CS_REQ_REUSED, CS_RATE, CS_INVALID, CS_UNAVAIL, CS_UNKNOWN,
       CS_OTHER, CS__N };
extern const char *const lt_coupon_st_names[CS__N];

typedef struct coupon coupon_t;

typedef struct claimer {
    coupon_t *cp;
    lt_conn_t *c;       /* the current connection, NULL between two */
    lt_conn_t *dropped; /* --retry: the connection it let go, until its close */
    char user[40];
    uint8_t welcomed;   /* joined once (the first welcome) */
    uint8_t online;     /* welcomed on the current connection */
    uint8_t started;    /* saw the coupon: claiming */
    uint8_t done;       /* its last claim is decided */
    uint8_t inflight;   /* the current claim is not answered yet */
    uint8_t probed;     /* sent the one claim past per_user */
    uint8_t will_drop;  /* --retry: lets its first claim's connection go */
    uint8_t asked_mine, got_mine, have_left, saw_coupon;
    uint8_t replay;     /* the current claim was sent before with this req */
    uint8_t listed;     /* the current connection's welcome listed the coupon as claimable */
    uint32_t seq;       /* the current claim's req is "c<seq>" */
    int conns;          /* connections opened */
    int gone_here;      /* coupon_gone on the current connection */
    int gone_max;       /* the most coupon_gone any of its connections got */
    long held;          /* claims answered ok */
    long mine;          /* claimed, as my_coupons says */
    long last_left;     /* the newest coupon_left */
    int early_limit;    /* `limit` while holding fewer than per_user */
    uint64_t sent_us, open_us;
    uint64_t resend_at_ms; /* the same claim again at this loop time (after unavailable, rate_limited) */
} claimer_t;

struct coupon {
    lt_run_t *run;
    claimer_t *c;
    int n;
    lt_conn_t *streamer;
    int streamer_ready, drop_sent, drop_error;
    char id[48];
    unsigned next;
    int connecting, welcomed, lost, done, mine_wanted, mine_got, holdings_asked, settling;
    uint64_t st[CS__N];       /* every claim answer, by status */
    uint64_t claims_sent, resent, reconnects, rejoins, rejoins_listed, planned_drops, gone_msgs, stray, decode_gaps;
    uint64_t drop_ms, last_answer_ms, all_done_ms; /* loop times */
    uint64_t drop_us;        /* wall clock of the drop, for the coupon's fan-out */
    int64_t ends;            /* the coupon's `ends` as the room was told */
    long quota_seen, per_user_seen;
    uint8_t *left_seen;      /* left of each ok answer: bit per value 0..quota-1 */
    long left_dups, left_bad, replayed_ok; /* replayed_ok: ok answers to a req sent again */
    uv_timer_t opener, phase, retry;
    int resends_due;
    lt_hist_t seen_h;        /* the drop sent to the `coupon` message, per claimer */
    lt_hist_t welcome_h;
    lt_hist_t ok_h;          /* claim latency of the ok answers alone */
};

/* scen_coupon_report.c: result (counts, rates, latencies) and invariants. */
void lt_coupon_result(coupon_t *cp, json_t *report);
int lt_coupon_checks(coupon_t *cp, json_t *report);

#endif
