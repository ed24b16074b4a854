/*
 * Internal to the store: its nodes, and the store's state that every file
 * of it shares (struct lc_store). Layers, each calling only those below:
 *
 *   store.c        the API: life cycle, the rooms' subscriptions, state
 *   store_cmd.c    the typed commands
 *   store_cluster.c  the cluster's map (CLUSTER SHARDS)
 *   store_call.c   a call on the wire: routing, replies, redirections, WAIT
 *   store_node.c   a node: its connections, scripts, plain commands
 *   store_conn.c, store_sub.c, store_slots.c, store_args.c, redis_uv.c
 *
 * What a lower layer must tell a higher one goes through the hooks that
 * store.c sets (lc__store_hooks_t), never a call up.
 *
 * One type of node serves both modes: a single Redis is a "cluster" of one
 * node that owns every slot, given at start; a Redis Cluster's map is
 * learnt (CLUSTER SHARDS) and followed (MOVED, ASK, failovers, resharding).
 * A node has a command connection (scripts loaded, pipelined), with
 * --ack-replicas a second one for the durable calls and their WAITs (so a
 * WAIT that waits for a slow replica never holds up comments), and a
 * sharded pub/sub subscriber for the channels of the rooms on its slots.
 */
#ifndef LC_STORE_NODE_H
#define LC_STORE_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "list.h"
#include "map.h"
#include "scripts.h"
#include "store_conn.h"
#include "store_slots.h"
#include "store_sub.h"
#include "store_types.h"

typedef struct lc__node {
    lc_store_t *s;
    int index; /* in s->map.nodes and s->nodes */
    char host[64];
    int port;
    lc__conn_t cmd, dur;    /* dur: started only with ack_replicas > 0 */
    unsigned loads_left[2]; /* SCRIPT LOADs unanswered on cmd, dur */
    lc__sub_t sub;
    int primary;            /* serves slots in the current map */
    int handles;            /* cmd, dur, sub not yet closed */
    lc_list_t held;         /* durable answers received, waiting for the WAIT that covers them (store_call.c) */
    int waiting;            /* a WAIT is in flight on dur */
} lc__node_t;

enum { LC__SUB_OK, LC__SUB_MSG, LC__SUB_LOST, LC__SUB_DOWN_ALL };

/* What the layers below tell store.c. */
typedef struct lc__store_hooks {
    void (*changed)(lc__node_t *nd);   /* one of its connections went up or down */
    void (*connected)(lc__node_t *nd); /* its command connection is up, scripts loaded */
    /* its subscriber: channel subscribed (OK), a message (MSG), a channel
     * the node let go (LOST), the connection dropped (DOWN_ALL, no channel) */
    void (*sub_event)(lc__node_t *nd, int kind, lc_str_t channel, const char *p, size_t n);
    void (*map_changed)(lc_store_t *s); /* the cluster's map changed */
    void (*closed)(lc_store_t *s);      /* a node or a timer finished closing */
} lc__store_hooks_t;

struct lc_store {
    uv_loop_t *loop;
    unsigned timeout_ms, ack_replicas, ack_timeout_ms;
    lc_store_events_t ev;
    void *arg;
    lc__store_hooks_t hooks;
    int cluster;                  /* 0: one Redis, node 0 */
    lc_slot_map_t map;            /* who serves which slot; nodes are never removed */
    int map_known;
    lc__node_t *nodes[LC_SLOT_NODES_MAX]; /* started on first use */
    lc_map_t *rooms;              /* rooms kept subscribed: name -> kept_t (store.c) */
    lc_list_t kept;               /* the same, for walks that move them */
    lc_list_t deferred;           /* calls to send again shortly (store_call.c) */
    uv_timer_t watchdog, retry;
    uv_check_t wait_check;        /* the group commit: WAITs at the end of each loop iteration */
    int closing, handles_open, inited;
    int refreshing, refresh_wanted; /* the cluster map (store_cluster.c) */
    uint64_t refresh_at, refresh_min_at;
    char sha[LC_SCRIPT__COUNT][41];
    lc_store_latency_t lat;
    lc_store_stats_t stats;
    char durability[200];
    int durable_mode;             /* LC_STORE_DURABLE_* */
    uint64_t log_sec;             /* rate limit of "command failed" lines (store_call.c) */
    unsigned log_n, log_dropped;
};

/* The map should be learnt again soon (a MOVED, a node down, a lost channel). */
static inline void lc__want_refresh(lc_store_t *s) { s->refresh_wanted = 1; }

/* Node index's node, started on first use; NULL out of memory or closing. */
lc__node_t *lc__node_get(lc_store_t *s, int index);
/* The node serving slot (started), or NULL (map unknown, or no owner). */
lc__node_t *lc__node_for_slot(lc_store_t *s, uint16_t slot);
int lc__node_up(const lc__node_t *nd); /* calls can be sent */
size_t lc__node_pending(const lc__node_t *nd);
/* A plain command on the command connection, answered to done (rp: the
 * redisReply, NULL if the connection was lost). 0, or -1 if not sent. */
typedef void lc__plain_cb(lc__node_t *nd, const void *rp, void *arg);
int lc__node_plain(lc__node_t *nd, int argc, const char **argv, lc__plain_cb *done, void *arg);
void lc__node_check(lc__node_t *nd); /* the watchdog, for the node's connections */
/* Closes its connections: their pending calls fail now; hooks.closed once closed. */
void lc__node_close(lc__node_t *nd);
/* A reply came sent_ns after its command: the latency histogram. */
void lc__node_observe(lc_store_t *s, uint64_t sent_ns);

#endif
