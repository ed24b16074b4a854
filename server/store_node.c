/*
 * One Redis node's connections (store_node.h): the command connection (and
 * with --ack-replicas the durable one), pipelined, the scripts loaded when
 * it connects (SCRIPT LOAD, which also tells us each SHA) before anything
 * else is sent on it; the node's sharded subscriber; plain commands for the
 * store's own questions (CONFIG GET, CLUSTER SHARDS).
 */
#include "store_node.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* A command of the node's own: SCRIPT LOAD, or a plain one. */
typedef struct own {
    lc__req_t q; /* first: the allocation is the own_t */
    lc__node_t *nd;
    int script;
    lc__plain_cb *done;
    void *arg;
} own_t;

static lc__node_t *node_of_conn(const lc__conn_t *c) { return c->owner; }

int lc__node_up(const lc__node_t *nd) {
    return nd->cmd.state == LC__CONN_UP && (!nd->s->ack_replicas || nd->dur.state == LC__CONN_UP);
}

size_t lc__node_pending(const lc__node_t *nd) { return nd->cmd.npending + nd->dur.npending; }

lc__node_t *lc__node_for_slot(lc_store_t *s, uint16_t slot) {
    if (!s->map_known || s->closing) return NULL;
    uint16_t owner = s->map.owner[slot];
    return owner == LC_SLOT_NONE ? NULL : lc__node_get(s, owner);
}

void lc__node_observe(lc_store_t *s, uint64_t sent_ns) {
    uint64_t us = (uv_hrtime() - sent_ns) / 1000;
    unsigned i = 0;
    while (i < LC_STORE_LAT_BUCKETS - 1 && us > (64ull << i)) i++;
    s->lat.le[i]++;
    s->lat.count++;
    s->lat.sum_us += us;
}

/* ---- plain commands ---- */

static void plain_done(lc__req_t *q, const redisReply *rp) {
    own_t *o = (own_t *)q;
    o->done(o->nd, rp, o->arg);
    free(o);
}

int lc__node_plain(lc__node_t *nd, int argc, const char **argv, lc__plain_cb *done, void *arg) {
    size_t bytes = 0;
    for (int i = 0; i < argc; i++) bytes += strlen(argv[i]);
    char *p;
    own_t *o = (own_t *)lc__req_alloc(sizeof(own_t), argc, bytes, &p);
    if (!o) return -1;
    for (int i = 0; i < argc; i++) lc__req_word(&o->q, i, &p, argv[i], strlen(argv[i]));
    o->q.done = plain_done;
    o->done = done;
    o->nd = nd;
    o->arg = arg;
    if (lc__conn_send(&nd->cmd, &o->q) != 0) {
        free(o);
        return -1;
    }
    return 0;
}

/* ---- connections ---- */

static int conn_slot(const lc__node_t *nd, const lc__conn_t *c) { return c == &nd->cmd ? 0 : 1; }

/* A SCRIPT LOAD answered: keep the SHA; the last one makes the connection
 * up. A failed one leaves it preparing: the watchdog reconnects. */
static void loaded(lc__req_t *q, const redisReply *rp) {
    own_t *r = (own_t *)q;
    lc__conn_t *c = q->conn;
    lc__node_t *nd = node_of_conn(c);
    lc_store_t *s = nd->s;
    if (rp && rp->type == REDIS_REPLY_STRING && rp->len == 40) {
        memcpy(s->sha[r->script], rp->str, 40);
        s->sha[r->script][40] = '\0';
        if (--nd->loads_left[conn_slot(nd, c)] == 0 && c->state == LC__CONN_PREPARING) {
            if (!c->fails) lc_log("redis: connected to %s:%d (%s), scripts loaded", nd->host, nd->port, c->name);
            lc__conn_ready(c);
            if (c == &nd->cmd) s->hooks.connected(nd);
        }
    } else if (rp) {
        lc_log("redis: SCRIPT LOAD failed on %s:%d: %.200s", nd->host, nd->port,
               rp->type == REDIS_REPLY_ERROR ? rp->str : "?");
    }
    free(r);
}

/* The connection is up: load every script first. Commands queued after
 * these on the same connection find them, and we learn each SHA. */
static void load_scripts(lc__conn_t *c) {
    lc__node_t *nd = node_of_conn(c);
    nd->loads_left[conn_slot(nd, c)] = LC_SCRIPT__COUNT;
    for (int i = 0; i < LC_SCRIPT__COUNT; i++) {
        char *p;
        size_t n = strlen(lc_script_src[i]);
        own_t *r = (own_t *)lc__req_alloc(sizeof(own_t), 3, 10 + n, &p);
        if (r) {
            lc__req_word(&r->q, 0, &p, "SCRIPT", 6);
            lc__req_word(&r->q, 1, &p, "LOAD", 4);
            lc__req_word(&r->q, 2, &p, lc_script_src[i], n);
            r->q.done = loaded;
            r->nd = nd;
            r->script = i;
        }
        if (!r || lc__conn_send(c, &r->q) != 0) {
            free(r);
            lc_log("redis: cannot send SCRIPT LOAD; the watchdog will reconnect");
            return;
        }
    }
}

/* (durable answers held on a dur connection that dropped fail at the next
 * group commit: store_call.c) */
static void conn_changed(lc__conn_t *c) {
    lc__node_t *nd = node_of_conn(c);
    nd->s->hooks.changed(nd);
}

static void sub_event(lc__node_t *nd, int kind, lc_str_t ch, const char *p, size_t n) {
    nd->s->hooks.sub_event(nd, kind, ch, p, n);
}

static void sub_subscribed(lc__sub_t *sub, lc_str_t ch) { sub_event(sub->owner, LC__SUB_OK, ch, NULL, 0); }
static void sub_message(lc__sub_t *sub, lc_str_t ch, const char *p, size_t n) {
    sub_event(sub->owner, LC__SUB_MSG, ch, p, n);
}
static void sub_lost(lc__sub_t *sub, lc_str_t ch) { sub_event(sub->owner, LC__SUB_LOST, ch, NULL, 0); }
static void sub_changed(lc__sub_t *sub) {
    lc__node_t *nd = sub->owner;
    if (!lc__sub_up(sub)) sub_event(nd, LC__SUB_DOWN_ALL, lc_str("", 0), NULL, 0);
    nd->s->hooks.changed(nd);
}

static const lc__sub_events_t sub_events = {sub_subscribed, sub_message, sub_lost, sub_changed};

static void node_handle_closed(lc__node_t *nd) {
    if (--nd->handles > 0) return;
    lc_store_t *s = nd->s;
    s->nodes[nd->index] = NULL;
    free(nd);
    s->hooks.closed(s);
}

static void on_conn_closed(uv_handle_t *h) { node_handle_closed(h->data); }
static void on_sub_closed(lc__sub_t *sub) { node_handle_closed(sub->owner); }

static int conn_start(lc__node_t *nd, lc__conn_t *c, const char *name) {
    *c = (lc__conn_t){.loop = nd->s->loop, .host = nd->host, .port = nd->port, .name = name, .owner = nd,
                      .on_connect = load_scripts, .on_change = conn_changed};
    if (lc__conn_start(c) != 0) {
        c->loop = NULL; /* nothing to close */
        return -1;
    }
    nd->handles++;
    return 0;
}

lc__node_t *lc__node_get(lc_store_t *s, int index) {
    if (index < 0 || (unsigned)index >= s->map.nnodes) return NULL;
    if (s->nodes[index] || s->closing) return s->nodes[index];
    lc__node_t *nd = calloc(1, sizeof(*nd));
    if (!nd) return NULL;
    nd->s = s;
    nd->index = index;
    snprintf(nd->host, sizeof(nd->host), "%s", s->map.nodes[index].host);
    nd->port = s->map.nodes[index].port;
    lc_list_init(&nd->held);
    s->nodes[index] = nd;
    s->handles_open++; /* until node_handle_closed */
    nd->handles = 1;   /* ours, dropped below once the connections are started */
    nd->sub.loop = s->loop;
    snprintf(nd->sub.host, sizeof(nd->sub.host), "%s", nd->host);
    nd->sub.port = nd->port;
    nd->sub.owner = nd;
    nd->sub.ev = &sub_events;
    int ok = conn_start(nd, &nd->cmd, "command") == 0;
    if (ok && s->ack_replicas) ok = conn_start(nd, &nd->dur, "durable") == 0;
    if (ok && lc__sub_start(&nd->sub) == 0) nd->handles++;
    else ok = 0;
    if (!ok) {
        lc_log("redis: cannot start the connections to %s:%d", nd->host, nd->port);
        lc__node_close(nd);
        return NULL;
    }
    node_handle_closed(nd); /* drops ours: the connections hold it now */
    return nd;
}

void lc__node_check(lc__node_t *nd) {
    unsigned t = nd->s->timeout_ms;
    lc__conn_check(&nd->cmd, t);
    if (nd->dur.loop) lc__conn_check(&nd->dur, t);
    lc__sub_check(&nd->sub, t);
}

void lc__node_close(lc__node_t *nd) {
    nd->handles++; /* ours, while closing the rest */
    if (nd->cmd.loop) lc__conn_close(&nd->cmd, on_conn_closed);
    if (nd->dur.loop) lc__conn_close(&nd->dur, on_conn_closed);
    if (nd->sub.reader) lc__sub_close(&nd->sub, on_sub_closed);
    node_handle_closed(nd);
}

