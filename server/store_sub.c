/*
 * One sharded pub/sub subscriber connection. See store_sub.h.
 */
#include "store_sub.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000
#define LOG_EVERY_N_FAILS 30
#define RBUF 65536
#define CH_MAX 96

/* What a command sent is waiting for: the answers to our commands come in
 * order, pushes (smessage, a sunsubscribe we did not ask for) in between. */
typedef struct pending {
    struct pending *next;
    int sub; /* 1 SSUBSCRIBE, 0 SUNSUBSCRIBE */
    size_t n;
    char ch[CH_MAX];
} pending_t;

typedef struct sub_priv {
    pending_t *head, *tail;
} sub_priv_t;

/* The pending list lives in a small side allocation hung on the reader's
 * privdata, so that lc__sub_t stays a plain struct the owner embeds. */
static sub_priv_t *priv_of(lc__sub_t *s) { return ((redisReader *)s->reader)->privdata; }

static void pending_clear(lc__sub_t *s) {
    sub_priv_t *p = priv_of(s);
    while (p->head) {
        pending_t *e = p->head;
        p->head = e->next;
        free(e);
    }
    p->tail = NULL;
}

static void connect_now(lc__sub_t *s);

/* ---- writing ---- */

typedef struct wreq {
    uv_write_t w;
    char buf[];
} wreq_t;

static void on_written(uv_write_t *w, int status) {
    (void)status; /* a failed write shows as a failed read: the connection drops there */
    free(w);
}

/* Sends VERB channel as RESP and remembers it is waiting. */
static int send_cmd(lc__sub_t *s, int sub, lc_str_t ch) {
    if (s->state != LC__SUB_UP || ch.n >= CH_MAX) return -1;
    const char *verb = sub ? "SSUBSCRIBE" : "SUNSUBSCRIBE";
    size_t vn = strlen(verb), cap = 64 + vn + ch.n;
    wreq_t *r = malloc(sizeof(*r) + cap);
    pending_t *e = calloc(1, sizeof(*e));
    if (!r || !e) {
        free(r);
        free(e);
        return -1;
    }
    int n = snprintf(r->buf, cap, "*2\r\n$%zu\r\n%s\r\n$%zu\r\n%.*s\r\n", vn, verb, ch.n, (int)ch.n, ch.p);
    uv_buf_t b = uv_buf_init(r->buf, (unsigned)n);
    if (uv_write(&r->w, (uv_stream_t *)&s->tcp, &b, 1, on_written) != 0) {
        free(r);
        free(e);
        return -1;
    }
    e->sub = sub;
    e->n = ch.n;
    memcpy(e->ch, ch.p, ch.n);
    sub_priv_t *p = priv_of(s);
    if (p->tail) p->tail->next = e;
    else p->head = e;
    p->tail = e;
    return 0;
}

/* ---- state ---- */

static void set_state(lc__sub_t *s, lc__sub_state_t st) {
    int was_up = s->state == LC__SUB_UP;
    s->state = st;
    if (was_up != (st == LC__SUB_UP) && !s->closing && s->ev->on_change) s->ev->on_change(s);
}

static void on_retry(uv_timer_t *t) { connect_now(t->data); }

static void finish_close(lc__sub_t *s);

static void on_tcp_closed(uv_handle_t *h) {
    lc__sub_t *s = h->data;
    s->tcp_open = 0;
    if (s->closing) {
        if (--s->handles == 0) finish_close(s);
        return;
    }
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : RETRY_MIN_MS;
    if (s->backoff_ms > RETRY_MAX_MS) s->backoff_ms = RETRY_MAX_MS;
    if (uv_timer_start(&s->retry, on_retry, s->backoff_ms, 0) != 0) lc_log("redis: cannot start a retry timer");
}

/* The connection is gone (or never came): every channel is lost here until
 * it is back; the owner hears on_change. */
static void drop(lc__sub_t *s, const char *why) {
    if (s->fails++ % LOG_EVERY_N_FAILS == 0)
        lc_log("redis: subscriber connection to %s:%d %s: %s; retrying", s->host, s->port,
               s->state == LC__SUB_UP ? "lost" : "failed", why);
    pending_clear(s);
    redisReader *old = s->reader;
    redisReader *fresh = redisReaderCreate();
    if (fresh) { /* a half-read reply must not leak into the next connection */
        fresh->privdata = old->privdata;
        old->privdata = NULL;
        redisReaderFree(old);
        s->reader = fresh;
    }
    set_state(s, LC__SUB_DOWN);
    if (s->tcp_open && !uv_is_closing((uv_handle_t *)&s->tcp)) uv_close((uv_handle_t *)&s->tcp, on_tcp_closed);
}

/* ---- reading ---- */

static void resubscribe_one(void *arg, const char *ch, size_t n, void *v) {
    (void)v;
    if (send_cmd(arg, 1, lc_str(ch, n)) != 0) lc_log("redis: cannot send SSUBSCRIBE");
}

static lc_str_t el_str(const redisReply *r) { return lc_str(r->str, (size_t)r->len); }

/* The answer to the oldest command sent: pop it (NULL if none waited). */
static pending_t *pop(lc__sub_t *s) {
    sub_priv_t *p = priv_of(s);
    pending_t *e = p->head;
    if (e && !(p->head = e->next)) p->tail = NULL;
    return e;
}

static void lost(lc__sub_t *s, lc_str_t ch) {
    if (!lc_map_del(s->channels, ch.p, ch.n)) return;
    s->ev->on_lost(s, ch);
}

static void on_error_reply(lc__sub_t *s, const redisReply *r) {
    pending_t *e = pop(s);
    if (!e) return;
    if (e->sub) {
        /* MOVED, ASK, CLUSTERDOWN: this node does not serve the channel now */
        lc_log("redis: SSUBSCRIBE %.*s on %s:%d: %.100s", (int)e->n, e->ch, s->host, s->port, r->str);
        lost(s, lc_str(e->ch, e->n));
    }
    free(e);
}

static void on_push(lc__sub_t *s, const redisReply *r) {
    if (r->type == REDIS_REPLY_ERROR) {
        on_error_reply(s, r);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    lc_str_t ch = el_str(r->element[1]);
    if (strcmp(kind, "smessage") == 0) {
        if (r->element[2]->type == REDIS_REPLY_STRING && lc_map_get(s->channels, ch.p, ch.n))
            s->ev->on_message(s, ch, r->element[2]->str, (size_t)r->element[2]->len);
    } else if (strcmp(kind, "ssubscribe") == 0) {
        free(pop(s));
        if (lc_map_get(s->channels, ch.p, ch.n)) s->ev->on_subscribed(s, ch);
        else send_cmd(s, 0, ch); /* let go meanwhile */
    } else if (strcmp(kind, "sunsubscribe") == 0) {
        sub_priv_t *p = priv_of(s);
        if (p->head && !p->head->sub && p->head->n == ch.n && memcmp(p->head->ch, ch.p, ch.n) == 0)
            free(pop(s)); /* the answer to ours */
        else
            lost(s, ch); /* the node's own: the slot moved */
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)suggested;
    lc__sub_t *s = h->data;
    *b = uv_buf_init(s->rbuf, RBUF);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
    lc__sub_t *s = st->data;
    if (nread < 0) {
        drop(s, nread == UV_EOF ? "closed" : uv_strerror((int)nread));
        return;
    }
    if (nread == 0 || redisReaderFeed(s->reader, b->base, (size_t)nread) != REDIS_OK) {
        if (nread) drop(s, "cannot parse the reply");
        return;
    }
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(s->reader, &reply) != REDIS_OK) {
            drop(s, "protocol error");
            return;
        }
        if (!reply) return;
        on_push(s, reply);
        freeReplyObject(reply);
        if (s->state != LC__SUB_UP) return; /* a callback dropped or closed it */
    }
}

/* ---- connecting ---- */

static void on_connected(uv_connect_t *req, int status) {
    lc__sub_t *s = req->data;
    if (s->closing) return;
    if (status < 0) {
        drop(s, uv_strerror(status));
        return;
    }
    if (uv_tcp_keepalive(&s->tcp, 1, 60) != 0) lc_log("redis: cannot enable TCP keep-alive");
    if (uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) != 0) {
        drop(s, "cannot read");
        return;
    }
    if (s->fails) lc_log("redis: subscriber connection to %s:%d is back", s->host, s->port);
    s->fails = 0;
    s->backoff_ms = 0;
    set_state(s, LC__SUB_UP);
    lc_map_foreach(s->channels, resubscribe_one, s);
}

static void connect_now(lc__sub_t *s) {
    if (s->closing) return;
    struct sockaddr_storage ss;
    if (uv_ip4_addr(s->host, s->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(s->host, s->port, (struct sockaddr_in6 *)&ss) != 0) {
        lc_log("redis: %s is not a numeric address", s->host);
        return;
    }
    if (uv_tcp_init(s->loop, &s->tcp) != 0) {
        lc_log("redis: cannot create a TCP handle");
        return;
    }
    s->tcp.data = s;
    s->tcp_open = 1;
    s->connect_req.data = s;
    s->started_ms = uv_now(s->loop);
    set_state(s, LC__SUB_CONNECTING);
    if (uv_tcp_connect(&s->connect_req, &s->tcp, (const struct sockaddr *)&ss, on_connected) != 0)
        drop(s, "cannot connect");
}

int lc__sub_start(lc__sub_t *s) {
    s->channels = lc_map_create();
    s->rbuf = malloc(RBUF);
    redisReader *rd = redisReaderCreate();
    sub_priv_t *p = calloc(1, sizeof(*p));
    if (!s->channels || !s->rbuf || !rd || !p || uv_timer_init(s->loop, &s->retry) != 0) {
        lc_map_destroy(s->channels);
        free(s->rbuf);
        if (rd) redisReaderFree(rd);
        free(p);
        return -1;
    }
    rd->privdata = p;
    s->reader = rd;
    s->retry.data = s;
    s->state = LC__SUB_DOWN;
    connect_now(s);
    return 0;
}

int lc__sub_up(const lc__sub_t *s) { return s->state == LC__SUB_UP && !s->closing; }

int lc__sub_add(lc__sub_t *s, lc_str_t ch) {
    if (ch.n >= CH_MAX) return -1;
    if (lc_map_get(s->channels, ch.p, ch.n)) return 0;
    if (lc_map_put(s->channels, ch.p, ch.n, (void *)1) != 0) return -1;
    if (s->state == LC__SUB_UP && send_cmd(s, 1, ch) != 0) lc_log("redis: cannot send SSUBSCRIBE");
    return 0;
}

void lc__sub_remove(lc__sub_t *s, lc_str_t ch) {
    if (!lc_map_del(s->channels, ch.p, ch.n)) return;
    if (s->state == LC__SUB_UP && send_cmd(s, 0, ch) != 0) lc_log("redis: cannot send SUNSUBSCRIBE");
}

int lc__sub_has(const lc__sub_t *s, lc_str_t ch) { return lc_map_get(s->channels, ch.p, ch.n) != NULL; }

void lc__sub_foreach(const lc__sub_t *s, void (*fn)(void *arg, const char *ch, size_t n, void *v), void *arg) {
    lc_map_foreach(s->channels, fn, arg);
}

void lc__sub_check(lc__sub_t *s, unsigned timeout_ms) {
    if (s->state == LC__SUB_CONNECTING && uv_now(s->loop) - s->started_ms > timeout_ms)
        drop(s, "no answer while connecting");
}

static void on_retry_closed(uv_handle_t *h) {
    lc__sub_t *s = h->data;
    if (--s->handles == 0) finish_close(s);
}

/* Every handle is closed: free what lc__sub_start made, then tell the owner. */
static void finish_close(lc__sub_t *s) {
    pending_clear(s);
    free(priv_of(s));
    redisReaderFree(s->reader);
    s->reader = NULL;
    lc_map_destroy(s->channels);
    s->channels = NULL;
    free(s->rbuf);
    s->rbuf = NULL;
    if (s->closed) s->closed(s);
}

void lc__sub_close(lc__sub_t *s, void (*closed)(lc__sub_t *s)) {
    s->closing = 1;
    s->state = LC__SUB_DOWN;
    s->closed = closed;
    s->handles = 1 + (s->tcp_open != 0); /* the retry timer, and the TCP handle if it is open (or closing) */
    s->retry.data = s;
    uv_close((uv_handle_t *)&s->retry, on_retry_closed);
    if (s->tcp_open && !uv_is_closing((uv_handle_t *)&s->tcp)) uv_close((uv_handle_t *)&s->tcp, on_tcp_closed);
}
