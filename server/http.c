/*
 * The HTTP side over libwebsockets 4.1.6: requests in, answers out, routes
 * to handlers. The quirks of lws this works around (each found with a
 * raw-socket reproducer against 4.1.6, and each covered by a black-box
 * test: tests/blackbox/test_api.py) are noted where they matter:
 *
 *  - keep-alive is off: every answer is written without a length in the
 *    common headers, so lws says "connection: close" and closes once the
 *    answer is out (a partial write is flushed first);
 *  - a request waiting for Redis turns lws's reading off: bytes after the
 *    body would otherwise make lws 4.1 call BODY_COMPLETION again and close
 *    before the answer, and a client's FIN could close it first;
 *  - the answer that comes back later is written at once, from the Redis
 *    callback, and only then is reading turned on again (a flow-controlled
 *    HTTP/1 wsi gets no POLLOUT service in lws 4.1, so lws could not even
 *    flush it); the next HTTP_WRITEABLE closes the connection;
 *  - lws 4.1 does not de-chunk request bodies (it reads up to 100 MiB of
 *    raw framing and never completes): a chunked body is decoded here.
 *
 * A request (lc_http_req_t) lives in the connection's slot (net.c's
 * per-session pointer) from LWS_CALLBACK_HTTP until its answer is out and
 * the connection closes. A deferred request whose client goes away is
 * orphaned (wsi NULL) and freed by its answer instead.
 */
#include "http.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define ROUTES_MAX 16  /* a shard has four; room to grow, no allocation */
#define PATTERN_MAX 64
#define NAME_MAX_ 64   /* a header name with its colon */
#define HEADERS_ROOM 2048 /* an answer's headers: lws's security headers are ~700 bytes */

typedef struct route {
    char pattern[PATTERN_MAX];
    size_t n;
    int prefix; /* pattern ends in '/': matches every path starting with it */
    lc_http_handler_fn *fn;
    void *arg;
} route_t;

struct lc_http {
    lc_server_t *srv;
    route_t routes[ROUTES_MAX];
    size_t nroutes;
    unsigned pending; /* deferred, not answered yet (orphans included) */
};

typedef enum {
    RQ_HANDLER, /* in its handler or body fn: must answer, defer or ask for the body */
    RQ_BODY,    /* its body is being read */
    RQ_WAIT,    /* deferred: the answer comes later */
    RQ_DONE,    /* answered or dropped: the connection closes once it is out */
} rq_state_t;

struct lc_http_req {
    lc_http_t *h;
    struct lws *wsi; /* NULL once the client of a deferred request went away */
    rq_state_t st;
    lc_http_method_t method;
    int headers_ok; /* in the handler: lws still holds the headers */
    int counted;    /* in h->pending */
    int failed;     /* dropped, or the answer could not be written: close at once */
    int cut;        /* its body was refused unread: close at once */
    const char *path; /* stored right after the struct */
    void *arg;        /* the route's */
    void *data;       /* lc_http_data */
    size_t ndata;
    /* the body (lc_http_read_body) */
    lc_http_body_fn *body_fn;
    size_t keep, drain, got;
    unsigned long long declared; /* Content-Length */
    int chunked;
    lc_http_dechunk_t dc;
    char *body; /* keep + 1 bytes */
};

/* ---- set-up ---- */

lc_http_t *lc_http_create(lc_server_t *srv) {
    lc_http_t *h = calloc(1, sizeof(*h));
    if (h) h->srv = srv;
    return h;
}

void lc_http_destroy(lc_http_t *h) {
    if (!h) return;
    if (h->pending) lc_log("http: %u requests still waiting for their answer at exit", h->pending);
    free(h);
}

int lc_http_route(lc_http_t *h, const char *pattern, lc_http_handler_fn *fn, void *arg) {
    size_t n = strlen(pattern);
    if (h->nroutes == ROUTES_MAX || n == 0 || n >= PATTERN_MAX || pattern[0] != '/' || !fn) return -1;
    route_t *r = &h->routes[h->nroutes++];
    memcpy(r->pattern, pattern, n + 1);
    r->n = n;
    r->prefix = pattern[n - 1] == '/';
    r->fn = fn;
    r->arg = arg;
    return 0;
}

unsigned lc_http_pending(const lc_http_t *h) { return h->pending; }

static const route_t *match(const lc_http_t *h, const char *path) {
    for (size_t i = 0; i < h->nroutes; i++) {
        const route_t *r = &h->routes[i];
        if (r->prefix ? strncmp(path, r->pattern, r->n) == 0 : strcmp(path, r->pattern) == 0) return r;
    }
    return NULL;
}

/* ---- requests ---- */

static void req_free(lc_http_req_t *q) {
    if (q->counted) q->h->pending--;
    free(q->body);
    free(q->data);
    free(q);
}

static lc_http_method_t method_of(struct lws *wsi) {
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0) return LC_HTTP_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) return LC_HTTP_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0) return LC_HTTP_HEAD;
    return LC_HTTP_OTHER;
}

lc_http_method_t lc_http_method(const lc_http_req_t *q) { return q->method; }
const char *lc_http_path(const lc_http_req_t *q) { return q->path; }
int lc_http_gone(const lc_http_req_t *q) { return q->wsi == NULL; }

const char *lc_http_body(const lc_http_req_t *q, size_t *n) {
    *n = q->got < q->keep ? q->got : q->keep;
    return q->body ? q->body : "";
}

void *lc_http_data(lc_http_req_t *q, size_t size) {
    if (q->data) return size <= q->ndata ? q->data : NULL;
    q->data = calloc(1, size ? size : 1);
    q->ndata = q->data ? size : 0;
    return q->data;
}

int lc_http_header(const lc_http_req_t *q, const char *name, char *buf, size_t cap) {
    char key[NAME_MAX_];
    size_t n = strlen(name);
    if (!q->headers_ok || !q->wsi || cap == 0 || cap > 65536 || n + 2 > sizeof(key)) return -1;
    for (size_t i = 0; i < n; i++) key[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    key[n] = ':';
    key[n + 1] = '\0';
    /* lws keeps the headers it knows in its token table (their names end
     * in ':'); any other header is a "custom" one, kept by name */
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        const unsigned char *s = lws_token_to_string((enum lws_token_indexes)t);
        if (!s || strcmp((const char *)s, key) != 0) continue;
        int r = lws_hdr_copy(q->wsi, buf, (int)cap, (enum lws_token_indexes)t);
        return r < 0 ? -2 : r == 0 ? -1 : r;
    }
#if defined(LWS_WITH_CUSTOM_HEADERS)
    int len = lws_hdr_custom_length(q->wsi, key, (int)n + 1);
    if (len < 0) return -1;
    if ((size_t)len >= cap) return -2;
    return lws_hdr_custom_copy(q->wsi, buf, (int)cap, key, (int)n + 1) == len ? len : -1;
#else
    return -1;
#endif
}

/* ---- answers ---- */

static int add_header(struct lws *wsi, const char *name, const char *value, uint8_t **p, uint8_t *end) {
    char key[NAME_MAX_];
    size_t n = strlen(name), vn = strlen(value);
    if (n + 2 > sizeof(key) || vn > HEADERS_ROOM) return -1;
    memcpy(key, name, n);
    key[n] = ':';
    key[n + 1] = '\0';
    return lws_add_http_header_by_name(wsi, (const unsigned char *)key, (const unsigned char *)value, (int)vn, p,
                                       end)
               ? -1
               : 0;
}

static int has_cache_control(const lc_http_header_t *hs, size_t nh) {
    for (size_t i = 0; i < nh; i++)
        if (strcasecmp(hs[i].name, "cache-control") == 0) return 1;
    return 0;
}

/* The whole answer in one go: headers, then the body in one lws_write
 * (answers are small -- health, metrics and API answers a few KiB, files at
 * most 1 MiB); lws keeps what the socket did not take and sends it before
 * it closes. Returns 0, or -1. */
static int write_answer(lc_http_req_t *q, unsigned status, const char *ctype, const lc_http_header_t *hs,
                        size_t nh, const void *body, size_t n) {
    uint8_t hdr[LWS_PRE + HEADERS_ROOM];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    struct lws *wsi = q->wsi;
    int not_modified = status == 304;
    /* no length here: lws then says "connection: close" (see the top);
     * a 304 has no body and no Content-Length that would not be the body's */
    if (lws_add_http_common_headers(wsi, status, not_modified ? NULL : ctype, LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
        (!not_modified && lws_add_http_header_content_length(wsi, n, &p, end)) ||
        (!has_cache_control(hs, nh) && add_header(wsi, "cache-control", "no-store", &p, end)))
        return -1;
    for (size_t i = 0; i < nh; i++)
        if (add_header(wsi, hs[i].name, hs[i].value, &p, end)) return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
    if (not_modified || q->method == LC_HTTP_HEAD || n == 0) return 0;
    uint8_t *b = malloc(LWS_PRE + n);
    if (!b) return -1;
    memcpy(b + LWS_PRE, body, n);
    int rc = lws_write(wsi, b + LWS_PRE, n, LWS_WRITE_HTTP_FINAL) == (int)n ? 0 : -1;
    free(b);
    return rc;
}

/* After an answer written from outside lws's callbacks: shutdown need not
 * wait any more; lws may read again (it must, to flush: see the top), and
 * the next HTTP_WRITEABLE -- which lws gives once it has sent whatever the
 * socket did not take -- closes the connection. Bytes that followed the
 * body are discarded with it. */
static void finish_later(lc_http_req_t *q) {
    if (q->counted) q->h->pending--;
    q->counted = 0;
    if (lws_rx_flow_control(q->wsi, 1) != 0) lc_log("http: cannot resume reading %s", q->path);
    if (lws_callback_on_writable(q->wsi) < 0) lc_log("http: no WRITEABLE for %s: lws closes it on timeout", q->path);
}

int lc_http_respond(lc_http_req_t *q, unsigned status, const char *ctype, const lc_http_header_t *headers,
                    size_t nheaders, const void *body, size_t n) {
    if (q->st != RQ_HANDLER && q->st != RQ_WAIT) {
        lc_log("http: %s answered twice, or while its body is read", q->path);
        return -1;
    }
    int later = q->st == RQ_WAIT;
    q->st = RQ_DONE;
    if (!q->wsi) { /* orphaned: nobody to tell */
        req_free(q);
        return -1;
    }
    int rc = write_answer(q, status, ctype, headers, nheaders, body, n);
    if (rc) q->failed = 1;
    if (later) finish_later(q);
    return rc;
}

int lc_http_text(lc_http_req_t *q, unsigned status, const char *body) {
    return lc_http_respond(q, status, "text/plain; charset=utf-8", NULL, 0, body, strlen(body));
}

int lc_http_defer(lc_http_req_t *q) {
    if (q->st != RQ_HANDLER || !q->wsi) return -1;
    q->st = RQ_WAIT;
    if (!q->counted) q->h->pending++;
    q->counted = 1;
    /* lws reads nothing more while we wait: bytes after the body stay
     * unserviced in its buffer, and a FIN stays unread (see the top) */
    if (lws_rx_flow_control(q->wsi, 0) != 0) lc_log("http: cannot pause reading %s", q->path);
    return 0;
}

void lc_http_drop(lc_http_req_t *q) {
    if (q->st == RQ_WAIT && !q->wsi) {
        req_free(q);
    } else if (q->st == RQ_WAIT) {
        q->st = RQ_DONE;
        q->failed = 1;
        finish_later(q); /* closed at its WRITEABLE, from inside lws */
    } else if (q->st == RQ_HANDLER) {
        q->st = RQ_DONE;
        q->failed = 1; /* the callback that runs the handler closes it */
    }
}

/* ---- bodies ---- */

/* How a request's body is framed: 0 (chunked in *chunked, or a length in
 * *len), or the status that refuses it. */
static unsigned framing(const lc_http_req_t *q, int *chunked, unsigned long long *len) {
    char te[16], cl[24];
    int nte = lc_http_header(q, "transfer-encoding", te, sizeof(te));
    int ncl = lc_http_header(q, "content-length", cl, sizeof(cl));
    if (nte != -1) {
        /* lws 4.1 reads such a body as up to 100 MiB of raw chunk framing
         * and never completes it: we decode it in on_body. Both headers at
         * once, or another coding: refused (RFC 9112 6.1, 6.3). */
        if (nte < 0 || strcasecmp(te, "chunked") != 0 || ncl != -1) return 400;
        *chunked = 1;
        return 0;
    }
    if (ncl == -1) return 411;
    return ncl < 0 || lc_http_content_length(cl, len) != 0 ? 400 : 0;
}

int lc_http_read_body(lc_http_req_t *q, size_t keep, size_t drain, lc_http_body_fn *fn) {
    unsigned long long len = 0;
    if (q->st != RQ_HANDLER || !q->headers_ok || !fn) return 500;
    unsigned st = framing(q, &q->chunked, &len);
    if (!st && len > drain) st = 413; /* not worth reading */
    if (keep > drain) keep = drain;
    if (!st && !(q->body = malloc(keep + 1))) st = 503;
    if (st) {
        /* close right after the answer: lws would otherwise read and
         * discard the whole body first (LRS_DISCARD_BODY) */
        q->cut = 1;
        return (int)st;
    }
    q->body[0] = '\0';
    q->st = RQ_BODY;
    q->body_fn = fn;
    q->keep = keep;
    q->drain = drain;
    q->declared = len;
    return 0;
}

static int after(lc_http_req_t *q, void **slot, int in_body);

/* The body is complete (or refused with status): the body fn decides. */
static int finish_body(lc_http_req_t *q, void **slot, unsigned status) {
    if (q->got < q->keep) q->body[q->got] = '\0';
    else q->body[q->keep] = '\0';
    q->st = RQ_HANDLER;
    q->body_fn(q->arg, q, status);
    return after(q, slot, 1);
}

/* A chunked body: decoded into q->body; at its end, what BODY_COMPLETION
 * does for a Content-Length body (lws never calls it: it waits for 100
 * MiB). The connection always closes after the answer: lws still counts
 * the body as unfinished. Bytes after the last chunk are not ours. */
static int chunked_body(lc_http_req_t *q, void **slot, const void *in, size_t len) {
    size_t used;
    int rc = lc_http_dechunk(&q->dc, in, len, &used, q->body, q->keep, &q->got);
    if (rc < 0) return finish_body(q, slot, 400);
    if (q->got > q->drain) return finish_body(q, slot, 413);
    if (rc == 0) return 0;
    lws_set_timeout(q->wsi, NO_PENDING_TIMEOUT, 0); /* lws's PENDING_TIMEOUT_HTTP_CONTENT */
    return finish_body(q, slot, q->got > q->keep ? 413 : 0);
}

static int on_body(lc_http_req_t *q, void **slot, const void *in, size_t len) {
    /* lws 4.1 calls an empty HTTP_BODY for a POST with "Content-Length: 0",
     * after the handler: nothing to read, whatever the request is doing */
    if (q && len == 0 && q->st != RQ_BODY) return 0;
    /* a body nobody asked for (a GET with one), or bytes after the body once
     * the answer is out: never acted on, close */
    if (!q || q->st != RQ_BODY) return -1;
    if (q->chunked) return chunked_body(q, slot, in, len);
    if (q->got < q->keep) memcpy(q->body + q->got, in, len < q->keep - q->got ? len : q->keep - q->got);
    q->got += len;
    return q->got > q->drain ? -1 : 0;
}

static int on_body_done(lc_http_req_t *q, void **slot) {
    /* lws 4.1 repeats BODY_COMPLETION while bytes follow the body (the wsi
     * stays in LRS_BODY with no body left): answered, close; waiting for
     * Redis, wait (it does not happen while reading is off) */
    if (q && q->st == RQ_WAIT) return 0;
    if (!q || q->st != RQ_BODY || q->chunked) return -1;
    return finish_body(q, slot, q->got > q->keep ? 413 : 0);
}

/* ---- the lws callback ---- */

/* What the callback returns once a handler or body fn has run. An answer
 * written now ends the request here; one written in the body phase closes
 * at once (lws counts a chunked body as unfinished, and bytes may follow
 * it). */
static int after(lc_http_req_t *q, void **slot, int in_body) {
    if (q->st == RQ_WAIT) return 0;
    if (q->st == RQ_BODY) return !q->chunked && q->declared == 0 ? finish_body(q, slot, 0) : 0;
    if (q->st == RQ_HANDLER) {
        lc_log("http: %s: its handler gave no answer", q->path);
        lc_http_text(q, 500, "internal error\n");
    }
    struct lws *wsi = q->wsi;
    int close = q->failed || q->cut || in_body;
    *slot = NULL;
    req_free(q);
    if (close) return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int on_http(lc_http_t *h, struct lws *wsi, void **slot, const char *path) {
    /* one request per connection: a second one never comes (we close) */
    if (!slot || *slot) return -1;
    size_t pn = strlen(path);
    lc_http_req_t *q = calloc(1, sizeof(*q) + pn + 1);
    if (!q) {
        lc_http_req_t tmp = {.h = h, .wsi = wsi, .method = method_of(wsi), .path = path};
        lc_http_text(&tmp, 503, "out of memory\n");
        return -1;
    }
    q->h = h;
    q->wsi = wsi;
    q->method = method_of(wsi);
    q->path = memcpy(q + 1, path, pn + 1);
    *slot = q;
    const route_t *r = match(h, q->path);
    q->headers_ok = 1;
    if (r) {
        q->arg = r->arg;
        r->fn(r->arg, q);
    } else {
        lc_http_text(q, 404, "not found\n");
    }
    q->headers_ok = 0;
    return after(q, slot, 0);
}

static int on_closed(void **slot) {
    lc_http_req_t *q = *slot;
    *slot = NULL;
    if (!q) return 0;
    if (q->st == RQ_WAIT)
        q->wsi = NULL; /* orphaned: its answer frees it */
    else
        req_free(q);
    return 0;
}

int lc_http_callback(lc_http_t *h, struct lws *wsi, int reason, void **slot, void *in, size_t len) {
    lc_http_req_t *q = slot ? *slot : NULL;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(h, wsi, slot, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        return on_body(q, slot, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return on_body_done(q, slot);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return q && q->st == RQ_DONE ? -1 : 0; /* lws flushed our later answer: close */
    case LWS_CALLBACK_CLOSED_HTTP:
        return slot ? on_closed(slot) : 0;
    default:
        return 0;
    }
}
