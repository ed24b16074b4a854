/*
 * lt_http (httpc.h): requests queued FIFO, dealt to at most max_conns
 * connections, one request in flight on each. The request's bytes are
 * copied into its connection's own buffer before they are written, so a
 * request can be answered and freed while libuv still holds the write.
 */
#include "httpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An answer larger than this is not one livecart sends: refuse it rather
 * than grow without bound. */
#define MAX_ANSWER (1 << 20)

typedef struct hreq {
    struct hreq *next;
    lt_http_cb cb;
    void *user;
    uint64_t queued_us;
    int resent;
    size_t len;
    char data[]; /* the whole request: head and body */
} hreq_t;

enum { C_CLOSED, C_CONNECTING, C_IDLE, C_BUSY, C_CLOSING };

typedef struct hconn {
    lt_http_t *h;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    uv_timer_t timer;
    int state, reused, writing;
    hreq_t *req; /* in flight */
    char *rx, *tx;
    size_t rx_len, rx_cap, tx_cap;
} hconn_t;

struct lt_http {
    uv_loop_t *loop;
    struct sockaddr_storage addr;
    char host[64];
    int port, max, timeout_ms;
    hconn_t *c;
    hreq_t *head, *tail;
    size_t pending;
    uv_timer_t kick; /* dispatches queued requests from the loop, never from a caller */
    int destroying, handles;
};

static uint64_t now_us(void) { return uv_hrtime() / 1000u; }

/* One of h's handles closed: the last one of a destroyed client frees it. */
static void release(lt_http_t *h) {
    if (--h->handles == 0 && h->destroying) {
        for (int i = 0; i < h->max; i++) {
            free(h->c[i].rx);
            free(h->c[i].tx);
        }
        free(h->c);
        free(h);
    }
}

static void on_kick_closed(uv_handle_t *hd) { release(hd->data); }
static void on_timer_closed(uv_handle_t *hd) { release(((hconn_t *)hd->data)->h); }

static void dispatch(lt_http_t *h);
static void on_kick(uv_timer_t *t) { dispatch(t->data); }

static void on_tcp_closed(uv_handle_t *hd) {
    hconn_t *c = hd->data;
    lt_http_t *h = c->h;
    c->state = C_CLOSED;
    c->reused = c->writing = 0;
    c->rx_len = 0;
    if (!h->destroying && h->head) uv_timer_start(&h->kick, on_kick, 0, 0);
    release(h);
}

static void conn_close(hconn_t *c) {
    if (c->state == C_CLOSED || c->state == C_CLOSING) return;
    c->state = C_CLOSING;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
}

/* Detaches the connection's request and answers it; the connection must
 * be put in its next state by the caller first. */
static void answer(hreq_t *r, lt_http_t *h, int status, const char *body, size_t n) {
    h->pending--;
    r->cb(r->user, status, body, n, now_us() - r->queued_us);
    free(r);
}

static void fail(hconn_t *c, const char *why) {
    hreq_t *r = c->req;
    c->req = NULL;
    conn_close(c);
    if (r) answer(r, c->h, 0, why, strlen(why));
}

static void on_timeout(uv_timer_t *t) { fail(t->data, "timeout"); }

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf) {
    hconn_t *c = hd->data;
    if (c->rx_cap - c->rx_len < 4096 && c->rx_cap < MAX_ANSWER + 8192) {
        size_t cap = c->rx_cap ? c->rx_cap * 2 : 8192;
        char *p = realloc(c->rx, cap);
        if (p) {
            c->rx = p;
            c->rx_cap = cap;
        }
    }
    buf->base = c->rx + c->rx_len;
    /* one byte stays free for the NUL after a body; none left: libuv reports UV_ENOBUFS */
    buf->len = c->rx_cap > c->rx_len + 1 ? c->rx_cap - c->rx_len - 1 : 0;
}

/* An answer is complete in rx: hand it over and keep or close the
 * connection. eof: the peer closed, which ends a body without a length. */
static int try_complete(hconn_t *c, int eof) {
    lt_http_head_t hd;
    int rc = lt_http_parse_head(c->rx, c->rx_len, &hd);
    if (rc <= 0) return rc;
    char *body = c->rx + hd.head_len;
    size_t have = c->rx_len - hd.head_len, n;
    int no_body = hd.status / 100 == 1 || hd.status == 204 || hd.status == 304;
    if (no_body) {
        n = 0;
    } else if (hd.chunked) {
        rc = lt_http_dechunk(body, have, &n);
        if (rc <= 0) return rc;
    } else if (hd.content_length >= 0) {
        if (have < (size_t)hd.content_length) return 0;
        n = (size_t)hd.content_length;
    } else {
        if (!eof) return 0;
        n = have;
        hd.close = 1;
    }
    body[n] = '\0';
    hreq_t *r = c->req;
    c->req = NULL;
    uv_timer_stop(&c->timer);
    if (hd.close || eof || c->writing) {
        conn_close(c); /* the bytes stay in rx until the close callback */
    } else {
        c->state = C_IDLE;
        c->reused = 1;
    }
    lt_http_t *h = c->h;
    answer(r, h, hd.status, body, n);
    if (c->state == C_IDLE) c->rx_len = 0;
    if (!h->destroying) dispatch(h);
    return 1;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    hconn_t *c = s->data;
    if (c->state == C_CLOSING || c->state == C_CLOSED) return;
    if (nread > 0) c->rx_len += (size_t)nread;
    if (nread == 0) return;
    if (!c->req) { /* an idle connection the server closed, or bytes nobody asked for */
        conn_close(c);
        return;
    }
    int eof = nread < 0;
    if (c->rx_len > MAX_ANSWER) {
        fail(c, "answer too large");
        return;
    }
    int rc = try_complete(c, eof);
    if (rc < 0) {
        fail(c, "not an HTTP answer");
    } else if (rc == 0 && eof) {
        if (c->rx_len == 0 && c->reused && !c->req->resent) {
            /* a kept connection that was closed under us: send once more, at the front */
            hreq_t *r = c->req;
            c->req = NULL;
            r->resent = 1;
            r->next = c->h->head;
            c->h->head = r;
            if (!c->h->tail) c->h->tail = r;
            conn_close(c);
        } else {
            fail(c, nread == UV_EOF ? "connection closed before the answer" : uv_strerror((int)nread));
        }
    }
}

static void on_write(uv_write_t *w, int status) {
    hconn_t *c = w->data;
    c->writing = 0;
    if (status < 0 && status != UV_ECANCELED && c->state == C_BUSY) fail(c, uv_strerror(status));
}

/* Writes c->req on the open connection c. */
static void send_req(hconn_t *c) {
    hreq_t *r = c->req;
    if (c->tx_cap < r->len) {
        char *p = realloc(c->tx, r->len);
        if (!p) {
            fail(c, "out of memory");
            return;
        }
        c->tx = p;
        c->tx_cap = r->len;
    }
    memcpy(c->tx, r->data, r->len);
    c->state = C_BUSY;
    c->rx_len = 0;
    uv_buf_t b = uv_buf_init(c->tx, (unsigned)r->len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        fail(c, uv_strerror(rc));
        return;
    }
    c->writing = 1;
    uv_timer_start(&c->timer, on_timeout, (uint64_t)c->h->timeout_ms, 0);
}

static void on_connect(uv_connect_t *cr, int status) {
    hconn_t *c = cr->data;
    if (c->state != C_CONNECTING) return; /* closed meanwhile (destroy) */
    if (status < 0) {
        fail(c, uv_strerror(status));
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        fail(c, uv_strerror(rc));
        return;
    }
    send_req(c);
}

/* Opens a connection on the closed slot c for request r. */
static void conn_open(hconn_t *c, hreq_t *r) {
    lt_http_t *h = c->h;
    c->req = r;
    int rc = uv_tcp_init(h->loop, &c->tcp);
    if (rc < 0) {
        c->req = NULL;
        answer(r, h, 0, uv_strerror(rc), strlen(uv_strerror(rc)));
        return;
    }
    h->handles++;
    c->tcp.data = c;
    c->state = C_CONNECTING;
    uv_tcp_nodelay(&c->tcp, 1);
    c->creq.data = c;
    rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&h->addr, on_connect);
    if (rc < 0) {
        fail(c, uv_strerror(rc));
        return;
    }
    uv_timer_start(&c->timer, on_timeout, (uint64_t)h->timeout_ms, 0);
}

static void dispatch(lt_http_t *h) {
    while (h->head && !h->destroying) {
        hconn_t *idle = NULL, *closed = NULL;
        for (int i = 0; i < h->max && !idle; i++) {
            if (h->c[i].state == C_IDLE && !h->c[i].writing) idle = &h->c[i];
            else if (h->c[i].state == C_CLOSED && !closed) closed = &h->c[i];
        }
        if (!idle && !closed) return;
        hreq_t *r = h->head;
        h->head = r->next;
        if (!h->head) h->tail = NULL;
        r->next = NULL;
        if (idle) {
            idle->req = r;
            send_req(idle);
        } else {
            conn_open(closed, r);
        }
    }
}

lt_http_t *lt_http_create(uv_loop_t *loop, const char *host, int port, int max_conns, int timeout_ms) {
    lt_http_t *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    const char *ip = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    if (uv_ip4_addr(ip, port, (struct sockaddr_in *)&h->addr) != 0 &&
        uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&h->addr) != 0) {
        free(h);
        return NULL;
    }
    h->max = max_conns > 0 ? max_conns : 1;
    h->c = calloc((size_t)h->max, sizeof(*h->c));
    if (!h->c) {
        free(h);
        return NULL;
    }
    h->loop = loop;
    h->port = port;
    h->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    snprintf(h->host, sizeof(h->host), "%s", host);
    uv_timer_init(loop, &h->kick);
    h->kick.data = h;
    h->handles = 1;
    for (int i = 0; i < h->max; i++) {
        hconn_t *c = &h->c[i];
        c->h = h;
        uv_timer_init(loop, &c->timer);
        c->timer.data = c;
        h->handles++;
    }
    return h;
}

int lt_http_request(lt_http_t *h, const char *method, const char *path, const char *auth, const char *body,
                    lt_http_cb cb, void *user) {
    if (h->destroying) return -1;
    size_t blen = body ? strlen(body) : 0;
    size_t cap = strlen(method) + strlen(path) + strlen(h->host) + (auth ? strlen(auth) : 0) + blen + 200;
    hreq_t *r = malloc(sizeof(*r) + cap);
    if (!r) return -1;
    int n = snprintf(r->data, cap, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%s%s%s", method, path, h->host, h->port,
                     auth ? "Authorization: Bearer " : "", auth ? auth : "", auth ? "\r\n" : "");
    if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
        n += snprintf(r->data + n, cap - (size_t)n, "Content-Length: %zu\r\n%s", blen,
                      body ? "Content-Type: application/json\r\n" : "");
    n += snprintf(r->data + n, cap - (size_t)n, "\r\n");
    if (blen) memcpy(r->data + n, body, blen);
    r->len = (size_t)n + blen;
    r->next = NULL;
    r->cb = cb;
    r->user = user;
    r->resent = 0;
    r->queued_us = now_us();
    if (h->tail) h->tail->next = r;
    else h->head = r;
    h->tail = r;
    h->pending++;
    uv_timer_start(&h->kick, on_kick, 0, 0);
    return 0;
}

size_t lt_http_pending(const lt_http_t *h) { return h->pending; }

void lt_http_destroy(lt_http_t *h) {
    if (!h || h->destroying) return;
    h->destroying = 1;
    hreq_t *r = h->head;
    h->head = h->tail = NULL;
    while (r) {
        hreq_t *next = r->next;
        answer(r, h, -1, "cancelled", 9);
        r = next;
    }
    for (int i = 0; i < h->max; i++) {
        hconn_t *c = &h->c[i];
        r = c->req;
        c->req = NULL;
        conn_close(c);
        if (r) answer(r, h, -1, "cancelled", 9);
        uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    }
    uv_close((uv_handle_t *)&h->kick, on_kick_closed);
}
