/*
 * The Redis layer: two hiredis async connections on the server's libuv
 * loop, script loading, typed commands and pub/sub. See store.h.
 */
#include "store.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "map.h"
#include "redis_uv.h"
#include "scripts.h"

enum { RC_DOWN, RC_CONNECTING, RC_LOADING, RC_UP };
enum { REQ_JOIN, REQ_INT, REQ_VALS, REQ_LOAD, REQ_FIRE };

/* Back-off between connection attempts, and how often failures are logged:
 * a Redis that stays down must not fill the log. */
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000
#define LOG_EVERY_N_FAILS 30

typedef struct lc_req lc_req_t;

typedef struct rconn {
    lc_store_t *s;
    const char *name; /* "command" or "subscriber" */
    int is_sub;
    redisAsyncContext *ac;
    int state;
    unsigned backoff_ms, fails, loads_left;
    uint64_t started_ms; /* when the connect (or loading) began */
    uv_timer_t retry;
    lc_req_t *head, *tail; /* commands awaiting a reply, oldest first */
    size_t pending;
} rconn_t;

struct lc_store {
    uv_loop_t *loop;
    char host[256];
    int port;
    unsigned timeout_ms;
    lc_store_events_t ev;
    void *arg;
    rconn_t cmd, sub;
    uv_timer_t watchdog;
    int closing, handles_open;
    char sha[LC_SCRIPT__COUNT][41];
    lc_map_t *channels; /* rooms whose channel we keep subscribed */
    lc_store_latency_t lat;
};

struct lc_req {
    lc_req_t *prev, *next;
    rconn_t *rc;
    int kind, script, retried;
    uint64_t sent_ms;
    uint64_t sent_ns; /* for the latency histogram */
    union {
        lc_store_join_cb *join;
        lc_store_int_cb *num;
        lc_store_vals_cb *vals;
    } cb;
    void *arg;
    /* The command, kept to re-send it with EVAL if Redis lost the script. */
    int argc;
    const char **argv;
    size_t *argvlen;
};

static void rc_connect(rconn_t *rc);

/* ---- requests ---- */

static lc_req_t *req_new(int kind, int script, int argc, const char *const *argv,
                         const size_t *argvlen) {
    size_t bytes = sizeof(lc_req_t) + (size_t)argc * (sizeof(char *) + sizeof(size_t));
    for (int i = 0; i < argc; i++) bytes += argvlen[i];
    lc_req_t *r = calloc(1, bytes);
    if (!r) return NULL;
    r->kind = kind;
    r->script = script;
    r->argc = argc;
    r->argv = (const char **)(r + 1);
    r->argvlen = (size_t *)(r->argv + argc);
    char *p = (char *)(r->argvlen + argc);
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i], argvlen[i]);
        r->argv[i] = p;
        r->argvlen[i] = argvlen[i];
        p += argvlen[i];
    }
    return r;
}

static void req_link(rconn_t *rc, lc_req_t *r) {
    r->rc = rc;
    r->prev = rc->tail;
    r->next = NULL;
    if (rc->tail)
        rc->tail->next = r;
    else
        rc->head = r;
    rc->tail = r;
    rc->pending++;
}

static void req_unlink(lc_req_t *r) {
    rconn_t *rc = r->rc;
    if (r->prev)
        r->prev->next = r->next;
    else
        rc->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        rc->tail = r->prev;
    rc->pending--;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv);
static void observe(lc_store_t *s, uint64_t sent_ns);

static int req_send(rconn_t *rc, lc_req_t *r) {
    if (!rc->ac || redisAsyncCommandArgv(rc->ac, on_reply, r, r->argc, r->argv, r->argvlen) != REDIS_OK)
        return -1;
    r->sent_ms = uv_now(rc->s->loop);
    r->sent_ns = uv_hrtime();
    req_link(rc, r);
    return 0;
}

static void fail_req(lc_req_t *r, int status) {
    switch (r->kind) {
    case REQ_JOIN:
        r->cb.join(r->arg, status, NULL);
        break;
    case REQ_INT:
        r->cb.num(r->arg, status, 0);
        break;
    case REQ_VALS:
        r->cb.vals(r->arg, status, NULL, 0);
        break;
    default:
        break;
    }
}

#define SALE_FIELDS 10

static int parse_sales(const redisReply *a, lc_store_sale_t **out, size_t *nout) {
    *out = NULL;
    *nout = 0;
    if (a->type != REDIS_REPLY_ARRAY || a->elements % SALE_FIELDS != 0) return -1;
    size_t n = a->elements / SALE_FIELDS;
    if (!n) return 0;
    lc_store_sale_t *sales = calloc(n, sizeof(*sales));
    if (!sales) return -1;
    for (size_t i = 0; i < n; i++) {
        redisReply **f = a->element + SALE_FIELDS * i;
        for (int k = 0; k < SALE_FIELDS; k++) {
            if (f[k]->type != (k < 3 ? REDIS_REPLY_STRING : REDIS_REPLY_INTEGER)) {
                free(sales);
                return -1;
            }
        }
        sales[i] = (lc_store_sale_t){f[0]->str, f[1]->str, f[2]->str, (size_t)f[0]->len,
                                     (size_t)f[1]->len, (size_t)f[2]->len, f[3]->integer,
                                     f[4]->integer, f[5]->integer, f[6]->integer, f[7]->integer,
                                     f[8]->integer, f[9]->integer};
    }
    *out = sales;
    *nout = n;
    return 0;
}

#define JOIN_HEAD 7
#define ENTRY_FIELDS 5

static int parse_join(const redisReply *rp, lc_req_t *r) {
    if (rp->type != REDIS_REPLY_ARRAY || rp->elements < JOIN_HEAD ||
        (rp->elements - JOIN_HEAD) % ENTRY_FIELDS != 0)
        return -1;
    redisReply **e = rp->element;
    if (e[0]->type != REDIS_REPLY_INTEGER || e[1]->type != REDIS_REPLY_INTEGER ||
        e[2]->type != REDIS_REPLY_STRING || e[3]->type != REDIS_REPLY_INTEGER ||
        e[5]->type != REDIS_REPLY_ARRAY || e[6]->type != REDIS_REPLY_INTEGER)
        return -1;
    enum { MAXB = 64 };
    lc_store_val_t banned[MAXB];
    size_t nb = 0;
    for (size_t i = 0; i < e[5]->elements && nb < MAXB; i++) {
        const redisReply *b = e[5]->element[i];
        if (b->type == REDIS_REPLY_STRING) banned[nb++] = (lc_store_val_t){b->str, (size_t)b->len, 0};
    }
    lc_store_sale_t *sales;
    size_t nsales;
    if (parse_sales(e[4], &sales, &nsales) != 0) return -1;
    size_t n = (rp->elements - JOIN_HEAD) / ENTRY_FIELDS;
    lc_store_entry_t *entries = n ? calloc(n, sizeof(*entries)) : NULL;
    if (n && !entries) {
        free(sales);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply **f = e + JOIN_HEAD + ENTRY_FIELDS * i;
        int ok = 1;
        for (int k = 0; k < ENTRY_FIELDS; k++) ok &= f[k]->type == REDIS_REPLY_STRING;
        if (!ok || f[1]->len != 1) {
            free(entries);
            free(sales);
            return -1;
        }
        entries[i] = (lc_store_entry_t){f[1]->str[0], f[0]->str, f[2]->str, f[3]->str, f[4]->str,
                                        (size_t)f[0]->len, (size_t)f[2]->len, (size_t)f[3]->len,
                                        (size_t)f[4]->len};
    }
    lc_store_join_t res = {e[0]->integer, e[1]->integer, e[2]->str, (size_t)e[2]->len,
                           e[3]->integer != 0, entries, n, sales, nsales, banned, nb, e[6]->integer};
    r->cb.join(r->arg, 0, &res);
    free(entries);
    free(sales);
    return 0;
}

/* A flat array of strings and integers (commerce replies). */
static int parse_vals(const redisReply *rp, lc_req_t *r) {
    enum { MAXV = 16 };
    lc_store_val_t v[MAXV];
    if (rp->type == REDIS_REPLY_STRING) { /* a script that answers one string */
        v[0] = (lc_store_val_t){rp->str, (size_t)rp->len, 0};
        r->cb.vals(r->arg, 0, v, 1);
        return 0;
    }
    if (rp->type != REDIS_REPLY_ARRAY || rp->elements > MAXV) return -1;
    for (size_t i = 0; i < rp->elements; i++) {
        const redisReply *e = rp->element[i];
        if (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS)
            v[i] = (lc_store_val_t){e->str, (size_t)e->len, 0};
        else if (e->type == REDIS_REPLY_INTEGER)
            v[i] = (lc_store_val_t){NULL, 0, e->integer};
        else
            return -1;
    }
    r->cb.vals(r->arg, 0, v, rp->elements);
    return 0;
}

static int deliver(const redisReply *rp, lc_req_t *r) {
    switch (r->kind) {
    case REQ_JOIN:
        return parse_join(rp, r);
    case REQ_INT:
        if (rp->type != REDIS_REPLY_INTEGER) return -1;
        r->cb.num(r->arg, 0, rp->integer);
        return 0;
    case REQ_VALS:
        return parse_vals(rp, r);
    case REQ_FIRE:
        return 0;
    }
    return -1;
}

static void loaded(rconn_t *rc, lc_req_t *r, const redisReply *rp);

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

static void on_reply(redisAsyncContext *ac, void *reply, void *priv) {
    lc_req_t *r = priv;
    rconn_t *rc = r->rc;
    const redisReply *rp = reply;
    req_unlink(r);
    if (rp && !rc->is_sub) observe(rc->s, r->sent_ns);
    if (r->kind == REQ_LOAD) {
        loaded(rc, r, rp);
        free(r);
        return;
    }
    if (rp && rp->type == REDIS_REPLY_ERROR && !r->retried && strncmp(rp->str, "NOSCRIPT", 8) == 0 &&
        rc->state == RC_UP) {
        /* Redis lost the script (SCRIPT FLUSH, failover): send the source;
         * EVAL also caches it again for the commands that follow. */
        r->retried = 1;
        r->argv[0] = "EVAL";
        r->argvlen[0] = 4;
        r->argv[1] = lc_script_src[r->script];
        r->argvlen[1] = strlen(lc_script_src[r->script]);
        if (req_send(rc, r) == 0) return;
    }
    if (!rp) {
        fail_req(r, LC_STORE_UNKNOWN); /* connection lost: the command may or may not have run */
    } else if (rp->type == REDIS_REPLY_ERROR) {
        lc_log("redis: command failed: %.200s", rp->str);
        fail_req(r, refused_before_running(rp->str) ? LC_STORE_REFUSED : LC_STORE_UNKNOWN);
    } else if (deliver(rp, r) != 0) {
        lc_log("redis: unexpected reply type %d", rp->type);
        fail_req(r, LC_STORE_UNKNOWN);
    }
    free(r);
}

/* ---- connections ---- */

static void set_state(rconn_t *rc, int state) {
    int was_up = rc->state == RC_UP;
    rc->state = state;
    if (was_up != (state == RC_UP) && !rc->s->closing && rc->s->ev.on_state) rc->s->ev.on_state(rc->s->arg);
}

static void on_retry(uv_timer_t *t) { rc_connect(t->data); }

static void schedule_retry(rconn_t *rc) {
    if (rc->s->closing) return;
    rc->backoff_ms = rc->backoff_ms ? rc->backoff_ms * 2 : RETRY_MIN_MS;
    if (rc->backoff_ms > RETRY_MAX_MS) rc->backoff_ms = RETRY_MAX_MS;
    uv_timer_start(&rc->retry, on_retry, rc->backoff_ms, 0);
}

static void went_down(rconn_t *rc, const char *why) {
    if (rc->fails++ % LOG_EVERY_N_FAILS == 0)
        lc_log("redis: %s connection to %s:%d %s: %s; retrying", rc->name, rc->s->host, rc->s->port,
               rc->state == RC_UP ? "lost" : "failed", why);
    set_state(rc, RC_DOWN);
    schedule_retry(rc);
}

static void resubscribe_one(void *arg, const char *room, size_t n, void *val);

static void on_connect(const redisAsyncContext *ac, int status) {
    rconn_t *rc = ac->data;
    if (!rc) return;
    if (status != REDIS_OK) {
        rc->ac = NULL; /* hiredis frees the context after this callback */
        went_down(rc, ac->errstr);
        return;
    }
    redisEnableKeepAlive((redisContext *)&ac->c);
    if (rc->is_sub) {
        if (rc->fails) lc_log("redis: subscriber connection to %s:%d is back", rc->s->host, rc->s->port);
        rc->fails = 0;
        rc->backoff_ms = 0;
        /* Subscribe every room first; each confirmation tells its room to
         * catch up on what it missed while the connection was down. */
        lc_map_foreach(rc->s->channels, resubscribe_one, rc);
        set_state(rc, RC_UP);
        return;
    }
    /* Load every script first: commands queued after these on the same
     * connection find them, and we learn each SHA from the replies. */
    set_state(rc, RC_LOADING);
    rc->started_ms = uv_now(rc->s->loop);
    rc->loads_left = LC_SCRIPT__COUNT;
    for (int i = 0; i < LC_SCRIPT__COUNT; i++) {
        const char *argv[] = {"SCRIPT", "LOAD", lc_script_src[i]};
        size_t lens[] = {6, 4, strlen(lc_script_src[i])};
        lc_req_t *r = req_new(REQ_LOAD, i, 3, argv, lens);
        if (!r || req_send(rc, r) != 0) {
            free(r);
            lc_log("redis: cannot send SCRIPT LOAD; the watchdog will reconnect");
            return;
        }
    }
}

static void loaded(rconn_t *rc, lc_req_t *r, const redisReply *rp) {
    lc_store_t *s = rc->s;
    if (!rp || rp->type != REDIS_REPLY_STRING || rp->len != 40) {
        if (rp) lc_log("redis: SCRIPT LOAD failed: %.200s", rp->type == REDIS_REPLY_ERROR ? rp->str : "?");
        return;
    }
    memcpy(s->sha[r->script], rp->str, 40);
    s->sha[r->script][40] = '\0';
    if (--rc->loads_left == 0 && rc->state == RC_LOADING) {
        if (rc->fails) lc_log("redis: command connection to %s:%d is back", s->host, s->port);
        else lc_log("redis: connected to %s:%d, scripts loaded", s->host, s->port);
        rc->fails = 0;
        rc->backoff_ms = 0;
        set_state(rc, RC_UP);
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    rconn_t *rc = ac->data;
    if (!rc || rc->ac != ac) return;
    rc->ac = NULL; /* hiredis frees the context after this callback */
    went_down(rc, ac->errstr[0] ? ac->errstr : "closed");
}

static void on_sub(redisAsyncContext *ac, void *reply, void *priv);

static void resubscribe_one(void *arg, const char *room, size_t n, void *val) {
    rconn_t *rc = arg;
    char ch[96];
    int len = snprintf(ch, sizeof(ch), "lc:{%.*s}:ch", (int)n, room);
    redisAsyncCommand(rc->ac, on_sub, rc, "SUBSCRIBE %b", ch, (size_t)len);
}

static void rc_connect(rconn_t *rc) {
    lc_store_t *s = rc->s;
    if (s->closing) return;
    redisAsyncContext *ac = redisAsyncConnect(s->host, s->port);
    if (!ac) {
        went_down(rc, "out of memory");
        return;
    }
    if (ac->err) {
        char why[128];
        snprintf(why, sizeof(why), "%s", ac->errstr);
        redisAsyncFree(ac);
        went_down(rc, why);
        return;
    }
    if (lc_redis_uv_attach(ac, s->loop) != 0) {
        redisAsyncFree(ac);
        went_down(rc, "cannot attach to the loop");
        return;
    }
    ac->data = rc;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    rc->ac = ac;
    rc->started_ms = uv_now(s->loop);
    set_state(rc, RC_CONNECTING);
}

/* Drops a connection from outside hiredis callbacks (watchdog, destroy):
 * pending callbacks run now with failure, then we reconnect. */
static void rc_drop(rconn_t *rc, const char *why) {
    redisAsyncContext *ac = rc->ac;
    if (!ac) return;
    rc->ac = NULL;
    ac->data = NULL;
    int was = rc->state;
    rc->state = RC_CONNECTING; /* refuse new commands during the callbacks */
    redisAsyncFree(ac);
    rc->state = was;
    went_down(rc, why);
}

static void on_watchdog(uv_timer_t *t) {
    lc_store_t *s = t->data;
    uint64_t now = uv_now(s->loop);
    rconn_t *rcs[] = {&s->cmd, &s->sub};
    for (int i = 0; i < 2; i++) {
        rconn_t *rc = rcs[i];
        if ((rc->state == RC_CONNECTING || rc->state == RC_LOADING) && rc->ac &&
            now - rc->started_ms > s->timeout_ms)
            rc_drop(rc, "no answer while connecting");
        else if (rc->state == RC_UP && rc->head && now - rc->head->sent_ms > s->timeout_ms)
            rc_drop(rc, "a command got no reply in time");
    }
}

static void on_handle_closed(uv_handle_t *h) {
    lc_store_t *s = h->data;
    if (--s->handles_open == 0) {
        lc_map_destroy(s->channels);
        free(s);
    }
}

lc_store_t *lc_store_create(uv_loop_t *loop, const char *host, int port, unsigned timeout_ms,
                            const lc_store_events_t *ev, void *arg) {
    lc_store_t *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->channels = lc_map_create();
    if (!s->channels) {
        free(s);
        return NULL;
    }
    s->loop = loop;
    snprintf(s->host, sizeof(s->host), "%s", host);
    s->port = port;
    s->timeout_ms = timeout_ms;
    s->ev = *ev;
    s->arg = arg;
    rconn_t *rcs[] = {&s->cmd, &s->sub};
    for (int i = 0; i < 2; i++) {
        rconn_t *rc = rcs[i];
        rc->s = s;
        rc->is_sub = i == 1;
        rc->name = i ? "subscriber" : "command";
        uv_timer_init(loop, &rc->retry);
        rc->retry.data = rc;
    }
    uv_timer_init(loop, &s->watchdog);
    s->watchdog.data = s;
    s->handles_open = 3;
    uv_timer_start(&s->watchdog, on_watchdog, 250, 250);
    rc_connect(&s->cmd);
    rc_connect(&s->sub);
    return s;
}

void lc_store_destroy(lc_store_t *s) {
    if (!s) return;
    s->closing = 1;
    rconn_t *rcs[] = {&s->cmd, &s->sub};
    for (int i = 0; i < 2; i++) {
        redisAsyncContext *ac = rcs[i]->ac;
        rcs[i]->ac = NULL;
        rcs[i]->state = RC_DOWN;
        if (ac) {
            ac->data = NULL;
            redisAsyncFree(ac);
        }
        rcs[i]->retry.data = s;
        uv_close((uv_handle_t *)&rcs[i]->retry, on_handle_closed);
    }
    uv_close((uv_handle_t *)&s->watchdog, on_handle_closed);
}

int lc_store_up(const lc_store_t *s) { return s->cmd.state == RC_UP && !s->closing; }
int lc_store_sub_up(const lc_store_t *s) { return s->sub.state == RC_UP && !s->closing; }
size_t lc_store_pending(const lc_store_t *s) { return s->cmd.pending; }

const lc_store_latency_t *lc_store_latency(const lc_store_t *s) { return &s->lat; }

static void observe(lc_store_t *s, uint64_t sent_ns) {
    uint64_t us = (uv_hrtime() - sent_ns) / 1000;
    unsigned i = 0;
    while (i < LC_STORE_LAT_BUCKETS - 1 && us > (64ull << i)) i++;
    s->lat.le[i]++;
    s->lat.count++;
    s->lat.sum_us += us;
}

/* ---- typed commands ---- */

#define KEY(buf, room, rn, suffix) \
    snprintf(buf, sizeof(buf), "lc:{%.*s}:" suffix, (int)(rn), room)

/* Sends EVALSHA of script with keys and args (strings with lengths). */
static int eval(lc_store_t *s, int script, int kind, int nkeys, int nargs, const char *const *a,
                const size_t *alen, void *cb, void *arg) {
    if (!lc_store_up(s)) return -1;
    enum { MAXA = 24 };
    const char *argv[MAXA + 3];
    size_t lens[MAXA + 3];
    char nk[8];
    argv[0] = "EVALSHA";
    lens[0] = 7;
    argv[1] = s->sha[script];
    lens[1] = 40;
    lens[2] = (size_t)snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[2] = nk;
    for (int i = 0; i < nargs && i < MAXA; i++) {
        argv[3 + i] = a[i];
        lens[3 + i] = alen[i];
    }
    lc_req_t *r = req_new(kind, script, 3 + nargs, argv, lens);
    if (!r) return -1;
    r->cb.join = cb;
    r->arg = arg;
    if (req_send(&s->cmd, r) != 0) {
        free(r);
        return -1;
    }
    return 0;
}

#define SL(x) (x), strlen(x)

int lc_store_join(lc_store_t *s, const char *room, size_t rn, const char *shard, unsigned count,
                  const char *since, size_t since_n, unsigned cap, const lc_store_val_t *users,
                  size_t nusers, lc_store_join_cb *cb, void *arg) {
    if (!lc_store_up(s)) return -1;
    /* the joiners go in ARGV: one request per batch whatever its size */
    size_t argc = 3 + 7 + 4 + nusers;
    const char **argv = malloc(argc * sizeof(*argv));
    size_t *lens = malloc(argc * sizeof(*lens));
    char k[7][96], cnt[16], capb[16];
    static const char *const names[7] = {"chat", "likes", "vshare", "vexp", "sales", "bans", "slow"};
    int rc = -1;
    if (argv && lens) {
        argv[0] = "EVALSHA";
        argv[1] = s->sha[LC_SCRIPT_JOIN];
        argv[2] = "7";
        for (int i = 0; i < 7; i++) {
            snprintf(k[i], sizeof(k[i]), "lc:{%.*s}:%s", (int)rn, room, names[i]);
            argv[3 + i] = k[i];
        }
        snprintf(cnt, sizeof(cnt), "%u", count);
        snprintf(capb, sizeof(capb), "%u", cap);
        argv[10] = shard;
        argv[11] = cnt;
        argv[12] = since ? since : "";
        argv[13] = capb;
        for (size_t i = 0; i < 14; i++) lens[i] = strlen(argv[i]);
        if (since) lens[12] = since_n;
        for (size_t i = 0; i < nusers; i++) {
            argv[14 + i] = users[i].s;
            lens[14 + i] = users[i].n;
        }
        lc_req_t *r = req_new(REQ_JOIN, LC_SCRIPT_JOIN, (int)argc, argv, lens);
        if (r) {
            r->cb.join = cb;
            r->arg = arg;
            if (req_send(&s->cmd, r) == 0)
                rc = 0;
            else
                free(r);
        }
    }
    free(argv);
    free(lens);
    return rc;
}

int lc_store_comment(lc_store_t *s, const char *room, size_t rn, const lc_store_comment_t *c,
                     lc_store_vals_cb *cb, void *arg) {
    char k1[96], k2[96], k3[96], k4[96], k5[96], k6[96], ch[96], capb[16], ttlb[16];
    KEY(k1, room, rn, "chat");
    KEY(k2, room, rn, "bans");
    KEY(k3, room, rn, "mutes");
    KEY(k4, room, rn, "slow");
    KEY(k5, room, rn, "lastc");
    KEY(k6, room, rn, "creqs");
    KEY(ch, room, rn, "ch");
    snprintf(capb, sizeof(capb), "%u", c->cap);
    snprintf(ttlb, sizeof(ttlb), "%u", c->req_ttl_s);
    const char *a[] = {k1, k2, k3, k4, k5, k6, ch, c->user, c->text, capb, c->exempt ? "1" : "0", c->req, ttlb};
    size_t l[] = {strlen(k1), strlen(k2), strlen(k3), strlen(k4), strlen(k5), strlen(k6), strlen(ch), c->user_n,
                  c->text_n, strlen(capb), 1, c->req_n, strlen(ttlb)};
    return eval(s, LC_SCRIPT_COMMENT, REQ_VALS, 6, 13, a, l, (void *)cb, arg);
}

int lc_store_post(lc_store_t *s, const char *room, size_t rn, const lc_store_post_t *p, lc_store_vals_cb *cb,
                  void *arg) {
    enum { HEAD = 7 };
    char k1[96], k2[96], ch[96], capb[16], ttlb[16];
    if (p->nargs > 3) return -1;
    KEY(k1, room, rn, "chat");
    KEY(k2, room, rn, "posts");
    KEY(ch, room, rn, "ch");
    snprintf(capb, sizeof(capb), "%u", p->cap);
    snprintf(ttlb, sizeof(ttlb), "%u", p->key_ttl_s);
    const char *a[HEAD + 3] = {k1, k2, ch, capb, p->key, ttlb, p->kind};
    size_t l[HEAD + 3] = {strlen(k1), strlen(k2), strlen(ch), strlen(capb), p->key_n, strlen(ttlb), strlen(p->kind)};
    char nums[3][24];
    for (size_t i = 0; i < p->nargs; i++) {
        if (p->args[i].s) {
            a[HEAD + i] = p->args[i].s;
            l[HEAD + i] = p->args[i].n;
        } else {
            l[HEAD + i] = (size_t)snprintf(nums[i], sizeof(nums[i]), "%lld", (long long)p->args[i].i);
            a[HEAD + i] = nums[i];
        }
    }
    return eval(s, LC_SCRIPT_POST, REQ_VALS, 2, (int)(HEAD + p->nargs), a, l, (void *)cb, arg);
}

int lc_store_moderate(lc_store_t *s, const char *room, size_t rn, const char *op,
                      const lc_store_val_t *args, size_t nargs, lc_store_vals_cb *cb, void *arg) {
    char k1[96], k2[96], k3[96], k4[96], ch[96], nums[2][24];
    if (nargs > 2) return -1;
    KEY(k1, room, rn, "bans");
    KEY(k2, room, rn, "mutes");
    KEY(k3, room, rn, "slow");
    KEY(k4, room, rn, "chat");
    KEY(ch, room, rn, "ch");
    const char *a[8] = {k1, k2, k3, k4, op, ch};
    size_t l[8] = {strlen(k1), strlen(k2), strlen(k3), strlen(k4), strlen(op), strlen(ch)};
    for (size_t i = 0; i < nargs; i++) {
        if (args[i].s) {
            a[6 + i] = args[i].s;
            l[6 + i] = args[i].n;
        } else {
            l[6 + i] = (size_t)snprintf(nums[i], sizeof(nums[i]), "%lld", (long long)args[i].i);
            a[6 + i] = nums[i];
        }
    }
    return eval(s, LC_SCRIPT_MODERATE, REQ_VALS, 4, (int)(6 + nargs), a, l, (void *)cb, arg);
}

int lc_store_likes(lc_store_t *s, const char *room, size_t rn, const char *shard,
                   const char *boot, uint64_t seq, int64_t count, lc_store_int_cb *cb, void *arg) {
    char k1[96], k2[96], ch[96], seqb[24], cntb[24];
    KEY(k1, room, rn, "likes");
    KEY(k2, room, rn, "likeseq");
    KEY(ch, room, rn, "ch");
    snprintf(seqb, sizeof(seqb), "%llu", (unsigned long long)seq);
    snprintf(cntb, sizeof(cntb), "%lld", (long long)count);
    const char *a[] = {k1, k2, ch, shard, boot, seqb, cntb};
    size_t l[] = {strlen(k1), strlen(k2), strlen(ch), strlen(shard), strlen(boot), strlen(seqb),
                  strlen(cntb)};
    return eval(s, LC_SCRIPT_LIKES, REQ_INT, 2, 7, a, l, (void *)cb, arg);
}

int lc_store_viewers(lc_store_t *s, const char *room, size_t rn, const char *shard,
                     int64_t count, unsigned ttl_ms, lc_store_int_cb *cb, void *arg) {
    char k1[96], k2[96], k3[96], ch[96], cntb[24], ttlb[16];
    KEY(k1, room, rn, "vshare");
    KEY(k2, room, rn, "vexp");
    KEY(k3, room, rn, "viewers");
    KEY(ch, room, rn, "ch");
    snprintf(cntb, sizeof(cntb), "%lld", (long long)count);
    snprintf(ttlb, sizeof(ttlb), "%u", ttl_ms);
    const char *a[] = {k1, k2, k3, ch, shard, cntb, ttlb};
    size_t l[] = {strlen(k1), strlen(k2), strlen(k3), strlen(ch), strlen(shard), strlen(cntb),
                  strlen(ttlb)};
    return eval(s, LC_SCRIPT_VIEWERS, REQ_INT, 3, 7, a, l, (void *)cb, arg);
}

int lc_store_buy(lc_store_t *s, const char *room, size_t rn, const lc_store_buy_req_t *b,
                 lc_store_vals_cb *cb, void *arg) {
    char k1[160], k2[160], k3[96], k4[96], k5[96], k6[160], k7[160], k8[96];
    char qb[24], ttl[16], cap[16], fast[16], users[16];
    snprintf(k1, sizeof(k1), "lc:{%.*s}:sale:%.*s", (int)rn, room, (int)b->sku_n, b->sku);
    snprintf(k2, sizeof(k2), "lc:{%.*s}:bought:%.*s", (int)rn, room, (int)b->sku_n, b->sku);
    KEY(k3, room, rn, "reqs");
    KEY(k4, room, rn, "orders");
    KEY(k5, room, rn, "orderidx");
    snprintf(k6, sizeof(k6), "lc:{%.*s}:ipunits:%.*s", (int)rn, room, (int)b->sku_n, b->sku);
    snprintf(k7, sizeof(k7), "lc:{%.*s}:ipusers:%.*s", (int)rn, room, (int)b->sku_n, b->sku);
    KEY(k8, room, rn, "audit");
    snprintf(qb, sizeof(qb), "%lld", (long long)b->qty);
    snprintf(ttl, sizeof(ttl), "%u", b->req_ttl_s);
    snprintf(cap, sizeof(cap), "%u", b->ip_cap);
    snprintf(fast, sizeof(fast), "%u", b->fast_ms);
    snprintf(users, sizeof(users), "%u", b->ip_users);
    const char *a[] = {k1, k2, k3, k4, k5, k6, k7, k8, b->user, b->req, b->sku, qb, b->shard, ttl,
                       b->ip, cap, fast, users};
    size_t l[] = {strlen(k1), strlen(k2), strlen(k3), strlen(k4), strlen(k5), strlen(k6),
                  strlen(k7), strlen(k8), b->user_n, b->req_n, b->sku_n, strlen(qb),
                  strlen(b->shard), strlen(ttl), strlen(b->ip), strlen(cap), strlen(fast),
                  strlen(users)};
    return eval(s, LC_SCRIPT_BUY, REQ_VALS, 8, 18, a, l, (void *)cb, arg);
}

int lc_store_commerce(lc_store_t *s, const char *room, size_t rn, const char *op,
                      const lc_store_val_t *args, size_t nargs, lc_store_vals_cb *cb, void *arg) {
    enum { MAXA = 12 };
    char k1[96], prefix[96], ch[96], nums[MAXA][24];
    if (nargs > MAXA) return -1;
    KEY(k1, room, rn, "sales");
    KEY(prefix, room, rn, "");
    KEY(ch, room, rn, "ch");
    const char *a[4 + MAXA] = {k1, op, prefix, ch};
    size_t l[4 + MAXA] = {strlen(k1), strlen(op), strlen(prefix), strlen(ch)};
    for (size_t i = 0; i < nargs; i++) {
        if (args[i].s) {
            a[4 + i] = args[i].s;
            l[4 + i] = args[i].n;
        } else {
            l[4 + i] = (size_t)snprintf(nums[i], sizeof(nums[i]), "%lld", (long long)args[i].i);
            a[4 + i] = nums[i];
        }
    }
    return eval(s, LC_SCRIPT_COMMERCE, REQ_VALS, 1, (int)(4 + nargs), a, l, (void *)cb, arg);
}

void lc_store_note_sale_room(lc_store_t *s, const char *room, size_t rn) {
    if (!lc_store_up(s)) return;
    const char *argv[] = {"SADD", "lc:sale-rooms", room};
    size_t lens[] = {4, 13, rn};
    lc_req_t *r = req_new(REQ_FIRE, 0, 3, argv, lens);
    if (r && req_send(&s->cmd, r) != 0) free(r);
}

/* ---- pub/sub ---- */

/* "lc:{ROOM}:ch" -> ROOM */
static int channel_room(const char *ch, size_t n, const char **room, size_t *rn) {
    if (n < 9 || memcmp(ch, "lc:{", 4) != 0 || memcmp(ch + n - 4, "}:ch", 4) != 0) return -1;
    *room = ch + 4;
    *rn = n - 8;
    return 0;
}

static void on_sub(redisAsyncContext *ac, void *reply, void *priv) {
    rconn_t *rc = priv;
    lc_store_t *s = rc->s;
    const redisReply *rp = reply;
    if (!rp || s->closing || rp->type != REDIS_REPLY_ARRAY || rp->elements < 3) return;
    const redisReply *kind = rp->element[0], *ch = rp->element[1], *body = rp->element[2];
    if (kind->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING) return;
    const char *room;
    size_t rn;
    if (channel_room(ch->str, (size_t)ch->len, &room, &rn) != 0) return;
    if (strcmp(kind->str, "message") == 0 && body->type == REDIS_REPLY_STRING) {
        s->ev.on_message(s->arg, room, rn, body->str, (size_t)body->len);
    } else if (strcmp(kind->str, "subscribe") == 0 && lc_map_get(s->channels, room, rn)) {
        s->ev.on_subscribed(s->arg, room, rn);
    }
}

int lc_store_subscribe(lc_store_t *s, const char *room, size_t rn) {
    if (lc_map_get(s->channels, room, rn)) return 0;
    if (lc_map_put(s->channels, room, rn, (void *)1) != 0) return -1;
    if (lc_store_sub_up(s)) resubscribe_one(&s->sub, room, rn, NULL);
    return 0;
}

void lc_store_unsubscribe(lc_store_t *s, const char *room, size_t rn) {
    if (!lc_map_del(s->channels, room, rn)) return;
    if (!lc_store_sub_up(s)) return;
    char ch[96];
    int len = snprintf(ch, sizeof(ch), "lc:{%.*s}:ch", (int)rn, room);
    redisAsyncCommand(s->sub.ac, NULL, NULL, "UNSUBSCRIBE %b", ch, (size_t)len);
}
