/*
 * The single-instance backend of the store (store_int.h): one Redis, two
 * hiredis async connections on the server's libuv loop.
 *
 * - The command connection is pipelined. Scripts are loaded when it
 *   connects (SCRIPT LOAD, which also tells us each SHA) and run by EVALSHA;
 *   a NOSCRIPT (SCRIPT FLUSH, a failover to a replica that never saw them)
 *   re-sends that call once with EVAL and the source.
 * - The subscriber connection carries the rooms' channels.
 * - hiredis 0.14 has no reconnect: both connections reconnect here, with
 *   back-off, and the subscriber subscribes every kept room again.
 * - A command unanswered for timeout_ms drops its connection (the
 *   watchdog), so no caller waits forever: its callback runs with
 *   LC_STORE_UNKNOWN, as do those of every other pending command.
 *
 * Replies are classified once, here: a decoded answer (LC_STORE_OK), an
 * error Redis gives before running anything (LC_STORE_REFUSED), or anything
 * else (LC_STORE_UNKNOWN: it may have run).
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "map.h"
#include "scripts.h"
#include "store_conn.h"
#include "store_int.h"

#define WATCHDOG_MS 250

struct lc_store {
    uv_loop_t *loop;
    char host[256];
    unsigned timeout_ms;
    lc_store_events_t ev;
    void *arg;
    lc__conn_t cmd, sub;
    uv_timer_t watchdog;
    int closing, handles_open;
    unsigned loads_left; /* SCRIPT LOADs unanswered on the command connection */
    char sha[LC_SCRIPT__COUNT][41];
    lc_map_t *channels; /* rooms whose channel we keep subscribed */
    lc_store_latency_t lat;
};

/* One call on the wire. Its words are kept to send it again with EVAL if
 * Redis lost the script. */
typedef struct req {
    lc__req_t q; /* first: the allocation is the req */
    lc_store_t *s;
    int script; /* lc_script_id_t or LC__NO_SCRIPT */
    int retried;
    lc__reply_t reply;
    lc_msg_type_t expect;
    lc__cb_t cb;
    void *arg;
} req_t;

/* ---- requests ---- */

static void call_done(lc__req_t *q, const redisReply *rp);

/* The words of a call: EVALSHA sha nkeys KEYS... ARGV..., or the command. */
static req_t *req_from_call(lc_store_t *s, const lc__call_t *c) {
    const lc__args_t *a = c->args;
    int head = c->script == LC__NO_SCRIPT ? 0 : 3;
    char *p, nk[16];
    int nkn = snprintf(nk, sizeof(nk), "%d", a->nkeys);
    req_t *r = (req_t *)lc__req_alloc(sizeof(req_t), head + (int)a->n, a->used + 40 + 7 + (size_t)nkn, &p);
    if (!r) return NULL;
    int w = 0;
    if (head) {
        lc__req_word(&r->q, w++, &p, "EVALSHA", 7);
        lc__req_word(&r->q, w++, &p, s->sha[c->script], 40);
        lc__req_word(&r->q, w++, &p, nk, (size_t)nkn);
    }
    for (int pass = head ? 0 : 1; pass < 2; pass++) /* scripts: keys first */
        for (size_t i = 0; i < a->n; i++)
            if (!head || a->items[i].is_key == !pass) lc__req_word(&r->q, w++, &p, lc__args_at(a, i), a->items[i].n);
    r->q.done = call_done;
    r->s = s;
    r->script = c->script;
    r->reply = c->reply;
    r->expect = c->expect;
    r->cb = c->cb;
    r->arg = c->arg;
    return r;
}

int lc__store_send(lc_store_t *s, const lc__call_t *c) {
    if (!lc_store_up(s) || c->args->err) return -1;
    if (c->script != LC__NO_SCRIPT && (c->script < 0 || c->script >= LC_SCRIPT__COUNT)) return -1;
    req_t *r = req_from_call(s, c);
    if (!r) return -1;
    if (lc__conn_send(&s->cmd, &r->q) != 0) {
        free(r);
        return -1;
    }
    return 0;
}

static void fail_req(req_t *r, int status) {
    if (r->reply == LC__REPLY_MSG)
        r->cb.msg(r->arg, status, NULL);
    else if (r->reply == LC__REPLY_INT)
        r->cb.num(r->arg, status, 0);
}

static const char *script_name(int script) {
    return script >= 0 && script < LC_SCRIPT__COUNT ? lc_script_name[script] : "(command)";
}

/* Hands a reply to the callback; -1 if it is not what the call expects. */
static int deliver(req_t *r, const redisReply *rp) {
    if (r->reply == LC__REPLY_NONE) return 0;
    if (r->reply == LC__REPLY_INT) {
        if (rp->type != REDIS_REPLY_INTEGER) return -1;
        r->cb.num(r->arg, LC_STORE_OK, rp->integer);
        return 0;
    }
    if (rp->type != REDIS_REPLY_STRING) return -1;
    lc_msg_t m;
    lc_proto_err_t err;
    if (lc_msg_decode(&m, LC_FMT_MSGPACK, LC_DIR_S2C | LC_DIR_BUS, rp->str, (size_t)rp->len, &err) != 0) {
        lc_log("redis: %s.lua answered no valid message: %s", script_name(r->script), err.message);
        return -1;
    }
    if (m.type != r->expect) {
        lc_log("redis: %s.lua answered %s, not %s", script_name(r->script), lc_msg_type_name(m.type),
               lc_msg_type_name(r->expect));
        lc_msg_clear(&m);
        return -1;
    }
    r->cb.msg(r->arg, LC_STORE_OK, &m);
    lc_msg_clear(&m);
    return 0;
}

/* 1 for the errors Redis gives before it runs a command (or a script) at
 * all; anything else -- a script that failed part-way, an error we do not
 * know -- may have had an effect. NOSCRIPT is here because it is retried
 * once with the source, and a second one means the script never ran. */
static int refused_before_running(const char *err) {
    static const char *const before[] = {"OOM ", "BUSY ", "LOADING ", "READONLY ", "MASTERDOWN ",
                                         "NOSCRIPT ", "CLUSTERDOWN ", "TRYAGAIN ", "NOREPLICAS ",
                                         "MISCONF ", "NOAUTH ", "NOPERM ", "WRONGPASS "};
    for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++)
        if (strncmp(err, before[i], strlen(before[i])) == 0) return 1;
    return 0;
}

static void observe(lc_store_t *s, uint64_t sent_ns) {
    uint64_t us = (uv_hrtime() - sent_ns) / 1000;
    unsigned i = 0;
    while (i < LC_STORE_LAT_BUCKETS - 1 && us > (64ull << i)) i++;
    s->lat.le[i]++;
    s->lat.count++;
    s->lat.sum_us += us;
}

/* Redis lost the script (SCRIPT FLUSH, failover): send the source; EVAL
 * also caches it again for the commands that follow. 1 if re-sent. */
static int resend_with_source(req_t *r, const redisReply *rp) {
    lc__conn_t *c = r->q.conn;
    if (!rp || rp->type != REDIS_REPLY_ERROR || r->retried || r->script == LC__NO_SCRIPT ||
        strncmp(rp->str, "NOSCRIPT", 8) != 0 || c->state != LC__CONN_UP)
        return 0;
    r->retried = 1;
    r->q.argv[0] = "EVAL";
    r->q.argvlen[0] = 4;
    r->q.argv[1] = lc_script_src[r->script];
    r->q.argvlen[1] = strlen(lc_script_src[r->script]);
    return lc__conn_send(c, &r->q) == 0;
}

static void call_done(lc__req_t *q, const redisReply *rp) {
    req_t *r = (req_t *)q;
    if (rp) observe(r->s, q->sent_ns);
    if (resend_with_source(r, rp)) return;
    if (!rp) {
        fail_req(r, LC_STORE_UNKNOWN); /* connection lost: the command may or may not have run */
    } else if (rp->type == REDIS_REPLY_ERROR) {
        lc_log("redis: command failed: %.200s", rp->str);
        fail_req(r, refused_before_running(rp->str) ? LC_STORE_REFUSED : LC_STORE_UNKNOWN);
    } else if (deliver(r, rp) != 0) {
        if (rp->type != REDIS_REPLY_STRING) lc_log("redis: unexpected reply type %d", rp->type);
        fail_req(r, LC_STORE_UNKNOWN);
    }
    free(r);
}

/* ---- connections ---- */

static void on_change(lc__conn_t *c) {
    lc_store_t *s = c->owner;
    if (!s->closing && s->ev.on_state) s->ev.on_state(s->arg);
}

/* A SCRIPT LOAD answered: keep the SHA; the last one makes the command
 * connection up. A failed one leaves it preparing: the watchdog reconnects. */
static void loaded(lc__req_t *q, const redisReply *rp) {
    req_t *r = (req_t *)q;
    lc_store_t *s = r->s;
    if (rp && rp->type == REDIS_REPLY_STRING && rp->len == 40) {
        memcpy(s->sha[r->script], rp->str, 40);
        s->sha[r->script][40] = '\0';
        if (--s->loads_left == 0 && s->cmd.state == LC__CONN_PREPARING) {
            if (!s->cmd.fails) lc_log("redis: connected to %s:%d, scripts loaded", s->host, s->cmd.port);
            lc__conn_ready(&s->cmd);
        }
    } else if (rp) {
        lc_log("redis: SCRIPT LOAD failed: %.200s", rp->type == REDIS_REPLY_ERROR ? rp->str : "?");
    }
    free(r);
}

/* The command connection is up: load every script first. Commands queued
 * after these on the same connection find them, and we learn each SHA from
 * the replies. */
static void load_scripts(lc__conn_t *c) {
    lc_store_t *s = c->owner;
    s->loads_left = LC_SCRIPT__COUNT;
    for (int i = 0; i < LC_SCRIPT__COUNT; i++) {
        char *p;
        size_t n = strlen(lc_script_src[i]);
        req_t *r = (req_t *)lc__req_alloc(sizeof(req_t), 3, 10 + n, &p);
        if (r) {
            lc__req_word(&r->q, 0, &p, "SCRIPT", 6);
            lc__req_word(&r->q, 1, &p, "LOAD", 4);
            lc__req_word(&r->q, 2, &p, lc_script_src[i], n);
            r->q.done = loaded;
            r->s = s;
            r->script = i;
        }
        if (!r || lc__conn_send(c, &r->q) != 0) {
            free(r);
            lc_log("redis: cannot send SCRIPT LOAD; the watchdog will reconnect");
            return;
        }
    }
}

static void subscribe_one(void *arg, const char *room, size_t n, void *val);

/* The subscriber is up: subscribe every room; each confirmation tells its
 * room to catch up on what it missed while the connection was down. */
static void resubscribe(lc__conn_t *c) {
    lc_store_t *s = c->owner;
    lc_map_foreach(s->channels, subscribe_one, c);
    lc__conn_ready(c);
}

static void on_watchdog(uv_timer_t *t) {
    lc_store_t *s = t->data;
    lc__conn_check(&s->cmd, s->timeout_ms);
    lc__conn_check(&s->sub, s->timeout_ms);
}

/* ---- life cycle ---- */

static void on_handle_closed(uv_handle_t *h) {
    lc_store_t *s = h->data;
    if (--s->handles_open == 0) {
        lc_map_destroy(s->channels);
        free(s);
    }
}

/* Closes what was started; the last close callback frees s. */
static void close_all(lc_store_t *s) {
    s->closing = 1;
    lc__conn_t *cs[] = {&s->cmd, &s->sub};
    for (int i = 0; i < 2; i++)
        if (cs[i]->loop) lc__conn_close(cs[i], on_handle_closed); /* pending calls fail now */
    uv_close((uv_handle_t *)&s->watchdog, on_handle_closed);
}

static int conn_start(lc_store_t *s, lc__conn_t *c, int port, const char *name, void (*on_connect)(lc__conn_t *)) {
    *c = (lc__conn_t){.loop = s->loop, .host = s->host, .port = port, .name = name, .owner = s,
                      .on_connect = on_connect, .on_change = on_change};
    if (lc__conn_start(c) != 0) {
        c->loop = NULL; /* nothing to close */
        return -1;
    }
    s->handles_open++;
    return 0;
}

lc_store_t *lc_store_create(uv_loop_t *loop, const lc_store_opts_t *opts, const lc_store_events_t *ev, void *arg) {
    lc_store_t *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->channels = lc_map_create();
    if (!s->channels || uv_timer_init(loop, &s->watchdog) != 0) {
        lc_map_destroy(s->channels);
        free(s);
        return NULL;
    }
    s->loop = loop;
    snprintf(s->host, sizeof(s->host), "%s", opts->host);
    s->timeout_ms = opts->timeout_ms;
    s->ev = *ev;
    s->arg = arg;
    s->watchdog.data = s;
    s->handles_open = 1;
    if (conn_start(s, &s->cmd, opts->port, "command", load_scripts) != 0 ||
        conn_start(s, &s->sub, opts->port, "subscriber", resubscribe) != 0) {
        close_all(s);
        return NULL;
    }
    if (uv_timer_start(&s->watchdog, on_watchdog, WATCHDOG_MS, WATCHDOG_MS) != 0)
        lc_log("redis: cannot start the watchdog timer");
    return s;
}

void lc_store_destroy(lc_store_t *s) {
    if (s) close_all(s);
}

int lc_store_up(const lc_store_t *s) { return s->cmd.state == LC__CONN_UP && !s->closing; }
int lc_store_sub_up(const lc_store_t *s) { return s->sub.state == LC__CONN_UP && !s->closing; }
size_t lc_store_pending(const lc_store_t *s) { return s->cmd.npending; }
const lc_store_latency_t *lc_store_latency(const lc_store_t *s) { return &s->lat; }

/* ---- pub/sub ---- */

#define CH_MAX 96 /* "lc:{" + a room (at most 64) + "}:ch" */

/* "lc:{ROOM}:ch" -> ROOM */
static int channel_room(const char *ch, size_t n, lc_str_t *room) {
    if (n < 9 || memcmp(ch, "lc:{", 4) != 0 || memcmp(ch + n - 4, "}:ch", 4) != 0) return -1;
    *room = lc_str(ch + 4, n - 8);
    return 0;
}

static void on_sub(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    lc_store_t *s = priv;
    const redisReply *rp = reply;
    if (!rp || s->closing || rp->type != REDIS_REPLY_ARRAY || rp->elements < 3) return;
    const redisReply *kind = rp->element[0], *ch = rp->element[1], *body = rp->element[2];
    if (kind->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING) return;
    lc_str_t room;
    if (channel_room(ch->str, (size_t)ch->len, &room) != 0) return;
    if (strcmp(kind->str, "message") == 0 && body->type == REDIS_REPLY_STRING) {
        s->ev.on_message(s->arg, room, body->str, (size_t)body->len);
    } else if (strcmp(kind->str, "subscribe") == 0 && lc_map_get(s->channels, room.p, room.n)) {
        s->ev.on_subscribed(s->arg, room);
    }
}

static void subscribe_one(void *arg, const char *room, size_t n, void *val) {
    (void)val;
    lc__conn_t *c = arg;
    char ch[CH_MAX];
    int len = snprintf(ch, sizeof(ch), "lc:{%.*s}:ch", (int)n, room);
    if (!c->ac || redisAsyncCommand(c->ac, on_sub, c->owner, "SUBSCRIBE %b", ch, (size_t)len) != REDIS_OK)
        lc_log("redis: cannot send SUBSCRIBE; the room resubscribes when the subscriber reconnects");
}

int lc_store_subscribe(lc_store_t *s, lc_str_t room) {
    if (room.n > 64) return -1; /* no room name is longer (lc_ident_valid) */
    if (lc_map_get(s->channels, room.p, room.n)) return 0;
    if (lc_map_put(s->channels, room.p, room.n, (void *)1) != 0) return -1;
    if (lc_store_sub_up(s)) subscribe_one(&s->sub, room.p, room.n, NULL);
    return 0;
}

void lc_store_unsubscribe(lc_store_t *s, lc_str_t room) {
    if (!lc_map_del(s->channels, room.p, room.n)) return;
    if (!lc_store_sub_up(s)) return;
    char ch[CH_MAX];
    int len = snprintf(ch, sizeof(ch), "lc:{%.*s}:ch", (int)room.n, room.p);
    if (redisAsyncCommand(s->sub.ac, NULL, NULL, "UNSUBSCRIBE %b", ch, (size_t)len) != REDIS_OK)
        lc_log("redis: cannot send UNSUBSCRIBE");
}
