/*
 * livecart-load: shared state of one run and the scenario interface.
 */
#ifndef LT_H
#define LT_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "client.h"
#include "hist.h"

#define LT_MAX_TARGETS 16
#define LT_MAX_SRCS 64
#define LT_MAX_CPUS 64

typedef struct lt_run lt_run_t;

typedef struct lt_scenario {
    const char *name;
    const char *help;
    /* Starts the scenario (connections, timers). Returns 0 or -1. */
    int (*start)(lt_run_t *run);
    /* Appends this second's progress to line (after the common part). */
    void (*progress)(lt_run_t *run, char *line, size_t cap);
    /* Fills the report and checks invariants; returns how many failed. */
    int (*finish)(lt_run_t *run, json_t *report);
    /* Frees the scenario's state once the loop has stopped. */
    void (*cleanup)(lt_run_t *run);
    /* --procs, in a child: a message from the parent (procs.c), valid
     * during the call. NULL: the scenario runs its processes unsynchronised. */
    void (*on_parent)(lt_run_t *run, const json_t *msg);
} lt_scenario_t;

struct lt_run {
    uv_loop_t *loop;
    lt_client_t *cl;
    const lt_scenario_t *sc;
    lt_target_t targets[LT_MAX_TARGETS];
    int ntargets;
    char srcs[LT_MAX_SRCS][24];
    int nsrcs;
    int fmt; /* lc_fmt_t, or -1 for mixed */
    char room[48];
    int rooms;
    double duration;
    int conns;      /* viewers / buyers */
    double rate;    /* watch: comments per second per room */
    double like_rate; /* watch: like frames per second per room */
    double churn;   /* churn: viewers replaced per second */
    int size;       /* watch: comment size in bytes */
    int strict;     /* a gap notice fails the run */
    int resume;     /* watch/churn: reconnect and resume (resume.c) */
    int raw;        /* --proto raw: a plain-text WebSocket peer */
    lt_target_t pub_target; /* --pub-url, raw publisher */
    int sample;     /* decode and check every Nth viewer */
    int lean;       /* --reader lean (default): counted-only viewers on the lean transport */
    int deflate;    /* --deflate: lean viewers negotiate permessage-deflate */
    /* --procs N: the run is spread over N child processes; in a child, proc
     * is its index and conns its share of conns_total, from index conn_base */
    int procs, proc, conn_base, conns_total;
    void *link;     /* in a child: the pipes to the parent (procs.c), else NULL */
    int inflight;
    int taps;         /* sale --inflight K: each buyer sends this many buys, then stops (0: --duration) */
    long stock, limit, qty;
    int pay_s;        /* sale: sell by reservation, pay within this many seconds (0: off) */
    double pay_ratio; /* sale --pay-s: the share of reservations the shop pays */
    char *api_key;    /* --api-key-file or LIVECART_API_KEY (owned); NULL: none */
    long quota, per_user; /* coupon: coupons dropped, most one user may hold */
    int window;       /* coupon: the claim window, seconds */
    int retry;        /* coupon: some claimers reconnect mid-race and claim again */
    char keyword[64]; /* lottery: viewers enter by commenting it ("": by lottery_enter) */
    int winners;      /* lottery: K, winners to draw */
    int lottery_secs; /* lottery: S, the lottery's length */
    double twice;     /* lottery: the share of entrants that enter a second time */
    double spread;    /* lottery: entries spread over this many seconds (0: all at once) */
    double ramp;    /* connections per second, 0: as fast as possible */
    const char *json_path;
    int server_pid;
    uint64_t t0_ms, started_ms, ended_ms;
    uv_timer_t progress, stop;
    int stopping;
    unsigned next_conn;
    lt_hist_t lat;      /* the scenario's main latency */
    lt_hist_t lat_sec;  /* the last second's */
    json_t *timeline;
    uint64_t msgs, msgs_prev;
    uint64_t closes[5000];  /* by close code (0..4999) */
    json_t *errors;         /* error frames received, by code */
    uint64_t server_cpu0;
    double tool_cpu0; /* the tool's CPU seconds at the baseline (-1: unknown) */
    uint64_t cpu0[LT_MAX_CPUS][3]; /* /proc/stat at the baseline: busy, steal, all */
    int ncpu0;
    long server_rss0; /* KiB at start */
    void *sc_state;
    char invariant_log[4096];
    int failed; /* invariants that failed: the exit status */
};

/* The next target and source address, round-robin. */
const lt_target_t *lt_pick_target(lt_run_t *run, unsigned i);
const char *lt_pick_src(lt_run_t *run, unsigned i);
int lt_pick_fmt(lt_run_t *run, unsigned i);
/* Milliseconds / microseconds on the loop's clock. */
uint64_t lt_now_ms(lt_run_t *run);
uint64_t lt_now_us(void);
/* Records a failed (ok = 0) or passed invariant into the report. */
int lt_check(lt_run_t *run, json_t *inv, const char *name, int ok, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* CPU ticks and RSS (KiB) of a process, from /proc (finish.c). Returns 0 or -1. */
int lt__proc_stats(int pid, uint64_t *ticks, long *rss_kb);
/* The measured part starts now: server and tool CPU are counted from here. */
void lt_server_baseline(lt_run_t *run);
/* Ends the run: stop timers, close connections, report. */
void lt_finish(lt_run_t *run);
/* Counts an error frame received (m->type == LC_MSG_ERROR). */
void lt_count_error(lt_run_t *run, const lc_msg_t *m);
/* The report's params object (main.c), for a run or a --procs parent. */
json_t *lt_run_params(const lt_run_t *run);
/* Puts p50..max of h into obj (microseconds), with its buckets (merge.c
 * merges histograms exactly from them). */
void lt_hist_json(json_t *obj, const char *key, const lt_hist_t *h);

extern const lt_scenario_t lt_scenario_sale, lt_scenario_coupon, lt_scenario_lottery;
extern const lt_scenario_t lt_scenario_watch, lt_scenario_churn, lt_scenario_storm, lt_scenario_idle;

#endif
