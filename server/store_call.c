/*
 * A store call on the wire (store_call.h).
 *
 * - Replies are classified once, here: a decoded answer (LC_STORE_OK), an
 *   error Redis gives before running anything (LC_STORE_REFUSED), or
 *   anything else (LC_STORE_UNKNOWN: it may have run). A NOSCRIPT (SCRIPT
 *   FLUSH, a failover to a replica that never saw the script) re-sends the
 *   call once with EVAL and the source.
 * - A cluster's redirections are followed here: MOVED (the slot lives
 *   elsewhere now: note it, send the call there, refresh the map), ASK (this
 *   once: ASKING, then the call, on the target), TRYAGAIN (a slot half
 *   migrated: send it again shortly). All three mean "not run".
 * - Durable answers (lc__call_t.durable) wait for a WAIT: held here as they
 *   arrive, then one WAIT per node at the end of the loop iteration
 *   (lc__calls_wait) covers every one received before its reply -- Redis
 *   answers in order, so a reply that comes before the WAIT's came from a
 *   command sent before it. Too few replicas: all of them are unknown.
 */
#include "store_call.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_node.h"

#define RETRY_MS 20
#define MAX_REDIRECTS 5 /* immediate hops (MOVED, ASK) before a pause */

/* One call on the wire. Its words are kept to send it again (EVAL after a
 * NOSCRIPT, to another node after MOVED or ASK). */
typedef struct req {
    lc__req_t q; /* first: the allocation is the req */
    lc_store_t *s;
    lc_list_t hlink; /* on node->held, or on s->deferred */
    int script;      /* lc_script_id_t or LC__NO_SCRIPT */
    int retried, redirects, asking, durable;
    uint16_t slot;
    uint64_t first_ms; /* first sent: a deferred call gives up after timeout_ms */
    lc__reply_t reply;
    lc_msg_type_t expect;
    lc__cb_t cb;
    void *arg;
    /* a held answer, copied out of hiredis's reply */
    char *held;
    size_t nheld;
    long long held_int;
    lc__node_t *wait_node; /* a WAIT: whose held answers it releases */
} req_t;

static void call_done(lc__req_t *q, const redisReply *rp);

static lc__conn_t *conn_for(lc__node_t *nd, int durable) {
    return durable && nd->s->ack_replicas ? &nd->dur : &nd->cmd;
}

/* ---- sending ---- */

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
    lc_list_init(&r->hlink);
    r->script = c->script;
    r->reply = c->reply;
    r->expect = c->expect;
    r->cb = c->cb;
    r->arg = c->arg;
    r->durable = c->durable;
    r->first_ms = uv_now(s->loop);
    return r;
}

static void asking_done(lc__req_t *q, const redisReply *rp) {
    (void)rp;
    free(q);
}

/* Sends r on nd (after ASKING if asked to). 0, or -1 (r untouched). */
static int send_on(lc__node_t *nd, req_t *r, int asking) {
    lc__conn_t *c = conn_for(nd, r->durable);
    if (c->state != LC__CONN_UP) return -1;
    if (asking) {
        char *p;
        lc__req_t *a = lc__req_alloc(sizeof(lc__req_t), 1, 6, &p);
        if (!a) return -1;
        lc__req_word(a, 0, &p, "ASKING", 6);
        a->done = asking_done;
        if (lc__conn_send(c, a) != 0) {
            free(a);
            return -1;
        }
    }
    return lc__conn_send(c, &r->q);
}

static uint16_t call_slot(const lc__call_t *c) {
    if (c->room.n) return lc_slot_of_room(c->room.p, c->room.n);
    for (size_t i = 0; i < c->args->n; i++)
        if (c->args->items[i].is_key) return lc_key_slot(lc__args_at(c->args, i), c->args->items[i].n);
    return 0;
}

int lc__call_send(lc_store_t *s, const lc__call_t *c) {
    if (s->closing || c->args->err) return -1;
    if (c->script != LC__NO_SCRIPT && (c->script < 0 || c->script >= LC_SCRIPT__COUNT)) return -1;
    uint16_t slot = call_slot(c);
    lc__node_t *nd = lc__node_for_slot(s, slot);
    if (!nd || !lc__node_up(nd)) return -1;
    req_t *r = req_from_call(s, c);
    if (!r) return -1;
    r->slot = slot;
    if (send_on(nd, r, 0) != 0) {
        free(r);
        return -1;
    }
    return 0;
}

/* ---- answering ---- */

static void fail_req(req_t *r, int status) {
    if (r->reply == LC__REPLY_MSG)
        r->cb.msg(r->arg, status, NULL);
    else if (r->reply == LC__REPLY_INT)
        r->cb.num(r->arg, status, 0);
}

static void req_free(req_t *r) {
    free(r->held);
    free(r);
}

static const char *script_name(int script) {
    return script >= 0 && script < LC_SCRIPT__COUNT ? lc_script_name[script] : "(command)";
}

/* Hands an answer to the callback: a bulk string (str) or an integer
 * (str NULL); -1 if it is not what the call expects. */
static int deliver(req_t *r, const char *str, size_t n, long long integer) {
    if (r->reply == LC__REPLY_NONE) return 0;
    if (r->reply == LC__REPLY_INT) {
        if (str) return -1;
        r->cb.num(r->arg, LC_STORE_OK, integer);
        return 0;
    }
    if (!str) return -1;
    lc_msg_t m;
    lc_proto_err_t err;
    if (lc_msg_decode(&m, LC_FMT_MSGPACK, LC_DIR_S2C | LC_DIR_BUS, str, n, &err) != 0) {
        lc_log("redis: %s.lua answered no valid message: %s", script_name(r->script), err.message);
        return -1;
    }
    if (r->expect != LC_MSG_NONE && m.type != r->expect) { /* NONE: the caller tells (two kinds of answer) */
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
 * once with the source, and a second one means the script never ran;
 * MOVED, ASK and TRYAGAIN because they are followed first. */
static int refused_before_running(const char *err) {
    static const char *const before[] = {"OOM ", "BUSY ", "LOADING ", "READONLY ", "MASTERDOWN ",
                                         "NOSCRIPT ", "CLUSTERDOWN ", "TRYAGAIN ", "NOREPLICAS ",
                                         "MISCONF ", "NOAUTH ", "NOPERM ", "WRONGPASS ", "MOVED ",
                                         "ASK ", "CROSSSLOT "};
    for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++)
        if (strncmp(err, before[i], strlen(before[i])) == 0) return 1;
    return 0;
}

/* "command failed" lines: at most LOG_PER_S a second, then how many were
 * left out -- a client looping on a failing request must not flood the log. */
#define LOG_PER_S 10
static void log_failure(lc_store_t *s, const char *err) {
    uint64_t sec = uv_now(s->loop) / 1000;
    if (sec != s->log_sec) {
        if (s->log_dropped) lc_log("redis: %u more failed commands not logged", s->log_dropped);
        s->log_sec = sec;
        s->log_n = s->log_dropped = 0;
    }
    if (s->log_n++ < LOG_PER_S)
        lc_log("redis: command failed: %.200s", err);
    else
        s->log_dropped++;
}

static void on_retry(uv_timer_t *t);

static void defer_timer(lc_store_t *s) {
    if (!uv_is_active((uv_handle_t *)&s->retry) && uv_timer_start(&s->retry, on_retry, RETRY_MS, 0) != 0)
        lc_log("redis: cannot start the retry timer");
}

/* Sends r again in RETRY_MS, from the map's owner of its slot; every
 * answer so far said "not run", and the deferred give up (REFUSED) once
 * timeout_ms has passed since the first send. */
static void defer(req_t *r) {
    r->redirects = 0; /* immediate hops are counted between pauses */
    lc_list_push_back(&r->s->deferred, &r->hlink);
    defer_timer(r->s);
}

/* Redis lost the script (SCRIPT FLUSH, failover): send the source; EVAL
 * also caches it again for the commands that follow. 1 if re-sent. */
static int resend_with_source(req_t *r, const char *err) {
    lc__conn_t *c = r->q.conn;
    if (r->retried || r->script == LC__NO_SCRIPT || strncmp(err, "NOSCRIPT", 8) != 0 || c->state != LC__CONN_UP)
        return 0;
    r->retried = 1;
    r->q.argv[0] = "EVAL";
    r->q.argvlen[0] = 4;
    r->q.argv[1] = lc_script_src[r->script];
    r->q.argvlen[1] = strlen(lc_script_src[r->script]);
    return lc__conn_send(c, &r->q) == 0;
}

/* MOVED / ASK / TRYAGAIN: 1 if the call was sent on (or deferred). */
static int follow(lc__node_t *from, req_t *r, const char *err, size_t n) {
    lc_store_t *s = r->s;
    if (strncmp(err, "TRYAGAIN", 8) == 0) {
        s->stats.tryagain++;
        r->asking = 0;
        defer(r);
        return 1;
    }
    lc_redirect_t rd;
    if (lc_redirect_parse(err, n, &rd) != 0 || rd.slot != r->slot) return 0;
    if (++r->redirects > MAX_REDIRECTS) { /* hop after hop: let the map settle a moment */
        r->asking = 0;
        defer(r);
        return 1;
    }
    if (!rd.host[0]) snprintf(rd.host, sizeof(rd.host), "%s", from->host);
    int idx;
    if (rd.ask) {
        s->stats.asked++;
        idx = lc_slots_node(&s->map, rd.host, rd.port);
    } else {
        s->stats.moved++;
        lc__want_refresh(s);
        idx = lc_slots_assign(&s->map, rd.slot, rd.slot, rd.host, rd.port) == 0 ? s->map.owner[rd.slot] : -1;
    }
    lc__node_t *to = idx >= 0 ? lc__node_get(s, idx) : NULL;
    if (!to) return 0;
    r->asking = rd.ask;
    if (send_on(to, r, rd.ask) == 0) return 1;
    defer(r); /* its node is still connecting */
    return 1;
}

/* A durable answer: keep it until the WAIT that covers it. */
static int hold(lc__node_t *nd, req_t *r, const redisReply *rp) {
    if (rp->type == REDIS_REPLY_STRING) {
        if (!(r->held = malloc(rp->len ? (size_t)rp->len : 1))) return -1;
        memcpy(r->held, rp->str, (size_t)rp->len);
        r->nheld = (size_t)rp->len;
    } else if (rp->type == REDIS_REPLY_INTEGER) {
        r->held_int = rp->integer;
    } else {
        return -1;
    }
    lc_list_push_back(&nd->held, &r->hlink);
    return 0;
}

static lc__node_t *node_of_conn(const lc__conn_t *c) { return c->owner; }

static void call_done(lc__req_t *q, const redisReply *rp) {
    req_t *r = (req_t *)q;
    lc__node_t *nd = node_of_conn(q->conn);
    if (rp) lc__node_observe(r->s, q->sent_ns);
    if (!rp) {
        fail_req(r, LC_STORE_UNKNOWN); /* connection lost: the command may or may not have run */
    } else if (rp->type == REDIS_REPLY_ERROR) {
        if (resend_with_source(r, rp->str) || follow(nd, r, rp->str, (size_t)rp->len)) return;
        if (strncmp(rp->str, "CLUSTERDOWN", 11) == 0) lc__want_refresh(r->s);
        log_failure(r->s, rp->str);
        fail_req(r, refused_before_running(rp->str) ? LC_STORE_REFUSED : LC_STORE_UNKNOWN);
    } else if (r->durable && r->s->ack_replicas && r->reply != LC__REPLY_NONE) {
        if (hold(nd, r, rp) == 0) return;
        fail_req(r, LC_STORE_UNKNOWN); /* out of memory, or an answer of no use */
    } else {
        int is_str = rp->type == REDIS_REPLY_STRING;
        if ((!is_str && rp->type != REDIS_REPLY_INTEGER) ||
            deliver(r, is_str ? rp->str : NULL, is_str ? (size_t)rp->len : 0, rp->integer) != 0) {
            if (!is_str) lc_log("redis: unexpected reply type %d", rp->type);
            fail_req(r, LC_STORE_UNKNOWN);
        }
    }
    req_free(r);
}

/* ---- the deferred ---- */

static void retry_deferred(lc_store_t *s) {
    lc_list_t again;
    lc_list_init(&again);
    uint64_t now = uv_now(s->loop);
    lc_list_foreach_safe(it, &s->deferred) {
        req_t *r = LC_CONTAINER_OF(it, req_t, hlink);
        lc_list_remove(&r->hlink);
        lc__node_t *nd = lc__node_for_slot(s, r->slot);
        if (nd && send_on(nd, r, 0) == 0) continue;
        if (now - r->first_ms > s->timeout_ms) { /* every answer so far said: not run */
            fail_req(r, LC_STORE_REFUSED);
            req_free(r);
            continue;
        }
        lc_list_push_back(&again, &r->hlink);
    }
    while (!lc_list_empty(&again)) {
        lc_list_t *it = lc_list_first(&again);
        lc_list_remove(it);
        lc_list_push_back(&s->deferred, it);
    }
    if (!lc_list_empty(&s->deferred)) defer_timer(s);
}

static void fail_deferred(lc_store_t *s) {
    lc_list_t *it;
    while ((it = lc_list_first(&s->deferred))) {
        req_t *r = LC_CONTAINER_OF(it, req_t, hlink);
        lc_list_remove(it);
        fail_req(r, LC_STORE_REFUSED);
        req_free(r);
    }
}

/* ---- the group commit ---- */

static void answer_held(lc__node_t *nd, int ok) {
    lc_list_t *it;
    while ((it = lc_list_first(&nd->held))) {
        req_t *r = LC_CONTAINER_OF(it, req_t, hlink);
        lc_list_remove(it);
        if (!ok || deliver(r, r->reply == LC__REPLY_MSG ? r->held : NULL, r->nheld, r->held_int) != 0)
            fail_req(r, LC_STORE_UNKNOWN);
        req_free(r);
    }
}

static void wait_done(lc__req_t *q, const redisReply *rp) {
    req_t *w = (req_t *)q;
    lc__node_t *nd = w->wait_node;
    lc_store_t *s = nd->s;
    nd->waiting = 0;
    long long got = rp && rp->type == REDIS_REPLY_INTEGER ? rp->integer : -1;
    int ok = got >= (long long)s->ack_replicas;
    if (!ok) {
        size_t n = 0;
        lc_list_foreach(it, &nd->held) n++;
        if (s->stats.ack_short++ % 100 == 0)
            lc_log("redis: %s:%d: %lld of %u replicas in %u ms: %zu answers are unknown", nd->host, nd->port,
                   got < 0 ? 0 : got, s->ack_replicas, s->ack_timeout_ms, n);
    }
    answer_held(nd, ok);
    free(w);
}

void lc__calls_wait(lc_store_t *s) {
    for (unsigned i = 0; i < s->map.nnodes; i++) {
        lc__node_t *nd = s->nodes[i];
        if (!nd || nd->waiting || lc_list_empty(&nd->held)) continue;
        char *p, nrep[16], tmo[16];
        int a = snprintf(nrep, sizeof(nrep), "%u", s->ack_replicas);
        int b = snprintf(tmo, sizeof(tmo), "%u", s->ack_timeout_ms);
        req_t *w = (req_t *)lc__req_alloc(sizeof(req_t), 3, 4 + (size_t)a + (size_t)b, &p);
        if (w) {
            lc__req_word(&w->q, 0, &p, "WAIT", 4);
            lc__req_word(&w->q, 1, &p, nrep, (size_t)a);
            lc__req_word(&w->q, 2, &p, tmo, (size_t)b);
            w->q.done = wait_done;
            w->wait_node = nd;
            w->s = s;
        }
        if (!w || lc__conn_send(&nd->dur, &w->q) != 0) {
            free(w);
            answer_held(nd, 0); /* connection gone: nobody can say they are replicated */
            continue;
        }
        nd->waiting = 1;
    }
}


/* ---- life ---- */

static void on_retry(uv_timer_t *t) { retry_deferred(t->data); }

int lc__calls_init(lc_store_t *s) {
    lc_list_init(&s->deferred);
    s->retry.data = s;
    return uv_timer_init(s->loop, &s->retry) == 0 ? 0 : -1;
}

static void on_retry_closed(uv_handle_t *h) {
    lc_store_t *s = h->data;
    s->hooks.closed(s);
}

void lc__calls_close(lc_store_t *s) {
    fail_deferred(s);
    for (unsigned i = 0; i < s->map.nnodes; i++)
        if (s->nodes[i]) answer_held(s->nodes[i], 0);
    uv_close((uv_handle_t *)&s->retry, on_retry_closed);
}
