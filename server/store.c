/*
 * The store's life cycle, its routing and the rooms' subscriptions
 * (store_node.h). The nodes' connections are store_node.c's; the cluster's
 * map is store_cluster.c's.
 *
 * - A call goes to the node serving the slot of its room ({ROOM} is the
 *   hash tag of every key of the room), or of its first key for the few
 *   keys outside every room (lc:sale-rooms: slot 12826, documented in
 *   docs/DESIGN.md).
 * - A room kept subscribed is placed on the subscriber of its slot's node.
 *   When the node loses it (its connection dropped: it subscribes again by
 *   itself; its slot moved: it tells us) the room hears on_sub_lost, and
 *   on_subscribed once it is back, wherever the slot now lives; the room
 *   engine catches up from the stream in between, as after any reconnect.
 * - With one Redis, the shard learns what an ok is worth from Redis itself
 *   (CONFIG GET appendonly appendfsync) and says it (lc_store_durability).
 */
#include "store.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_call.h"
#include "store_cluster.h"
#include "store_node.h"

#define WATCHDOG_MS 250
#define ROOM_MAX 64 /* no room name is longer (lc_ident_valid) */
#define CH_MAX 96   /* "lc:{" + a room + "}:ch" */

/* A room kept subscribed, and where. */
typedef struct kept {
    lc_list_t link; /* on s->kept */
    int node;       /* the node whose subscriber holds its channel, -1: none yet */
    size_t n;
    char name[ROOM_MAX];
} kept_t;

static lc_str_t kept_name(const kept_t *k) { return lc_str(k->name, k->n); }

static size_t channel_of(char *ch, lc_str_t room) {
    return (size_t)snprintf(ch, CH_MAX, "lc:{%.*s}:ch", (int)room.n, room.p);
}

/* "lc:{ROOM}:ch" -> ROOM */
static int channel_room(lc_str_t ch, lc_str_t *room) {
    if (ch.n < 9 || memcmp(ch.p, "lc:{", 4) != 0 || memcmp(ch.p + ch.n - 4, "}:ch", 4) != 0) return -1;
    *room = lc_str(ch.p + 4, ch.n - 8);
    return 0;
}

/* ---- subscriptions ---- */

/* Puts k's channel on the subscriber of its slot's node (if known). */
static void place(lc_store_t *s, kept_t *k) {
    lc__node_t *nd = lc__node_for_slot(s, lc_slot_of_room(k->name, k->n));
    if (!nd) return;
    char ch[CH_MAX];
    size_t n = channel_of(ch, kept_name(k));
    if (lc__sub_add(&nd->sub, lc_str(ch, n)) != 0) {
        lc_log("redis: out of memory subscribing room %.*s; trying again", (int)k->n, k->name);
        return;
    }
    k->node = nd->index;
}

static void unplace(lc_store_t *s, kept_t *k) {
    if (k->node < 0) return;
    char ch[CH_MAX];
    size_t n = channel_of(ch, kept_name(k));
    lc__node_t *nd = s->nodes[k->node];
    if (nd) lc__sub_remove(&nd->sub, lc_str(ch, n));
    k->node = -1;
}

int lc_store_subscribe(lc_store_t *s, lc_str_t room) {
    if (room.n > ROOM_MAX || room.n == 0) return -1;
    if (lc_map_get(s->rooms, room.p, room.n)) return 0;
    kept_t *k = calloc(1, sizeof(*k));
    if (!k) return -1;
    memcpy(k->name, room.p, room.n);
    k->n = room.n;
    k->node = -1;
    if (lc_map_put(s->rooms, k->name, k->n, k) != 0) {
        free(k);
        return -1;
    }
    lc_list_push_back(&s->kept, &k->link);
    place(s, k);
    return 0;
}

void lc_store_unsubscribe(lc_store_t *s, lc_str_t room) {
    kept_t *k = lc_map_del(s->rooms, room.p, room.n);
    if (!k) return;
    unplace(s, k);
    lc_list_remove(&k->link);
    free(k);
}

/* The map changed: move subscriptions to their slots' nodes. */
static void reconcile(lc_store_t *s) {
    lc_list_foreach(it, &s->kept) {
        kept_t *k = LC_CONTAINER_OF(it, kept_t, link);
        uint16_t owner = s->map.owner[lc_slot_of_room(k->name, k->n)];
        if (k->node >= 0 && k->node == owner) continue;
        if (k->node >= 0) { /* the slot moved under a live subscription */
            unplace(s, k);
            if (s->ev.on_sub_lost) s->ev.on_sub_lost(s->arg, kept_name(k));
        }
        place(s, k);
    }
}

/* Rooms no node holds (a channel was lost while the map was not yet
 * updated): the watchdog places them as soon as the map says where. */
static void place_unplaced(lc_store_t *s) {
    lc_list_foreach(it, &s->kept) {
        kept_t *k = LC_CONTAINER_OF(it, kept_t, link);
        if (k->node < 0) place(s, k);
    }
}

static void on_sub_event(lc__node_t *nd, int kind, lc_str_t ch, const char *p, size_t n) {
    lc_store_t *s = nd->s;
    if (s->closing) return;
    if (kind == LC__SUB_DOWN_ALL) { /* the subscriber dropped: it subscribes again itself */
        lc_list_foreach(it, &s->kept) {
            kept_t *k = LC_CONTAINER_OF(it, kept_t, link);
            if (k->node == nd->index && s->ev.on_sub_lost) s->ev.on_sub_lost(s->arg, kept_name(k));
        }
        return;
    }
    lc_str_t room;
    if (channel_room(ch, &room) != 0) return;
    kept_t *k = lc_map_get(s->rooms, room.p, room.n);
    if (!k || k->node != nd->index) return;
    if (kind == LC__SUB_MSG) {
        s->ev.on_message(s->arg, room, p, n);
    } else if (kind == LC__SUB_OK) {
        s->ev.on_subscribed(s->arg, room);
    } else if (kind == LC__SUB_LOST) { /* the node does not serve it now */
        k->node = -1;
        if (s->ev.on_sub_lost) s->ev.on_sub_lost(s->arg, room);
        lc__want_refresh(s);
    }
}

/* ---- state ---- */

static void on_changed(lc__node_t *nd) {
    lc_store_t *s = nd->s;
    if (s->closing) return;
    if (s->cluster && !lc__node_up(nd)) lc__want_refresh(s);
    if (s->ev.on_state) s->ev.on_state(s->arg);
}

static int any_up(const lc_store_t *s, int sub) {
    if (s->closing || !s->map_known) return 0;
    for (unsigned i = 0; i < s->map.nnodes; i++) {
        const lc__node_t *nd = s->nodes[i];
        if (nd && nd->primary && (sub ? lc__sub_up(&nd->sub) : lc__node_up(nd))) return 1;
    }
    return 0;
}

int lc_store_up(const lc_store_t *s) { return any_up(s, 0); }
int lc_store_sub_up(const lc_store_t *s) { return any_up(s, 1); }

size_t lc_store_pending(const lc_store_t *s) {
    size_t n = 0;
    for (unsigned i = 0; i < s->map.nnodes; i++)
        if (s->nodes[i]) n += lc__node_pending(s->nodes[i]);
    return n;
}

const lc_store_latency_t *lc_store_latency(const lc_store_t *s) { return &s->lat; }

void lc_store_stats(const lc_store_t *s, lc_store_stats_t *out) {
    *out = s->stats;
    out->nodes = out->nodes_down = 0;
    for (unsigned i = 0; i < s->map.nnodes; i++) {
        const lc__node_t *nd = s->nodes[i];
        if (!nd || !nd->primary) continue;
        out->nodes++;
        if (!lc__node_up(nd)) out->nodes_down++;
    }
}

const char *lc_store_durability(const lc_store_t *s, int *mode) {
    if (mode) *mode = s->durable_mode;
    return s->durability;
}

/* ---- what an ok is worth ---- */

static void set_durability(lc_store_t *s, int mode, const char *what) {
    char text[sizeof(s->durability)];
    if (s->ack_replicas) {
        int primary = !s->cluster && mode != LC_STORE_DURABLE_UNKNOWN; /* one Redis with replicas */
        mode = LC_STORE_DURABLE_REPLICAS;
        snprintf(text, sizeof(text), "replicas %u: ok once %u replica%s hold%s it%s%s", s->ack_replicas,
                 s->ack_replicas, s->ack_replicas == 1 ? "" : "s", s->ack_replicas == 1 ? "s" : "",
                 primary ? "; the primary: " : "", primary ? what : "");
    } else {
        snprintf(text, sizeof(text), "%s", what);
    }
    if (strcmp(text, s->durability) != 0 && mode != LC_STORE_DURABLE_UNKNOWN)
        lc_log("redis: durability: %s", text);
    memcpy(s->durability, text, sizeof(text));
    s->durable_mode = mode;
}

static const char *config_value(const redisReply *rp, const char *name) {
    if (!rp || rp->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < rp->elements; i += 2)
        if (rp->element[i]->type == REDIS_REPLY_STRING && strcmp(rp->element[i]->str, name) == 0 &&
            rp->element[i + 1]->type == REDIS_REPLY_STRING)
            return rp->element[i + 1]->str;
    return NULL;
}

static void config_done(lc__node_t *nd, const void *reply, void *arg) {
    (void)arg;
    lc_store_t *s = nd->s;
    const char *aof = config_value(reply, "appendonly"), *fsync = config_value(reply, "appendfsync");
    if (!aof || !fsync) return; /* asked again on the next connect */
    if (strcmp(aof, "yes") != 0)
        set_durability(s, LC_STORE_DURABLE_NONE, "none: no AOF, a Redis restart loses acknowledged orders");
    else if (strcmp(fsync, "always") == 0)
        set_durability(s, LC_STORE_DURABLE_FSYNC, "fsync always: every ok is on disk");
    else if (strcmp(fsync, "everysec") == 0)
        set_durability(s, LC_STORE_DURABLE_EVERYSEC,
                       "everysec: up to 1 s of acknowledged orders can be lost on a power cut");
    else
        set_durability(s, LC_STORE_DURABLE_NONE,
                       "AOF without fsync: a power cut can lose acknowledged orders (the OS decides when)");
}

static void on_connected(lc__node_t *nd) {
    lc_store_t *s = nd->s;
    if (s->cluster) { /* a cluster's rule is --ack-replicas; the first node up tells the map */
        lc__cluster_tick(s);
        return;
    }
    const char *argv[] = {"CONFIG", "GET", "append*"};
    if (lc__node_plain(nd, 3, argv, config_done, NULL) != 0) lc_log("redis: cannot ask for the AOF settings");
}

/* ---- life cycle ---- */

static void on_watchdog(uv_timer_t *t) {
    lc_store_t *s = t->data;
    for (unsigned i = 0; i < s->map.nnodes; i++)
        if (s->nodes[i]) lc__node_check(s->nodes[i]);
    lc__cluster_tick(s);
    place_unplaced(s);
}

static void on_check(uv_check_t *c) { lc__calls_wait(c->data); }

static void on_map_changed(lc_store_t *s) {
    reconcile(s);
    if (s->ev.on_state) s->ev.on_state(s->arg);
}

/* A node, a timer or the store's own reference closed; the last frees s. */
static void on_closed(lc_store_t *s) {
    if (--s->handles_open > 0) return;
    lc_list_foreach_safe(it, &s->kept) free(LC_CONTAINER_OF(it, kept_t, link));
    lc_map_destroy(s->rooms);
    free(s);
}

static void on_handle_closed(uv_handle_t *h) { on_closed(h->data); }

/* Closes what was started; the last close callback frees s. */
static void close_all(lc_store_t *s) {
    s->closing = 1;
    if (s->inited & 2) lc__calls_close(s); /* deferred and held calls fail now */
    for (unsigned i = 0; i < s->map.nnodes; i++)
        if (s->nodes[i]) lc__node_close(s->nodes[i]); /* pending calls fail now */
    uv_handle_t *hs[] = {(uv_handle_t *)&s->watchdog, (uv_handle_t *)&s->wait_check};
    int bits[] = {1, 4};
    for (int i = 0; i < 2; i++)
        if (s->inited & bits[i]) uv_close(hs[i], on_handle_closed);
    on_closed(s); /* the store's own reference */
}

lc_store_t *lc_store_create(uv_loop_t *loop, const lc_store_opts_t *opts, const lc_store_events_t *ev, void *arg) {
    lc_store_t *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    if (!(s->rooms = lc_map_create())) {
        free(s);
        return NULL;
    }
    /* one reference for the store itself (dropped by close_all), one per handle */
    s->handles_open = 1;
    s->loop = loop;
    s->hooks = (lc__store_hooks_t){.changed = on_changed, .connected = on_connected, .sub_event = on_sub_event,
                                   .map_changed = on_map_changed, .closed = on_closed};
    s->watchdog.data = s->wait_check.data = s;
    if (uv_timer_init(loop, &s->watchdog) == 0) s->inited |= 1, s->handles_open++;
    if (lc__calls_init(s) == 0) s->inited |= 2, s->handles_open++;
    if (uv_check_init(loop, &s->wait_check) == 0) s->inited |= 4, s->handles_open++;
    s->timeout_ms = opts->timeout_ms;
    s->ack_replicas = opts->ack_replicas;
    s->ack_timeout_ms = opts->ack_timeout_ms;
    s->ev = *ev;
    s->arg = arg;
    lc_list_init(&s->kept);
    lc_slots_init(&s->map);
    set_durability(s, LC_STORE_DURABLE_UNKNOWN, "unknown");
    int ok = s->inited == 7;
    if (ok && opts->nseeds == 0) { /* one Redis: one node serving every slot */
        ok = lc_slots_assign(&s->map, 0, LC_SLOTS - 1, opts->redis.host, opts->redis.port) == 0;
        s->map_known = 1;
        if (ok) {
            lc__node_t *nd = lc__node_get(s, 0);
            ok = nd != NULL;
            if (nd) nd->primary = 1;
        }
    } else if (ok) {
        s->cluster = 1;
        for (size_t i = 0; i < opts->nseeds && ok; i++)
            ok = lc_slots_node(&s->map, opts->seeds[i].host, opts->seeds[i].port) >= 0;
        if (ok) lc__cluster_start(s);
        set_durability(s, LC_STORE_DURABLE_NONE,
                       s->ack_replicas ? NULL : "replicas 0: a primary failover can lose acknowledged orders");
    }
    if (!ok) {
        close_all(s);
        return NULL;
    }
    if (uv_timer_start(&s->watchdog, on_watchdog, WATCHDOG_MS, WATCHDOG_MS) != 0)
        lc_log("redis: cannot start the watchdog timer");
    if (s->ack_replicas && uv_check_start(&s->wait_check, on_check) != 0)
        lc_log("redis: cannot start the group commit");
    return s;
}

void lc_store_destroy(lc_store_t *s) {
    if (s) close_all(s);
}
