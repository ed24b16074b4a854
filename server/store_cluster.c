/*
 * The Redis Cluster's map, as this shard knows it (store_cluster.h): learnt
 * from CLUSTER SHARDS (Redis 7.0) on any node that answers, and learnt
 * again when something says it changed -- a MOVED, a CLUSTERDOWN, a node
 * whose connection dropped, a channel a node let go -- and every
 * REFRESH_MS anyway. While a primary is down the map is asked for on every
 * watchdog tick (at most every MIN_GAP_MS), so the shard follows a failover
 * as soon as the cluster has promoted a replica.
 *
 * The map only says who serves a slot; calls to a slot whose primary is
 * down fail at once (-1: "unavailable"), the rest of the rooms go on.
 */
#include "store_cluster.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define REFRESH_MS 10000
#define MIN_GAP_MS 100

/* The value of name in a RESP2 flat map ([k1, v1, k2, v2, ...]), or NULL. */
static const redisReply *field(const redisReply *kv, const char *name) {
    if (!kv || kv->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < kv->elements; i += 2)
        if (kv->element[i]->type == REDIS_REPLY_STRING && strcmp(kv->element[i]->str, name) == 0)
            return kv->element[i + 1];
    return NULL;
}

static int is_str(const redisReply *r, const char *want) {
    return r && r->type == REDIS_REPLY_STRING && (!want || strcmp(r->str, want) == 0);
}

/* The primary of one shard: its address into host/port. 0, or -1. */
static int shard_primary(const redisReply *shard, char *host, size_t cap, int *port) {
    const redisReply *nodes = field(shard, "nodes");
    if (!nodes || nodes->type != REDIS_REPLY_ARRAY) return -1;
    for (size_t i = 0; i < nodes->elements; i++) {
        const redisReply *n = nodes->element[i];
        const redisReply *role = field(n, "role"), *ip = field(n, "ip"), *p = field(n, "port");
        if (!is_str(role, "master") || !is_str(ip, NULL) || !p || p->type != REDIS_REPLY_INTEGER) continue;
        if (strlen(ip->str) >= cap || p->integer <= 0 || p->integer > 65535) return -1;
        strcpy(host, ip->str);
        *port = (int)p->integer;
        return 0;
    }
    return -1;
}

/* Builds the map from a CLUSTER SHARDS reply into owner[]. 0, or -1 if the
 * reply is not one (then the map stays as it was). */
static int parse_shards(lc_store_t *s, const redisReply *rp, uint16_t *owner) {
    if (!rp || rp->type != REDIS_REPLY_ARRAY) return -1;
    for (unsigned i = 0; i < LC_SLOTS; i++) owner[i] = LC_SLOT_NONE;
    for (size_t i = 0; i < rp->elements; i++) {
        const redisReply *slots = field(rp->element[i], "slots");
        char host[64];
        int port;
        if (!slots || slots->type != REDIS_REPLY_ARRAY || slots->elements % 2) return -1;
        if (slots->elements == 0) continue; /* a primary with no slots yet */
        if (shard_primary(rp->element[i], host, sizeof(host), &port) != 0) continue; /* no primary: unserved */
        int idx = lc_slots_node(&s->map, host, port);
        if (idx < 0) return -1;
        for (size_t j = 0; j < slots->elements; j += 2) {
            const redisReply *a = slots->element[j], *b = slots->element[j + 1];
            if (a->type != REDIS_REPLY_INTEGER || b->type != REDIS_REPLY_INTEGER || a->integer < 0 ||
                b->integer >= LC_SLOTS || a->integer > b->integer)
                return -1;
            for (long long k = a->integer; k <= b->integer; k++) owner[k] = (uint16_t)idx;
        }
    }
    return 0;
}

static void shards_done(lc__node_t *nd, const void *reply, void *arg) {
    (void)arg;
    lc_store_t *s = nd->s;
    s->refreshing = 0;
    if (s->closing) return;
    uint16_t *owner = malloc(sizeof(uint16_t) * LC_SLOTS);
    if (!owner || parse_shards(s, reply, owner) != 0) {
        if (owner) lc_log("redis: %s:%d answered CLUSTER SHARDS with no map; asking again", nd->host, nd->port);
        free(owner);
        s->refresh_wanted = 1;
        return;
    }
    int changed = !s->map_known || memcmp(owner, s->map.owner, sizeof(uint16_t) * LC_SLOTS) != 0;
    memcpy(s->map.owner, owner, sizeof(uint16_t) * LC_SLOTS);
    free(owner);
    s->map_known = 1;
    s->refresh_at = uv_now(s->loop) + REFRESH_MS;
    s->stats.refreshes++;
    if (!changed) return;
    unsigned primaries = 0;
    for (unsigned i = 0; i < s->map.nnodes; i++) {
        int serves = 0;
        for (unsigned k = 0; k < LC_SLOTS && !serves; k++) serves = s->map.owner[k] == i;
        lc__node_t *n = serves ? lc__node_get(s, (int)i) : s->nodes[i]; /* primaries connect now */
        if (n) n->primary = serves;
        primaries += (unsigned)serves;
    }
    unsigned unserved = lc_slots_unserved(&s->map);
    lc_log("redis: cluster map: %u primaries, %u slots unserved", primaries, unserved);
    s->hooks.map_changed(s);
}

/* A node to ask: an up primary, else any up node; NULL if none is up. */
static lc__node_t *pick(lc_store_t *s) {
    lc__node_t *any = NULL;
    for (unsigned i = 0; i < s->map.nnodes; i++) {
        lc__node_t *nd = s->nodes[i];
        if (!nd || nd->cmd.state != LC__CONN_UP) continue;
        if (nd->primary) return nd;
        if (!any) any = nd;
    }
    return any;
}

static int primary_down(const lc_store_t *s) {
    for (unsigned i = 0; i < s->map.nnodes; i++)
        if (s->nodes[i] && s->nodes[i]->primary && !lc__node_up(s->nodes[i])) return 1;
    return 0;
}

static void refresh(lc_store_t *s) {
    lc__node_t *nd = pick(s);
    if (!nd) { /* nobody up: make sure every node we know is trying */
        for (unsigned i = 0; i < s->map.nnodes; i++) lc__node_get(s, (int)i);
        return;
    }
    const char *argv[] = {"CLUSTER", "SHARDS"};
    if (lc__node_plain(nd, 2, argv, shards_done, NULL) != 0) return;
    s->refreshing = 1;
    s->refresh_wanted = 0;
    s->refresh_min_at = uv_now(s->loop) + MIN_GAP_MS;
}

void lc__cluster_tick(lc_store_t *s) {
    if (!s->cluster || s->refreshing || s->closing) return;
    uint64_t now = uv_now(s->loop);
    if (now < s->refresh_min_at) return;
    if (s->refresh_wanted || !s->map_known || now >= s->refresh_at || primary_down(s)) refresh(s);
}

void lc__cluster_start(lc_store_t *s) {
    s->refresh_wanted = 1;
    for (unsigned i = 0; i < s->map.nnodes; i++) lc__node_get(s, (int)i); /* the seeds */
}
