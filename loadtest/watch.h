/*
 * The viewer scenarios' state (scen_watch.c), shared with the reconnect
 * logic of --resume (resume.c).
 */
#ifndef LT_WATCH_H
#define LT_WATCH_H

#include "lt.h"

typedef struct wroom wroom_t;
typedef struct watch watch_t;

typedef struct viewer {
    watch_t *w;
    lt_conn_t *c;
    int room;
    uint32_t gen; /* churn: which life of this slot */
    uint8_t welcomed, gone, left_on_purpose, sampled;
    int64_t next_seq; /* -1: none seen yet */
    int64_t last_likes, max_viewers;
    uint64_t open_us;
    uint32_t missing, dups, gaps;
    /* --resume */
    uint8_t online;    /* welcomed on the current connection */
    uint8_t pending;   /* a reconnect is scheduled */
    uint8_t disturbed; /* hinted or closed, not joined again yet */
    uint8_t rejoined;  /* joined again at least once */
    uint8_t has_last;
    uint16_t backoff;  /* failed attempts in a row: the backoff's exponent */
    uint32_t tries;    /* reconnect attempts: each goes to the next --url */
    uint32_t ooo;      /* arrived after a later comment */
    uint64_t window;   /* bit k: comment next_seq-1-k arrived */
    lc_sid_t last_id;  /* the newest stream entry seen, or welcome.last */
    uint64_t off_ms;   /* when its last connection stopped serving it (for offline_us) */
} viewer_t;

/* --resume: what anyone saw of a room's comments, by the tool's sequence
 * number (every array has cap entries). */
typedef struct wledger {
    uint8_t *seen;    /* someone (a viewer, the publisher) got it: it was published */
    uint32_t *skips;  /* checked viewers that went past it without it */
    lc_sid_t *ids;    /* its stream id */
    int64_t cap, published, max_seen; /* max_seen: -1 before any */
    uint64_t twice;   /* one sequence number under two stream ids */
} wledger_t;

struct wroom {
    watch_t *w;
    char name[64];
    lt_conn_t *pub;
    int pub_ready, members, welcomed;
    int members_total;  /* viewers of the room over every process of a --procs run */
    /* the room's comments and likes sent by every process: r->seq and
     * likes_sent until the end of publishing, then (--procs) the totals the
     * parent relayed (w->totals) */
    int64_t seq_total, likes_total;
    int64_t seq;        /* comments sent */
    int64_t likes_sent; /* like units sent */
    int64_t likes_owed; /* like frames attempted (the pacer's count) */
    double comment_debt, like_debt;
    /* --resume */
    wledger_t led;
    lc_sid_t newest;     /* the newest stream id anyone saw */
    lc_sid_t pub_last;   /* the publisher's newest stream id */
    int64_t pub_upto;    /* every send before this one is settled for the publisher */
    uint8_t has_newest, pub_has_last, pub_pending;
    uint8_t pub_leaving; /* hinted: its connection closes (ours, 1000) and it reconnects then */
    uint16_t pub_backoff;
    uint32_t pub_tries;
    int64_t likes_seen;  /* the highest likes total any viewer saw */
    double forgiven_comments, forgiven_likes; /* not owed: the publisher was away */
};

/* Reconnects waiting for their time: a binary heap by due time. who >= 0
 * is a viewer, who < 0 the publisher of room -1 - who. */
typedef struct wdue {
    uint64_t due_ms;
    int who;
} wdue_t;

typedef struct wresume {
    wdue_t *heap;
    int nheap, capheap;
    uv_timer_t timer;
    int timer_on;
    /* counters */
    uint64_t hints, closes, attempts, refused_503, refused_other, connect_failed;
    uint64_t rejoins, not_recovered, gap_resumes, unexpected, pub_reconnects, pub_hints;
    uint64_t retry_after_waits; /* refusals whose Retry-After was honoured */
    uint64_t history_comments; /* comments that reached a viewer through a resume */
    int online, rejoined_viewers;
    /* outages: from the first hint or close until every viewer is joined again */
    int disturbed, event_viewers;
    uint64_t event_start_ms;
    double max_event_s;
    json_t *events;
    /* rejoins per second: 100 buckets of 10 ms, a sliding one-second window */
    uint32_t bucket[100];
    uint64_t bucket_t; /* the newest bucket's index (ms / 10) */
    uint32_t window_sum, peak_rate;
    lt_hist_t history_lat; /* publish to delivery through a resume's history */
    uint64_t deferred;     /* reconnects the tool held back (too many handshakes in flight) */
    lt_hist_t offline;     /* per rejoin: from losing the old connection to the new welcome */
} wresume_t;

struct watch {
    lt_run_t *run;
    const char *mode;
    viewer_t *v;
    int n;
    wroom_t *rooms;
    unsigned next;
    int connecting, welcomed, failed, churned;
    uint64_t storm_start_us, storm_done_us;
    int publishing, done_publishing, settling;
    uint64_t pub_start_ms, settle_start_ms;
    uv_timer_t opener, pacer, phase;
    lt_hist_t welcome_h;
    uint64_t delivered, comments_live, unexpected_close;
    uint64_t delivered0; /* delivered when publishing began */
    uint64_t pub_closes; /* publishers the server closed (without --resume) */
    uint64_t last_delivery_ms; /* end of the delivery window */
    int like_rr;
    /* --procs: the barrier before publishing and the totals after it (procs.c) */
    uint8_t ready_sent, go, done_sent, totals;
    wresume_t rs;
    char pad[4096];
};

/* A viewer's index over every process of the run (names, sampling,
 * formats and targets follow it, so a --procs run is the same crowd). */
static inline int w_gi(const watch_t *w, const viewer_t *v) { return w->run->conn_base + (int)(v - w->v); }

/* scen_watch_pub.c: one comment "<seq>:<us>:" padded to --size from room
 * r's publisher; one like frame from the next joined viewer of room. */
void w_send_comment(watch_t *w, wroom_t *r);
void w_send_like(watch_t *w, wroom_t *r, int room);

/* scen_watch_report.c */
void w_progress(lt_run_t *run, char *line, size_t cap);
/* Fills report.result and .invariants, closes the connections; returns
 * how many invariants failed. */
int w_finish(lt_run_t *run, json_t *report);

/* scen_watch.c: opens v's connection to its current target (viewer_ops);
 * returns 0, or -1 when lt_conn_open failed. */
int wv_open(watch_t *w, viewer_t *v);
/* scen_watch.c: opens room r's publisher connection. Returns 0 or -1. */
int wp_open(watch_t *w, int room);
/* scen_watch.c: a comment's sequence number and send time (us) from its
 * text "<seq>:<us>:...". Returns 0, or -1 when it is not the tool's. */
int w_text_seq(const char *text, size_t n, int64_t *seq, uint64_t *sent_us);
/* scen_watch.c: v's first welcome of its life (counts, storm timing). */
void w_welcomed(viewer_t *v);

/* resume.c */
int wr_init(watch_t *w);
void wr_free(watch_t *w);
/* Stops the reconnect timer (the run is ending). */
void wr_stop(watch_t *w);
/* Grows room r's ledger to hold sequence number seq. Returns 0 or -1. */
int wr_reserve(wroom_t *r, int64_t seq);
/* A live stream entry (comment, announce, product) reached viewer v. */
void wr_viewer_entry(watch_t *w, viewer_t *v, const lc_msg_t *m);
/* v's welcome (a first join or a rejoin; m NULL when not decoded): counts
 * it and checks its history. Returns 1 if it was a rejoin. */
int wr_viewer_welcome(watch_t *w, viewer_t *v, const lc_msg_t *m);
void wr_viewer_hint(watch_t *w, viewer_t *v, int64_t after_ms);
void wr_viewer_gap(watch_t *w, viewer_t *v);
/* v's connection c closed (code as in lt_conn_ops_t.on_close). */
void wr_viewer_closed(watch_t *w, viewer_t *v, lt_conn_t *c, int code);
/* A frame a counting-only viewer did not decode: 1 if it was a hint. */
int wr_viewer_raw(watch_t *w, viewer_t *v, const uint8_t *p, size_t n);
/* A viewer's first open failed (lt_conn_open returned NULL). */
void wr_viewer_open_failed(watch_t *w, viewer_t *v);
void wr_pub_msg(watch_t *w, int room, const lc_msg_t *m);
void wr_pub_closed(watch_t *w, int room, lt_conn_t *c, int code);
/* Churn replaces viewer v: forget its resume state. */
void wr_viewer_reset(watch_t *w, viewer_t *v);
/* 1 while the end must wait (a viewer or publisher away, a checked viewer
 * short of the newest published comment). */
int wr_behind(watch_t *w);
/* Adds result.resume, the summary and the invariants. Returns failures. */
int wr_finish(watch_t *w, json_t *res, json_t *inv);
void wr_progress(watch_t *w, char *line, size_t cap);

#endif
