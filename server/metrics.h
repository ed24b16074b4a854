/*
 * lc_metrics: the shard's counters, and their Prometheus text exposition.
 * Never labelled by room or user: those are unbounded, counters must not
 * be. This module depends on nothing above the codec: what other modules
 * know (rooms, Redis) reaches the renderer as plain gauge values that the
 * caller (status.c) fills in.
 */
#ifndef LC_METRICS_H
#define LC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "lc_proto.h"

/* Answer statuses of buys and group joins (PROTOCOL.md), a fixed set. */
enum { LC_ORDER__COUNT = 12, LC_JOIN__COUNT = 11, LC_CLAIM__COUNT = 10 };
/* How reservations ended, and what happened to coupons (counted by the
 * shard whose script made the move: their sum over shards is exact). */
enum { LC_RES_PAID, LC_RES_EXPIRED, LC_RES_CANCELLED, LC_RES__COUNT };
enum { LC_COUPON_CLAIMED, LC_COUPON_USED, LC_COUPON__COUNT };
/* The funnel's figures (PROTOCOL.md "The funnel"), summed over the rooms
 * this shard reports (funnel.c): gauges whose sum over shards is the sum
 * over rooms. */
enum {
    LC_FUNNEL_ROOMS, LC_FUNNEL_VIEWERS, LC_FUNNEL_PEAK, LC_FUNNEL_UNIQUE, LC_FUNNEL_ENGAGED,
    LC_FUNNEL_BUYERS, LC_FUNNEL_ORDERS, LC_FUNNEL_UNITS, LC_FUNNEL_REVENUE, LC_FUNNEL__COUNT
};
/* Buys and coupon claims answered at the shard, without Redis (sold out,
 * closed, gone: PROTOCOL.md "Sold out at the shard"). */
enum { LC_AT_SHARD_BUY, LC_AT_SHARD_CLAIM, LC_AT_SHARD__COUNT };
/* Publish API answers by status: 2xx, 400, 401, 404, 413, 503, other. */
enum { LC_API__COUNT = 12 };

/* permessage-deflate (deflate.c, net.c). */
typedef struct lc_metrics_deflate {
    uint64_t conns;     /* connections that negotiated it */
    uint64_t frames;    /* shared frames compressed (each once per format) */
    uint64_t plain;     /* frames tried that stayed plain: too short, or no smaller */
    uint64_t bytes_in;  /* payload bytes of the compressed frames */
    uint64_t bytes_out; /* their compressed payload bytes */
    uint64_t inflated;  /* compressed client messages inflated */
} lc_metrics_deflate_t;

typedef struct lc_metrics {
    uint64_t conns_open, conns_total;
    uint64_t frames_out, bytes_out;
    uint64_t msgs_in[LC_MSG__COUNT];
    uint64_t errors[LC_ERR__COUNT];
    uint64_t gaps, slow_closed, queue_closed;
    uint64_t write_timeouts, ping_timeouts; /* closed hard: socket took nothing / no pong */
    uint64_t close_wait_cuts;               /* cut: no close frame back within LC_CLOSE_WAIT_MS */
    uint64_t upgrades_refused, ip_refused, accept_refused;
    uint64_t redis_failures;
    lc_metrics_deflate_t deflate;
    uint64_t api[LC_API__COUNT];      /* API answers, by status (lc_metrics_api) */
    uint64_t orders[LC_ORDER__COUNT]; /* buy answers, by status */
    uint64_t joins[LC_JOIN__COUNT];   /* group_join answers, by status */
    uint64_t claims[LC_CLAIM__COUNT]; /* coupon_claim answers, by status */
    uint64_t reservations[LC_RES__COUNT];
    uint64_t coupons[LC_COUPON__COUNT];
    int64_t funnel[LC_FUNNEL__COUNT];
    uint64_t at_shard[LC_AT_SHARD__COUNT];
} lc_metrics_t;

/* A latency histogram: le[i] counts the samples of at most 64 us << i
 * (not cumulative; the last bucket also takes everything slower), count
 * and sum_us all of them. The arrays belong to the caller. */
typedef struct lc_metrics_hist {
    const uint64_t *le;
    size_t nle;
    uint64_t count, sum_us;
} lc_metrics_hist_t;

/* What the counters do not hold: values read from other modules at the
 * moment of the scrape. */
typedef struct lc_metrics_gauges {
    size_t rooms;              /* rooms with state on this shard */
    int redis_up;              /* commands and subscriptions can go (lc_store_up, _sub_up) */
    const char *durability;    /* what an ok is worth: none, everysec, fsync, replicas, unknown */
    uint64_t moved, asked, tryagain; /* cluster redirections followed, calls retried */
    uint64_t ack_short;        /* durable answers turned unknown: too few replicas in time */
    uint64_t map_refreshes;    /* cluster maps learnt */
    unsigned primaries, primaries_down;
    size_t redis_pending;      /* commands awaiting a reply */
    lc_metrics_hist_t latency; /* Redis command round trips */
    int draining;              /* shutting down */
} lc_metrics_gauges_t;

/* Counts a buy (group 0) or group_join (group 1) answer by its status. */
void lc_metrics_order(lc_metrics_t *m, int group, const char *status, size_t n);

/* Counts a coupon_claim answer by its status. */
void lc_metrics_claim(lc_metrics_t *m, const char *status, size_t n);

/* Counts a publish API answer by its HTTP status. */
void lc_metrics_api(lc_metrics_t *m, unsigned status);

/* Appends the Prometheus text exposition (format 0.0.4) of m and g to out.
 * Returns 0, or -1 when memory ran out (out then holds a part: don't
 * serve it). */
int lc_metrics_render(const lc_metrics_t *m, const lc_metrics_gauges_t *g, lc_buf_t *out);

#endif
