/*
 * The lottery scenario's state (scen_lottery.c), shared with its report and
 * invariant checks (scen_lottery_report.c).
 */
#ifndef LT_SCEN_LOTTERY_H
#define LT_SCEN_LOTTERY_H

#include "httpc.h"
#include "lt.h"

/* enter.status (PROTOCOL.md, "Lucky bag"), then anything else. */
enum { ES_OK, ES_ALREADY, ES_CLOSED, ES_KEYWORD, ES_MUTED, ES_BANNED, ES_RATE, ES_UNAVAIL, ES_UNKNOWN, ES_OTHER,
       ES__N };
extern const char *const lt_lottery_st_names[ES__N];

/* What a viewer does once the lottery is open (scen_lottery.c, "plans"). */
enum { PLAN_WATCH, PLAN_ONCE, PLAN_SAME, PLAN_BOTH, PLAN_TWIN, PLAN__N };
extern const char *const lt_lottery_plan_names[PLAN__N];

typedef struct lottery lottery_t;
typedef struct lviewer lviewer_t;

/* One connection: a viewer's first, a viewer's twin (the same user on the
 * next shard), the streamer's or the late joiner's. */
typedef struct lpeer {
    lottery_t *lt;
    lviewer_t *v;       /* NULL: the streamer or the late joiner */
    lt_conn_t *c;       /* NULL when closed */
    uint8_t used;       /* opened in this run */
    uint8_t shard;      /* the index of its target (--url / --shards) */
    uint8_t welcomed, saw_open, acted, lost;
    uint8_t comments_due; /* its comments go out again (same reqs) at resend_at_ms */
    uint8_t enters_due;   /* lottery_enter to send again at resend_at_ms */
    uint16_t entered, results, won, won_bad, enters_wanted;
    int64_t welcome_entries; /* the late joiner: `entries` of the lottery in its welcome, -1: not listed */
    uint64_t open_us, resend_at_ms, enter_sent_us;
} lpeer_t;

struct lviewer {
    char user[40];
    int idx;
    uint8_t plan;
    uint8_t due;        /* its time to enter has come (--spread) */
    uint8_t winner;     /* named in the result */
    uint8_t unknown;    /* an `unknown` answer: its entry may have happened without an `ok` */
    uint16_t st[ES__N]; /* its enter answers */
    uint64_t first_us;  /* its first entry sent (wall clock) */
    lpeer_t p[2];       /* p[1]: PLAN_TWIN only */
};

struct lottery {
    lt_run_t *run;
    lviewer_t *v;
    int n, planned[PLAN__N], entrants_planned;
    lpeer_t streamer, late;
    int streamer_ready, open_sent, open_error, late_state; /* late: 0 not yet, 1 opened, 2 skipped */
    char id[48], commit[72], nowatch[8];
    int64_t ends, k_told;
    unsigned next;
    int next_due; /* --spread: viewers before this one may enter */
    int peers, connecting, welcomed, gone_early, lost, results_peers, settling, entered_users;
    uint64_t st[ES__N];
    uint64_t enters_sent, comments_sent, resent, entered_msgs, won_msgs, result_msgs, results_differ;
    uint64_t comments_in, gaps, stray, early_results, commit_differs, decode_errors;
    uint64_t entered_before_ok; /* an `ok` answer that came after its connection's `entered` */
    uint64_t open_ms, due_ms;  /* loop times: the open sent, the first `lottery` seen */
    uint64_t open_us, first_result_us, last_result_us;
    uint64_t shard_first_us[LT_MAX_TARGETS], shard_last_us[LT_MAX_TARGETS]; /* lottery_result, per shard */
    /* the first lottery_result (owned copies); later ones are compared with it */
    int have_result;
    char seed[72];
    int64_t entries;
    char **winners;
    size_t nwinners;
    /* --api-key-file: GET /api/rooms/R/lotteries/ID after the draw */
    lt_http_t *http;
    int api_status, api_tries;
    json_t *api; /* the answer (owned), NULL: none */
    uv_timer_t opener, phase, retry, spread;
    int resends_due;
    lt_hist_t open_h;    /* lottery_open sent -> `lottery` at a viewer */
    lt_hist_t entered_h; /* first entry sent -> `entered` */
    lt_hist_t answer_h;  /* lottery_enter sent -> its `enter` answer (the last one sent on the connection) */
    lt_hist_t draw_h;    /* `ends` -> lottery_result, per connection (wall clocks) */
    lt_hist_t welcome_h;
};

#define LT_LOTTERY_PRIZE "load-test lucky bag"

/* scen_lottery_play.c: a decoded message (not a comment) on peer pe. */
void lt__lottery_msg(lottery_t *lt, lpeer_t *pe, const lc_msg_t *m);
/* scen_lottery.c: the lottery's `ends` is known: wait for the draw. */
void lt__lottery_wait_result(lottery_t *lt);
/* scen_lottery.c: another connection has its lottery_result. */
void lt__lottery_all_results(lottery_t *lt);
/* scen_lottery.c: the late joiner comes once every entrant is in. */
void lt__lottery_late(lottery_t *lt);

/* scen_lottery_report.c: result (counts, latencies) and invariants. */
void lt_lottery_result(lottery_t *lt, json_t *report);
int lt_lottery_checks(lottery_t *lt, json_t *report);

#endif
