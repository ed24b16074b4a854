/*
 * lc_metrics: the shard's counters. Never labelled by room or user: those
 * are unbounded, counters must not be.
 */
#ifndef LC_METRICS_H
#define LC_METRICS_H

#include <stdint.h>

#include "lc_proto.h"

/* Answer statuses of buys and group joins (PROTOCOL.md), a fixed set. */
enum { LC_ORDER__COUNT = 9, LC_JOIN__COUNT = 10 };

typedef struct lc_metrics {
    uint64_t conns_open, conns_total;
    uint64_t frames_out, bytes_out;
    uint64_t msgs_in[LC_MSG__COUNT];
    uint64_t errors[LC_ERR__COUNT];
    uint64_t gaps, slow_closed, queue_closed;
    uint64_t write_timeouts, ping_timeouts; /* closed hard: socket took nothing / no pong */
    uint64_t upgrades_refused, ip_refused, accept_refused;
    uint64_t redis_failures;
    uint64_t api[7]; /* API answers: 2xx, 400, 401, 404, 413, 503, other */
    uint64_t orders[LC_ORDER__COUNT]; /* buy answers, by status */
    uint64_t joins[LC_JOIN__COUNT];   /* group_join answers, by status */
} lc_metrics_t;

struct lc_server;

/* Counts a buy (group 0) or group_join (group 1) answer by its status. */
void lc_metrics_order(lc_metrics_t *m, int group, const char *status, size_t n);

/* Appends the Prometheus text exposition of the shard's metrics. Never
 * labelled by room or user. Returns 0. */
int lc_metrics_render(const struct lc_server *srv, lc_buf_t *out);

#endif
