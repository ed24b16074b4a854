/*
 * An in-memory HTTP request for handler tests (see stub_http.h). It
 * follows http.c's rules -- states, body framing, answer once -- without
 * libwebsockets: where http.c would close the connection, this records it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "stub_http.h"

#define STUB_HEADERS 16

typedef enum { ST_HANDLER, ST_BODY, ST_WAIT, ST_DONE } st_t;

struct lc_http_req {
    lc_http_method_t method;
    char path[2048];
    char hname[STUB_HEADERS][64], hvalue[STUB_HEADERS][1200];
    size_t nh;
    st_t st;
    int in_handler; /* headers readable */
    int gone;
    void *arg; /* the route's */
    void *data;
    size_t ndata;
    lc_http_body_fn *body_fn;
    size_t keep, drain, got;
    unsigned long long declared;
    int chunked;
    lc_http_dechunk_t dc;
    char *body;
    stub_answer_t ans;
};

lc_http_req_t *stub_req_new(lc_http_method_t m, const char *path) {
    lc_http_req_t *q = calloc(1, sizeof(*q));
    if (!q) abort();
    q->method = m;
    snprintf(q->path, sizeof(q->path), "%s", path);
    q->ans.content_length = -1;
    return q;
}

void stub_req_free(lc_http_req_t *q) {
    free(q->body);
    free(q->data);
    free(q);
}

void stub_req_header(lc_http_req_t *q, const char *name, const char *value) {
    if (q->nh == STUB_HEADERS) abort();
    snprintf(q->hname[q->nh], sizeof(q->hname[0]), "%s", name);
    snprintf(q->hvalue[q->nh], sizeof(q->hvalue[0]), "%s", value);
    q->nh++;
}

const stub_answer_t *stub_answer(const lc_http_req_t *q) { return &q->ans; }
int stub_waiting(const lc_http_req_t *q) { return q->st == ST_WAIT; }

const char *stub_answer_header(const lc_http_req_t *q, const char *name) {
    for (size_t i = 0; i < q->ans.nheaders; i++)
        if (strcasecmp(q->ans.headers[i][0], name) == 0) return q->ans.headers[i][1];
    return NULL;
}

/* ---- routes ---- */

static struct {
    char pattern[64];
    lc_http_handler_fn *fn;
} routes[16];
static size_t nroutes;

int lc_http_route(lc_http_t *h, const char *pattern, lc_http_handler_fn *fn, void *arg) {
    (void)h;
    (void)arg;
    if (nroutes == 16) return -1;
    snprintf(routes[nroutes].pattern, sizeof(routes[0].pattern), "%s", pattern);
    routes[nroutes++].fn = fn;
    return 0;
}

size_t stub_routes(void) { return nroutes; }
const char *stub_route_pattern(size_t i) { return i < nroutes ? routes[i].pattern : NULL; }
lc_http_handler_fn *stub_route_fn(size_t i) { return i < nroutes ? routes[i].fn : NULL; }
void stub_routes_reset(void) { nroutes = 0; }

/* ---- http.h ---- */

lc_http_method_t lc_http_method(const lc_http_req_t *q) { return q->method; }
const char *lc_http_path(const lc_http_req_t *q) { return q->path; }
int lc_http_gone(const lc_http_req_t *q) { return q->gone; }

int lc_http_header(const lc_http_req_t *q, const char *name, char *buf, size_t cap) {
    if (!q->in_handler || cap == 0) return -1;
    for (size_t i = 0; i < q->nh; i++) {
        if (strcasecmp(q->hname[i], name) != 0) continue;
        size_t n = strlen(q->hvalue[i]);
        if (n >= cap) return -2;
        memcpy(buf, q->hvalue[i], n + 1);
        return (int)n;
    }
    return -1;
}

void *lc_http_data(lc_http_req_t *q, size_t size) {
    if (q->data) return size <= q->ndata ? q->data : NULL;
    q->data = calloc(1, size ? size : 1);
    q->ndata = size;
    return q->data;
}

const char *lc_http_body(const lc_http_req_t *q, size_t *n) {
    *n = q->got < q->keep ? q->got : q->keep;
    return q->body ? q->body : "";
}

static void record_header(stub_answer_t *a, const char *name, const char *value) {
    if (a->nheaders == 8) abort();
    snprintf(a->headers[a->nheaders][0], sizeof(a->headers[0][0]), "%s", name);
    snprintf(a->headers[a->nheaders][1], sizeof(a->headers[0][1]), "%s", value);
    a->nheaders++;
}

int lc_http_respond(lc_http_req_t *q, unsigned status, const char *ctype, const lc_http_header_t *headers,
                    size_t nheaders, const void *body, size_t n) {
    stub_answer_t *a = &q->ans;
    if (q->st != ST_HANDLER && q->st != ST_WAIT) {
        a->misuse++;
        return -1;
    }
    q->st = ST_DONE;
    if (q->gone) return -1; /* http.c frees an orphan: nothing written */
    a->answers++;
    a->status = status;
    snprintf(a->ctype, sizeof(a->ctype), "%s", status == 304 || !ctype ? "" : ctype);
    int cc = 0;
    for (size_t i = 0; i < nheaders; i++) {
        record_header(a, headers[i].name, headers[i].value);
        cc |= strcasecmp(headers[i].name, "cache-control") == 0;
    }
    if (!cc) record_header(a, "cache-control", "no-store");
    a->content_length = status == 304 ? -1 : (long)n;
    if (status == 304 || q->method == LC_HTTP_HEAD) return 0;
    if (n > sizeof(a->body)) abort();
    if (n) memcpy(a->body, body, n);
    a->nbody = n;
    return 0;
}

int lc_http_text(lc_http_req_t *q, unsigned status, const char *body) {
    return lc_http_respond(q, status, "text/plain; charset=utf-8", NULL, 0, body, strlen(body));
}

int lc_http_defer(lc_http_req_t *q) {
    if (q->st != ST_HANDLER || q->gone) {
        q->ans.misuse++;
        return -1;
    }
    q->st = ST_WAIT;
    q->ans.deferred = 1;
    return 0;
}

void lc_http_drop(lc_http_req_t *q) {
    if (q->st == ST_WAIT || q->st == ST_HANDLER) {
        q->st = ST_DONE;
        q->ans.dropped = 1;
    } else {
        q->ans.misuse++;
    }
}

/* The same framing rules as http.c's lc_http_read_body. */
int lc_http_read_body(lc_http_req_t *q, size_t keep, size_t drain, lc_http_body_fn *fn) {
    char te[16], cl[24];
    unsigned long long len = 0;
    if (q->st != ST_HANDLER || !q->in_handler || !fn) {
        q->ans.misuse++;
        return 500;
    }
    int nte = lc_http_header(q, "transfer-encoding", te, sizeof(te));
    int ncl = lc_http_header(q, "content-length", cl, sizeof(cl));
    if (nte != -1) {
        if (nte < 0 || strcasecmp(te, "chunked") != 0 || ncl != -1) return 400;
        q->chunked = 1;
    } else if (ncl == -1) {
        return 411;
    } else if (ncl < 0 || lc_http_content_length(cl, &len) != 0) {
        return 400;
    } else if (len > drain) {
        return 413;
    }
    if (keep > drain) keep = drain;
    q->body = calloc(1, keep + 1);
    if (!q->body) abort();
    q->st = ST_BODY;
    q->body_fn = fn;
    q->keep = keep;
    q->drain = drain;
    q->declared = len;
    q->ans.asked_body = 1;
    return 0;
}

/* ---- driving it ---- */

static void finish_body(lc_http_req_t *q, unsigned status) {
    q->st = ST_HANDLER;
    q->body_fn(q->arg, q, status);
    if (q->st == ST_HANDLER) {
        q->ans.no_answer = 1;
        lc_http_text(q, 500, "internal error\n");
    }
}

void stub_run(lc_http_req_t *q, lc_http_handler_fn *fn, void *arg) {
    q->arg = arg;
    q->in_handler = 1;
    fn(arg, q);
    q->in_handler = 0;
    if (q->st == ST_HANDLER) {
        q->ans.no_answer = 1;
        lc_http_text(q, 500, "internal error\n");
    } else if (q->st == ST_BODY && !q->chunked && q->declared == 0) {
        finish_body(q, 0);
    }
}

int stub_body(lc_http_req_t *q, const char *p, size_t n) {
    if (q->st != ST_BODY) return -1; /* http.c: a body nobody asked for, or after the answer: close */
    if (q->chunked) {
        size_t used;
        int rc = lc_http_dechunk(&q->dc, (const unsigned char *)p, n, &used, q->body, q->keep, &q->got);
        if (rc < 0) finish_body(q, 400);
        else if (q->got > q->drain) finish_body(q, 413);
        else if (rc > 0) finish_body(q, q->got > q->keep ? 413 : 0);
        return 0;
    }
    if (q->got < q->keep) memcpy(q->body + q->got, p, n < q->keep - q->got ? n : q->keep - q->got);
    q->got += n;
    if (q->got > q->drain) return -1;
    if (q->got >= q->declared) finish_body(q, q->got > q->keep ? 413 : 0);
    return 0;
}

void stub_leave(lc_http_req_t *q) { q->gone = 1; }
