/*
 * The store's types, shared by its public API (store.h) and its inside
 * (store_node.h and the files below it), so the inside needs no part of
 * the API above it: statuses, events, options, the figures it keeps.
 */
#ifndef LC_STORE_TYPES_H
#define LC_STORE_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "lc_proto.h"

typedef struct lc_store lc_store_t;

/* A callback's status. The difference between the last two is what a
 * client is told: a command that may have run must never be reported as
 * "nothing happened" (an order would exist that its buyer was told failed). */
enum {
    LC_STORE_OK = 0,       /* the reply */
    LC_STORE_UNKNOWN = -1, /* sent, and no usable answer: the connection was lost or timed
                            * out, or the script failed part-way. It may have run. */
    LC_STORE_REFUSED = -2, /* Redis answered with an error that it gives before running
                            * anything (OOM, BUSY, LOADING, READONLY, ...): it did not run. */
};

typedef struct lc_store_events {
    /* A connection went up or down (lc_store_up, lc_store_sub_up may have
     * changed). */
    void (*on_state)(void *arg);
    /* room's subscription took effect: the first time, and again after it
     * was lost (messages in between were not received: catch up). */
    void (*on_subscribed)(void *arg, lc_str_t room);
    /* room's subscription stopped: its node's subscriber connection dropped,
     * or its slot moved (resharding, a failover). The store subscribes it
     * again, where the slot now lives; on_subscribed follows. */
    void (*on_sub_lost)(void *arg, lc_str_t room);
    /* A message on room's channel; payload is valid during the call only. */
    void (*on_message)(void *arg, lc_str_t room, const char *payload, size_t len);
} lc_store_events_t;

typedef struct lc_store_addr {
    char host[64]; /* numeric (names are resolved at start-up, never on the loop) */
    int port;
} lc_store_addr_t;

typedef struct lc_store_opts {
    lc_store_addr_t redis;        /* one Redis, when nseeds is 0 */
    const lc_store_addr_t *seeds; /* a Redis Cluster: where to learn its map */
    size_t nseeds;
    unsigned timeout_ms;          /* a command unanswered this long drops its connection */
    /* Durable calls (a buy, a cancel, a group join: what a buyer is told
     * "ok" about) are answered only once this many replicas hold them: one
     * WAIT per connection and loop iteration covers every answer received
     * in it. Fewer in ack_timeout_ms: LC_STORE_UNKNOWN. 0: no WAIT. */
    unsigned ack_replicas, ack_timeout_ms;
} lc_store_opts_t;

/* What an "ok" is worth, one line for the log, /healthz and the metrics:
 * learnt from the one Redis (CONFIG GET appendonly appendfsync) or from
 * ack_replicas. Until it is known: "unknown". */
enum {
    LC_STORE_DURABLE_UNKNOWN,
    LC_STORE_DURABLE_NONE,     /* no AOF, no replica waited for: a restart loses acknowledged orders */
    LC_STORE_DURABLE_EVERYSEC, /* AOF everysec: a power cut loses up to 1 s */
    LC_STORE_DURABLE_FSYNC,    /* AOF always: on disk before ok */
    LC_STORE_DURABLE_REPLICAS, /* held by ack_replicas replicas before ok */
};
/* What the router did, for the metrics. */
typedef struct lc_store_stats {
    uint64_t moved, asked, tryagain; /* redirections followed, calls retried */
    uint64_t ack_short;              /* durable answers turned unknown: too few replicas in time */
    uint64_t refreshes;              /* cluster maps learnt */
    unsigned nodes, nodes_down;      /* primaries in the map, and those not up */
} lc_store_stats_t;
/* Command round trips (send to reply, replies only), as a histogram:
 * le[i] counts those that took at most 64 us << i (cumulative is the
 * caller's business); sum_us their total. */
#define LC_STORE_LAT_BUCKETS 18
typedef struct lc_store_latency {
    uint64_t le[LC_STORE_LAT_BUCKETS]; /* the last bucket takes everything slower too */
    uint64_t count, sum_us;
} lc_store_latency_t;
/* A script's answer: one decoded message, valid during the callback only
 * (NULL unless status is LC_STORE_OK). */
typedef void lc_store_msg_cb(void *arg, int status, const lc_msg_t *reply);
typedef void lc_store_int_cb(void *arg, int status, int64_t value);

#endif
